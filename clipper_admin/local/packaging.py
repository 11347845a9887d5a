"""Packaging models for the local cluster: the counterpart of ``docker build``.

A packaged model is a directory ``models/<name>/<version>/<build id>/``
holding a copy of the serialized model (``func.pkl`` ...), a
``local-image.json`` saying which runtime serves it, and optionally a
``venv/`` with extra pip packages. Its "image" reference is
``local:<absolute path of the directory>``. Like an image digest, a build
directory is immutable: each build of a version gets a new one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from clipper_admin.deployers.packages import pip_requirements
from clipper_admin.exceptions import ClipperException
from clipper_admin.local.model_venv import create_model_venv

LOCAL_IMAGE_PREFIX = "local:"
IMAGE_FILE = "local-image.json"
VENV_DIR = "venv"

RUNTIME_CLOSURE = "python_closure"
RUNTIME_NOOP = "noop"
RUNTIME_PYTORCH = "pytorch"
RUNTIME_ONNX = "onnx"
RUNTIME_TENSORFLOW = "tensorflow"
RUNTIME_KERAS = "keras"
RUNTIME_PYSPARK = "pyspark"
RUNTIME_MXNET = "mxnet"

# Module each runtime runs as ``python -m <module>``.
RUNTIME_MODULES = {
    RUNTIME_CLOSURE: "model_containers.python_closure_container",
    RUNTIME_NOOP: "model_containers.noop_container",
    RUNTIME_PYTORCH: "model_containers.pytorch_container",
    RUNTIME_ONNX: "model_containers.onnx_container",
    RUNTIME_TENSORFLOW: "model_containers.tf_container",
    RUNTIME_KERAS: "model_containers.keras_container",
    RUNTIME_PYSPARK: "model_containers.pyspark_container",
    RUNTIME_MXNET: "model_containers.mxnet_container",
}

# Framework runtimes: the modules they need in this Python, and how to get them.
_FRAMEWORK_RUNTIMES = {
    RUNTIME_PYTORCH: (("torch",), "pip install torch"),
    RUNTIME_ONNX: (("onnxruntime",), "pip install onnxruntime"),
    RUNTIME_TENSORFLOW: (("tensorflow",), "pip install tensorflow-cpu"),
    RUNTIME_KERAS: (("keras", "tensorflow"), "pip install tensorflow-cpu"),
    RUNTIME_PYSPARK: (("pyspark",), "pip install pyspark"),
    # MXNet 1.9.1 needs numpy<1.24, which TensorFlow and PyTorch do not run on: a virtualenv of its own.
    RUNTIME_MXNET: (("mxnet",), "pip install mxnet==1.9.1 'numpy<1.24' in a virtualenv of its own"),
}
#: What PySpark's replicas need besides the module: a Java runtime (Spark 4 runs on Java 17 or later).
JAVA_INSTALL = "apt-get install openjdk-17-jre-headless"


def _framework_runtime(base: str) -> str | None:
    """The framework runtime of an image name (``pytorch311-container``, ``caffe2-onnx-container``)."""
    if re.fullmatch(r"pytorch(\d*)-container(:.*)?", base):
        return RUNTIME_PYTORCH
    if re.fullmatch(r"(caffe2-)?onnx(\d*)-container(:.*)?", base):
        return RUNTIME_ONNX
    if re.fullmatch(r"(tf|tensorflow)(\d*)-container(:.*)?", base):
        return RUNTIME_TENSORFLOW
    if re.fullmatch(r"keras(\d*)-container(:.*)?", base):
        return RUNTIME_KERAS
    if re.fullmatch(r"pyspark(\d*)-container(:.*)?", base):
        return RUNTIME_PYSPARK
    if re.fullmatch(r"mxnet(\d*)-container(:.*)?", base):
        return RUNTIME_MXNET
    return None


def _require_framework(runtime: str, image: str) -> None:
    modules, install = _FRAMEWORK_RUNTIMES[runtime]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ClipperException(
            f"LocalContainerManager serves {image} with this Python's {', '.join(missing)}, which is not "
            f"installed ({sys.executable}): {install}, or use DockerContainerManager"
        )
    if runtime == RUNTIME_PYSPARK:
        _require_java(image)


def _require_java(image: str) -> None:
    """Refuse PySpark models when the host has no Java: the replica's Spark would fail to start."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        if os.access(os.path.join(java_home, "bin", "java"), os.X_OK):
            return
        where = f"JAVA_HOME={java_home} has no bin/java"
    elif shutil.which("java") is not None:
        return
    else:
        where = "no java on PATH and JAVA_HOME unset"
    raise ClipperException(
        f"LocalContainerManager serves {image} with this Python's pyspark, which needs a Java runtime (17 or "
        f"later) on this host ({where}): {JAVA_INSTALL} (Debian/Ubuntu) or set JAVA_HOME, "
        "or use DockerContainerManager"
    )


def runtime_for_image(image: str) -> str:
    """The local runtime able to serve a Docker base image, by its name.

    Raises ClipperException for images the local manager cannot run.
    """
    base = image.rsplit("/", 1)[-1]
    if image == "default" or "closure-container" in base:
        return RUNTIME_CLOSURE
    if "noop-container" in base:
        return RUNTIME_NOOP
    framework = _framework_runtime(base)
    if framework is not None:
        _require_framework(framework, image)
        return framework
    raise ClipperException(
        "LocalContainerManager can only run Python closures, PyTorch, ONNX, TensorFlow, Keras, PySpark and MXNet "
        "models and noop models; "
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
    version_dir: Path,
    model_data_path: str,
    base_image: str,
    pkgs_to_install: list[str] | None = None,
) -> str:
    """Package ``model_data_path`` as a new build of one model version; returns its image.

    Every build gets a directory of its own, ``<version_dir>/<build id>/``,
    and the image reference ``local:<that directory>`` names it. The build is
    assembled under a hidden staging name next to it and renamed into place
    once complete, so a directory that an image reference names is never
    half-built and never changed afterwards: rebuilding a version (even a
    refused or concurrent deploy of one that is registered) cannot alter what
    the replicas of an earlier build load. A failed build leaves nothing.
    """
    runtime = runtime_for_image(base_image)
    src = Path(model_data_path)
    if not src.is_dir():
        raise ClipperException(f"model_data_path {model_data_path} is not a directory")
    version_dir = version_dir.resolve()
    version_dir.mkdir(parents=True, exist_ok=True)
    build_id = new_build_id()
    staging = version_dir / f".{build_id}.staging"
    try:
        shutil.copytree(src, staging, symlinks=False)
        pkgs = pip_requirements(pkgs_to_install)
        if pkgs:
            create_model_venv(staging / VENV_DIR, pkgs)
        meta = {"base_image": base_image, "runtime": runtime, "pkgs": pkgs}
        (staging / IMAGE_FILE).write_text(json.dumps(meta, indent=2))
        model_dir = version_dir / build_id
        os.rename(staging, model_dir)  # atomic: the build appears complete or not at all
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        remove_empty_parents(version_dir, levels=2)
        raise
    return f"{LOCAL_IMAGE_PREFIX}{model_dir}"


def new_build_id() -> str:
    """A build directory name: sortable by time, unique across processes."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"


def model_dir_of(image: str) -> Path | None:
    """The build directory a ``local:<dir>`` image names; None for other images."""
    if not image.startswith(LOCAL_IMAGE_PREFIX):
        return None
    return Path(image[len(LOCAL_IMAGE_PREFIX) :])


def discard_build(image: str, models_dir: Path) -> bool:
    """Remove the build directory of ``image`` if it lies under ``models_dir``.

    Also removes the version's and model's directories when that leaves them
    empty. Returns whether a directory was removed; images of other kinds,
    or outside ``models_dir``, are left alone.
    """
    model_dir = model_dir_of(image)
    if model_dir is None:
        return False
    model_dir, models_dir = model_dir.resolve(), models_dir.resolve()
    if not model_dir.is_relative_to(models_dir) or len(model_dir.relative_to(models_dir).parts) != 3:
        return False  # not a <name>/<version>/<build> of this cluster
    if not model_dir.is_dir():
        return False
    shutil.rmtree(model_dir)
    remove_empty_parents(model_dir.parent, levels=2)
    return True


def remove_empty_parents(directory: Path, levels: int) -> None:
    """Remove ``directory`` and up to ``levels - 1`` of its parents while they are empty."""
    for d in [directory, *directory.parents][:levels]:
        try:
            d.rmdir()
        except OSError:
            return  # not empty (or gone): stop
