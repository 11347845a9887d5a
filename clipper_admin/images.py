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
RPC_BASE = "py-rpc"
NOOP_CONTAINER = "noop-container"

#: Label on every image we build: the ``major.minor`` of its Python.
PYTHON_VERSION_LABEL = "ai.clipper.python_version"


def closure_container_name(major: int | None = None, minor: int | None = None) -> str:
    """``python311-closure-container`` for Python 3.11 (default: this interpreter)."""
    major = sys.version_info.major if major is None else major
    minor = sys.version_info.minor if minor is None else minor
    return f"python{major}{minor}-closure-container"


def image(name: str, registry: str | None = None, version: str | None = None) -> str:
    """Full reference of one of our images."""
    return f"{registry or __registry__}/{name}:{version or __version__}"
