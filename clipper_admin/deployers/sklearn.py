"""Deploy a scikit-learn model (any joblib-picklable estimator) as a Clipper model.

In the style of the original's framework deployers: the model is saved next
to ``func.pkl`` (with joblib, as ``sklearn_model.joblib``) and the container
calls ``func(model, inputs)``. No dedicated container is needed: ``func.pkl``
holds a small closure that loads the model file from ``CLIPPER_MODEL_PATH``
on its first call and then calls ``func(model, inputs)``, so the ordinary
Python closure container serves it. ``scikit-learn`` at the version installed
here is added to the packages, since a pickled estimator only loads reliably
in the version that saved it.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import sys
from collections.abc import Callable
from typing import Any

from clipper_admin._base import validate_versioned_model_name
from clipper_admin.deployers.deployer_utils import new_application, save_python_function
from clipper_admin.deployers.packages import requirement_name
from clipper_admin.deployers.python import check_closure_image, default_closure_image
from clipper_admin.exceptions import ClipperException
from clipper_protocol.constants import DEFAULT_BATCH_SIZE
from clipper_protocol.input_types import InputType, parse_input_type

logger = logging.getLogger("clipper.admin.deployers")

#: Name of the saved estimator inside a model directory.
SKLEARN_MODEL_FILENAME = "sklearn_model.joblib"


def model_loading_closure(func: Callable[[Any, list[Any]], list[Any]], filename: str = SKLEARN_MODEL_FILENAME
                          ) -> Callable[[list[Any]], list[Any]]:
    """A one-argument predict function that loads the model lazily and calls ``func(model, inputs)``.

    It is a closure (pickled by value) that refers to nothing of
    ``clipper_admin``: the container needs only joblib to run it. The model
    path is read from ``CLIPPER_MODEL_PATH`` (``/model`` in a model image).
    """
    loaded: dict[str, Any] = {}

    def predict(inputs: list[Any]) -> list[Any]:
        model = loaded.get("model")
        if model is None:
            import os as _os

            import joblib

            path = _os.path.join(_os.environ.get("CLIPPER_MODEL_PATH", "/model"), filename)
            model = loaded["model"] = joblib.load(path)
        return func(model, inputs)

    return predict


def default_warmup_inputs(input_type: str, sklearn_model: Any) -> list[Any] | None:
    """One row of zeros for a numeric input type and an estimator that knows its width, else None.

    The container loads the saved estimator on its first call (often a
    second or more): a warm-up call makes that happen before the replica
    serves. Zeros are a valid input for nearly every numeric estimator; one
    that refuses them only logs a warning in the replica.
    """
    width = getattr(sklearn_model, "n_features_in_", None)
    try:
        kind = parse_input_type(input_type)
    except ValueError:
        return None  # the deploy reports the bad input type itself
    if not isinstance(width, int) or width <= 0 or kind not in (InputType.INTEGERS, InputType.FLOATS,
                                                                InputType.DOUBLES):
        return None
    zero: int | float = 0 if kind is InputType.INTEGERS else 0.0
    return [[zero] * width]


def _sklearn_requirement() -> str:
    try:
        import sklearn
    except ImportError as e:
        raise ClipperException("deploy_sklearn_model needs scikit-learn installed in this Python") from e
    return f"scikit-learn=={sklearn.__version__}"


def _with_sklearn(pkgs_to_install: list[str] | None) -> list[str]:
    pkgs = list(pkgs_to_install or [])
    # A caller naming scikit-learn (or "sklearn") chooses the version.
    if not any(requirement_name(p) == "scikit-learn" for p in pkgs):
        pkgs.insert(0, _sklearn_requirement())
    return pkgs


def create_endpoint(
    clipper_conn: Any,
    name: str,
    input_type: str,
    func: Callable[[Any, list[Any]], list[Any]],
    sklearn_model: Any,
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
    """Register an application, deploy a scikit-learn model and link the two (both named ``name``).

    See :func:`deploy_sklearn_model` for the model parameters; ``default_output``
    and ``slo_micros`` are the application's.
    """
    with new_application(clipper_conn, name, input_type, default_output, slo_micros):
        deploy_sklearn_model(
            clipper_conn, name, version, input_type, func, sklearn_model, base_image, labels, registry, num_replicas,
            batch_size, pkgs_to_install, warmup_inputs=warmup_inputs,
        )
    clipper_conn.link_model_to_app(name, name)


def deploy_sklearn_model(
    clipper_conn: Any,
    name: str,
    version: Any,
    input_type: str,
    func: Callable[[Any, list[Any]], list[Any]],
    sklearn_model: Any,
    base_image: str = "default",
    labels: list[str] | None = None,
    registry: str | None = None,
    num_replicas: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pkgs_to_install: list[str] | None = None,
    warmup_inputs: list[Any] | None = None,
) -> None:
    """Deploy a scikit-learn model; the container calls ``func(model, inputs)``.

    Parameters
    ----------
    clipper_conn : :py:meth:`clipper_admin.ClipperConnection`
        A connected ClipperConnection.
    name : str
        The model's name (a DNS-1123 label).
    version : Any
        The version (``str()``-converted), same rule as ``name``.
    input_type : str
        One of "integers", "floats", "doubles", "bytes", "strings".
    func : function
        ``func(model, inputs)`` returns a list of as many outputs as inputs,
        e.g. ``lambda m, xs: [str(y) for y in m.predict(xs)]``.
    sklearn_model : estimator
        The trained model; saved with joblib and loaded once per replica.
    base_image, labels, registry, num_replicas, batch_size
        As for :func:`clipper_admin.deployers.python.deploy_python_closure`.
    pkgs_to_install : list(str), optional
        Extra packages; ``scikit-learn==<the version installed here>`` is
        added unless a scikit-learn requirement is already listed.
    warmup_inputs : list, optional
        Inputs every replica answers once before it serves (see
        :func:`clipper_admin.deployers.python.deploy_python_closure`), which
        also loads the saved model there. By default, for a numeric
        ``input_type`` and an estimator with ``n_features_in_``, one row of
        zeros; ``[]`` for none.

    Raises
    ------
    :py:exc:`clipper.ClipperException`
        For an invalid name or version, a model or function that cannot be
        saved, or a failed build or deployment.
    """
    version = str(version)
    validate_versioned_model_name(name, version)
    if not callable(func):
        raise ClipperException(f"func must be callable, got {type(func).__name__}")
    pkgs = _with_sklearn(pkgs_to_install)
    import joblib  # a scikit-learn dependency: present whenever _with_sklearn passed

    try:
        serialization_dir = save_python_function(name, model_loading_closure(func))
    except Exception as e:
        raise ClipperException(
            f"Could not serialize the prediction function of model {name}:{version}: {type(e).__name__}: {e}"
        ) from e
    try:
        try:
            joblib.dump(sklearn_model, os.path.join(serialization_dir, SKLEARN_MODEL_FILENAME))
        except Exception as e:
            raise ClipperException(
                f"Could not save the scikit-learn model of {name}:{version} with joblib: {type(e).__name__}: {e}"
            ) from e
        logger.info("scikit-learn model saved")
        serialization_dir = posixpath.join(*os.path.split(serialization_dir))
        if base_image == "default":
            logger.info(f"Using Python {sys.version_info.major}.{sys.version_info.minor} base image")
            base_image = default_closure_image()
            check_closure_image(clipper_conn, base_image)
        if warmup_inputs is None:
            warmup_inputs = default_warmup_inputs(input_type, sklearn_model)
        clipper_conn.build_and_deploy_model(
            name, version, input_type, serialization_dir, base_image, labels, registry, num_replicas, batch_size,
            pkgs, warmup_inputs=warmup_inputs,
        )
    finally:
        shutil.rmtree(serialization_dir, ignore_errors=True)
