"""``DockerContainerManager``: a Clipper cluster as Docker containers on one engine.

Every container carries the label ``ai.clipper.container.label=<cluster>``
(plus role and port labels, as the original), so any Python process can
find the cluster again (:meth:`connect`) and stop exactly its containers.
Start-up order: network, Redis, management frontend, query frontend(s),
Prometheus (scraping every query frontend and each model replica directly).
With ``num_frontend_replicas=N`` there are N query-frontend containers,
each with its own model replicas (see :mod:`.query_frontends`).

The manager is composed of parts: starting the core containers
(:mod:`.core_containers`), model replicas (:mod:`.replicas`), finding a
running cluster (:mod:`.discovery`) and its network (:mod:`.network`).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from clipper_admin import _http, images
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
    ContainerManager,
)
from clipper_admin.docker import prometheus_config
from clipper_admin.docker.core_containers import CoreContainers
from clipper_admin.docker.discovery import management_token as _management_token
from clipper_admin.docker.discovery import running_cluster
from clipper_admin.docker.engine import engine, ensure_image, remove_containers
from clipper_admin.docker.network import CLIPPER_NETWORK_LABEL, create_network, remove_network_if_unused
from clipper_admin.docker.query_frontends import QueryFrontend
from clipper_admin.docker.replicas import ModelReplicas
from clipper_admin.exceptions import ClipperException
from clipper_protocol.constants import DEFAULT_PREDICTION_CACHE_SIZE_BYTES

logger = logging.getLogger("clipper.docker")

# Re-exported: imported from here by earlier code.
__all__ = ["CLIPPER_NETWORK_LABEL", "DockerContainerManager", "_management_token"]


class DockerContainerManager(CoreContainers, ModelReplicas, ContainerManager):
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
    redis_password : str, optional
        Password of the cluster's Redis, given to Redis and the frontends
        by environment. None: a random one per cluster for the Redis started
        here (``connect()`` learns it; ``redis_password`` is the attribute),
        none for an external ``redis_ip``; "": none.
    rpc_secret : str, optional
        The registration secret every model replica must prove to the query
        frontends (``CLIPPER_RPC_SECRET`` in each replica's environment,
        ``CLIPPER_QF_RPC_SECRET`` in the frontends'). None: a random one per
        cluster, learnt by ``connect()``; "": none, which containers that
        cannot prove it (the original's images) need to register.
    query_frontend_workers : int, optional
        Worker processes in each query frontend container (its ``--workers``;
        default 1): they share the container's query port, worker i takes
        model replicas on RPC port 7000 + i inside the Docker network, and
        every model version gets ``num_replicas`` replicas per worker (as per
        frontend with ``num_frontend_replicas``). Give the container as many
        cores as workers. ``connect()`` learns it from the running cluster.
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
        query_frontend_workers: int = 1,
        redis_password: str | None = None,
        rpc_secret: str | None = None,
    ) -> None:
        if isinstance(query_frontend_workers, bool) or not isinstance(query_frontend_workers, int) \
                or query_frontend_workers < 1:
            raise ClipperException(f"query_frontend_workers must be an integer >= 1, got {query_frontend_workers!r}")
        self.query_frontend_workers = query_frontend_workers
        # Fresh per cluster unless given; start_clipper uses them, connect() learns a running cluster's.
        self.redis_password = (secrets.token_urlsafe(32) if redis_ip is None else "") \
            if redis_password is None else redis_password
        self.rpc_secret = secrets.token_urlsafe(32) if rpc_secret is None else rpc_secret
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
        #: Replica sets per model version (frontends x workers; read by the serving wait).
        self.replica_sets = query_frontend_workers
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

    def _create_network(self, client: Any) -> None:
        create_network(client, self.docker_network, self.logger)

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
        found = running_cluster(self.cluster_name, running)
        self.clipper_management_port = found.management_port
        self.clipper_query_port = found.query_port
        self.clipper_rpc_port = found.rpc_port
        self.prometheus_port = found.prometheus_port
        self.prometheus_config_path = found.prometheus_config_path
        self.query_frontends = found.query_frontends
        self.num_frontend_replicas = len(found.query_frontends)
        if found.query_frontends:
            self.query_frontend_workers = found.query_frontends[0].workers
        self.replica_sets = sum(f.workers for f in found.query_frontends) or self.query_frontend_workers
        if found.redis_port is not None:
            self.redis_port = found.redis_port
        if self.admin_token is None:
            self.admin_token = found.admin_token
        # The running cluster's, not this object's fresh ones: replicas deployed from here must prove its secret.
        self.rpc_secret = found.rpc_secret
        self.redis_password = found.redis_password
        if found.fluentd_port is not None:
            self.logger.info("Centralized logging is enabled: the cluster runs Fluentd")
            self.centralize_log = True
            self.fluentd_port = found.fluentd_port
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

        Also removes the Prometheus configuration and rules files, and the Docker network
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
            remove_network_if_unused(client, self.docker_network, self.logger)

    def _remove_config_file(self, path: str | None) -> None:
        """Remove a Prometheus configuration this manager wrote, and the rules file beside it."""
        if path and Path(path).name.startswith("clipper-"):  # only a file this manager wrote
            prometheus_config.remove_config_files(path)

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

