"""``DockerContainerManager``: the cluster as Docker containers on one engine.

The constructor is complete (arguments, defaults, attributes and checks of
the original); the methods that drive the engine are not written yet and
raise a ClipperException pointing at LocalContainerManager.
"""

from __future__ import annotations

from typing import Any

from clipper_admin._not_implemented import not_implemented
from clipper_admin.container_manager import (
    CLIPPER_DOCKER_LABEL,
    CLIPPER_INTERNAL_FLUENTD_PORT,
    CLIPPER_INTERNAL_MANAGEMENT_PORT,
    CLIPPER_INTERNAL_QUERY_PORT,
    CLIPPER_INTERNAL_REDIS_PORT,
    CLIPPER_INTERNAL_RPC_PORT,
    ContainerManager,
)
from clipper_admin.exceptions import ClipperException

_NAME = "DockerContainerManager"


class DockerContainerManager(ContainerManager):
    """Starts Redis, the frontends, the metrics stack and model replicas as containers.

    Parameters
    ----------
    cluster_name : str, optional
        Name of the cluster; every container is labelled with it.
    docker_ip_address : str, optional
        Address at which the published container ports are reachable.
    use_centralized_log : bool, optional
        Send every container's logs to a Fluentd container.
    fluentd_port : int, optional
        Host port of Fluentd (with centralized logs).
    clipper_query_port : int, optional
        Host port of the query frontend's REST API.
    clipper_management_port : int, optional
        Host port of the management frontend.
    clipper_rpc_port : int, optional
        Host port of the query frontend's RPC (model) port.
    redis_ip : str, optional
        An external Redis to use; None starts a managed Redis container.
    redis_port : int, optional
        Port of Redis.
    prometheus_port : int, optional
        Host port of Prometheus.
    docker_network : str, optional
        Docker network the containers join; "host" is not supported.
    extra_container_kwargs : dict, optional
        Extra keyword arguments for every ``containers.run`` call; a
        ``labels`` entry is merged into the labels of every container.
    """

    def __init__(
        self,
        cluster_name: str = "default-cluster",
        docker_ip_address: str = "localhost",
        use_centralized_log: bool = False,
        fluentd_port: int = CLIPPER_INTERNAL_FLUENTD_PORT,
        clipper_query_port: int = CLIPPER_INTERNAL_QUERY_PORT,
        clipper_management_port: int = CLIPPER_INTERNAL_MANAGEMENT_PORT,
        clipper_rpc_port: int = CLIPPER_INTERNAL_RPC_PORT,
        redis_ip: str | None = None,
        redis_port: int = CLIPPER_INTERNAL_REDIS_PORT,
        prometheus_port: int = 9090,
        docker_network: str = "clipper_network",
        extra_container_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.cluster_name = cluster_name
        self.cluster_identifier = cluster_name  # prefixes logs and image tags
        self.public_hostname = docker_ip_address
        self.clipper_query_port = clipper_query_port
        self.clipper_management_port = clipper_management_port
        self.clipper_rpc_port = clipper_rpc_port
        self.redis_ip = redis_ip
        self.external_redis = redis_ip is not None
        self.redis_port = redis_port
        self.prometheus_port = prometheus_port
        self.centralize_log = use_centralized_log
        self.fluentd_port = fluentd_port
        if docker_network == "host":
            raise ClipperException(
                'DockerContainerManager does not support running Clipper on the "host" docker network. '
                "Please pick a different network name"
            )
        self.docker_network = docker_network
        self.extra_container_kwargs = dict(extra_container_kwargs) if extra_container_kwargs else {}
        # User labels go on every container, next to the cluster label.
        self.common_labels = dict(self.extra_container_kwargs.pop("labels", None) or {})
        self.common_labels[CLIPPER_DOCKER_LABEL] = self.cluster_name
        self.extra_container_kwargs.update({"network": self.docker_network, "detach": True})
        if self.centralize_log:
            self.log_config: dict[str, Any] = {
                "type": "fluentd",
                "Config": {"fluentd-address": f"127.0.0.1:{self.fluentd_port}"},
            }
        else:
            self.log_config = {"type": "json-file"}

    def start_clipper(
        self,
        query_frontend_image: str,
        mgmt_frontend_image: str,
        frontend_exporter_image: str,
        cache_size: int,
        qf_http_thread_pool_size: int,
        qf_http_timeout_request: int,
        qf_http_timeout_content: int,
        num_frontend_replicas: int = 1,
    ) -> None:
        raise not_implemented(_NAME, "start_clipper")

    def connect(self) -> None:
        raise not_implemented(_NAME, "connect")

    def deploy_model(self, name: str, version: str, input_type: str, image: str, num_replicas: int = 1) -> None:
        raise not_implemented(_NAME, "deploy_model")

    def get_num_replicas(self, name: str, version: str) -> int:
        raise not_implemented(_NAME, "get_num_replicas")

    def set_num_replicas(self, name: str, version: str, input_type: str, image: str, num_replicas: int) -> None:
        raise not_implemented(_NAME, "set_num_replicas")

    def get_logs(self, logging_dir: str) -> list[str]:
        raise not_implemented(_NAME, "get_logs")

    def stop_models(self, models: dict[str, list[str]]) -> None:
        raise not_implemented(_NAME, "stop_models")

    def stop_all_model_containers(self) -> None:
        raise not_implemented(_NAME, "stop_all_model_containers")

    def stop_all(self, graceful: bool = True) -> None:
        raise not_implemented(_NAME, "stop_all")

    def get_admin_addr(self) -> str:
        return f"{self.public_hostname}:{self.clipper_management_port}"

    def get_query_addr(self) -> str:
        return f"{self.public_hostname}:{self.clipper_query_port}"

    def get_metric_addr(self) -> str:
        return f"{self.public_hostname}:{self.prometheus_port}"
