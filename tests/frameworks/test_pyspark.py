"""The PySpark deployer on a local cluster: ml, mllib and pipeline models served, switched, rolled back; refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest

pytest.importorskip("pyspark")

from clipper_admin import ClipperConnection, ClipperException  # noqa: E402
from clipper_admin.deployers import pyspark as pyspark_deployer  # noqa: E402
from clipper_admin.local import LocalContainerManager  # noqa: E402
from clipper_admin.local.packaging import runtime_for_image  # noqa: E402
from tests.frameworks import pyspark_models as models  # noqa: E402
from tests.frameworks.support import SLO_MICROS, digits, local_cluster, query, served  # noqa: E402

# A replica starts a JVM (several seconds each on a small machine); pandas 3 makes pyspark warn.
pytestmark = [pytest.mark.timeout(900), pytest.mark.filterwarnings("ignore::FutureWarning:pyspark")]
START = 300  # seconds a first answer may take (JVM start and model load)


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClipperConnection]:
    yield from local_cluster(tmp_path_factory, "pyspark")


def test_ml_and_mllib_served_switched_and_rolled_back(conn: ClipperConnection, spark: Any) -> None:
    x, _ = digits()
    one, batch = x[1000:1001], x[1100:1132]
    v1, v2 = models.train_ml_logistic(spark, max_iter=50), models.train_mllib_logistic(spark, iterations=2)
    want1, want2 = models.ml_classes(spark, v1, batch), models.mllib_classes(v2, batch)
    assert want1 != want2  # the switch is visible

    pyspark_deployer.create_endpoint(conn, "spark-digits", "doubles", models.predict_ml, v1, spark.sparkContext,
                                     default_output="-1", slo_micros=SLO_MICROS)
    assert served(conn, "spark-digits", one, timeout=START) == models.ml_classes(spark, v1, one)
    assert served(conn, "spark-digits", batch) == want1
    # The original's layout: func.pkl, metadata.json naming the class, pyspark_model_data/ as Spark saves it.
    build = Path(conn.get_model_info("spark-digits", "1")["container_name"].removeprefix("local:"))
    assert (build / "func.pkl").is_file()
    assert json.loads((build / "metadata.json").read_text()) == {
        "model_class": "pyspark.ml.classification.LogisticRegressionModel"}
    assert {"metadata", "data"} <= set(os.listdir(build / "pyspark_model_data"))

    # An mllib model (saved with model.save(sc, path), loaded with load(sc, path)).
    pyspark_deployer.deploy_pyspark_model(conn, "spark-digits", 2, "doubles", models.predict_mllib, v2,
                                          spark.sparkContext)
    assert served(conn, "spark-digits", batch, expected=want2, timeout=START) == want2
    build2 = Path(conn.get_model_info("spark-digits", "2")["container_name"].removeprefix("local:"))
    assert json.loads((build2 / "metadata.json").read_text()) == {
        "model_class": "pyspark.mllib.classification.LogisticRegressionModel"}
    conn.set_model_version("spark-digits", "1")  # roll back
    assert served(conn, "spark-digits", batch, expected=want1) == want1
    assert served(conn, "spark-digits", one) == models.ml_classes(spark, v1, one)
    conn.set_model_version("spark-digits", "2")
    assert served(conn, "spark-digits", batch, expected=want2) == want2


def test_a_pipeline_on_strings(conn: ClipperConnection, spark: Any) -> None:
    pipeline = models.train_text_pipeline(spark)
    texts = models.QUERIES[:32]
    want = models.pipeline_classes(spark, pipeline, texts)
    assert set(want) == {0, 1}
    pyspark_deployer.create_endpoint(conn, "spark-text", "strings", models.predict_pipeline, pipeline, spark,
                                     default_output="-1", slo_micros=SLO_MICROS)
    assert served(conn, "spark-text", np.array(texts[:1]), timeout=START) == want[:1]
    assert served(conn, "spark-text", np.array(texts)) == want
    build = Path(conn.get_model_info("spark-text", "1")["container_name"].removeprefix("local:"))
    assert json.loads((build / "metadata.json").read_text()) == {"model_class": "pyspark.ml.pipeline.PipelineModel"}


def test_a_model_that_raises_gets_defaults_at_once_and_the_replica_keeps_serving(
        conn: ClipperConnection, spark: Any) -> None:
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


def test_refusals_before_any_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spark: Any) -> None:
    from pyspark.ml.classification import LogisticRegression

    conn = ClipperConnection(LocalContainerManager(cluster_name="never-started", cluster_dir=tmp_path / "c"))
    deploy, sc = pyspark_deployer.deploy_pyspark_model, spark.sparkContext
    model = models.train_mllib_logistic(spark, iterations=1, n=50)
    func = models.predict_mllib
    with pytest.raises(ClipperException, match=r"^pyspark_model argument was not a pyspark object \(got "
                                               r"numpy\.ndarray\): pass a fitted pyspark\.ml model"):
        deploy(conn, "m", 1, "doubles", func, np.zeros(3), sc)
    with pytest.raises(ClipperException, match=r"unfitted LogisticRegression \(an Estimator\): deploy the model "
                                               r"its fit\(dataframe\) returns"):
        deploy(conn, "m", 1, "doubles", func, LogisticRegression(), sc)
    with pytest.raises(ClipperException, match=r"is a pyspark\.sql\..*DataFrame, which is not a model Spark can "
                                               r"save and load"):
        deploy(conn, "m", 1, "doubles", func, spark.range(1), sc)
    with pytest.raises(ClipperException, match=r"sc must be the SparkContext .* got NoneType"):
        deploy(conn, "m", 1, "doubles", func, model, None)
    with pytest.raises(ClipperException, match="func must be callable"):
        deploy(conn, "m", 1, "doubles", "nope", model, sc)  # type: ignore[arg-type]
    with pytest.raises(ClipperException, match=r"func must take three arguments, func\(spark, model, inputs\)"):
        deploy(conn, "m", 1, "doubles", lambda model, inputs: inputs, model, sc)  # type: ignore[arg-type,misc]
    with pytest.raises(ClipperException, match="a model name must be a valid DNS-1123"):
        deploy(conn, "Bad_Name", 1, "doubles", func, model, sc)
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if PySpark were not installed
    with pytest.raises(ClipperException, match=r"needs PySpark installed in this Python: pip install "
                                               r"pyspark==4\.3\.0"):
        deploy(conn, "m", 1, "doubles", func, model, sc)
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").rglob("*.pkl"))


def test_the_local_manager_needs_java_on_the_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    image = pyspark_deployer.default_pyspark_image()
    assert runtime_for_image(image) == "pyspark"
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ClipperException, match=r"needs a Java runtime \(17 or later\) on this host \(no java on "
                                               r"PATH and JAVA_HOME unset\): apt-get install openjdk-17-jre-headless"):
        runtime_for_image(image)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(ClipperException, match=r"has no bin/java"):
        runtime_for_image(image)


def _container(model_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    base.update({"CLIPPER_MODEL_NAME": "m", "CLIPPER_MODEL_VERSION": "1", "CLIPPER_MODEL_PATH": str(model_dir),
                 "CLIPPER_METRICS_PORT": "0", "PYTHONPATH": os.getcwd()})
    return subprocess.run([sys.executable, "-m", "model_containers.pyspark_container"], env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def test_the_container_without_java_exits_3_saying_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "func.pkl").write_bytes(cloudpickle.dumps(models.predict_mllib))
    (tmp_path / "metadata.json").write_text('{"model_class": "pyspark.mllib.classification.LogisticRegressionModel"}')
    done = _container(tmp_path, {"PATH": str(tmp_path / "no-java-here")})
    assert done.returncode == 3, done.stderr
    (line,) = [s for s in done.stderr.splitlines() if "Java runtime" in s]
    assert "ERROR" in line and "apt-get install openjdk-17-jre-headless" in line and "JAVA_HOME unset" in line
    (tmp_path / "metadata.json").write_text('{"class": "x"}')  # a malformed metadata.json: exit 1, named
    done = _container(tmp_path, {})
    assert done.returncode == 1 and "metadata.json is malformed" in done.stderr


def test_default_image_names_this_python() -> None:
    major, minor = sys.version_info[:2]
    assert pyspark_deployer.default_pyspark_image().split("/", 1)[1].startswith(f"pyspark{major}{minor}-container:")
