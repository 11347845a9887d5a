"""Deploy a TensorFlow model with a prediction function, as the original's ``deployers.tensorflow``.

The model directory holds ``func.pkl`` (the cloudpickled ``func``) and
``tfmodel/``, as in the original. The original took a TF1 ``Session`` (saved
with ``tf.train.Saver``) or a path to a saved model; TensorFlow 2 has no
sessions, so ``tf_sess_or_saved_model_path`` is one of:

- a path to a SavedModel directory (one holding ``saved_model.pb``), copied
  as ``tfmodel/``;
- a ``tf.Module`` (any object whose ``tf.function`` s are tracked), written
  with ``tf.saved_model.save`` as ``tfmodel/``;
- a Keras model, saved as ``tfmodel/keras_model.keras`` (a path to a
  ``.keras`` or ``.h5`` file is copied likewise).

The TensorFlow container (``model_containers.tf_container``) loads it once
per replica — ``tf.saved_model.load`` (``func`` gets the restored object) or
``keras.models.load_model`` (``func`` gets the Keras model) — and calls
``func(model, inputs)`` on every batch; each output is sent back as ``str(output)``.

The default base image is ``{registry}/tf{major}{minor}-container:{version}``
for the caller's Python (``tf311-container``; also tagged ``tf-container``).
On Docker and Kubernetes the image's TensorFlow (label
``ai.clipper.tensorflow_version``) must have the caller's major.minor; the
local cluster serves the model with this Python's ``tensorflow``.
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
from clipper_admin.exceptions import ClipperException
from clipper_protocol.constants import DEFAULT_BATCH_SIZE

logger = logging.getLogger("clipper.admin.deployers")

TF_MODEL_RELATIVE_PATH = "tfmodel"
SAVED_MODEL_FILE = "saved_model.pb"
#: What to install when TensorFlow is missing here (the CPU build, the images' version).
TENSORFLOW_INSTALL = "pip install tensorflow-cpu==2.21.0"
KERAS_FILE_SUFFIXES = (".keras", ".h5")


def default_tensorflow_image() -> str:
    """``{registry}/tf{major}{minor}-container:{version}`` for this interpreter."""
    return images.image(images.framework_container_name("tf"))


def import_tensorflow(what: str) -> Any:
    """The ``tensorflow`` module; ClipperException saying how to install it when it is missing."""
    try:
        import tensorflow as tf
    except ImportError as e:
        raise ClipperException(
            f"{what} needs TensorFlow installed in this Python: {TENSORFLOW_INSTALL} "
            f"(the same version as the tf and keras images) ({e})"
        ) from e
    return tf


def is_keras_model(obj: Any) -> bool:
    """Whether ``obj`` is a ``keras.Model`` (without importing Keras when it is not loaded)."""
    import sys

    keras = sys.modules.get("keras")
    return keras is not None and isinstance(obj, keras.Model)


def _copy_model_path(path: str, tfmodel: str) -> None:
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
            raise ClipperException(
                f"{path} is not a SavedModel directory (no {SAVED_MODEL_FILE}); save the model with "
                "tf.saved_model.save(model, path) or pass the tf.Module or Keras model itself"
            )
        shutil.copytree(path, tfmodel)
    elif os.path.isfile(path) and path.lower().endswith(KERAS_FILE_SUFFIXES):
        os.makedirs(tfmodel)
        shutil.copyfile(path, os.path.join(tfmodel, "keras_model" + os.path.splitext(path)[1].lower()))
    else:
        raise ClipperException(
            f"TensorFlow model {path} not found: pass a SavedModel directory, a .keras/.h5 Keras model file, "
            "a tf.Module or a Keras model"
        )


def _check_model(tf: Any, model: Any) -> None:
    if isinstance(model, (str, os.PathLike)):
        return
    if isinstance(model, tf.compat.v1.Session):
        raise ClipperException(
            "tf_sess_or_saved_model_path is a TF1 Session, which TensorFlow 2 cannot save for serving: "
            "export the model as a SavedModel (tf.saved_model.save) and pass its directory, a tf.Module "
            "or a Keras model"
        )
    if not (is_keras_model(model) or isinstance(model, tf.Module)):
        raise ClipperException(
            f"tf_sess_or_saved_model_path must be a SavedModel directory, a tf.Module or a Keras model, got "
            f"{type(model).__name__}; for a plain Python function use "
            "clipper_admin.deployers.python.deploy_python_closure"
        )


def create_endpoint(
    clipper_conn: Any,
    name: str,
    input_type: str,
    func: Callable[[Any, Any], list[Any]],
    tf_sess_or_saved_model_path: Any,
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
    """Register an application, deploy a TensorFlow model and link the two (both named ``name``).

    See :func:`deploy_tensorflow_model` for the model parameters; ``default_output``
    and ``slo_micros`` are the application's.
    """
    with new_application(clipper_conn, name, input_type, default_output, slo_micros):
        deploy_tensorflow_model(
            clipper_conn, name, version, input_type, func, tf_sess_or_saved_model_path, base_image, labels, registry,
            num_replicas, batch_size, pkgs_to_install, warmup_inputs=warmup_inputs,
        )  # fmt: skip
    clipper_conn.link_model_to_app(name, name)


def deploy_tensorflow_model(
    clipper_conn: Any,
    name: str,
    version: Any,
    input_type: str,
    func: Callable[[Any, Any], list[Any]],
    tf_sess_or_saved_model_path: Any,
    base_image: str = "default",
    labels: list[str] | None = None,
    registry: str | None = None,
    num_replicas: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pkgs_to_install: list[str] | None = None,
    warmup_inputs: list[Any] | None = None,
) -> None:
    """Deploy a Python function with a TensorFlow model; the container calls ``func(model, inputs)``.

    Parameters
    ----------
    clipper_conn : :py:meth:`clipper_admin.ClipperConnection`
        A connected ClipperConnection.
    name, version, input_type
        As for :func:`clipper_admin.deployers.python.deploy_python_closure`.
    func : function
        ``func(model, inputs)`` returns a list of as many outputs as inputs.
        Numeric inputs arrive as a numpy array (one row per input), strings
        as a list of ``str``. ``model`` is the object ``tf.saved_model.load``
        restores, or the Keras model.
    tf_sess_or_saved_model_path : str, tf.Module or keras.Model
        A SavedModel directory (or ``.keras``/``.h5`` file), a ``tf.Module``
        or a Keras model. A TF1 ``Session`` is refused: TensorFlow 2 has none.
    base_image : str, optional
        "default" picks ``{registry}/tf{major}{minor}-container:{version}``.
    labels, registry, num_replicas, batch_size, pkgs_to_install, warmup_inputs
        As for :func:`clipper_admin.deployers.python.deploy_python_closure`.

    Raises
    ------
    :py:exc:`clipper.ClipperException`
        Before anything is built: an invalid name or version, a ``func``
        that is not callable, a model of another kind or a path that is not
        a SavedModel, TensorFlow not installed here, or (Docker, Kubernetes)
        a base image with another TensorFlow release. Later: a failed save,
        build or deploy.

    Example
    -------
    ::

        class Doubler(tf.Module):
            @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float64)])
            def __call__(self, x):
                return 2 * x

        def predict(model, inputs):
            return [str(row) for row in model(inputs).numpy()]

        deploy_tensorflow_model(clipper_conn, "doubler", 1, "doubles", predict, Doubler())
    """
    version = str(version)
    validate_versioned_model_name(name, version)
    if not callable(func):
        raise ClipperException(f"func must be callable, got {type(func).__name__}")
    tf = import_tensorflow("deploy_tensorflow_model")
    _check_model(tf, tf_sess_or_saved_model_path)
    if base_image == "default":
        base_image = default_tensorflow_image()
        logger.info(f"Using TensorFlow base image {base_image}")
    if builds_docker_images(clipper_conn):
        check_framework_image(base_image, images.TENSORFLOW_VERSION_LABEL, "TensorFlow", str(tf.__version__),
                              "tensorflow-cpu", "requirements-tensorflow.txt")
    def save(model_dir: str) -> None:
        tfmodel = os.path.join(model_dir, TF_MODEL_RELATIVE_PATH)
        model = tf_sess_or_saved_model_path
        with quiet_framework_deprecations():
            if isinstance(model, (str, os.PathLike)):
                _copy_model_path(os.fspath(model), tfmodel)
            elif is_keras_model(model):
                os.makedirs(tfmodel)
                model.save(os.path.join(tfmodel, "keras_model.keras"))
            else:
                tf.saved_model.save(model, tfmodel)
        logger.info(f"TensorFlow model saved in {TF_MODEL_RELATIVE_PATH}/")

    deploy_with_saved_model(
        clipper_conn, name, version, input_type, func, save, f"Could not save the TensorFlow model of {name}:{version}",
        base_image, labels, registry, num_replicas, batch_size, pkgs_to_install, warmup_inputs=warmup_inputs,
    )  # fmt: skip
