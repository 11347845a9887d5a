"""Clipper's admin library: start a cluster, register applications, deploy models.

>>> from clipper_admin import ClipperConnection, LocalContainerManager
>>> conn = ClipperConnection(LocalContainerManager())
>>> conn.start_clipper()
"""

from __future__ import annotations

import logging

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
from clipper_admin.exceptions import ClipperException, UnconnectedException
from clipper_admin.kubernetes.kubernetes_container_manager import KubernetesContainerManager
from clipper_admin.local.local_container_manager import LocalContainerManager
from clipper_admin.version import __registry__, __version__
from clipper_service.process import LOG_DATE_FORMAT, LOG_FORMAT

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

# As the original, importing the library configures logging (unless the program already did), here in
# the format the frontends and replicas use, so the lines of a session read alike wherever they come from.
logging.basicConfig(format=LOG_FORMAT.format(component="CLIENT"), datefmt=LOG_DATE_FORMAT, level=logging.INFO)
