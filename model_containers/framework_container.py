"""The container shared by the framework deployers (PyTorch, ONNX, and later TensorFlow, Keras, ...).

A framework deploy is a directory (``CLIPPER_MODEL_PATH``) holding the
cloudpickled prediction function ``func.pkl`` next to the framework's own
model files. The container loads both once, at start, then calls
``func(model, inputs)`` on every batch and sends ``str()`` of each output,
as the original's ``containers/python/*_container.py`` do. A framework adds
only a :class:`Framework`: its name and a loader from the model directory to
the model object::

    PYTORCH = Framework("PyTorch", load_pytorch_model, files=("pytorch_model.pkl", ...))

    if __name__ == "__main__":
        sys.exit(run_framework_container(PYTORCH))

A function that raises, or returns the wrong number of outputs, answers that
batch with error outputs (the query frontend returns the application's
default output) and the container keeps serving, as a closure's does.

Exit codes, as the closure container: 1 when the model directory lacks a
file or a file does not load, 3 when loading needs a package this container
lacks (the framework itself, a module the function imports, or a runtime
outside Python such as PySpark's Java: :class:`FrameworkRuntimeError`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from model_containers.entry import configure_logging, serve
from model_containers.errors import ClosureLoadError, ModelContainerError
from model_containers.model import ModelContainerBase
from model_containers.python_closure_container import IMPORT_ERROR_RETURN_CODE, load_closure
from model_containers.rpc import RPCService

__all__ = [
    "Framework",
    "FrameworkContainer",
    "FrameworkLoadError",
    "FrameworkRuntimeError",
    "IMPORT_ERROR_RETURN_CODE",
    "load_framework_model",
    "run_framework_container",
]

logger = logging.getLogger("clipper.container")

PredictFunc = Callable[[Any, Any], Any]


class FrameworkLoadError(ModelContainerError):
    """A framework's model files are missing or do not load (other than a missing package)."""


class FrameworkRuntimeError(ModelContainerError):
    """A runtime the framework needs outside Python is missing (PySpark's Java); the message says what to install."""


def _no_context() -> AbstractContextManager[None]:
    return contextlib.nullcontext()


def _call_with_model(func: Callable[..., Any], model: Any, inputs: Any) -> Any:
    return func(model, inputs)


@dataclass(frozen=True)
class Framework:
    """What a framework container knows about its framework.

    ``load(model_dir)`` returns the object handed to ``func`` as ``model``;
    it raises ImportError for a missing package and anything else for a bad
    file. ``files`` are checked to exist first, so a missing one is reported
    by name. ``predict_context`` wraps every call of ``func`` (PyTorch: no
    autograd bookkeeping). ``version`` returns the framework's version for
    the start-up log. ``call(func, model, inputs)`` invokes ``func`` on a
    batch (default ``func(model, inputs)``; PySpark passes its SparkSession
    first). ``close(model)`` runs once serving has stopped (PySpark: stop the
    SparkSession).
    """

    name: str
    load: Callable[[str], Any]
    files: tuple[str, ...] = ()
    predict_context: Callable[[], AbstractContextManager[Any]] = field(default=_no_context)
    version: Callable[[], str] | None = None
    call: Callable[[Callable[..., Any], Any, Any], Any] = field(default=_call_with_model)
    close: Callable[[Any], None] | None = None


class FrameworkContainer(ModelContainerBase):
    """Serves ``func(model, inputs)``: outputs are ``[str(p) for p in func(model, inputs)]``."""

    def __init__(self, func: PredictFunc, model: Any,
                 predict_context: Callable[[], AbstractContextManager[Any]] = _no_context,
                 call: Callable[[Callable[..., Any], Any, Any], Any] = _call_with_model) -> None:
        self.predict_func = func
        self.model = model
        self._context = predict_context
        self._call = call

    def _predict(self, inputs: Any) -> list[str]:
        with self._context():
            preds = self._call(self.predict_func, self.model, inputs)
        return [str(p) for p in preds]

    predict_ints = _predict
    predict_floats = _predict
    predict_doubles = _predict
    predict_bytes = _predict
    predict_strings = _predict


def load_framework_model(framework: Framework, path: str) -> Any:
    """``framework.load(path)`` after checking its files exist.

    Raises ImportError and :class:`FrameworkRuntimeError` as the loader
    does, :class:`FrameworkLoadError` for anything else.
    """
    for name in framework.files:
        if not os.path.isfile(os.path.join(path, name)):
            raise FrameworkLoadError(f"CLIPPER_MODEL_PATH: no {name} in {path} (a {framework.name} model needs it)")
    try:
        return framework.load(path)
    except ImportError:
        raise
    except (FrameworkLoadError, FrameworkRuntimeError):
        raise
    except Exception as e:  # noqa: BLE001 - any loading failure is reported the same way
        raise FrameworkLoadError(f"cannot load the {framework.name} model in {path}: {type(e).__name__}: {e}") from e


def run_framework_container(framework: Framework) -> int:
    """Load ``func.pkl`` and the framework's model from ``CLIPPER_MODEL_PATH``, then serve until stopped."""
    configure_logging()
    service = RPCService()
    path = service.get_model_path()
    try:
        func: PredictFunc = load_closure(path)  # type: ignore[assignment]  # a two-argument function
        model = load_framework_model(framework, path)
    except ImportError as e:
        logger.error(
            "loading the %s model failed with %s: %s. The model needs a Python package that is not "
            "installed in this container; redeploy it with pkgs_to_install=[...] naming the missing "
            "package(s), or build on a base image that has them.",
            framework.name, type(e).__name__, e,
        )  # fmt: skip
        return IMPORT_ERROR_RETURN_CODE
    except FrameworkRuntimeError as e:
        logger.error("ERROR: %s", e)
        return IMPORT_ERROR_RETURN_CODE
    except (ClosureLoadError, FrameworkLoadError) as e:
        logger.error("ERROR: %s", e)
        return 1
    version = ""
    if framework.version is not None:
        with contextlib.suppress(Exception):
            version = f" {framework.version()}"
    logger.info("loaded %s%s model and func.pkl from %s", framework.name, version, path)
    sys.stdout.flush()
    try:
        return serve(service, FrameworkContainer(func, model, framework.predict_context, framework.call))
    finally:
        if framework.close is not None:
            try:
                framework.close(model)
            except Exception as e:  # noqa: BLE001 - the process is ending; a failed clean-up is only logged
                logger.warning("closing the %s model failed: %s: %s", framework.name, type(e).__name__, e)
