"""``ClipperConnection``: the admin library's entry point, one facade over its parts.

The methods live by concern in private modules (cluster lifecycle in
``_cluster``, applications in ``_applications``, model registry and
replicas in ``_models``, building and deploying in ``_deployment``,
statistical monitoring in ``_monitoring``); this
module assembles them and holds the constants the original exported from here.
"""

from __future__ import annotations

from clipper_admin._applications import _Applications
from clipper_admin._base import ClusterAdapter
from clipper_admin._cluster import _Cluster
from clipper_admin._deployment import _Deployment
from clipper_admin._monitoring import _Monitoring
from clipper_admin.container_manager import ContainerManager
from clipper_protocol.constants import CONTAINERLESS_MODEL_IMAGE, DEFAULT_PREDICTION_CACHE_SIZE_BYTES
from clipper_protocol.names import DEPLOY_REGEX_STR

__all__ = [
    "CLIPPER_TEMP_DIR",
    "CONTAINERLESS_MODEL_IMAGE",
    "DEFAULT_LABEL",
    "DEFAULT_PREDICTION_CACHE_SIZE_BYTES",
    "ClipperConnection",
    "ClusterAdapter",
    "deploy_regex_str",
]

#: Where the original put temporary files (build contexts, test model data).
CLIPPER_TEMP_DIR = "/tmp/clipper"

#: Labels of a model registered without any.
DEFAULT_LABEL: list[str] = []

#: The DNS-1123 pattern model names and versions must match (with ``re.match``).
deploy_regex_str = DEPLOY_REGEX_STR


class ClipperConnection(_Cluster, _Applications, _Deployment, _Monitoring):
    """Manage a Clipper cluster: start or connect, register, deploy, scale, stop.

    Parameters
    ----------
    container_manager : :py:class:`clipper_admin.container_manager.ContainerManager`
        Runs the cluster's processes: :class:`LocalContainerManager` (local
        processes), :class:`DockerContainerManager` or
        :class:`KubernetesContainerManager`.
    admin_token : str, optional
        Token for a management frontend that requires one. Without it the
        container manager's ``admin_token`` is used, else the
        ``CLIPPER_ADMIN_TOKEN`` environment variable.
    admin_tls : bool or str, optional
        For a management frontend serving HTTPS (``--tls_cert``): True
        verifies its certificate against the system's CAs, a path against
        that CA bundle (a self-signed certificate is its own). Without it the
        container manager's ``admin_tls`` is used, else the
        ``CLIPPER_ADMIN_TLS_CA`` environment variable, else plain HTTP.

    Attributes
    ----------
    connected : bool
        Whether :meth:`start_clipper` or :meth:`connect` succeeded; most
        methods raise :py:exc:`UnconnectedException` until then.
    cm : ContainerManager
        The container manager.
    logger : ClusterAdapter
        Logs with a ``[<cluster_identifier>]`` prefix.
    """

    def __init__(self, container_manager: ContainerManager, admin_token: str | None = None,
                 admin_tls: bool | str | None = None) -> None:
        super().__init__(container_manager, admin_token, admin_tls)
