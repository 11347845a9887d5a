"""Clipper's admin library: start a cluster, register applications, deploy models.

>>> from clipper_admin import ClipperConnection, LocalContainerManager
>>> conn = ClipperConnection(LocalContainerManager())
>>> conn.start_clipper()
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from clipper_admin.exceptions import ClipperException, UnconnectedException
from clipper_admin.version import __registry__, __version__
from clipper_service.process import LOG_DATE_FORMAT, LOG_FORMAT

if TYPE_CHECKING:
    from clipper_admin import deployers
    from clipper_admin.clipper_admin import (
        CLIPPER_TEMP_DIR,
        CONTAINERLESS_MODEL_IMAGE,
        DEFAULT_LABEL,
        DEFAULT_PREDICTION_CACHE_SIZE_BYTES,
        ClipperConnection,
        ClusterAdapter,
        deploy_regex_str,
    )
    from clipper_admin.docker.docker_container_manager import DockerContainerManager
    from clipper_admin.kubernetes.kubernetes_container_manager import KubernetesContainerManager
    from clipper_admin.local.local_container_manager import LocalContainerManager

# Imported on first use (PEP 562): a deployed function that imports clipper_admin.metrics
# runs this file inside a model container, whose image lacks the client's dependencies
# (requests, PyYAML, ...).
_LAZY = {
    **dict.fromkeys(
        ["CLIPPER_TEMP_DIR", "CONTAINERLESS_MODEL_IMAGE", "DEFAULT_LABEL", "DEFAULT_PREDICTION_CACHE_SIZE_BYTES",
         "ClipperConnection", "ClusterAdapter", "deploy_regex_str"],
        "clipper_admin.clipper_admin",
    ),
    "DockerContainerManager": "clipper_admin.docker.docker_container_manager",
    "KubernetesContainerManager": "clipper_admin.kubernetes.kubernetes_container_manager",
    "LocalContainerManager": "clipper_admin.local.local_container_manager",
}

__all__ = [
    "CLIPPER_TEMP_DIR",
    "CONTAINERLESS_MODEL_IMAGE",
    "DEFAULT_LABEL",
    "DEFAULT_PREDICTION_CACHE_SIZE_BYTES",
    "ClipperConnection",
    "ClipperException",
    "ClusterAdapter",
    "DockerContainerManager",
    "KubernetesContainerManager",
    "LocalContainerManager",
    "UnconnectedException",
    "__registry__",
    "__version__",
    "deploy_regex_str",
    "deployers",
]


def __getattr__(name: str) -> Any:
    """The names above, and the subpackages (``clipper_admin.deployers``, ...), imported when first used."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if not name.startswith("__"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# As the original, importing the library configures logging (unless the program already did), here in
# the format the frontends and replicas use, so the lines of a session read alike wherever they come from.
logging.basicConfig(format=LOG_FORMAT.format(component="CLIENT"), datefmt=LOG_DATE_FORMAT, level=logging.INFO)
