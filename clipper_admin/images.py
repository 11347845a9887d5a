"""Names of the images a Clipper cluster runs, in one place.

Every image is ``{registry}/{name}:{version}`` (``__registry__`` from the env
``CLIPPER_REGISTRY``, default ``clipper``; ``__version__`` the package's).
``make images`` builds them all, also offline (``dockerfiles/build_images.sh``).
"""

from __future__ import annotations

import sys

from clipper_admin.version import __registry__, __version__

QUERY_FRONTEND = "query_frontend"
MANAGEMENT_FRONTEND = "management_frontend"
FRONTEND_EXPORTER = "frontend-exporter"
REDIS = "redis"
PROMETHEUS = "prometheus"
#: The Python runtime every service image builds on (Python 3.11, :data:`MAIN_PYTHON`);
#: the closure images of the other Pythons build on ``py310-rpc``, ``py312-rpc``, ``py313-rpc``.
RPC_BASE = "py-rpc"
NOOP_CONTAINER = "noop-container"
#: Framework containers: also tagged with the Python version, as the closure image
#: (``pytorch311-container``); the ONNX image also as the original's ``caffe2-onnx-container``.
PYTORCH_CONTAINER = "pytorch-container"
ONNX_CONTAINER = "onnx-container"
CAFFE2_ONNX_CONTAINER = "caffe2-onnx-container"
#: TensorFlow and Keras (``tf311-container``, ``keras311-container``): one framework layer, TensorFlow's CPU build.
TF_CONTAINER = "tf-container"
KERAS_CONTAINER = "keras-container"
#: MXNet (``mxnet311-container``): MXNet 1.9.1, retired upstream, on its own numpy 1.23.
MXNET_CONTAINER = "mxnet-container"
#: PySpark (``pyspark311-container``): PySpark with Debian's Java 17 runtime.
PYSPARK_CONTAINER = "pyspark-container"

#: Label on every image we build: the ``major.minor`` of its Python.
PYTHON_VERSION_LABEL = "ai.clipper.python_version"
#: Labels of the framework images: the framework served and the versions that load models.
FRAMEWORK_LABEL = "ai.clipper.framework"
PYTORCH_VERSION_LABEL = "ai.clipper.pytorch_version"
ONNXRUNTIME_VERSION_LABEL = "ai.clipper.onnxruntime_version"
ONNX_MAX_OPSET_LABEL = "ai.clipper.onnx_max_opset"
TENSORFLOW_VERSION_LABEL = "ai.clipper.tensorflow_version"
KERAS_VERSION_LABEL = "ai.clipper.keras_version"
MXNET_VERSION_LABEL = "ai.clipper.mxnet_version"
PYSPARK_VERSION_LABEL = "ai.clipper.pyspark_version"
#: The Java feature version (``17``) of the PySpark image's runtime.
JAVA_VERSION_LABEL = "ai.clipper.java_version"


#: The Python of py-rpc, the frontends and the framework images.
MAIN_PYTHON = (3, 11)
#: The Pythons with a closure image (``build_images.sh --online`` builds them all, from python:3.X-slim).
#: A cloudpickled function only loads in the Python minor version that pickled it, so a
#: client deploys onto the closure image of its own Python.
CLOSURE_PYTHONS = ((3, 10), (3, 11), (3, 12), (3, 13))
#: Those ``build_images.sh`` also builds offline, from the Debian release that ships that Python.
OFFLINE_CLOSURE_PYTHONS = {(3, 11): "bookworm", (3, 13): "trixie"}


def _python(major: int | None, minor: int | None) -> tuple[int, int]:
    return (sys.version_info.major if major is None else major, sys.version_info.minor if minor is None else minor)


def closure_container_name(major: int | None = None, minor: int | None = None) -> str:
    """``python311-closure-container`` for Python 3.11 (default: this interpreter)."""
    major, minor = _python(major, minor)
    return f"python{major}{minor}-closure-container"


def rpc_base_name(major: int | None = None, minor: int | None = None) -> str:
    """The py-rpc image a closure image of that Python builds on: ``py-rpc`` for 3.11, else ``py313-rpc``."""
    major, minor = _python(major, minor)
    return RPC_BASE if (major, minor) == MAIN_PYTHON else f"py{major}{minor}-rpc"


def closure_image_build_hint(major: int | None = None, minor: int | None = None) -> str:
    """What to do when the closure image of Python ``major.minor`` (default: this one) is missing."""
    major, minor = _python(major, minor)
    name = closure_container_name(major, minor)
    offline = " and ".join(f"{a}.{b} (Debian {suite})" for (a, b), suite in OFFLINE_CLOSURE_PYTHONS.items())
    if (major, minor) in OFFLINE_CLOSURE_PYTHONS:
        build = f"`make images` (or `dockerfiles/build_images.sh --only {name}`) builds it, also offline"
    elif (major, minor) in CLOSURE_PYTHONS:
        build = (f"`dockerfiles/build_images.sh --online --only {name}` builds it from python:{major}.{minor}-slim "
                 f"and PyPI (offline, build_images.sh builds the closure images of Python {offline} only)")
    else:
        supported = ", ".join(f"{a}.{b}" for a, b in CLOSURE_PYTHONS)
        build = f"Clipper builds closure images for Python {supported} only: deploy from one of those"
    return (f"{build}; or pass base_image= an image whose Python is {major}.{minor}, with Clipper's runtime "
            "installed (a cloudpickled function only loads in the Python version that pickled it).")


def framework_container_name(framework: str, major: int | None = None, minor: int | None = None) -> str:
    """``pytorch311-container`` for ``framework="pytorch"`` on Python 3.11 (default: this interpreter)."""
    major = sys.version_info.major if major is None else major
    minor = sys.version_info.minor if minor is None else minor
    return f"{framework}{major}{minor}-container"


def image(name: str, registry: str | None = None, version: str | None = None) -> str:
    """Full reference of one of our images."""
    return f"{registry or __registry__}/{name}:{version or __version__}"
