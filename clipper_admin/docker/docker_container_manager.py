"""``DockerContainerManager``: a Clipper cluster as Docker containers on one engine.

Every container carries the label ``ai.clipper.container.label=<cluster>``
(plus role and port labels, as the original), so any Python process can
find the cluster again (:meth:`connect`) and stop exactly its containers.
Start-up order: network, Redis, management frontend, query frontend(s),
Prometheus (scraping every query frontend and each model replica directly).
With ``num_frontend_replicas=N`` there are N query-frontend containers,
each with its own model replicas (see :mod:`.query_frontends`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from clipper_admin import _http
from clipper_admin._base import ClusterAdapter
from clipper_admin.container_manager import (
    CLIPPER_DOCKER_LABEL,
    CLIPPER_DOCKER_PORT_LABELS,
    CLIPPER_INTERNAL_FLUENTD_PORT,
    CLIPPER_INTERNAL_MANAGEMENT_PORT,
    CLIPPER_INTERNAL_QUERY_PORT,
    CLIPPER_INTERNAL_REDIS_PORT,
    CLIPPER_INTERNAL_RPC_PORT,
    CLIPPER_METRIC_CONFIG_LABEL,
    CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL,
    CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL,
    ContainerManager,
)
from clipper_admin import images
from clipper_admin.docker import prometheus_config
from clipper_admin.docker.engine import (
    engine,
    ensure_image,
    find_unbound_port,
    random_suffix,
    remove_containers,
    wait_until_ready,
)
from clipper_admin.docker.query_frontends import (
    QueryFrontend,
    frontend_labels,
    frontend_names,
    network_aliases,
    running_frontends,
    scale_out_notice,
)
from clipper_admin.docker.replicas import ModelReplicas
from clipper_admin.exceptions import ClipperException
from clipper_protocol.constants import DEFAULT_PREDICTION_CACHE_SIZE_BYTES

logger = logging.getLogger("clipper.docker")

#: Label on a network this manager created, so ``stop_all`` may remove it (and no other).
CLIPPER_NETWORK_LABEL = "ai.clipper.network.created"
_PROMETHEUS_PORT = 9090
_PROMETHEUS_CONFIG_IN_CONTAINER = "/etc/prometheus/prometheus.yml"
_REQUIRED_PORT_LABELS = ("management", "query_rest", "query_rpc", "metric")


class DockerContainerManager(ModelReplicas, ContainerManager):
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
    admin_token : str, optional
        Token the management frontend requires on every admin call (set in
        its container's environment); :class:`ClipperConnection` sends it.
        None: no token, unless ``CLIPPER_ADMIN_TOKEN`` is set in this
        process's environment. ``connect()`` learns the token of a running
        cluster from its management frontend container.
    management_bind_address : str, optional
        Host address the management frontend's port is published on:
        "127.0.0.1" (default), since deploying a model runs its code; pass
        "0.0.0.0" (ideally with an ``admin_token``) to reach it from elsewhere.
    publish_redis : bool, optional
        Publish the managed Redis's port (``redis_port``) on the host's
        loopback. False (default): Redis is reachable only on the Docker
        network, where the frontends use it.
    """

    #: Seconds to wait for a container to run (and be healthy); the original waited 300.
    container_ready_timeout_s: float = 300.0
    #: Seconds a graceful stop waits before the engine kills a container.
    stop_timeout_s: int = 10

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
        admin_token: str | None = None,
        management_bind_address: str = "127.0.0.1",
        publish_redis: bool = False,
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
        self.admin_token = admin_token or _http.token_from_env()
        self.management_bind_address = management_bind_address
        self.publish_redis = publish_redis
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
        self.prometheus_config_path: str | None = None
        #: Number of query frontends (``start_clipper``'s ``num_frontend_replicas``; learnt by ``connect``).
        self.num_frontend_replicas = 1
        self.query_frontends: list[QueryFrontend] = []
        self.logger = ClusterAdapter(logger, {"cluster_name": self.cluster_identifier})

    # ---------------------------------------------------------------- addresses

    def get_admin_addr(self) -> str:
        return f"{self.public_hostname}:{self.clipper_management_port}"

    def get_query_addr(self) -> str:
        return f"{self.public_hostname}:{self.clipper_query_port}"

    def get_metric_addr(self) -> str:
        return f"{self.public_hostname}:{self.prometheus_port}"

    def get_query_addrs(self) -> list[str]:
        """The REST address of every query frontend, frontend 0 (``get_query_addr``) first."""
        if not self.query_frontends:
            return [self.get_query_addr()]
        return [f"{self.public_hostname}:{f.query_port}" for f in self.query_frontends]

    # ---------------------------------------------------------------- lifecycle

    def start_clipper(
        self,
        query_frontend_image: str = images.image(images.QUERY_FRONTEND),
        mgmt_frontend_image: str = images.image(images.MANAGEMENT_FRONTEND),
        frontend_exporter_image: str = images.image(images.FRONTEND_EXPORTER),
        cache_size: int = DEFAULT_PREDICTION_CACHE_SIZE_BYTES,
        qf_http_thread_pool_size: int = 1,
        qf_http_timeout_request: int = 5,
        qf_http_timeout_content: int = 300,
        num_frontend_replicas: int = 1,
    ) -> None:
        """Start Redis, the frontends and Prometheus as containers, then connect.

        ``num_frontend_replicas=N`` starts N query frontends: frontend 0 on
        ``clipper_query_port``/``clipper_rpc_port``, the others on free host
        ports (``get_query_addrs()``); Docker balances nothing, so put a load
        balancer in front of them. ``frontend_exporter_image`` is accepted
        and unused: Prometheus scrapes each query frontend's
        ``/metrics/prometheus`` directly. Raises
        ClipperException if the cluster already runs, an image is missing or
        a container fails to start (with its last log lines); containers
        started before a failure are removed.
        """
        if isinstance(num_frontend_replicas, bool) or not isinstance(num_frontend_replicas, int) \
                or num_frontend_replicas < 1:
            raise ClipperException(f"num_frontend_replicas must be an integer >= 1, got {num_frontend_replicas!r}")
        if self.centralize_log:
            raise ClipperException(
                "use_centralized_log=True (Fluentd) is not supported by this DockerContainerManager yet; "
                "use DockerContainerManager(use_centralized_log=False) and ClipperConnection.get_clipper_logs()."
            )
        with engine() as client:
            self._create_network(client)
            self._refuse_if_running(client)
            build = "Build it with `make images`"
            needed = [
                (mgmt_frontend_image, f"{build} or pass mgmt_frontend_image=<an image you have>."),
                (query_frontend_image, f"{build} or pass query_frontend_image=<an image you have>."),
                (images.image(images.PROMETHEUS), f"{build} (or set CLIPPER_REGISTRY to a registry that has it)."),
            ]
            if not self.external_redis:
                needed.insert(0, (images.image(images.REDIS), f"{build}, or pass redis_ip= to use a Redis of your own."))
            for image, hint in needed:
                ensure_image(client, image, hint, self.logger)
            started: list[Any] = []
            try:
                self._start_core(client, started, query_frontend_image, mgmt_frontend_image, cache_size,
                                 qf_http_thread_pool_size, qf_http_timeout_request, qf_http_timeout_content,
                                 num_frontend_replicas)  # fmt: skip
            except BaseException:
                # Leave no half cluster behind; the error already carries the failing log.
                self.logger.warning("Start-up failed; removing the %d containers started so far", len(started))
                remove_containers(started, graceful=False, stop_timeout_s=self.stop_timeout_s)
                self._remove_config_file(self.prometheus_config_path)
                raise
        self.connect()

    def _start_core(self, client: Any, started: list[Any], qf_image: str, mgmt_image: str, cache_size: int,
                    threads: int, t_request: int, t_content: int, num_frontends: int) -> None:  # fmt: skip
        if self.external_redis:
            redis_ip, redis_port = str(self.redis_ip), self.redis_port
            self.logger.info("Using external Redis at %s:%d", redis_ip, redis_port)
        else:
            # Not published unless asked: the frontends reach Redis over the
            # cluster's network, and a published Redis has no password.
            redis_ports: dict[str, Any] = {}
            if self.publish_redis:
                self.redis_port = find_unbound_port(self.redis_port, "Redis", self.logger)
                redis_ports = {f"{CLIPPER_INTERNAL_REDIS_PORT}/tcp": ("127.0.0.1", self.redis_port)}
            redis = self._run(client, started, "Redis", images.image(images.REDIS), f"redis-{random_suffix()}",
                              ports=redis_ports,
                              labels={CLIPPER_DOCKER_PORT_LABELS["redis"]:
                                      str(self.redis_port) if self.publish_redis else ""})  # fmt: skip
            # QUIRK fixed: the original always passed 6379; inside the network
            # a managed Redis is at its internal port, an external one at redis_port.
            redis_ip, redis_port = redis.name, CLIPPER_INTERNAL_REDIS_PORT
        redis_args = [f"--redis_ip={redis_ip}", f"--redis_port={redis_port}"]

        self.clipper_management_port = find_unbound_port(self.clipper_management_port, "management frontend", self.logger)
        mgmt_env = {_http.ADMIN_TOKEN_ENV: self.admin_token} if self.admin_token else {}
        self._run(client, started, "management frontend", mgmt_image, f"mgmt_frontend-{random_suffix()}",
                  command=redis_args, environment=mgmt_env,
                  ports={f"{CLIPPER_INTERNAL_MANAGEMENT_PORT}/tcp":
                         (self.management_bind_address, self.clipper_management_port)},
                  labels={CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL: "",
                          CLIPPER_DOCKER_PORT_LABELS["management"]: str(self.clipper_management_port)})  # fmt: skip

        qf_command = [*redis_args, f"--prediction_cache_size={cache_size}", f"--thread_pool_size={threads}",
                      f"--timeout_request={t_request}", f"--timeout_content={t_content}"]  # fmt: skip
        frontends = self._start_query_frontends(client, started, qf_image, qf_command, num_frontends)
        self.prometheus_port = find_unbound_port(self.prometheus_port, "Prometheus", self.logger)
        self.prometheus_config_path = prometheus_config.create_config_file(
            self.cluster_name, [f.name for f in frontends])
        self._run(client, started, "Prometheus", images.image(images.PROMETHEUS), f"metric_frontend-{random_suffix()}",
                  ports={f"{_PROMETHEUS_PORT}/tcp": self.prometheus_port},
                  volumes={self.prometheus_config_path: {"bind": _PROMETHEUS_CONFIG_IN_CONTAINER, "mode": "ro"}},
                  labels={CLIPPER_DOCKER_PORT_LABELS["metric"]: str(self.prometheus_port),
                          CLIPPER_METRIC_CONFIG_LABEL: self.prometheus_config_path})  # fmt: skip
        self.logger.info("Docker cluster %s is up: query frontend on port %d, management frontend on port %d, "
                         "Prometheus on port %d", self.cluster_name, self.clipper_query_port,
                         self.clipper_management_port, self.prometheus_port)  # fmt: skip
        if len(frontends) > 1:
            self.logger.warning("%s", scale_out_notice(self.public_hostname, frontends))

    def _start_query_frontends(self, client: Any, started: list[Any], image: str, command: list[str],
                               count: int) -> list[QueryFrontend]:  # fmt: skip
        """Start ``count`` query frontends at once and wait for all of them.

        Frontend 0 is published on the cluster's query/RPC ports (as with a
        single frontend); the others on free host ports, distinct from those.
        """
        self.clipper_query_port = find_unbound_port(self.clipper_query_port, "query frontend REST API", self.logger)
        self.clipper_rpc_port = find_unbound_port(self.clipper_rpc_port, "query frontend RPC service", self.logger)
        taken = {self.clipper_query_port, self.clipper_rpc_port, self.clipper_management_port, self.redis_port,
                 self.prometheus_port}  # fmt: skip

        def another_port(what: str) -> int:
            while True:
                port = find_unbound_port(0, what, self.logger)
                if port not in taken:
                    taken.add(port)
                    return port

        endpoint = {self.docker_network: client.api.create_endpoint_config(aliases=network_aliases(self.cluster_name))}
        frontends: list[QueryFrontend] = []
        for i, name in enumerate(frontend_names(f"query_frontend-{random_suffix()}", count)):
            if i == 0:
                query_port, rpc_port = self.clipper_query_port, self.clipper_rpc_port
            else:
                query_port = another_port(f"query frontend {i} REST API")
                rpc_port = another_port(f"query frontend {i} RPC service")
            self.logger.info("Starting query frontend container %s from %s", name, image)
            started.append(self._run_on_network(
                client, image, name=name, command=command, networking_config=endpoint,
                ports={f"{CLIPPER_INTERNAL_QUERY_PORT}/tcp": query_port, f"{CLIPPER_INTERNAL_RPC_PORT}/tcp": rpc_port},
                labels={**self.common_labels, **frontend_labels(i, query_port, rpc_port)},
                log_config=self.log_config))  # fmt: skip
            frontends.append(QueryFrontend(i, name, query_port, rpc_port))
        what = "query frontend" if count == 1 else f"{count} query frontends"
        wait_until_ready(started[-count:], what, self.container_ready_timeout_s, self.logger)
        return frontends

    def _run(self, client: Any, started: list[Any], what: str, image: str, name: str,
             labels: dict[str, str], **kwargs: Any) -> Any:  # fmt: skip
        """Start one core container, record it in ``started`` and wait until it is ready."""
        self.logger.info("Starting %s container %s from %s", what, name, image)
        container = self._run_on_network(client, image, name=name, labels={**self.common_labels, **labels},
                                         log_config=self.log_config, **kwargs)  # fmt: skip
        started.append(container)
        wait_until_ready([container], what, self.container_ready_timeout_s, self.logger)
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
        self._create_network(client)
        return run()

    def _create_network(self, client: Any) -> None:
        import docker.errors

        try:
            client.networks.get(self.docker_network)
            return
        except docker.errors.NotFound:
            pass
        self.logger.info("Creating Docker network %s", self.docker_network)
        try:
            client.networks.create(self.docker_network, driver="bridge", check_duplicate=True,
                                   labels={CLIPPER_NETWORK_LABEL: "true"})  # fmt: skip
        except docker.errors.APIError as e:
            if e.status_code != 409:  # 409: another cluster created it at the same moment
                raise

    def _refuse_if_running(self, client: Any) -> None:
        mine = self._containers(client, all=True)
        if any(c.status == "running" for c in mine):
            raise ClipperException(
                f"Cluster {self.cluster_name} cannot be started because it already exists. "
                "Please use ClipperConnection.connect() to connect to it."
            )
        if mine:
            self.logger.warning("Removing %d stopped containers left over from an earlier cluster %s",
                                len(mine), self.cluster_name)  # fmt: skip
            remove_containers(mine, graceful=False, stop_timeout_s=self.stop_timeout_s)

    def connect(self) -> None:
        """Find the running cluster through its container labels and learn its ports."""
        with engine() as client:
            running = self._containers(client)
        if not running:
            raise ClipperException(
                f"No running Clipper cluster named {self.cluster_name} on this Docker engine (no running container "
                f"labelled {CLIPPER_DOCKER_LABEL}={self.cluster_name}). Start one with ClipperConnection.start_clipper()."
            )
        frontends = running_frontends(running)
        labels: dict[str, str] = {}
        # Frontend 0's port labels last: they are the cluster's query and RPC ports.
        by_name = {c.name: c for c in running}
        others = [c for c in running if CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL not in c.labels]
        for c in others + [by_name[f.name] for f in reversed(frontends)]:
            labels.update(c.labels)
        wanted = {key: CLIPPER_DOCKER_PORT_LABELS[key] for key in _REQUIRED_PORT_LABELS}
        missing = [label for label in [*wanted.values(), CLIPPER_METRIC_CONFIG_LABEL] if label not in labels]
        if missing:
            raise ClipperException(
                f"Cluster {self.cluster_name} is incomplete: no running container carries the label(s) "
                f"{', '.join(missing)}. Stop it with ClipperConnection.stop_all() and start it again."
            )
        self.clipper_management_port = int(labels[wanted["management"]])
        self.clipper_query_port = int(labels[wanted["query_rest"]])
        self.clipper_rpc_port = int(labels[wanted["query_rpc"]])
        self.prometheus_port = int(labels[wanted["metric"]])
        self.prometheus_config_path = labels[CLIPPER_METRIC_CONFIG_LABEL]
        self.query_frontends = frontends
        self.num_frontend_replicas = len(frontends)
        if labels.get(CLIPPER_DOCKER_PORT_LABELS["redis"]):  # "" when Redis is not published
            self.redis_port = int(labels[CLIPPER_DOCKER_PORT_LABELS["redis"]])
        if self.admin_token is None:
            self.admin_token = _management_token(running)
        if CLIPPER_DOCKER_PORT_LABELS["fluentd"] in labels:
            self.logger.info("Centralized logging is enabled: the cluster runs Fluentd")
            self.centralize_log = True
            self.fluentd_port = int(labels[CLIPPER_DOCKER_PORT_LABELS["fluentd"]])
        elif self.centralize_log:
            raise ClipperException(
                "Invalid state detected. log centralization is True, but cannot find fluentd instance running. "
                "Please change your use_centralized_log parameter of DockerContainermanager"
            )

    def _containers(self, client: Any, labels: dict[str, str | None] | None = None, all: bool = False) -> list[Any]:
        """Containers of this cluster (running ones unless ``all``), with more label filters.

        A label given the value None only has to be present.
        """
        filters = [f"{CLIPPER_DOCKER_LABEL}={self.cluster_name}",
                   *(k if v is None else f"{k}={v}" for k, v in (labels or {}).items())]  # fmt: skip
        found: list[Any] = client.containers.list(all=all, filters={"label": filters})
        return found

    def stop_all(self, graceful: bool = True) -> None:
        """Stop and remove every container of the cluster (killed when not ``graceful``).

        Also removes the Prometheus configuration file, and the Docker network
        if this manager created it and no other container uses it.
        """
        with engine() as client:
            mine = self._containers(client, all=True)
            self.logger.info("Stopping %d containers of cluster %s", len(mine), self.cluster_name)
            redis = [c for c in mine if CLIPPER_DOCKER_PORT_LABELS["redis"] in c.labels]
            # Redis last, so the frontends do not spend their shutdown on reconnects.
            remove_containers([c for c in mine if c not in redis], graceful, self.stop_timeout_s)
            remove_containers(redis, graceful, self.stop_timeout_s)
            for path in {c.labels.get(CLIPPER_METRIC_CONFIG_LABEL) for c in mine} - {None}:
                self._remove_config_file(path)
            self._remove_network_if_unused(client)

    def _remove_config_file(self, path: str | None) -> None:
        if path and Path(path).name.startswith("clipper-"):  # only a file this manager wrote
            Path(path).unlink(missing_ok=True)

    def _remove_network_if_unused(self, client: Any) -> None:
        import docker.errors

        try:
            network = client.networks.get(self.docker_network)
        except docker.errors.NotFound:
            return
        if (network.attrs.get("Labels") or {}).get(CLIPPER_NETWORK_LABEL) != "true":
            return  # the user's network: not ours to remove
        network.reload()
        if network.attrs.get("Containers"):
            return  # still used (e.g. by another cluster)
        try:
            network.remove()
            self.logger.info("Removed Docker network %s", self.docker_network)
        except docker.errors.APIError as e:
            # Another cluster may have joined it in the meantime.
            self.logger.info("Kept Docker network %s: %s", self.docker_network, e.explanation or e)

    # ---------------------------------------------------------------- inspection

    def get_logs(self, logging_dir: str) -> list[str]:
        """Write each cluster container's output to ``<logging_dir>/<container>.log``; returns the paths."""
        if self.centralize_log:
            raise NotImplementedError("Not implemented yet.")
        out = Path(logging_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        with engine() as client:
            for c in self._containers(client, all=True):
                path = out / f"{c.name}.log"
                path.write_bytes(c.logs(stdout=True, stderr=True))
                paths.append(str(path))
        return paths


def _management_token(containers: list[Any]) -> str | None:
    """The admin token in the management frontend container's environment, if any.

    Whoever can inspect the cluster's containers can read it anyway; this
    spares a user who ``connect()``s from another process passing it again.
    """
    prefix = f"{_http.ADMIN_TOKEN_ENV}="
    for c in containers:
        if CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL not in c.labels:
            continue
        for entry in (c.attrs.get("Config") or {}).get("Env") or []:
            if entry.startswith(prefix) and len(entry) > len(prefix):
                return str(entry[len(prefix):])
    return None
