"""Packaging models for the local cluster: the counterpart of ``docker build``.

A packaged model is a directory ``models/<name>/<version>/`` holding a copy of
the serialized model (``func.pkl`` ...), a ``local-image.json`` saying which
runtime serves it, and optionally a ``venv/`` with extra pip packages. Its
"image" reference is ``local:<absolute path of the directory>``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import site
import subprocess
import sys
import venv
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from clipper_admin.deployers.packages import pip_requirements
from clipper_admin.exceptions import ClipperException

logger = logging.getLogger("clipper.local")

LOCAL_IMAGE_PREFIX = "local:"
IMAGE_FILE = "local-image.json"
VENV_DIR = "venv"

RUNTIME_CLOSURE = "python_closure"
RUNTIME_NOOP = "noop"

# Module each runtime runs as ``python -m <module>``.
RUNTIME_MODULES = {
    RUNTIME_CLOSURE: "model_containers.python_closure_container",
    RUNTIME_NOOP: "model_containers.noop_container",
}


def runtime_for_image(image: str) -> str:
    """The local runtime able to serve a Docker base image, by its name.

    Raises ClipperException for images the local manager cannot run.
    """
    base = image.rsplit("/", 1)[-1]
    if image == "default" or "closure-container" in base:
        return RUNTIME_CLOSURE
    if "noop-container" in base:
        return RUNTIME_NOOP
    raise ClipperException(
        "LocalContainerManager can only run Python closures and noop models; "
        f"use DockerContainerManager for image {image}"
    )


@dataclass
class LocalImage:
    """What ``local-image.json`` records, plus where the model lives."""

    base_image: str
    runtime: str
    pkgs: list[str] = field(default_factory=list)
    model_dir: str | None = None

    @property
    def python(self) -> str:
        """Interpreter for the replicas: the model's virtualenv if it has one."""
        if self.model_dir is not None:
            candidate = Path(self.model_dir) / VENV_DIR / "bin" / "python"
            if candidate.exists():
                return str(candidate)
        return sys.executable

    @property
    def module(self) -> str:
        return RUNTIME_MODULES[self.runtime]


def resolve_image(image: str) -> LocalImage:
    """Turn an image reference given to ``deploy_model`` into what to run.

    Accepts ``local:<dir>`` (from :func:`package_model`) and the original's
    noop images (``.../noop-container:<tag>``), which need no model directory.
    """
    if image.startswith(LOCAL_IMAGE_PREFIX):
        model_dir = Path(image[len(LOCAL_IMAGE_PREFIX) :])
        meta_file = model_dir / IMAGE_FILE
        try:
            meta = json.loads(meta_file.read_text())
        except FileNotFoundError:
            raise ClipperException(
                f"Model image {image} not found: {meta_file} does not exist. Build it again with build_model()"
            ) from None
        except ValueError as e:
            raise ClipperException(f"Model image {image} is corrupt: {meta_file}: {e}") from None
        runtime = meta.get("runtime")
        if runtime not in RUNTIME_MODULES:
            raise ClipperException(f"Model image {image} names unknown runtime {runtime!r} in {meta_file}")
        return LocalImage(meta.get("base_image", ""), runtime, list(meta.get("pkgs", [])), str(model_dir))
    base = image.rsplit("/", 1)[-1]
    if "noop-container" in base:
        return LocalImage(image, RUNTIME_NOOP)
    raise ClipperException(
        f"LocalContainerManager cannot run image {image}: it runs models packaged by build_model() "
        "(images named local:<dir>) and noop-container images; "
        f"use DockerContainerManager for image {image}"
    )


def package_model(
    model_dir: Path,
    model_data_path: str,
    base_image: str,
    pkgs_to_install: list[str] | None = None,
) -> str:
    """Copy ``model_data_path`` into ``model_dir`` (replacing it) and describe it.

    Returns the image reference ``local:<model_dir>``.
    """
    runtime = runtime_for_image(base_image)
    src = Path(model_data_path)
    if not src.is_dir():
        raise ClipperException(f"model_data_path {model_data_path} is not a directory")
    model_dir = model_dir.resolve()
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, model_dir, symlinks=False)
    pkgs = pip_requirements(pkgs_to_install)
    if pkgs:
        create_model_venv(model_dir / VENV_DIR, pkgs)
    meta = {"base_image": base_image, "runtime": runtime, "pkgs": pkgs}
    (model_dir / IMAGE_FILE).write_text(json.dumps(meta, indent=2))
    return f"{LOCAL_IMAGE_PREFIX}{model_dir}"


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
