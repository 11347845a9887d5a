"""A packaged model's own virtualenv: this interpreter's packages plus ``pkgs_to_install``.

The local counterpart of ``pip install`` in a model image (``packaging``
puts it at ``<build>/venv/``; replicas then run its ``python``).
"""

from __future__ import annotations

import logging
import os
import site
import subprocess
import venv
from collections import deque
from pathlib import Path

from clipper_admin.exceptions import ClipperException

logger = logging.getLogger("clipper.local")


def create_model_venv(venv_dir: Path, pkgs: list[str]) -> None:
    """A virtualenv that sees this interpreter's packages, with ``pkgs`` pip-installed.

    ``--system-site-packages`` alone would expose the *base* interpreter's
    packages, not those of the virtualenv we may be running in (where
    ``model_containers`` is installed), so a ``.pth`` file adds ours too;
    packages installed into the model's venv still come first.
    """
    logger.info("Creating virtualenv %s", venv_dir)
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=os.name != "nt").create(venv_dir)
    python = venv_dir / "bin" / "python"
    site_dir = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    parents = [p for p in [*site.getsitepackages(), site.getusersitepackages()] if Path(p).is_dir()]
    (site_dir / "_clipper_parent_env.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
    )
    pip = [str(python), "-m", "pip"]
    if subprocess.run([*pip, "--version"], capture_output=True).returncode != 0:
        _run_logged([str(python), "-m", "ensurepip", "--default-pip"], "ensurepip")
    logger.info("Installing %s into %s", " ".join(pkgs), venv_dir)
    _run_logged([*pip, "install", "--disable-pip-version-check", "--no-input", *pkgs], "pip install")


def _run_logged(cmd: list[str], what: str) -> None:
    """Run ``cmd``, logging each output line; ClipperException with the tail on failure."""
    tail: deque[str] = deque(maxlen=20)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    with proc.stdout:
        for line in proc.stdout:
            line = line.rstrip()
            tail.append(line)
            logger.info("%s: %s", what, line)
    code = proc.wait()
    if code != 0:
        raise ClipperException(f"{what} failed with exit code {code}:\n" + "\n".join(tail))
