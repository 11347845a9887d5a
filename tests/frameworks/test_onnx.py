"""The ONNX deployer on a local cluster: a PyTorch MLP exported to ONNX, served by onnxruntime."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from clipper_admin import ClipperConnection, ClipperException  # noqa: E402
from clipper_admin.deployers import onnx as onnx_deployer  # noqa: E402
from clipper_admin.local import LocalContainerManager  # noqa: E402
from tests.frameworks import models  # noqa: E402
from tests.frameworks.support import SLO_MICROS, digits, local_cluster, served  # noqa: E402

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClipperConnection]:
    yield from local_cluster(tmp_path_factory, "onnx")


def test_served_switched_and_rolled_back(conn: ClipperConnection) -> None:
    x, _ = digits()
    one, batch = x[5:6], x[200:232]
    v1, v2 = models.train_mlp(0, epochs=150), models.train_mlp(1, epochs=3, hidden=4)
    want1, want2 = models.torch_classes(v1, batch), models.torch_classes(v2, batch)
    assert want1 != want2
    sample = torch.zeros(1, 64)

    onnx_deployer.create_pytorch_endpoint(conn, "digits-onnx", "doubles", sample, models.predict_onnx, v1,
                                          default_output="-1", slo_micros=SLO_MICROS, onnx_backend="caffe2")
    assert served(conn, "digits-onnx", one) == models.torch_classes(v1, one)
    assert served(conn, "digits-onnx", batch) == want1
    build = conn.get_model_info("digits-onnx", "1")["container_name"].removeprefix("local:")
    assert {"func.pkl", "model.onnx"} <= set(os.listdir(build))
    assert json.loads(Path(build, "onnx_metadata.json").read_text())["onnx_backend"] == "caffe2"

    onnx_deployer.deploy_pytorch_model(conn, "digits-onnx", 2, "doubles", sample, models.predict_onnx, v2,
                                       onnx_backend="onnxruntime")
    assert served(conn, "digits-onnx", batch, expected=want2) == want2
    conn.set_model_version("digits-onnx", "1")
    assert served(conn, "digits-onnx", batch, expected=want1) == want1
    assert served(conn, "digits-onnx", one) == models.torch_classes(v1, one)


def test_refusals_before_any_build(tmp_path: Path) -> None:
    conn = ClipperConnection(LocalContainerManager(cluster_name="never-started", cluster_dir=tmp_path / "c"))
    model = models.train_mlp(0, epochs=1)
    sample = torch.zeros(1, 64)
    with pytest.raises(ClipperException, match="tensorflow ONNX backend is not supported"):
        onnx_deployer.deploy_pytorch_model(conn, "m", 1, "doubles", sample, models.predict_onnx, model,
                                           onnx_backend="tensorflow")
    with pytest.raises(ClipperException, match="must be a torch.nn.Module"):
        onnx_deployer.deploy_pytorch_model(conn, "m", 1, "doubles", sample, models.predict_onnx, "model")
    with pytest.raises(ClipperException, match="Error serializing PyTorch model m:1 to ONNX"):
        onnx_deployer.deploy_pytorch_model(conn, "m", 1, "doubles", torch.zeros(1, 3), models.predict_onnx, model)


def test_default_images_follow_the_backend() -> None:
    assert "/caffe2-onnx-container:" in onnx_deployer.default_onnx_image("caffe2")
    assert "/onnx-container:" in onnx_deployer.default_onnx_image("onnxruntime")
