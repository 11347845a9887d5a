"""Starting the core containers of a Docker cluster: Redis, the frontends, Prometheus.

A mixin of :class:`DockerContainerManager` (see the manager for the
attributes). Start-up order: Redis, management frontend, query frontend(s),
Prometheus (scraping every query frontend and each model replica
directly, and evaluating the monitoring alerts mounted beside its
configuration). With ``num_frontend_replicas=N`` there are N query-frontend
containers, each with its own model replicas (see :mod:`.query_frontends`).
The management frontend's dashboard samples query frontend 0 by its
container name on the cluster network (``--query_frontend_url``): the name
is chosen before the management frontend starts, and Docker's DNS resolves
it once that frontend runs.

A port of 0 is published as host port 0: Docker picks a free one when it
starts the container, and the manager reads it back from the container's
published ports (``NetworkSettings.Ports``), as ``connect()`` does from any
process. The port labels keep the port asked for (0 for such ports).
"""

from __future__ import annotations

from typing import Any

from clipper_admin import _http, images
from clipper_admin.container_manager import (
    CLIPPER_DOCKER_PORT_LABELS,
    CLIPPER_INTERNAL_MANAGEMENT_PORT,
    CLIPPER_INTERNAL_QUERY_PORT,
    CLIPPER_INTERNAL_REDIS_PORT,
    CLIPPER_INTERNAL_RPC_PORT,
    CLIPPER_METRIC_CONFIG_LABEL,
    CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL,
)
from clipper_admin.docker import prometheus_config
from clipper_admin.docker.engine import Logger, find_unbound_port, published_port, random_suffix, wait_until_ready
from clipper_admin.docker.network import create_network
from clipper_admin.docker.query_frontends import (
    QueryFrontend,
    frontend_labels,
    frontend_names,
    network_aliases,
    scale_out_notice,
)

PROMETHEUS_CONTAINER_PORT = 9090
"""The port Prometheus listens on inside its container."""
_PROMETHEUS_PORT = PROMETHEUS_CONTAINER_PORT
_PROMETHEUS_CONFIG_IN_CONTAINER = "/etc/prometheus/prometheus.yml"
_PROMETHEUS_RULES_IN_CONTAINER = f"/etc/prometheus/{prometheus_config.RULES_FILE_NAME}"


def query_frontend_url(container_name: str) -> str:
    """The REST address of the query frontend container ``container_name`` on the cluster network."""
    return f"http://{container_name}:{CLIPPER_INTERNAL_QUERY_PORT}"


class CoreContainers:
    """The start-up half of the Docker manager."""

    cluster_name: str
    logger: Logger
    public_hostname: str
    docker_network: str
    extra_container_kwargs: dict[str, Any]
    common_labels: dict[str, str]
    log_config: dict[str, Any]
    external_redis: bool
    redis_ip: str | None
    redis_port: int
    publish_redis: bool
    admin_token: str | None
    redis_password: str
    rpc_secret: str
    management_bind_address: str
    clipper_query_port: int
    clipper_management_port: int
    clipper_rpc_port: int
    prometheus_port: int
    prometheus_config_path: str | None
    container_ready_timeout_s: float
    query_frontend_workers: int

    def _start_core(self, client: Any, started: list[Any], qf_image: str, mgmt_image: str, cache_size: int,
                    threads: int, t_request: int, t_content: int, num_frontends: int) -> None:  # fmt: skip
        """Start every core container, recording each in ``started`` (the caller removes them on failure)."""
        if self.external_redis:
            redis_ip, redis_port = str(self.redis_ip), self.redis_port
            self.logger.info("Using external Redis at %s:%d", redis_ip, redis_port)
        else:
            # Not published unless asked: the frontends reach Redis over the
            # cluster's network (published, it is on the host's loopback only).
            redis_ports: dict[str, Any] = {}
            if self.publish_redis:
                self.redis_port = find_unbound_port(self.redis_port, "Redis", self.logger)
                redis_ports = {f"{CLIPPER_INTERNAL_REDIS_PORT}/tcp": ("127.0.0.1", self.redis_port)}
            # The password goes in by environment (the image turns it into --requirepass; Redis
            # then rewrites its process title, so ps does not show it).
            redis_env = {"REDIS_PASSWORD": self.redis_password, "REDISCLI_AUTH": self.redis_password} \
                if self.redis_password else {}
            redis = self._run(client, started, "Redis", images.image(images.REDIS), f"redis-{random_suffix()}",
                              ports=redis_ports, environment=redis_env,
                              labels={CLIPPER_DOCKER_PORT_LABELS["redis"]:
                                      str(self.redis_port) if self.publish_redis else ""})  # fmt: skip
            if self.publish_redis:
                self.redis_port = published_port(redis, CLIPPER_INTERNAL_REDIS_PORT, self.redis_port, self.logger)
            # QUIRK fixed: the original always passed 6379; inside the network
            # a managed Redis is at its internal port, an external one at redis_port.
            redis_ip, redis_port = redis.name, CLIPPER_INTERNAL_REDIS_PORT
        redis_args = [f"--redis_ip={redis_ip}", f"--redis_port={redis_port}"]

        self.clipper_management_port = find_unbound_port(self.clipper_management_port, "management frontend", self.logger)
        mgmt_env = {_http.ADMIN_TOKEN_ENV: self.admin_token} if self.admin_token else {}
        if self.redis_password:
            mgmt_env["CLIPPER_MGMT_REDIS_PASSWORD"] = self.redis_password
        # Named now so that the dashboard can sample it: the management frontend starts first.
        qf_name = f"query_frontend-{random_suffix()}"
        mgmt = self._run(client, started, "management frontend", mgmt_image, f"mgmt_frontend-{random_suffix()}",
                  command=[*redis_args, f"--query_frontend_url={query_frontend_url(qf_name)}"], environment=mgmt_env,
                  ports={f"{CLIPPER_INTERNAL_MANAGEMENT_PORT}/tcp":
                         (self.management_bind_address, self.clipper_management_port)},
                  labels={CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL: "",
                          CLIPPER_DOCKER_PORT_LABELS["management"]: str(self.clipper_management_port)})  # fmt: skip
        self.clipper_management_port = published_port(mgmt, CLIPPER_INTERNAL_MANAGEMENT_PORT,
                                                      self.clipper_management_port, self.logger)  # fmt: skip

        qf_command = [*redis_args, f"--prediction_cache_size={cache_size}", f"--thread_pool_size={threads}",
                      f"--timeout_request={t_request}", f"--timeout_content={t_content}",
                      *([f"--workers={self.query_frontend_workers}"] if self.query_frontend_workers > 1 else [])]  # fmt: skip
        qf_env = {k: v for k, v in (("CLIPPER_QF_REDIS_PASSWORD", self.redis_password),
                                    ("CLIPPER_QF_RPC_SECRET", self.rpc_secret)) if v}  # fmt: skip
        frontends = self._start_query_frontends(client, started, qf_image, qf_command, num_frontends, qf_name,
                                                qf_env)
        self.prometheus_port = find_unbound_port(self.prometheus_port, "Prometheus", self.logger)
        self.prometheus_config_path = prometheus_config.create_config_file(
            self.cluster_name, [f.name for f in frontends])
        prometheus = self._run(client, started, "Prometheus", images.image(images.PROMETHEUS), f"metric_frontend-{random_suffix()}",
                  ports={f"{_PROMETHEUS_PORT}/tcp": self.prometheus_port},
                  volumes={self.prometheus_config_path: {"bind": _PROMETHEUS_CONFIG_IN_CONTAINER, "mode": "ro"},
                           prometheus_config.rules_file_path(self.prometheus_config_path):
                           {"bind": _PROMETHEUS_RULES_IN_CONTAINER, "mode": "ro"}},
                  labels={CLIPPER_DOCKER_PORT_LABELS["metric"]: str(self.prometheus_port),
                          CLIPPER_METRIC_CONFIG_LABEL: self.prometheus_config_path})  # fmt: skip
        self.prometheus_port = published_port(prometheus, _PROMETHEUS_PORT, self.prometheus_port, self.logger)
        self.logger.info("Docker cluster %s is up: query frontend on port %d, management frontend on port %d, "
                         "Prometheus on port %d", self.cluster_name, self.clipper_query_port,
                         self.clipper_management_port, self.prometheus_port)  # fmt: skip
        if len(frontends) > 1:
            self.logger.warning("%s", scale_out_notice(self.public_hostname, frontends))

    def _start_query_frontends(self, client: Any, started: list[Any], image: str, command: list[str],
                               count: int, base_name: str, environment: dict[str, str]) -> list[QueryFrontend]:  # fmt: skip
        """Start ``count`` query frontends at once (frontend 0 named ``base_name``) and wait for all of them.

        Frontend 0 is published on the cluster's query/RPC ports (as with a
        single frontend); the others on host ports Docker picks (free, and
        distinct from those), read back once they run.
        """
        self.clipper_query_port = find_unbound_port(self.clipper_query_port, "query frontend REST API", self.logger)
        self.clipper_rpc_port = find_unbound_port(self.clipper_rpc_port, "query frontend RPC service", self.logger)
        endpoint = {self.docker_network: client.api.create_endpoint_config(aliases=network_aliases(self.cluster_name))}
        requested: list[tuple[str, int, int]] = []
        for i, name in enumerate(frontend_names(base_name, count)):
            # 0: Docker picks a free host port when it publishes the container's port.
            query_port, rpc_port = (self.clipper_query_port, self.clipper_rpc_port) if i == 0 else (0, 0)
            self.logger.info("Starting query frontend container %s from %s", name, image)
            started.append(self._run_on_network(
                client, image, name=name, command=command, environment=environment, networking_config=endpoint,
                ports={f"{CLIPPER_INTERNAL_QUERY_PORT}/tcp": query_port, f"{CLIPPER_INTERNAL_RPC_PORT}/tcp": rpc_port},
                labels={**self.common_labels,
                        **frontend_labels(i, query_port, rpc_port, self.query_frontend_workers)},
                log_config=self.log_config))  # fmt: skip
            requested.append((name, query_port, rpc_port))
        what = "query frontend" if count == 1 else f"{count} query frontends"
        containers = started[-count:]
        wait_until_ready(containers, what, self.container_ready_timeout_s, self.logger)
        frontends: list[QueryFrontend] = []
        for i, (container, (name, query_port, rpc_port)) in enumerate(zip(containers, requested)):
            container.reload()  # the published ports, as the running container has them
            frontends.append(QueryFrontend(
                i, name, published_port(container, CLIPPER_INTERNAL_QUERY_PORT, query_port, self.logger),
                published_port(container, CLIPPER_INTERNAL_RPC_PORT, rpc_port, self.logger),
                self.query_frontend_workers))  # fmt: skip
        self.clipper_query_port, self.clipper_rpc_port = frontends[0].query_port, frontends[0].rpc_port
        return frontends

    def _run(self, client: Any, started: list[Any], what: str, image: str, name: str,
             labels: dict[str, str], **kwargs: Any) -> Any:  # fmt: skip
        """Start one core container, record it in ``started`` and wait until it is ready."""
        self.logger.info("Starting %s container %s from %s", what, name, image)
        container = self._run_on_network(client, image, name=name, labels={**self.common_labels, **labels},
                                         log_config=self.log_config, **kwargs)  # fmt: skip
        started.append(container)
        wait_until_ready([container], what, self.container_ready_timeout_s, self.logger)
        container.reload()  # its published ports, as the running container has them
        return container

    def _run_on_network(self, client: Any, image: str, **kwargs: Any) -> Any:
        """``containers.run`` with the manager's extra kwargs (ours win), on the cluster's network.

        Another cluster's ``stop_all`` may remove an unused network between
        our creating it and starting a container on it: create it again once.
        """
        import docker.errors

        def run() -> Any:
            return client.containers.run(image, **{**self.extra_container_kwargs, **kwargs})

        try:
            return run()
        except docker.errors.NotFound as e:
            if "network" not in str(e.explanation or e):
                raise
        create_network(client, self.docker_network, self.logger)
        return run()
