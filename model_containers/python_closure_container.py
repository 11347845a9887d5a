"""``python -m model_containers.python_closure_container``: serves a Python closure.

The deployer cloudpickles the user's function into ``func.pkl`` (and may ship
local modules under ``modules/``) in the directory ``CLIPPER_MODEL_PATH``
names. The function receives the whole batch; each of its outputs is passed
through ``str()``.

Exit codes: 1 for a missing setting or ``func.pkl``, 3 when loading the
function needs a package this container lacks (as the original's images).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import cloudpickle

from model_containers.entry import configure_logging, serve
from model_containers.errors import ClosureLoadError as ClosureLoadError
from model_containers.model import ModelContainerBase
from model_containers.rpc import RPCService

logger = logging.getLogger("clipper.container")

IMPORT_ERROR_RETURN_CODE = 3


def load_closure(path: str) -> Callable[[Any], Any]:
    """Load ``<path>/func.pkl``, with ``<path>/modules`` importable first.

    Raises ImportError when unpickling needs a missing package, and
    :class:`ClosureLoadError` for anything else that goes wrong.
    """
    modules = os.path.join(path, "modules")
    if os.path.isdir(modules) and modules not in sys.path:
        # Local modules shipped with the closure win over installed ones.
        sys.path.insert(0, modules)
    func_path = os.path.join(path, "func.pkl")
    if not os.path.isfile(func_path):
        raise ClosureLoadError(f"CLIPPER_MODEL_PATH: no func.pkl in {path}")
    try:
        with open(func_path, "rb") as f:
            func: Callable[[Any], Any] = cloudpickle.load(f)
    except ImportError:
        raise
    except Exception as e:  # noqa: BLE001 - any unpickling failure is reported the same way
        raise ClosureLoadError(f"cannot load {func_path}: {type(e).__name__}: {e}") from e
    if not callable(func):
        raise ClosureLoadError(f"{func_path} holds a {type(func).__name__}, not a function")
    return func


class PythonClosureContainer(ModelContainerBase):
    """Serves ``func``: outputs are ``[str(p) for p in func(inputs)]``."""

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.predict_func = func

    def _predict(self, inputs: Any) -> list[str]:
        return [str(p) for p in self.predict_func(inputs)]

    predict_ints = _predict
    predict_floats = _predict
    predict_doubles = _predict
    predict_bytes = _predict
    predict_strings = _predict


def main() -> int:
    configure_logging()
    service = RPCService()
    path = service.get_model_path()
    try:
        func = load_closure(path)
    except ImportError as e:
        logger.error(
            "loading the model failed with %s: %s. The model needs a Python package that is "
            "not installed in this container; redeploy it with pkgs_to_install=[...] naming "
            "the missing package(s), or build on a base image that has them.",
            type(e).__name__,
            e,
        )
        return IMPORT_ERROR_RETURN_CODE
    except ClosureLoadError as e:
        logger.error("ERROR: %s", e)
        return 1
    logger.info("loaded closure from %s", path)
    return serve(service, PythonClosureContainer(func))


if __name__ == "__main__":
    sys.exit(main())
