"""The PySpark deployer on a real DockerContainerManager cluster: the pyspark image serves ml, mllib and pipelines.

Needs ``dockerfiles/build_images.sh --only pyspark-container`` (or ``make
images``); without an engine or image these skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

pyspark = pytest.importorskip("pyspark")

from clipper_admin import ClipperConnection, ClipperException, images  # noqa: E402
from clipper_admin.deployers import pyspark as pyspark_deployer  # noqa: E402
from tests.frameworks import pyspark_models as models  # noqa: E402
from tests.frameworks.support import SLO_MICROS, digits, docker_cluster, query, served  # noqa: E402

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900),
              pytest.mark.filterwarnings("ignore::FutureWarning:pyspark")]

PYSPARK_IMAGE = pyspark_deployer.default_pyspark_image()
CLUSTER_IMAGES = [images.image(n) for n in ("query_frontend", "management_frontend", "redis", "prometheus")]
START = 300  # seconds a first answer may take (image build, JVM start, model load)


@pytest.fixture(scope="module")
def conn(docker_client: Any, docker_require: Callable[[str], Any]) -> Iterator[ClipperConnection]:
    yield from docker_cluster(docker_client, [*CLUSTER_IMAGES, PYSPARK_IMAGE], docker_require)


def in_image(client: Any, image: str, code: str) -> str:
    out: bytes = client.containers.run(image, entrypoint=["python", "-c", code], remove=True, network_disabled=True)
    return out.decode().strip()


def test_ml_and_mllib_served_switched_and_rolled_back(conn: ClipperConnection, docker_client: Any,
                                                      spark: Any) -> None:
    x, _ = digits()
    one, batch = x[1200:1201], x[1300:1332]
    v1, v2 = models.train_ml_logistic(spark, max_iter=50), models.train_mllib_logistic(spark, iterations=2)
    want1, want2 = models.ml_classes(spark, v1, batch), models.mllib_classes(v2, batch)
    assert want1 != want2
    pyspark_deployer.create_endpoint(conn, "spark-digits", "doubles", models.predict_ml, v1, spark.sparkContext,
                                     default_output="-1", slo_micros=SLO_MICROS)
    assert served(conn, "spark-digits", one, timeout=START) == models.ml_classes(spark, v1, one)
    assert served(conn, "spark-digits", batch) == want1
    image = f"{conn.cm.cluster_identifier}-spark-digits:1"
    assert in_image(docker_client, image, "import json, os; print(sorted(os.listdir('/model')), "
                                          "json.load(open('/model/metadata.json'))['model_class'])") \
        == "['func.pkl', 'metadata.json', 'pyspark_model_data'] pyspark.ml.classification.LogisticRegressionModel"
    pyspark_deployer.deploy_pyspark_model(conn, "spark-digits", 2, "doubles", models.predict_mllib, v2,
                                          spark.sparkContext)
    assert served(conn, "spark-digits", batch, expected=want2, timeout=START) == want2
    conn.set_model_version("spark-digits", "1")
    assert served(conn, "spark-digits", batch, expected=want1) == want1
    assert served(conn, "spark-digits", one) == models.ml_classes(spark, v1, one)


def test_a_pipeline_on_strings_and_a_function_that_raises(conn: ClipperConnection, spark: Any) -> None:
    pipeline = models.train_text_pipeline(spark)
    texts = models.QUERIES[:32]
    want = models.pipeline_classes(spark, pipeline, texts)
    pyspark_deployer.create_endpoint(conn, "spark-text", "strings", models.predict_pipeline, pipeline, spark,
                                     default_output="-1", slo_micros=SLO_MICROS)
    assert served(conn, "spark-text", np.array(texts[:1]), timeout=START) == want[:1]
    assert served(conn, "spark-text", np.array(texts)) == want

    x, _ = digits()
    model = models.train_mllib_logistic(spark, iterations=20)
    pyspark_deployer.create_endpoint(conn, "spark-fragile", "doubles", models.predict_or_raise, model,
                                     spark.sparkContext, default_output="-1", slo_micros=SLO_MICROS)
    good = x[:32]
    assert served(conn, "spark-fragile", good, timeout=START) == models.mllib_classes(model, good)
    bad = -x[:1]
    bad[0, 0] = -1.0
    t0 = time.monotonic()
    assert query(conn, "spark-fragile", bad) == [None]
    assert time.monotonic() - t0 < SLO_MICROS / 1e6 / 2, "the error output must not wait for the SLO"
    assert served(conn, "spark-fragile", good, timeout=10) == models.mllib_classes(model, good)


def test_the_pyspark_image_is_labelled_and_carries_java(docker_client: Any) -> None:
    image = docker_client.images.get(PYSPARK_IMAGE)
    assert image.labels[images.FRAMEWORK_LABEL] == "pyspark"
    assert image.labels[images.PYSPARK_VERSION_LABEL] == pyspark.__version__
    assert image.labels[images.JAVA_VERSION_LABEL] == "17"
    assert docker_client.images.get(images.image(images.PYSPARK_CONTAINER)).id == image.id
    rpc = docker_client.images.get(images.image(images.RPC_BASE))
    assert len(image.attrs["RootFS"]["Layers"]) - len(rpc.attrs["RootFS"]["Layers"]) <= 3  # JRE, framework, .pth
    out = in_image(docker_client, PYSPARK_IMAGE, "import subprocess, pyspark; print(pyspark.__version__, "
                   "subprocess.run(['java', '-version'], capture_output=True, text=True).stderr.split()[2])")
    assert out.split() == [pyspark.__version__, out.split()[1]] and out.split()[1].startswith('"17.'), out


def test_another_pyspark_release_is_refused_before_the_build(conn: ClipperConnection, docker_client: Any,
                                                             spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model = models.train_mllib_logistic(spark, iterations=1, n=50)
    monkeypatch.setattr(pyspark, "__version__", "3.5.1")
    with pytest.raises(ClipperException, match=r"has PySpark 4\.3\.\d+, but this client runs PySpark 3\.5\.1.*"
                                               r"Install pyspark==4\.3\.\d+ here.*requirements-pyspark\.txt"):
        pyspark_deployer.deploy_pyspark_model(conn, "spark-old", 1, "doubles", models.predict_mllib, model,
                                              spark.sparkContext)
    assert not [t for i in docker_client.images.list() for t in i.tags if "spark-old" in t]
