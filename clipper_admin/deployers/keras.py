"""Deploy a Keras model with a prediction function, as the original's ``deployers.keras``.

The model directory holds ``func.pkl`` (the cloudpickled ``func``) and the
model file: a Keras model object is saved as ``keras_model.keras`` (Keras
3's native format; the original's Keras 2 wrote ``keras_model.h5``), a
``.h5`` or ``.keras`` file is copied as ``keras_model.h5`` /
``keras_model.keras``. The Keras container (``model_containers.keras_container``)
loads it once per replica with ``keras.models.load_model`` and calls
``func(model, inputs)`` on every batch.

The default base image is ``{registry}/keras{major}{minor}-container:{version}``
(``keras311-container``; also tagged ``keras-container``): Keras on
TensorFlow's CPU build. On Docker and Kubernetes the image's Keras (label
``ai.clipper.keras_version``) must have the caller's major.minor.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from typing import Any

from clipper_admin import images
from clipper_admin._base import validate_versioned_model_name
from clipper_admin.deployers.deployer_utils import (
    builds_docker_images,
    check_framework_image,
    deploy_with_saved_model,
    new_application,
    quiet_framework_deprecations,
)
from clipper_admin.deployers.tensorflow import KERAS_FILE_SUFFIXES, TENSORFLOW_INSTALL
from clipper_admin.exceptions import ClipperException
from clipper_protocol.constants import DEFAULT_BATCH_SIZE

logger = logging.getLogger("clipper.admin.deployers")


def default_keras_image() -> str:
    """``{registry}/keras{major}{minor}-container:{version}`` for this interpreter."""
    return images.image(images.framework_container_name("keras"))


def import_keras(what: str) -> Any:
    """The ``keras`` module (on TensorFlow); ClipperException saying how to install it when it is missing."""
    try:
        import keras
    except ImportError as e:
        raise ClipperException(
            f"{what} needs Keras and TensorFlow installed in this Python: {TENSORFLOW_INSTALL} "
            f"(brings keras; the same versions as the keras image) ({e})"
        ) from e
    return keras


def create_endpoint(
    clipper_conn: Any,
    name: str,
    input_type: str,
    func: Callable[[Any, Any], list[Any]],
    model_path_or_object: Any,
    default_output: str = "None",
    version: Any = 1,
    slo_micros: int = 3000000,
    labels: list[str] | None = None,
    registry: str | None = None,
    base_image: str = "default",
    num_replicas: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pkgs_to_install: list[str] | None = None,
    warmup_inputs: list[Any] | None = None,
) -> None:
    """Register an application, deploy a Keras model and link the two (both named ``name``).

    See :func:`deploy_keras_model` for the model parameters; ``default_output``
    and ``slo_micros`` are the application's.
    """
    with new_application(clipper_conn, name, input_type, default_output, slo_micros):
        deploy_keras_model(
            clipper_conn, name, version, input_type, func, model_path_or_object, base_image, labels, registry,
            num_replicas, batch_size, pkgs_to_install, warmup_inputs=warmup_inputs,
        )  # fmt: skip
    clipper_conn.link_model_to_app(name, name)


def deploy_keras_model(
    clipper_conn: Any,
    name: str,
    version: Any,
    input_type: str,
    func: Callable[[Any, Any], list[Any]],
    model_path_or_object: Any,
    base_image: str = "default",
    labels: list[str] | None = None,
    registry: str | None = None,
    num_replicas: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pkgs_to_install: list[str] | None = None,
    warmup_inputs: list[Any] | None = None,
) -> None:
    """Deploy a Python function with a Keras model (object, or ``.keras``/``.h5`` file).

    Parameters
    ----------
    clipper_conn : :py:meth:`clipper_admin.ClipperConnection`
        A connected ClipperConnection.
    name, version, input_type
        As for :func:`clipper_admin.deployers.python.deploy_python_closure`.
    func : function
        ``func(model, inputs)`` returns a list of as many outputs as inputs;
        ``model`` is the loaded ``keras.Model``, ``inputs`` a numpy array
        (one row per input) or a list of ``str``.
    model_path_or_object : keras.Model or str
        The model, or the path of a saved model file (``.keras`` or ``.h5``).
    base_image : str, optional
        "default" picks ``{registry}/keras{major}{minor}-container:{version}``.
    labels, registry, num_replicas, batch_size, pkgs_to_install, warmup_inputs
        As for :func:`clipper_admin.deployers.python.deploy_python_closure`.

    Raises
    ------
    :py:exc:`clipper.ClipperException`
        Before anything is built: an invalid name or version, a ``func``
        that is not callable, a model that is neither a Keras model nor a
        ``.keras``/``.h5`` file, Keras not installed here, or (Docker,
        Kubernetes) a base image with another Keras release. Later: a failed
        save, build or deploy.

    Example
    -------
    ::

        inpt = keras.layers.Input(shape=(1,))
        model = keras.models.Model(inputs=inpt, outputs=keras.layers.multiply([inpt, inpt]))

        def predict(model, inputs):
            return [str(y[0]) for y in model.predict(inputs, verbose=0)]

        deploy_keras_model(clipper_conn, "pow", "1", "doubles", predict, model)
    """
    version = str(version)
    validate_versioned_model_name(name, version)
    if not callable(func):
        raise ClipperException(f"func must be callable, got {type(func).__name__}")
    keras = import_keras("deploy_keras_model")
    model = model_path_or_object
    is_path = isinstance(model, (str, os.PathLike))
    if is_path:
        path = os.fspath(model)
        if not (os.path.isfile(path) and path.lower().endswith(KERAS_FILE_SUFFIXES)):
            raise ClipperException(f"{path} should be either a Keras Model object or a saved model file "
                                   "('.keras' or '.h5')")
    elif not isinstance(model, keras.Model):
        raise ClipperException(f"model_path_or_object must be a Keras Model object or a saved model file "
                               f"('.keras' or '.h5'), got {type(model).__name__}")
    if base_image == "default":
        base_image = default_keras_image()
        logger.info(f"Using Keras base image {base_image}")
    if builds_docker_images(clipper_conn):
        check_framework_image(base_image, images.KERAS_VERSION_LABEL, "Keras", str(keras.__version__), "keras",
                              "requirements-tensorflow.txt")
    def save(model_dir: str) -> None:
        if is_path:
            suffix = os.path.splitext(path)[1].lower()
            shutil.copyfile(path, os.path.join(model_dir, "keras_model" + suffix))
        else:
            with quiet_framework_deprecations():
                model.save(os.path.join(model_dir, "keras_model.keras"))
        logger.info("Keras model saved")

    deploy_with_saved_model(
        clipper_conn, name, version, input_type, func, save, f"Could not save the Keras model of {name}:{version}",
        base_image, labels, registry, num_replicas, batch_size, pkgs_to_install, warmup_inputs=warmup_inputs,
    )  # fmt: skip
