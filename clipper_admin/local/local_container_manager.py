"""``LocalContainerManager``: a Clipper cluster of plain processes on this machine.

It mirrors ``DockerContainerManager`` with processes instead of containers:
Redis, the management frontend, the query frontend, Prometheus (when
installed) and one process per model replica, each detached in a session of its own so the cluster outlives the
Python process that started it. The cluster's state lives in a directory
(``$CLIPPER_HOME/clusters/<name>`` by default; see ``cluster_state``), so
another Python process can ``connect()`` to it, scale it or stop it.
Starting the core processes is ``core_processes``'s job; packaging and
model replicas are ``models``'s (a mixin of the manager); Prometheus's
configuration and targets ``prometheus``'s.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from clipper_admin._base import ClusterAdapter
from clipper_admin.container_manager import ContainerManager
from clipper_admin.exceptions import ClipperException
from clipper_admin.docker.prometheus_config import SCRAPE_INTERVAL
from clipper_admin.local import launch, prometheus
from clipper_admin.local.cluster_state import (
    ROLE_PROMETHEUS,
    ROLE_REDIS,
    ClusterLock,
    ClusterPaths,
    ClusterState,
    default_clusters_root,
    load_state,
)
from clipper_admin.local.core_processes import ROLE_NAMES, QueryFrontendSettings, start_core, start_prometheus
from clipper_admin.local.models import LocalModels
from clipper_admin.local.processes import is_alive, kill_groups, log_tail, served_pid, terminate
from clipper_admin.local.redis_server import free_port
from clipper_protocol import constants

logger = logging.getLogger("clipper.local")

_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class ProcessStatus:
    """One process of the cluster as ``process_status()`` reports it.

    ``model`` is ``name:version`` and ``metrics`` the ``host:port`` its
    Prometheus metrics are served on (``/metrics``), for model replicas;
    None for the other processes.
    """

    name: str
    role: str
    pid: int
    alive: bool
    log: str
    model: str | None = None
    metrics: str | None = None
    #: The server itself: ``pid`` is the restarter that runs it (and starts it again when it dies).
    served_pid: int | None = None


class LocalContainerManager(LocalModels, ContainerManager):
    """Runs a Clipper cluster as local processes.

    Parameters
    ----------
    cluster_name : str
        Names the cluster and its directory.
    clipper_query_port, clipper_management_port, clipper_rpc_port, redis_port : int
        Ports to use; 0 picks a free one.
    redis_ip : str, optional
        Use the Redis at ``redis_ip:redis_port`` instead of starting one.
    prometheus_port : int or None
        Port of the cluster's Prometheus (on 127.0.0.1), which scrapes the
        query frontend and every model replica as the Docker cluster's does;
        0 picks a free port, None runs without. With the default (9090) a
        taken port falls back to a free one, and a missing ``prometheus``
        binary (Debian: ``apt-get install prometheus``; or
        ``$CLIPPER_PROMETHEUS``) only logs a warning; any other port
        requires both.
    host : str
        The address clients use to reach the cluster.
    cluster_dir : str or Path, optional
        Where the cluster keeps its state, logs, Redis data and models
        (default ``$CLIPPER_HOME/clusters/<cluster_name>``). Owned by the
        cluster: ``stop_all`` removes it but the logs, ``purge`` the logs.
    admin_token : str, optional
        Token the management frontend started here requires on every admin
        call (given to it through its environment, never its command line);
        :class:`ClipperConnection` sends it. None: the frontend inherits
        ``CLIPPER_ADMIN_TOKEN`` from this process's environment, if set.
    admin_tls_cert, admin_tls_key : str or Path, optional
        PEM certificate and private key: the management frontend serves the
        admin API over HTTPS only (its ``--tls_cert``/``--tls_key``), and
        :class:`ClipperConnection` verifies it against ``admin_tls_cert``
        (right for a self-signed certificate; for one a CA signed, pass
        ``ClipperConnection(admin_tls=<CA file>)``). Both or neither.
    query_frontend_workers : int
        Worker processes of the query frontend (its ``--workers``; default 1,
        one process): they share the query port, worker i takes RPC port
        ``clipper_rpc_port + i`` (so the N ports from it must be free; with 0
        the manager finds N consecutive free ones), and every model version
        gets ``num_replicas`` replicas per worker, as with
        ``num_frontend_replicas`` on Docker and Kubernetes.

    The management frontend always listens on 127.0.0.1 only: deploying a
    model runs its code, so the admin API must not be reachable from other
    machines.
    """

    startup_timeout_s: float = 60.0
    #: How often Prometheus scrapes (and evaluates); the original's 5 s.
    prometheus_scrape_interval: str = SCRAPE_INTERVAL
    replica_ready_timeout_s: float = 120.0
    stop_grace_s: float = 10.0

    def __init__(
        self,
        cluster_name: str = "default-cluster",
        clipper_query_port: int = constants.QUERY_FRONTEND_PORT,
        clipper_management_port: int = constants.MANAGEMENT_FRONTEND_PORT,
        clipper_rpc_port: int = constants.RPC_SERVICE_PORT,
        redis_ip: str | None = None,
        redis_port: int = constants.REDIS_PORT,
        prometheus_port: int | None = prometheus.DEFAULT_PORT,
        host: str = "localhost",
        cluster_dir: str | Path | None = None,
        admin_token: str | None = None,
        query_frontend_workers: int = 1,
        admin_tls_cert: str | Path | None = None,
        admin_tls_key: str | Path | None = None,
    ) -> None:
        if isinstance(query_frontend_workers, bool) or not isinstance(query_frontend_workers, int) \
                or query_frontend_workers < 1:
            raise ClipperException(f"query_frontend_workers must be an integer >= 1, got {query_frontend_workers!r}")
        if not cluster_name or "/" in cluster_name or cluster_name in (".", ".."):
            raise ClipperException(f"Invalid cluster_name {cluster_name!r}: it names a directory, so no '/'")
        self.cluster_name = cluster_name
        self.cluster_identifier = cluster_name
        self.clipper_query_port = clipper_query_port
        self.clipper_management_port = clipper_management_port
        self.clipper_rpc_port = clipper_rpc_port
        self.redis_ip = redis_ip
        self.external_redis = redis_ip is not None
        self.redis_port = redis_port
        # What was asked for; ``prometheus_port`` is then the running one's (None: none runs).
        self.requested_prometheus_port = prometheus_port
        self.prometheus_port = prometheus_port
        self.host = host
        self.admin_token = admin_token or None
        if (admin_tls_cert is None) != (admin_tls_key is None):
            raise ClipperException("admin_tls_cert and admin_tls_key go together: pass both (HTTPS) or neither")
        self._admin_tls_files = None if admin_tls_cert is None or admin_tls_key is None else (
            str(Path(admin_tls_cert).expanduser().absolute()), str(Path(admin_tls_key).expanduser().absolute()))
        #: What ClipperConnection verifies the management frontend's certificate against (None: plain HTTP).
        self.admin_tls: str | None = self._admin_tls_files[0] if self._admin_tls_files else None
        self.query_frontend_workers = query_frontend_workers
        #: Replica sets per model version: one per query-frontend worker (read by the serving wait).
        self.num_frontend_replicas = query_frontend_workers
        root = Path(cluster_dir).expanduser() if cluster_dir is not None else default_clusters_root() / cluster_name
        self.paths = ClusterPaths(root.absolute())
        self._lock = ClusterLock.for_paths(self.paths)
        self.logger = ClusterAdapter(logger, {"cluster_name": cluster_name})
        self.connected = False

    @property
    def cluster_dir(self) -> Path:
        return self.paths.root

    # ---------------------------------------------------------------- addresses

    def get_admin_addr(self) -> str:
        # The management frontend listens on loopback only (deploying a model
        # runs its code), so only a loopback name reaches it.
        host = self.host if self.host in _LOOPBACK_HOSTS else "127.0.0.1"
        return f"{host}:{self.clipper_management_port}"

    def get_query_addr(self) -> str:
        return f"{self.host}:{self.clipper_query_port}"

    def get_metric_addr(self) -> str:
        """The cluster's Prometheus once connected to a cluster that runs one, else the query frontend.

        Prometheus listens on 127.0.0.1 only, so only a loopback name reaches it.
        """
        if self.connected and self.prometheus_port is not None:
            host = self.host if self.host in _LOOPBACK_HOSTS else "127.0.0.1"
            return f"{host}:{self.prometheus_port}"
        return f"{self.host}:{self.clipper_query_port}"

    # ---------------------------------------------------------------- lifecycle

    def start_clipper(
        self,
        query_frontend_image: str = "",
        mgmt_frontend_image: str = "",
        frontend_exporter_image: str = "",
        cache_size: int = constants.DEFAULT_PREDICTION_CACHE_SIZE_BYTES,
        qf_http_thread_pool_size: int = 1,
        qf_http_timeout_request: int = 5,
        qf_http_timeout_content: int = 300,
        num_frontend_replicas: int = 1,
    ) -> None:
        """Start Redis, the management frontend, the query frontend and Prometheus, then connect.

        The image arguments are ignored: the frontends run from this Python
        installation. Raises ClipperException if a live cluster of this name
        exists, a port is taken, or a process fails to start (with its log).
        Prometheus is left out with ``prometheus_port=None``, and with a
        warning when the default port is asked for but no ``prometheus``
        binary is installed.
        """
        if num_frontend_replicas != 1:
            raise ClipperException(
                "LocalContainerManager runs exactly one query frontend; set num_frontend_replicas=1 "
                "(LocalContainerManager(query_frontend_workers=N) runs it as N processes on this machine) "
                "or use KubernetesContainerManager to scale the query frontend out."
            )
        with self._lock.held():
            self._refuse_if_running()
            prometheus_binary = prometheus.choose_binary(self.requested_prometheus_port, self.logger)
            prometheus_port = self._prometheus_port_to_ask() if prometheus_binary is not None else None
            ports = launch.choose_ports(
                [
                    ("clipper_query_port", "query frontend REST API", self.clipper_query_port),
                    ("clipper_management_port", "management frontend", self.clipper_management_port),
                    ("clipper_rpc_port", "query frontend RPC service", self.clipper_rpc_port),
                ]
                + ([] if self.external_redis else [("redis_port", "Redis", self.redis_port)])
                + ([] if prometheus_port is None else [("prometheus_port", "Prometheus", prometheus_port)])
            )
            ports["clipper_rpc_port"] = self._rpc_base_port(ports)
            if self.requested_prometheus_port == prometheus.DEFAULT_PORT and prometheus_port == 0:
                self.logger.warning("Port %d for Prometheus is in use; using port %d instead",
                                    prometheus.DEFAULT_PORT, ports["prometheus_port"])  # fmt: skip
            state = ClusterState(
                cluster_name=self.cluster_name,
                host=self.host,
                query_port=ports["clipper_query_port"],
                management_port=ports["clipper_management_port"],
                rpc_port=ports["clipper_rpc_port"],
                redis_ip=self.redis_ip or "127.0.0.1",
                redis_port=ports.get("redis_port", self.redis_port),
                managed_redis=not self.external_redis,
                prometheus_port=ports.get("prometheus_port"),
                query_frontend_workers=self.query_frontend_workers,
                admin_tls_cert=self.admin_tls,
            )
            for d in (self.paths.logs_dir, self.paths.redis_dir):
                d.mkdir(parents=True, exist_ok=True)
            settings = QueryFrontendSettings(
                cache_size, qf_http_thread_pool_size, qf_http_timeout_request, qf_http_timeout_content
            )
            try:
                self._keep_admin_token()
                start_core(self.paths, state, settings, self.admin_token, self.startup_timeout_s, self.logger,
                           self._admin_tls_files)
                if prometheus_binary is not None:
                    start_prometheus(self.paths, state, prometheus_binary, self.prometheus_scrape_interval,
                                     self.startup_timeout_s, self.logger)  # fmt: skip
                self.logger.info("Local cluster %s is up; its files are in %s", self.cluster_name, self.paths.root)
            except BaseException:
                # Leave no half cluster behind; the logs stay for inspection.
                terminate([p.handle for p in state.processes.values()], graceful=False)
                self.paths.state_file.unlink(missing_ok=True)
                raise
        self.connect()

    def _keep_admin_token(self) -> None:
        """Write the admin token (owner-only) where ``connect()`` from another process finds it."""
        token_file = self.paths.admin_token_file
        token_file.unlink(missing_ok=True)
        if self.admin_token:
            fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.admin_token)

    def _rpc_base_port(self, ports: dict[str, int]) -> int:
        """The first RPC port: with N workers, ports base..base+N-1 must all be free (and not another's)."""
        n = self.query_frontend_workers
        base = ports["clipper_rpc_port"]
        others = {v for k, v in ports.items() if k != "clipper_rpc_port"}

        def usable(p: int) -> bool:
            return p < 65536 and p not in others and launch.port_is_free(p)

        if n == 1:
            return base
        if self.clipper_rpc_port != 0:
            for i in range(1, n):
                if not usable(base + i):
                    raise launch.PortInUseError(base + i, f"query frontend RPC service (worker {i})",
                                                "clipper_rpc_port")
            return base
        for _ in range(100):
            if all(usable(base + i) for i in range(1, n)):
                return base
            base = free_port()
            while base in others:
                base = free_port()
        raise ClipperException(f"Found no {n} consecutive free ports for the query frontend workers' RPC services; "
                               "pass LocalContainerManager(clipper_rpc_port=<first port>)")

    def _prometheus_port_to_ask(self) -> int:
        """The requested port; 0 (any) for the default 9090 when it is taken (Prometheus is optional)."""
        port = self.requested_prometheus_port
        assert port is not None
        others = (self.clipper_query_port, self.clipper_management_port, self.clipper_rpc_port,
                  *(() if self.external_redis else (self.redis_port,)))  # fmt: skip
        if port == prometheus.DEFAULT_PORT and (port in others or not launch.port_is_free(port)):
            return 0
        return port

    def _refuse_if_running(self) -> None:
        state = load_state(self.paths)
        if state is not None and any(is_alive(p.handle) for p in state.processes.values()):
            raise ClipperException(
                f"Cluster {self.cluster_name} cannot be started because it already exists. "
                "Please use ClipperConnection.connect() to connect to it."
            )
        if state is not None:
            self.logger.warning("The processes of cluster %s are gone; starting it afresh", self.cluster_name)
            # What a dead restarter ran may still be shutting down (it got SIGTERM as its parent died) and
            # hold its ports: gone means gone.
            kill_groups([p.handle for p in state.processes.values()])
        # A new cluster starts with empty Redis and logs, as a new Docker
        # cluster gets fresh containers; packaged models are kept.
        self.paths.state_file.unlink(missing_ok=True)
        for d in (self.paths.logs_dir, self.paths.redis_dir, self.paths.prometheus_dir):
            shutil.rmtree(d, ignore_errors=True)

    def connect(self) -> None:
        """Attach to the running cluster; ClipperException if it or one of its processes is down."""
        state = load_state(self.paths)
        if state is None:
            raise ClipperException(
                f"No running local Clipper cluster named {self.cluster_name} (no {self.paths.state_file}). "
                "Start one with ClipperConnection.start_clipper() or `clipper start`."
            )
        dead = [p for p in state.core() if not is_alive(p.handle)]
        if dead:
            details = "\n".join(launch.describe_death(p, self.paths, ROLE_NAMES[p.role]) for p in dead)
            raise ClipperException(
                f"Cluster {self.cluster_name} is broken:\n{details}\n"
                "Stop it with ClipperConnection.stop_all() (or `clipper stop`) and start it again."
            )
        self.clipper_query_port = state.query_port
        self.clipper_management_port = state.management_port
        self.clipper_rpc_port = state.rpc_port
        self.redis_port = state.redis_port
        self.prometheus_port = state.prometheus_port
        self.query_frontend_workers = self.num_frontend_replicas = state.query_frontend_workers
        self.admin_tls = state.admin_tls_cert
        if self.admin_token is None:
            try:  # the token the cluster was started with, as Docker and Kubernetes connect() learn theirs
                self.admin_token = self.paths.admin_token_file.read_text().strip() or None
            except OSError:
                pass
        prom = state.prometheus()
        if prom is not None and not is_alive(prom.handle):
            # Metrics are optional: the cluster still serves without them.
            self.logger.warning("%s Metrics are not collected until the cluster is restarted.",
                                launch.describe_death(prom, self.paths, ROLE_NAMES[prom.role]))  # fmt: skip
        # Best effort: a deploy in another process may hold the lock for a while.
        with self._lock.try_held() as locked:
            if locked:
                self._prune_dead_replicas()
        self.connected = True

    def stop_all(self, graceful: bool = True) -> None:
        """Stop every process of the cluster and remove its files but the logs.

        Processes get SIGTERM (SIGKILL when not ``graceful``, or after a grace
        period); this returns once all are gone. The logs stay in
        ``<cluster_dir>/logs`` (``get_logs`` still copies them) until the
        next ``start_clipper`` of this cluster or :meth:`purge`.
        """
        with self._lock.held():
            state = load_state(self.paths)
            if state is not None:
                others = [p.handle for p in state.processes.values() if p.role != ROLE_REDIS]
                redis = [p.handle for p in state.processes.values() if p.role == ROLE_REDIS]
                self.logger.info("Stopping %d processes of cluster %s", len(others) + len(redis), self.cluster_name)
                # Redis last, so the frontends do not spend their shutdown on reconnects.
                terminate(others, graceful, self.stop_grace_s)
                terminate(redis, graceful, self.stop_grace_s)
            self._remove_cluster_files()
        self.connected = False

    def purge(self) -> None:
        """Remove what a stopped cluster left (its logs); ClipperException while it runs."""
        with self._lock.held():
            state = load_state(self.paths)
            if state is not None and any(is_alive(p.handle) for p in state.processes.values()):
                raise ClipperException(f"Cluster {self.cluster_name} is running: stop it before purging its files")
            self._remove_cluster_files(keep_logs=False)

    def _remove_cluster_files(self, keep_logs: bool = True) -> None:
        root = self.paths.root
        dirs = (self.paths.redis_dir, self.paths.prometheus_dir, self.paths.models_dir)
        for d in (*dirs, *(() if keep_logs else (self.paths.logs_dir,))):
            shutil.rmtree(d, ignore_errors=True)
        for f in (self.paths.state_file, self.paths.admin_token_file, *root.glob(".cluster.*.json")):
            f.unlink(missing_ok=True)
        try:
            root.rmdir()
        except OSError:
            pass  # absent, or holds files of the user's own

    # ---------------------------------------------------------------- inspection

    def get_logs(self, logging_dir: str) -> list[str]:
        """Copy every process log into ``logging_dir``; returns the copies' paths."""
        out = Path(logging_dir)
        out.mkdir(parents=True, exist_ok=True)
        copied = []
        for log in sorted(self.paths.logs_dir.glob("*.log")):
            dest = out / log.name
            shutil.copyfile(log, dest)
            copied.append(str(dest))
        return copied

    def process_status(self) -> list[ProcessStatus]:
        """Every recorded process with whether it is alive (changes nothing)."""
        state = load_state(self.paths)
        if state is None:
            return []
        return [
            ProcessStatus(
                p.name, p.role, p.pid, is_alive(p.handle), str(self.paths.root / p.log),
                f"{p.replica.model_name}:{p.replica.model_version}" if p.replica else None,
                prometheus.replica_metrics_addr(p.replica) if p.replica else None,
                served_pid(p.pid) if p.role != ROLE_PROMETHEUS and is_alive(p.handle) else None,
            )
            for p in state.processes.values()
        ]  # fmt: skip

    def log_tail(self, process_name: str, lines: int = launch.LOG_TAIL_LINES) -> str:
        """The last lines of one process's log."""
        return log_tail(self.paths.log_file(process_name), lines)
