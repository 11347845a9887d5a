"""The PyTorch deployer on a local cluster: a trained MLP served, switched and rolled back; refusals."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from clipper_admin import ClipperConnection, ClipperException  # noqa: E402
from clipper_admin.deployers import pytorch as pytorch_deployer  # noqa: E402
from clipper_admin.local import LocalContainerManager  # noqa: E402
from tests.frameworks import models  # noqa: E402
from tests.frameworks.support import SLO_MICROS, digits, local_cluster, query, served  # noqa: E402

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClipperConnection]:
    yield from local_cluster(tmp_path_factory, "pytorch")


def test_served_switched_and_rolled_back(conn: ClipperConnection) -> None:
    x, _ = digits()
    one, batch = x[:1], x[100:132]
    v1, v2 = models.train_mlp(0, epochs=150), models.train_mlp(1, epochs=3, hidden=4)
    want1, want2 = models.torch_classes(v1, batch), models.torch_classes(v2, batch)
    assert want1 != want2  # the switch is visible

    pytorch_deployer.create_endpoint(conn, "digits", "doubles", models.predict_torch, v1, default_output="-1",
                                     slo_micros=SLO_MICROS)
    assert served(conn, "digits", one) == models.torch_classes(v1, one)
    assert served(conn, "digits", batch) == want1

    # The original's artifact layout, in the build directory.
    image = conn.get_model_info("digits", "1")["container_name"]
    files = sorted(os.listdir(image.removeprefix("local:")))
    assert {"func.pkl", "pytorch_model.pkl", "pytorch_weights.pkl"} <= set(files)

    pytorch_deployer.deploy_pytorch_model(conn, "digits", 2, "doubles", models.predict_torch_original_style, v2)
    assert served(conn, "digits", batch, expected=want2) == want2
    conn.set_model_version("digits", "1")  # roll back
    assert served(conn, "digits", batch, expected=want1) == want1
    assert served(conn, "digits", one) == models.torch_classes(v1, one)
    conn.set_model_version("digits", "2")
    assert served(conn, "digits", batch, expected=want2) == want2


def test_a_model_that_raises_gets_defaults_at_once_and_the_replica_keeps_serving(conn: ClipperConnection) -> None:
    x, _ = digits()
    model = models.train_mlp(2, epochs=100)
    pytorch_deployer.create_endpoint(conn, "fragile", "doubles", models.predict_or_raise, model,
                                     default_output="-1", slo_micros=SLO_MICROS)
    good = x[:32]
    assert served(conn, "fragile", good) == models.torch_classes(model, good)
    bad = -x[:1]
    bad[0, 0] = -1.0
    t0 = time.monotonic()
    assert query(conn, "fragile", bad) == [None]
    assert time.monotonic() - t0 < SLO_MICROS / 1e6 / 2, "the error output must not wait for the SLO"
    assert served(conn, "fragile", good, timeout=10) == models.torch_classes(model, good)


def test_refusals_before_any_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conn = ClipperConnection(LocalContainerManager(cluster_name="never-started", cluster_dir=tmp_path / "c"))
    model = models.train_mlp(0, epochs=1)
    with pytest.raises(ClipperException, match=r"pytorch_model must be a torch.nn.Module .* got OrderedDict"):
        pytorch_deployer.deploy_pytorch_model(conn, "m", 1, "doubles", models.predict_torch, model.state_dict())
    with pytest.raises(ClipperException, match="func must be callable"):
        pytorch_deployer.deploy_pytorch_model(conn, "m", 1, "doubles", "nope", model)  # type: ignore[arg-type]
    with pytest.raises(ClipperException, match="a model name must be a valid DNS-1123"):
        pytorch_deployer.deploy_pytorch_model(conn, "Bad_Name", 1, "doubles", models.predict_torch, model)
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    with pytest.raises(ClipperException, match=r"needs PyTorch installed in this Python: pip install torch==2.13.0"):
        pytorch_deployer.deploy_pytorch_model(conn, "m", 1, "doubles", models.predict_torch, model)
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").rglob("*.pkl"))


def test_default_image_names_this_python() -> None:
    major, minor = sys.version_info[:2]
    assert pytorch_deployer.default_pytorch_image().split("/", 1)[1].startswith(f"pytorch{major}{minor}-container:")


def test_inputs_arrive_as_numpy_arrays(conn: ClipperConnection) -> None:
    def shape_and_type(model: torch.nn.Module, inputs: np.ndarray) -> list[str]:
        return [f"{type(inputs).__name__}{inputs.shape}"] * len(inputs)

    pytorch_deployer.create_endpoint(conn, "shapes", "floats", shape_and_type, torch.nn.Linear(3, 1),
                                     default_output="-1", slo_micros=SLO_MICROS)
    assert served(conn, "shapes", np.ones((1, 3))) == ["ndarray(1, 3)"]
