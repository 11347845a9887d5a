"""The framework deployers on a real DockerContainerManager cluster: PyTorch, ONNX, XGBoost, TensorFlow, Keras.

Needs ``make images`` (the pytorch, onnx, tf and keras images); without an engine or
image these skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from clipper_admin import ClipperConnection, ClipperException, images  # noqa: E402
from clipper_admin.deployers import keras as keras_deployer  # noqa: E402
from clipper_admin.deployers import onnx as onnx_deployer  # noqa: E402
from clipper_admin.deployers import python as python_deployer  # noqa: E402
from clipper_admin.deployers import pytorch as pytorch_deployer  # noqa: E402
from clipper_admin.deployers import tensorflow as tf_deployer  # noqa: E402
from tests.frameworks import models  # noqa: E402
from tests.frameworks.support import SLO_MICROS, digits, docker_cluster, served  # noqa: E402

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]

PYTORCH_IMAGE = pytorch_deployer.default_pytorch_image()
ONNX_IMAGE = onnx_deployer.default_onnx_image("caffe2")
TF_IMAGE = tf_deployer.default_tensorflow_image()
KERAS_IMAGE = keras_deployer.default_keras_image()
CLUSTER_IMAGES = [images.image(n) for n in ("query_frontend", "management_frontend", "redis", "prometheus")]


@pytest.fixture(scope="module")
def conn(docker_client: Any, docker_require: Callable[[str], Any]) -> Iterator[ClipperConnection]:
    yield from docker_cluster(docker_client, [*CLUSTER_IMAGES, PYTORCH_IMAGE, ONNX_IMAGE], docker_require)


def in_image(client: Any, image: str, code: str) -> str:
    out: bytes = client.containers.run(image, entrypoint=["python", "-c", code], remove=True, network_disabled=True)
    return out.decode().strip()


def test_pytorch_served_switched_and_rolled_back(conn: ClipperConnection, docker_client: Any) -> None:
    x, _ = digits()
    one, batch = x[:1], x[100:132]
    v1, v2 = models.train_mlp(0, epochs=150), models.train_mlp(1, epochs=3, hidden=4)
    want1, want2 = models.torch_classes(v1, batch), models.torch_classes(v2, batch)
    assert want1 != want2
    pytorch_deployer.create_endpoint(conn, "torch-digits", "doubles", models.predict_torch, v1,
                                     default_output="-1", slo_micros=SLO_MICROS)
    assert served(conn, "torch-digits", one) == models.torch_classes(v1, one)
    assert served(conn, "torch-digits", batch) == want1
    image = f"{conn.cm.cluster_identifier}-torch-digits:1"
    assert in_image(docker_client, image, "import os; print(sorted(os.listdir('/model')))") \
        == "['func.pkl', 'pytorch_model.pkl', 'pytorch_weights.pkl']"
    pytorch_deployer.deploy_pytorch_model(conn, "torch-digits", 2, "doubles", models.predict_torch_original_style, v2)
    assert served(conn, "torch-digits", batch, expected=want2) == want2
    conn.set_model_version("torch-digits", "1")
    assert served(conn, "torch-digits", batch, expected=want1) == want1


def test_the_pytorch_image_is_labelled_and_cpu_only(docker_client: Any) -> None:
    labels = docker_client.images.get(PYTORCH_IMAGE).labels
    assert labels[images.FRAMEWORK_LABEL] == "pytorch"
    assert labels[images.PYTORCH_VERSION_LABEL] == torch.__version__.split("+")[0]
    assert in_image(docker_client, PYTORCH_IMAGE, "import torch; print(torch.version.cuda, torch.cuda.is_available())") \
        == "None False"


def test_another_pytorch_release_is_refused_before_the_build(conn: ClipperConnection, docker_client: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "__version__", "2.12.1")
    with pytest.raises(ClipperException, match=r"has PyTorch 2\.13\.0, but this client runs PyTorch 2\.12\.1.*"
                                               r"Install torch==2\.13\.0 here"):
        pytorch_deployer.deploy_pytorch_model(conn, "torch-old", 1, "doubles", models.predict_torch,
                                              torch.nn.Linear(64, 10))
    assert not [t for i in docker_client.images.list() for t in i.tags if "torch-old" in t]


def test_onnx_served_switched_and_rolled_back(conn: ClipperConnection, docker_client: Any) -> None:
    x, _ = digits()
    one, batch = x[5:6], x[200:232]
    v1, v2 = models.train_mlp(0, epochs=150), models.train_mlp(1, epochs=3, hidden=4)
    want1, want2 = models.torch_classes(v1, batch), models.torch_classes(v2, batch)
    sample = torch.zeros(1, 64)
    onnx_deployer.create_pytorch_endpoint(conn, "onnx-digits", "doubles", sample, models.predict_onnx, v1,
                                          default_output="-1", slo_micros=SLO_MICROS)
    assert served(conn, "onnx-digits", one) == models.torch_classes(v1, one)
    assert served(conn, "onnx-digits", batch) == want1
    onnx_deployer.deploy_pytorch_model(conn, "onnx-digits", 2, "doubles", sample, models.predict_onnx, v2)
    assert served(conn, "onnx-digits", batch, expected=want2) == want2
    conn.set_model_version("onnx-digits", "1")
    assert served(conn, "onnx-digits", batch, expected=want1) == want1
    labels = docker_client.images.get(ONNX_IMAGE).labels
    assert labels[images.FRAMEWORK_LABEL] == "onnx" and int(labels[images.ONNX_MAX_OPSET_LABEL]) >= 17


def test_a_newer_opset_than_the_image_runs_is_refused() -> None:
    with pytest.raises(ClipperException, match=r"uses ONNX opset 99, but base image .* runs opsets up to \d+"):
        onnx_deployer.check_onnx_image(ONNX_IMAGE, 99)


def test_xgboost_closure_with_pkgs_to_install(conn: ClipperConnection, docker_client: Any) -> None:
    pytest.importorskip("xgboost")
    x, _ = digits()
    batch = x[300:332]
    b1, b2 = models.train_booster(0, rounds=20), models.train_booster(1, rounds=1)
    want1, want2 = models.booster_classes(b1, batch), models.booster_classes(b2, batch)
    python_deployer.create_endpoint(conn, "boost", "doubles", models.xgboost_closure(b1), default_output="-1",
                                    slo_micros=SLO_MICROS, pkgs_to_install=["xgboost"])
    assert served(conn, "boost", x[7:8]) == models.booster_classes(b1, x[7:8])
    assert served(conn, "boost", batch) == want1
    python_deployer.deploy_python_closure(conn, "boost", 2, "doubles", models.xgboost_closure(b2),
                                          pkgs_to_install=["xgboost"])
    assert served(conn, "boost", batch, expected=want2) == want2
    conn.set_model_version("boost", "1")
    assert served(conn, "boost", batch, expected=want1) == want1
    image = f"{conn.cm.cluster_identifier}-boost:1"
    assert "nccl" not in in_image(docker_client, image, "import importlib.metadata as m; "
                                  "print(sorted(d.metadata['Name'].lower() for d in m.distributions()))")


# ---------------------------------------------------------------- TensorFlow and Keras


@pytest.fixture
def tf_images(docker_require: Callable[[str], Any]) -> None:
    pytest.importorskip("tensorflow")
    docker_require(TF_IMAGE)
    docker_require(KERAS_IMAGE)


@pytest.mark.usefixtures("tf_images")
def test_tensorflow_served_switched_and_rolled_back(conn: ClipperConnection, docker_client: Any) -> None:
    x, _ = digits()
    one, batch = x[9:10], x[400:432]
    v1, v2 = models.train_tf_module(0, steps=60), models.train_keras(1, epochs=1, hidden=4)
    want1, want2 = models.tf_module_classes(v1, batch), models.keras_classes(v2, batch)
    assert want1 != want2
    tf_deployer.create_endpoint(conn, "tf-digits", "doubles", models.predict_tf_module, v1, default_output="-1",
                                slo_micros=SLO_MICROS)
    assert served(conn, "tf-digits", one) == models.tf_module_classes(v1, one)
    assert served(conn, "tf-digits", batch) == want1
    image = f"{conn.cm.cluster_identifier}-tf-digits:1"
    assert in_image(docker_client, image, "import os; print(sorted(os.listdir('/model')), "
                                          "os.path.isfile('/model/tfmodel/saved_model.pb'))") \
        == "['func.pkl', 'tfmodel'] True"
    tf_deployer.deploy_tensorflow_model(conn, "tf-digits", 2, "doubles", models.predict_keras, v2)
    assert served(conn, "tf-digits", batch, expected=want2) == want2
    conn.set_model_version("tf-digits", "1")
    assert served(conn, "tf-digits", batch, expected=want1) == want1


@pytest.mark.usefixtures("tf_images")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*")
def test_keras_served_switched_and_rolled_back(conn: ClipperConnection, docker_client: Any, tmp_path: Any) -> None:
    x, _ = digits()
    one, batch = x[11:12], x[500:532]
    v1, v2 = models.train_keras(0, epochs=5), models.train_keras(1, epochs=1, hidden=4)
    want1, want2 = models.keras_classes(v1, batch), models.keras_classes(v2, batch)
    assert want1 != want2
    keras_deployer.create_endpoint(conn, "keras-digits", "doubles", models.predict_keras, v1, default_output="-1",
                                   slo_micros=SLO_MICROS)
    assert served(conn, "keras-digits", one) == models.keras_classes(v1, one)
    assert served(conn, "keras-digits", batch) == want1
    image = f"{conn.cm.cluster_identifier}-keras-digits:1"
    assert in_image(docker_client, image, "import os; print(sorted(os.listdir('/model')))") \
        == "['func.pkl', 'keras_model.keras']"
    v2.save(tmp_path / "v2.h5")
    keras_deployer.deploy_keras_model(conn, "keras-digits", 2, "doubles", models.predict_keras_original_style,
                                      str(tmp_path / "v2.h5"))
    assert served(conn, "keras-digits", batch, expected=want2) == want2
    conn.set_model_version("keras-digits", "1")
    assert served(conn, "keras-digits", batch, expected=want1) == want1


@pytest.mark.usefixtures("tf_images")
def test_the_tf_and_keras_images_are_labelled_cpu_only_and_share_the_framework_layer(docker_client: Any) -> None:
    import keras
    import tensorflow as tf

    tf_image, keras_image = docker_client.images.get(TF_IMAGE), docker_client.images.get(KERAS_IMAGE)
    for image, framework in ((tf_image, "tensorflow"), (keras_image, "keras")):
        assert image.labels[images.FRAMEWORK_LABEL] == framework
        assert image.labels[images.TENSORFLOW_VERSION_LABEL] == tf.__version__
        assert image.labels[images.KERAS_VERSION_LABEL] == keras.__version__
    assert keras_image.attrs["RootFS"]["Layers"] == tf_image.attrs["RootFS"]["Layers"]
    rpc = docker_client.images.get(images.image(images.RPC_BASE))
    assert len(tf_image.attrs["RootFS"]["Layers"]) - len(rpc.attrs["RootFS"]["Layers"]) <= 2  # framework + .pth
    assert in_image(docker_client, TF_IMAGE, "import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))") \
        .splitlines()[-1] == "[]"


@pytest.mark.usefixtures("tf_images")
def test_another_tensorflow_or_keras_release_is_refused_before_the_build(
        conn: ClipperConnection, docker_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras
    import tensorflow as tf

    model = models.train_keras(0, epochs=1, hidden=4)
    monkeypatch.setattr(tf, "__version__", "2.20.1")
    with pytest.raises(ClipperException, match=r"has TensorFlow 2\.21\.\d+, but this client runs TensorFlow 2\.20\.1"
                                               r".*Install tensorflow-cpu==2\.21\.\d+ here"):
        tf_deployer.deploy_tensorflow_model(conn, "tf-old", 1, "doubles", models.predict_keras, model)
    monkeypatch.setattr(keras, "__version__", "2.15.0")
    with pytest.raises(ClipperException, match=r"has Keras 3\.\d+\.\d+, but this client runs Keras 2\.15\.0"):
        keras_deployer.deploy_keras_model(conn, "keras-old", 1, "doubles", models.predict_keras, model)
    assert not [t for i in docker_client.images.list() for t in i.tags if "tf-old" in t or "keras-old" in t]
