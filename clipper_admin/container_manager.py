"""The interface every container manager (local, Docker, Kubernetes) implements.

A container manager owns the platform side of a cluster: it starts the
frontends and Redis, runs model replicas, collects logs and knows the
addresses of the frontends. :class:`~clipper_admin.ClipperConnection` drives
it and talks to the management frontend over HTTP for everything else.

Also here: the label keys the Docker and Kubernetes managers put on the
objects they create, the ports the frontends listen on inside a container,
and the helpers that encode a model version into a container label.
"""

from __future__ import annotations

import abc
from clipper_admin.exceptions import ClipperException
from clipper_protocol import constants

# Label keys, as the original writes them on containers, pods and services.
CLIPPER_DOCKER_LABEL = "ai.clipper.container.label"
CLIPPER_NAME_LABEL = "ai.clipper.name"
CLIPPER_MODEL_CONTAINER_LABEL = "ai.clipper.model_container.label"
CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL = "ai.clipper.query_frontend.label"
CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL = "ai.clipper.management_frontend.label"
CLIPPER_QUERY_FRONTEND_ID_LABEL = "ai.clipper.query_frontend.id"
#: On a query frontend: its worker processes (``--workers``); on a replica: the worker it serves.
CLIPPER_QUERY_FRONTEND_WORKERS_LABEL = "ai.clipper.query_frontend.workers"
CLIPPER_QUERY_FRONTEND_WORKER_LABEL = "ai.clipper.query_frontend.worker"
CLIPPER_DOCKER_PORT_LABELS = {
    "redis": "ai.clipper.redis.port",
    "query_rest": "ai.clipper.query_frontend.query.port",
    "query_rpc": "ai.clipper.query_frontend.rpc.port",
    "management": "ai.clipper.management.port",
    "metric": "ai.clipper.metric.port",
    "fluentd": "ai.clipper.fluentd.port",
}
CLIPPER_METRIC_CONFIG_LABEL = "ai.clipper.metric.config"
CLIPPER_FLUENTD_CONFIG_LABEL = "ai.clipper.fluentd.config"

# Ports the components listen on inside their containers.
CLIPPER_INTERNAL_QUERY_PORT = constants.QUERY_FRONTEND_PORT
CLIPPER_INTERNAL_MANAGEMENT_PORT = constants.MANAGEMENT_FRONTEND_PORT
CLIPPER_INTERNAL_RPC_PORT = constants.RPC_SERVICE_PORT
CLIPPER_INTERNAL_METRIC_PORT = constants.METRIC_PORT
CLIPPER_INTERNAL_REDIS_PORT = constants.REDIS_PORT
CLIPPER_INTERNAL_FLUENTD_PORT = 24224


def create_model_container_label(name: str, version: str) -> str:
    """Label value identifying the replicas of model ``name`` at ``version``.

    ``_`` is a safe separator: deployed names and versions are DNS-1123
    labels, which cannot contain it.
    """
    return f"{name}_{version}"


def parse_model_container_label(label: str) -> tuple[str, str]:
    """Inverse of :func:`create_model_container_label`: ``(name, version)``.

    Raises
    ------
    ClipperException
        If ``label`` does not split into exactly two parts on ``_``.
    """
    splits = label.split("_")
    if len(splits) != 2:
        raise ClipperException(f"Unable to parse model container label {label}")
    return splits[0], splits[1]


class ContainerManager(metaclass=abc.ABCMeta):
    """Starts, scales and stops the processes of one Clipper cluster.

    Implementations must also set ``cluster_name`` and ``cluster_identifier``
    (the latter prefixes log lines and model image tags).
    """

    cluster_name: str
    cluster_identifier: str

    @abc.abstractmethod
    def start_clipper(
        self,
        query_frontend_image: str,
        mgmt_frontend_image: str,
        frontend_exporter_image: str,
        cache_size: int,
        qf_http_thread_pool_size: int,
        qf_http_timeout_request: int,
        qf_http_timeout_content: int,
        num_frontend_replicas: int,
    ) -> None:
        """Start Redis, the frontends and the metrics stack, then connect.

        Must return with the manager connected (as if :meth:`connect` had
        been called). Raises ClipperException if the cluster cannot start.
        """

    @abc.abstractmethod
    def connect(self) -> None:
        """Attach to an already running cluster and learn its addresses."""

    @abc.abstractmethod
    def deploy_model(
        self, name: str, version: str, input_type: str, image: str, num_replicas: int = 1
    ) -> None:
        """Start ``num_replicas`` replicas of ``image`` serving ``name:version``."""

    @abc.abstractmethod
    def get_num_replicas(self, name: str, version: str) -> int:
        """Number of running replicas of ``name:version``."""

    @abc.abstractmethod
    def set_num_replicas(
        self, name: str, version: str, input_type: str, image: str, num_replicas: int
    ) -> None:
        """Add or remove replicas of ``name:version`` until ``num_replicas`` run."""

    @abc.abstractmethod
    def get_logs(self, logging_dir: str) -> list[str]:
        """Write the logs of every cluster process under ``logging_dir``.

        Returns the paths of the files written.
        """

    @abc.abstractmethod
    def stop_models(self, models: dict[str, list[str]]) -> None:
        """Stop the replicas of the given models: ``{name: [version, ...]}``."""

    @abc.abstractmethod
    def stop_all_model_containers(self) -> None:
        """Stop every model replica of the cluster."""

    @abc.abstractmethod
    def stop_all(self, graceful: bool = True) -> None:
        """Stop every process of the cluster (killed when not ``graceful``)."""

    @abc.abstractmethod
    def get_admin_addr(self) -> str:
        """``host:port`` of the management frontend."""

    @abc.abstractmethod
    def get_query_addr(self) -> str:
        """``host:port`` of the query frontend's REST API."""

    @abc.abstractmethod
    def get_metric_addr(self) -> str:
        """``host:port`` of the metrics endpoint (Prometheus in Docker/K8s)."""

    def build_model(
        self,
        name: str,
        version: str,
        model_data_path: str,
        base_image: str,
        container_registry: str | None = None,
        pkgs_to_install: list[str] | None = None,
    ) -> str | None:
        """Package ``model_data_path`` for this platform; optional hook.

        :meth:`ClipperConnection.build_model` calls this first, with a
        validated name and a string version. Return None (the default) to let
        the connection build and tag a Docker image as the original does;
        return an "image" string to use instead (it is what
        :meth:`deploy_model` and the management frontend will be given). A
        manager that runs models as local processes overrides this to copy the
        model directory somewhere of its own: the deployers delete
        ``model_data_path`` once the model is deployed.
        """
        return None
