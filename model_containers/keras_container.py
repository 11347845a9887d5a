"""``python -m model_containers.keras_container``: serves a Keras model with its function.

The deployer (``clipper_admin.deployers.keras``) writes ``func.pkl`` (the
function ``func(model, inputs)``) and the model file: ``keras_model.keras``
(Keras 3's native format, what a model object is saved as) or
``keras_model.h5`` (the original's name and format, for a ``.h5`` file
deployed as it is). The model is loaded once, at start, with
``keras.models.load_model(..., compile=False)`` (serving needs no optimizer),
and every batch runs ``func(model, inputs)``, so ``model.predict(inputs)``
and ``model(inputs)`` both work.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from model_containers.framework_container import Framework, FrameworkLoadError, run_framework_container

#: The model file names the deployer writes, in the order they are looked for.
KERAS_MODEL_FILES = ("keras_model.keras", "keras_model.h5")


def find_keras_model(path: str) -> str | None:
    """The Keras model file in ``path`` (``keras_model.keras`` or ``keras_model.h5``), None when neither."""
    for name in KERAS_MODEL_FILES:
        candidate = os.path.join(path, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def load_keras_file(model_file: str) -> Any:
    """``keras.models.load_model(model_file, compile=False)``."""
    import keras

    return keras.models.load_model(model_file, compile=False)


def load_keras_model(path: str) -> Any:
    """The Keras model of a model directory."""
    model_file = find_keras_model(path)
    if model_file is None:
        raise FrameworkLoadError(
            f"CLIPPER_MODEL_PATH: no {' or '.join(KERAS_MODEL_FILES)} in {path} (a Keras model needs one)"
        )
    return load_keras_file(model_file)


def _keras_version() -> str:
    import keras

    return f"{keras.__version__} (backend {keras.backend.backend()})"


KERAS = Framework("Keras", load_keras_model, version=_keras_version)


def main() -> int:
    return run_framework_container(KERAS)


if __name__ == "__main__":
    sys.exit(main())
