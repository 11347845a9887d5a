"""The Keras deployer on a local cluster: a trained Keras model (object, .keras and .h5 files) served; refusals."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from clipper_admin import ClipperConnection, ClipperException  # noqa: E402
from clipper_admin.deployers import keras as keras_deployer  # noqa: E402
from clipper_admin.local import LocalContainerManager  # noqa: E402
from tests.frameworks import models  # noqa: E402
from tests.frameworks.support import SLO_MICROS, digits, local_cluster, served  # noqa: E402

# Keras' legacy HDF5 writer converts tensors with np.array(x, copy=False) semantics numpy 2 deprecates.
pytestmark = [pytest.mark.timeout(300), pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*")]


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClipperConnection]:
    yield from local_cluster(tmp_path_factory, "keras")


def test_served_switched_and_rolled_back(conn: ClipperConnection, tmp_path: Path) -> None:
    x, _ = digits()
    one, batch = x[:1], x[100:132]
    v1, v2 = models.train_keras(0, epochs=5), models.train_keras(1, epochs=1, hidden=4)
    want1, want2 = models.keras_classes(v1, batch), models.keras_classes(v2, batch)
    assert want1 != want2

    keras_deployer.create_endpoint(conn, "keras-digits", "doubles", models.predict_keras, v1, default_output="-1",
                                   slo_micros=SLO_MICROS)
    assert served(conn, "keras-digits", one) == models.keras_classes(v1, one)
    assert served(conn, "keras-digits", batch) == want1
    build = conn.get_model_info("keras-digits", "1")["container_name"].removeprefix("local:")
    assert os.path.isfile(os.path.join(build, "func.pkl"))
    assert os.path.isfile(os.path.join(build, "keras_model.keras"))

    # The original's way: a saved .h5 file and model.predict.
    v2.save(tmp_path / "v2.h5")
    keras_deployer.deploy_keras_model(conn, "keras-digits", 2, "doubles", models.predict_keras_original_style,
                                      str(tmp_path / "v2.h5"))
    assert served(conn, "keras-digits", batch, expected=want2) == want2
    build2 = conn.get_model_info("keras-digits", "2")["container_name"].removeprefix("local:")
    assert os.path.isfile(os.path.join(build2, "keras_model.h5"))
    conn.set_model_version("keras-digits", "1")  # roll back
    assert served(conn, "keras-digits", batch, expected=want1) == want1
    assert served(conn, "keras-digits", one) == models.keras_classes(v1, one)


def test_refusals_before_any_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conn = ClipperConnection(LocalContainerManager(cluster_name="never-started", cluster_dir=tmp_path / "c"))
    func = models.predict_keras
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    with pytest.raises(ClipperException, match=r"must be a Keras Model object or a saved model file .* got ndarray"):
        keras_deployer.deploy_keras_model(conn, "m", 1, "doubles", func, np.zeros(3))
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ClipperException, match=r"weights.bin should be either a Keras Model object or a saved"):
        keras_deployer.deploy_keras_model(conn, "m", 1, "doubles", func, str(tmp_path / "weights.bin"))
    with pytest.raises(ClipperException, match=r"missing.h5 should be either a Keras Model object"):
        keras_deployer.deploy_keras_model(conn, "m", 1, "doubles", func, str(tmp_path / "missing.h5"))
    with pytest.raises(ClipperException, match="func must be callable"):
        keras_deployer.deploy_keras_model(conn, "m", 1, "doubles", "nope", model)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "keras", None)  # as if Keras were not installed
    with pytest.raises(ClipperException, match=r"needs Keras and TensorFlow installed in this Python: "
                                               r"pip install tensorflow-cpu"):
        keras_deployer.deploy_keras_model(conn, "m", 1, "doubles", func, model)
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").rglob("*.pkl"))


def test_default_image_names_this_python() -> None:
    major, minor = sys.version_info[:2]
    assert keras_deployer.default_keras_image().split("/", 1)[1].startswith(f"keras{major}{minor}-container:")
