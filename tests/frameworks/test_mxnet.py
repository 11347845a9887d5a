"""The MXNet deployer end to end: a Module and a Gluon HybridBlock served on a local and a Docker cluster.

MXNet 1.9.1 needs numpy<1.24, so this file runs in its own virtualenv,
``build/mxnet-venv`` (``make mxnet-venv``); the main suite runs it there
through ``test_mxnet_client_venv.py``, and skips it where mxnet is missing.
The Docker tests need ``make images`` (the mxnet image); without an engine or
image they skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

with warnings.catch_warnings():  # MXNet 1.9.1's import warns about numpy and distutils deprecations
    warnings.simplefilter("ignore", DeprecationWarning)
    mx = pytest.importorskip("mxnet")

from clipper_admin import ClipperConnection, ClipperException, images  # noqa: E402
from clipper_admin.deployers import mxnet as mxnet_deployer  # noqa: E402
from clipper_admin.local import LocalContainerManager  # noqa: E402
from tests.frameworks import mxnet_models as models  # noqa: E402
from tests.frameworks.support import SLO_MICROS, digits, docker_cluster, local_cluster, query, served  # noqa: E402

pytestmark = [pytest.mark.timeout(300), pytest.mark.filterwarnings("ignore::DeprecationWarning:mxnet.*")]

MXNET_IMAGE = mxnet_deployer.default_mxnet_image()
CLUSTER_IMAGES = [images.image(n) for n in ("query_frontend", "management_frontend", "redis", "prometheus")]
SAVED = ["func.pkl", "mxnet_model-0000.params", "mxnet_model-symbol.json", "mxnet_model_metadata.json"]
ONE_INPUT = [("data", (1, 64))]

Listing = Callable[[ClipperConnection, str, str], tuple[list[str], dict[str, Any]]]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClipperConnection]:
    yield from local_cluster(tmp_path_factory, "mxnet")


@pytest.fixture(scope="module")
def docker_conn(docker_client: Any, docker_require: Callable[[str], Any]) -> Iterator[ClipperConnection]:
    yield from docker_cluster(docker_client, [*CLUSTER_IMAGES, MXNET_IMAGE], docker_require)


def local_listing(conn: ClipperConnection, name: str, version: str) -> tuple[list[str], dict[str, Any]]:
    build = Path(conn.get_model_info(name, version)["container_name"].removeprefix("local:"))
    files = sorted(p.name for p in build.iterdir() if p.name != "local-image.json")
    return files, json.loads((build / "mxnet_model_metadata.json").read_text())


def in_image(client: Any, image: str, code: str) -> str:
    out: bytes = client.containers.run(image, entrypoint=["python", "-c", code], remove=True, network_disabled=True)
    return out.decode().strip()


def served_switched_and_rolled_back(conn: ClipperConnection, app: str, listing: Listing) -> None:
    """A Module (bound to batch 1), then a HybridBlock as version 2, queried in batches of 1 and 32."""
    x, _ = digits()
    one, batch = x[:1], x[100:132]
    v1, v2 = models.train_module(0, epochs=20), models.train_block(1, epochs=1, hidden=4)
    want1, want2 = models.module_classes(v1, batch), models.block_classes(v2, batch)
    assert want1 != want2  # the switch is visible

    mxnet_deployer.create_endpoint(conn, app, "doubles", models.predict_module, v1, ONE_INPUT, default_output="-1",
                                   slo_micros=SLO_MICROS)
    assert served(conn, app, one) == models.module_classes(v1, one)
    assert served(conn, app, batch) == want1
    # The original's layout (checkpoint at epoch 0 + data shapes), with our model_type and label_names.
    assert listing(conn, app, "1") == (SAVED, {"data_shapes": [["data", [1, 64]]], "model_type": "module",
                                               "label_names": ["softmax_label"]})

    mxnet_deployer.deploy_mxnet_model(conn, app, 2, "doubles", models.predict_block, v2, ONE_INPUT)
    assert served(conn, app, batch, expected=want2) == want2
    assert served(conn, app, one) == models.block_classes(v2, one)
    assert listing(conn, app, "2")[1]["model_type"] == "hybrid_block"
    conn.set_model_version(app, "1")  # roll back
    assert served(conn, app, batch, expected=want1) == want1
    assert served(conn, app, one) == models.module_classes(v1, one)


def raises_then_keeps_serving(conn: ClipperConnection, app: str) -> None:
    x, _ = digits()
    model = models.train_module(2, epochs=10)
    mxnet_deployer.create_endpoint(conn, app, "doubles", models.predict_module_or_raise, model, ONE_INPUT,
                                   default_output="-1", slo_micros=SLO_MICROS)
    good = x[:32]
    assert served(conn, app, good) == models.module_classes(model, good)
    bad = -x[:1]
    bad[0, 0] = -1.0
    t0 = time.monotonic()
    assert query(conn, app, bad) == [None]
    assert time.monotonic() - t0 < SLO_MICROS / 1e6 / 2, "the error output must not wait for the SLO"
    assert served(conn, app, good, timeout=10) == models.module_classes(model, good)


# ---------------------------------------------------------------- local cluster


def test_local_served_switched_and_rolled_back(local: ClipperConnection) -> None:
    served_switched_and_rolled_back(local, "mx-digits", local_listing)


def test_local_module_bound_to_a_larger_batch_pads(local: ClipperConnection) -> None:
    """The original's style: data shapes from the iterator's provide_data (batch 16); func pads."""
    x, _ = digits()
    model = models.train_module(3, epochs=5, hidden=16)
    mxnet_deployer.create_endpoint(local, "mx-padded", "doubles", models.predict_module, model,
                                   models.provide_data(16), default_output="-1", slo_micros=SLO_MICROS)
    assert local_listing(local, "mx-padded", "1")[1]["data_shapes"] == [["data", [16, 64]]]
    for rows in (x[7:8], x[200:232], x[300:305]):
        assert served(local, "mx-padded", rows) == models.module_classes(model, rows)


def test_local_a_model_that_raises_gets_defaults_and_the_replica_keeps_serving(local: ClipperConnection) -> None:
    raises_then_keeps_serving(local, "mx-fragile")


def test_refusals_before_any_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conn = ClipperConnection(LocalContainerManager(cluster_name="never-started", cluster_dir=tmp_path / "c"))
    module, block, func = models.train_module(0, epochs=1, hidden=4), models.train_block(0, epochs=0), \
        models.predict_module

    def refused(match: str, model: Any = module, shapes: Any = ONE_INPUT, f: Any = func, name: str = "m") -> None:
        with pytest.raises(ClipperException, match=match):
            mxnet_deployer.deploy_mxnet_model(conn, name, 1, "doubles", f, model, shapes)

    refused(r"must be an MXNet Module \(mx.mod.Module\) or a Gluon HybridBlock, got ndarray", model=np.zeros(3))
    symbol = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=10)
    refused(r"a Module without parameters: fit it", model=mx.mod.Module(symbol, label_names=None))
    dense = mx.gluon.nn.Dense(10)
    dense.initialize()
    refused(r"not hybridized and run: call block.hybridize\(\) and block\(x\)", model=dense)
    for shapes in ("data", [], None, [("data", (0, 64))], [("data", "64")], [(1, (1, 64))], [("data",)],
                   [("data", (1, True))]):
        refused(r"mxnet_data_shapes must be a list of \(name, shape\) pairs", shapes=shapes)
    refused(r"names an input twice", shapes=[("data", (1, 64)), ("data", (1, 64))])
    refused(r"names the inputs \['pixels'\], but the Module's data_names are \['data'\]", shapes=[("pixels", (1, 64))])
    refused(r"names the inputs \['x'\], but the exported block's inputs are \['data'\]", model=block,
            shapes=[("x", (1, 64))])
    refused("func must be callable", f="nope")
    refused("a model name must be a valid DNS-1123", name="Bad_Name")
    monkeypatch.setitem(sys.modules, "mxnet", None)  # as if MXNet were not installed
    refused(r"needs MXNet installed in this Python: pip install mxnet==1\.9\.1 'numpy<1\.24' .*virtualenv of its own")
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").rglob("*.pkl"))


def test_data_shapes_are_normalized_as_the_original_wrote_them() -> None:
    assert mxnet_deployer.normalize_data_shapes([1, 64]) == [["data", [1, 64]]]  # the original's docstring
    assert mxnet_deployer.normalize_data_shapes(models.provide_data(8)) == [["data", [8, 64]]]
    assert mxnet_deployer.normalize_data_shapes([("a", (2, 3)), ["b", [2, np.int64(5)]]]) == [["a", [2, 3]],
                                                                                              ["b", [2, 5]]]


def test_default_image_names_this_python() -> None:
    major, minor = sys.version_info[:2]
    assert MXNET_IMAGE.split("/", 1)[1].startswith(f"mxnet{major}{minor}-container:")


# ---------------------------------------------------------------- Docker cluster


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_docker_served_switched_and_rolled_back(docker_conn: ClipperConnection, docker_client: Any) -> None:
    def listing(conn: ClipperConnection, name: str, version: str) -> tuple[list[str], dict[str, Any]]:
        image = f"{conn.cm.cluster_identifier}-{name}:{version}"
        files, meta = in_image(docker_client, image, "import json, os; print(json.dumps(sorted(os.listdir("
                                                     "'/model')))); print(open('/model/" + SAVED[-1] + "').read())"
                               ).splitlines()
        return json.loads(files), json.loads(meta)

    served_switched_and_rolled_back(docker_conn, "mx-digits", listing)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_docker_a_model_that_raises_gets_defaults_and_the_replica_keeps_serving(
        docker_conn: ClipperConnection) -> None:
    raises_then_keeps_serving(docker_conn, "mx-fragile")


@pytest.mark.docker
def test_the_mxnet_image_is_labelled_cpu_only_and_runs_its_own_numpy(docker_client: Any,
                                                                     docker_require: Callable[[str], Any]) -> None:
    image = docker_require(MXNET_IMAGE)
    assert image.labels[images.FRAMEWORK_LABEL] == "mxnet"
    assert image.labels[images.MXNET_VERSION_LABEL] == mx.__version__
    # The framework directory comes first on sys.path: its numpy 1.23.5 wins over py-rpc's numpy 2.
    assert in_image(docker_client, MXNET_IMAGE, "import warnings; warnings.simplefilter('ignore'); "
                    "import numpy, mxnet, zmq; print(numpy.__version__, mxnet.__version__, mxnet.context.num_gpus())"
                    ).splitlines()[-1] == f"1.23.5 {mx.__version__} 0"


@pytest.mark.docker
def test_another_mxnet_release_is_refused_before_the_build(docker_client: Any, docker_require: Callable[[str], Any],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    docker_require(MXNET_IMAGE)
    from clipper_admin import DockerContainerManager

    conn = ClipperConnection(DockerContainerManager(cluster_name="never-started-mx"))  # the check precedes any call
    monkeypatch.setattr(mx, "__version__", "1.8.0")
    with pytest.raises(ClipperException, match=r"has MXNet 1\.9\.1, but this client runs MXNet 1\.8\.0.*"
                                               r"Install mxnet==1\.9\.1 here.*requirements-mxnet\.txt"):
        mxnet_deployer.deploy_mxnet_model(conn, "mx-old", 1, "doubles", models.predict_module,
                                          models.train_module(0, epochs=1, hidden=4), ONE_INPUT)
    assert not [t for i in docker_client.images.list() for t in i.tags if "mx-old" in t]
