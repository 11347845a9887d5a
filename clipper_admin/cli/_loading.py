"""``FILE.py:FUNCTION``: load the user's file here to find the function to deploy.

The CLI imports FILE in its own Python to get FUNCTION, so every module FILE
imports at top level must be installed *here*, not only in the model's
replicas (which get ``--pkg``). A missing one is reported with the ways out;
``--install-locally`` takes the first of them itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from clipper_admin.cli._errors import CliError
from clipper_admin.deployers.packages import PIP_RENAMES, pip_requirement, requirement_name

logger = logging.getLogger("clipper.cli")

# Import names whose distribution is named otherwise (the common ones).
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "cv2": "opencv-python", "PIL": "pillow", "yaml": "pyyaml",
                  "bs4": "beautifulsoup4", "skimage": "scikit-image"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution(requirement: str) -> str:
    """The normalized distribution name of a ``--pkg`` entry: a requirement, ``name @ url``,
    or the path of a wheel, source archive or project directory."""
    text = requirement.strip()
    if "@" in text and not text.startswith(("/", ".")):
        return _normalized(text.split("@", 1)[0].strip())
    if "/" in text or text.endswith((".whl", ".tar.gz", ".zip")):
        base = Path(text.rstrip("/")).name
        if base.endswith(".whl"):
            return _normalized(base.split("-")[0])
        base = re.sub(r"(\.tar\.gz|\.zip)$", "", base)
        return _normalized(re.sub(r"-\d[^-]*$", "", base))
    return requirement_name(text)


def _package_for(module: str, pkgs: Sequence[str]) -> str | None:
    """The ``--pkg`` entry that provides ``module``, if one plausibly does."""
    wanted = {_normalized(module), _normalized(_DISTRIBUTIONS.get(module, module))}
    wanted |= {_normalized(PIP_RENAMES[w]) for w in list(wanted) if w in PIP_RENAMES}
    for p in pkgs:
        if _distribution(p) in wanted:
            return p
    return None


def _install_here(pkgs: Sequence[str]) -> None:
    """``pip install pkgs`` into the Python running the CLI; CliError with pip's last line on failure."""
    reqs = [pip_requirement(p) for p in pkgs]
    print(f"Installing {' '.join(reqs)} into {sys.prefix} (--install-locally)", file=sys.stderr)
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *reqs]
    tail: deque[str] = deque(maxlen=20)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    with proc.stdout:
        for line in proc.stdout:
            tail.append(line.rstrip())
            logger.info("pip install: %s", line.rstrip())
    if proc.wait() != 0:
        last = next((ln for ln in reversed(tail) if ln.strip()), "")
        raise CliError(f"pip install {' '.join(reqs)} into {sys.prefix} failed with exit code {proc.returncode}: "
                       f"{last.strip()}\n" + "\n".join(tail))


def _exec_file(path: Path, module_name: str) -> Any:
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise CliError(f"cannot load {path} as Python code")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(path.resolve().parent))
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    finally:
        sys.path.pop(0)
    return module


def _missing_module_message(path: Path, func_name: str, missing: str, pkgs: Sequence[str]) -> str:
    top = missing.split(".")[0]
    pkg = _package_for(top, pkgs)
    dist = pkg or _DISTRIBUTIONS.get(top, top)
    msg = (f"{path} imports {top}, which is not installed here; the CLI loads {path} to find {func_name}: "
           f"pip install {dist} here")
    if pkg is not None:
        msg += " (or pass --install-locally to let clipper do it)"
    msg += f", or import {top} inside {func_name}"
    if pkg is None:
        msg += f"; and add --pkg {dist} so the model's replicas install it too"
    return msg


def load_function(spec: str, pkgs: Sequence[str] = (), install_locally: bool = False) -> Callable[..., Any]:
    """The function named by ``FILE.py:FUNCTION``, pickled by value when deployed.

    The file is loaded as a module of its own; cloudpickle is told to copy
    that module's code into the pickle, since model replicas cannot import
    the user's file. If FILE imports a module that is missing here and
    ``install_locally`` is set and that module is one of ``pkgs``, the
    packages are pip-installed into this Python and FILE is loaded again.
    """
    path_text, sep, func_name = spec.rpartition(":")
    if not sep or not path_text or not func_name:
        raise CliError(f"expected FILE.py:FUNCTION, got {spec!r}")
    path = Path(path_text)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    module_name = f"_clipper_user_{path.stem.replace('-', '_')}_{digest}"
    for attempt in (1, 2):
        try:
            module = _exec_file(path, module_name)
            break
        except ModuleNotFoundError as e:
            missing = e.name or str(e)
            if attempt == 1 and install_locally and _package_for(missing.split(".")[0], pkgs) is not None:
                _install_here(pkgs)
                importlib.invalidate_caches()
                continue
            raise CliError(_missing_module_message(path, func_name, missing, pkgs)) from None
        except Exception as e:
            raise CliError(f"loading {path} failed: {type(e).__name__}: {e}") from None
    func: object = getattr(module, func_name, None)
    if not callable(func):
        raise CliError(f"{path} has no function named {func_name}")
    import cloudpickle

    cloudpickle.register_pickle_by_value(module)
    return func
