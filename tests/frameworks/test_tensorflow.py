"""The TensorFlow deployer on a local cluster: a tf.Module, a Keras model and a SavedModel path served; refusals."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from clipper_admin import ClipperConnection, ClipperException  # noqa: E402
from clipper_admin.deployers import tensorflow as tf_deployer  # noqa: E402
from clipper_admin.local import LocalContainerManager  # noqa: E402
from tests.frameworks import models  # noqa: E402
from tests.frameworks.support import SLO_MICROS, digits, local_cluster, served  # noqa: E402

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClipperConnection]:
    yield from local_cluster(tmp_path_factory, "tensorflow")


def test_served_switched_and_rolled_back(conn: ClipperConnection, tmp_path: Path) -> None:
    x, _ = digits()
    one, batch = x[:1], x[100:132]
    v1, v2 = models.train_tf_module(0, steps=60), models.train_keras(1, epochs=1, hidden=4)
    want1, want2 = models.tf_module_classes(v1, batch), models.keras_classes(v2, batch)
    assert want1 != want2  # the switch is visible

    tf_deployer.create_endpoint(conn, "tf-digits", "doubles", models.predict_tf_module, v1, default_output="-1",
                                slo_micros=SLO_MICROS)
    assert served(conn, "tf-digits", one) == models.tf_module_classes(v1, one)
    assert served(conn, "tf-digits", batch) == want1
    # The original's layout: func.pkl and tfmodel/ (here a SavedModel directory).
    build = conn.get_model_info("tf-digits", "1")["container_name"].removeprefix("local:")
    assert os.path.isfile(os.path.join(build, "func.pkl"))
    assert os.path.isfile(os.path.join(build, "tfmodel", "saved_model.pb"))

    # A Keras model through the TensorFlow deployer: tfmodel/keras_model.keras, loaded with Keras.
    tf_deployer.deploy_tensorflow_model(conn, "tf-digits", 2, "doubles", models.predict_keras, v2)
    assert served(conn, "tf-digits", batch, expected=want2) == want2
    conn.set_model_version("tf-digits", "1")  # roll back
    assert served(conn, "tf-digits", batch, expected=want1) == want1
    assert served(conn, "tf-digits", one) == models.tf_module_classes(v1, one)

    # A SavedModel directory on disk, copied as tfmodel/.
    v3 = models.train_tf_module(3, steps=2)
    saved = tmp_path / "saved"
    tf.saved_model.save(v3, str(saved))
    tf_deployer.deploy_tensorflow_model(conn, "tf-digits", "3", "doubles", models.predict_tf_module, str(saved))
    want3 = models.tf_module_classes(v3, batch)
    assert served(conn, "tf-digits", batch, expected=want3) == want3


def test_refusals_before_any_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conn = ClipperConnection(LocalContainerManager(cluster_name="never-started", cluster_dir=tmp_path / "c"))
    func = models.predict_tf_module
    with pytest.raises(ClipperException, match=r"must be a SavedModel directory, a tf.Module or a Keras model, "
                                               r"got ndarray"):
        tf_deployer.deploy_tensorflow_model(conn, "m", 1, "doubles", func, np.zeros(3))
    with pytest.raises(ClipperException, match=r"is a TF1 Session"):
        tf_deployer.deploy_tensorflow_model(conn, "m", 1, "doubles", func, tf.compat.v1.Session())
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClipperException, match=r"is not a SavedModel directory \(no saved_model.pb\)"):
        tf_deployer.deploy_tensorflow_model(conn, "m", 1, "doubles", func, str(tmp_path / "empty"))
    with pytest.raises(ClipperException, match=r"TensorFlow model .*nowhere not found"):
        tf_deployer.deploy_tensorflow_model(conn, "m", 1, "doubles", func, str(tmp_path / "nowhere"))
    with pytest.raises(ClipperException, match="func must be callable"):
        tf_deployer.deploy_tensorflow_model(conn, "m", 1, "doubles", "nope", tf.Module())  # type: ignore[arg-type]
    with pytest.raises(ClipperException, match="a model name must be a valid DNS-1123"):
        tf_deployer.deploy_tensorflow_model(conn, "Bad_Name", 1, "doubles", func, tf.Module())
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as if TensorFlow were not installed
    with pytest.raises(ClipperException, match=r"needs TensorFlow installed in this Python: "
                                               r"pip install tensorflow-cpu==2\.21\.0"):
        tf_deployer.deploy_tensorflow_model(conn, "m", 1, "doubles", func, tf.Module())
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").rglob("*.pkl"))


def test_default_image_names_this_python() -> None:
    major, minor = sys.version_info[:2]
    assert tf_deployer.default_tensorflow_image().split("/", 1)[1].startswith(f"tf{major}{minor}-container:")
