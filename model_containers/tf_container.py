"""``python -m model_containers.tf_container``: serves a TensorFlow model with its function.

The original saved a TF1 ``Session`` (or copied a frozen graph) into
``tfmodel/`` and handed ``func`` the restored session. TensorFlow 2 has no
sessions: the deployer (``clipper_admin.deployers.tensorflow``) writes
``func.pkl`` and ``tfmodel/``, either a SavedModel directory (a copied one,
or ``tf.saved_model.save`` of a ``tf.Module``) or, for a Keras model,
``tfmodel/keras_model.keras``. The container loads it once, at start —
``tf.saved_model.load("tfmodel")`` (the restored object, whose
``tf.function`` s and ``signatures`` ``func`` calls) or
``keras.models.load_model`` — and calls ``func(model, inputs)`` on every batch.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from model_containers.framework_container import Framework, FrameworkLoadError, run_framework_container
from model_containers.keras_container import find_keras_model, load_keras_file

TF_MODEL_RELATIVE_PATH = "tfmodel"
SAVED_MODEL_FILE = "saved_model.pb"


def load_tensorflow_model(path: str) -> Any:
    """The Keras model in ``<path>/tfmodel``, else ``tf.saved_model.load`` of that SavedModel directory."""
    model_dir = os.path.join(path, TF_MODEL_RELATIVE_PATH)
    if not os.path.isdir(model_dir):
        raise FrameworkLoadError(f"CLIPPER_MODEL_PATH: no {TF_MODEL_RELATIVE_PATH}/ in {path} "
                                 "(a TensorFlow model needs it)")
    keras_file = find_keras_model(model_dir)
    if keras_file is not None:
        return load_keras_file(keras_file)
    if not os.path.isfile(os.path.join(model_dir, SAVED_MODEL_FILE)):
        raise FrameworkLoadError(f"{model_dir} holds neither a SavedModel ({SAVED_MODEL_FILE}) nor a Keras model")
    import tensorflow as tf

    return tf.saved_model.load(model_dir)


def _tf_version() -> str:
    import tensorflow as tf

    return str(tf.__version__)


TENSORFLOW = Framework("TensorFlow", load_tensorflow_model, version=_tf_version)


def main() -> int:
    return run_framework_container(TENSORFLOW)


if __name__ == "__main__":
    sys.exit(main())
