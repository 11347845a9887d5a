"""The core processes of a local cluster: Redis, the frontends, and Prometheus when it has one.

Each is started detached (see ``processes.spawn``), recorded in the
cluster's state at once (so ``stop_all`` finds it even if start-up fails
later), and awaited until it listens on its ports. Redis and the frontends
run under the restarter (``restarter.py``, as every model replica does): one
that dies after it served is started again on its ports, so a killed query
frontend, management frontend or Redis heals itself (the record's pid is
the restarter's; ``served_pid`` finds the process it runs). The caller holds
the cluster lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from clipper_admin._http import ADMIN_TOKEN_ENV
from clipper_admin.local import launch, prometheus
from clipper_admin.local.cluster_state import (
    ROLE_MANAGEMENT,
    ROLE_PROMETHEUS,
    ROLE_QUERY,
    ROLE_REDIS,
    ClusterPaths,
    ClusterState,
    ProcessRecord,
    save_state,
)
from clipper_admin.local.processes import spawn
from clipper_admin.local.redis_server import redis_server_command

#: How each core role is named in messages.
ROLE_NAMES = {
    ROLE_REDIS: "Redis",
    ROLE_MANAGEMENT: "Management frontend",
    ROLE_QUERY: "Query frontend",
    ROLE_PROMETHEUS: "Prometheus",
}


@dataclass(frozen=True)
class QueryFrontendSettings:
    """``start_clipper``'s settings of the query frontend."""

    cache_size: int
    thread_pool_size: int
    timeout_request: int
    timeout_content: int


def start_core(
    paths: ClusterPaths,
    state: ClusterState,
    settings: QueryFrontendSettings,
    admin_token: str | None,
    timeout_s: float,
    logger: launch.Logger,
    admin_tls: tuple[str, str] | None = None,
) -> None:
    """Start Redis (unless external), then the management and the query frontend.

    The management frontend listens on 127.0.0.1 only; ``admin_token`` goes
    into its environment, never its command line; ``admin_tls`` (certificate,
    key) makes it serve HTTPS. Raises ClipperException
    (with the process's log) if one fails to start; the caller stops those
    already recorded in ``state``.
    """
    redis_args = ["--redis_ip", state.redis_ip, "--redis_port", str(state.redis_port)]
    if state.managed_redis:
        logger.info("Starting Redis on port %d", state.redis_port)
        cmd = redis_server_command(state.redis_port, paths.redis_dir)
        start_process(paths, state, ROLE_REDIS, ROLE_REDIS, cmd, [state.redis_port], timeout_s)
    else:
        logger.info("Using external Redis at %s:%d", state.redis_ip, state.redis_port)
    logger.info("Starting management frontend on 127.0.0.1:%d%s", state.management_port,
                " (HTTPS)" if admin_tls else "")
    cmd = launch.python_module_command(
        "management_frontend", *redis_args, "--host", "127.0.0.1", "--port", str(state.management_port),
        "--query_frontend_url", f"http://127.0.0.1:{state.query_port}",  # what its dashboard shows
        *(["--tls_cert", admin_tls[0], "--tls_key", admin_tls[1]] if admin_tls else []),
    )
    mgmt_env = {ADMIN_TOKEN_ENV: admin_token} if admin_token else None
    start_process(paths, state, ROLE_MANAGEMENT, ROLE_MANAGEMENT, cmd, [state.management_port], timeout_s, mgmt_env)
    workers = state.query_frontend_workers
    rpc_ports = [state.rpc_port + i for i in range(workers)]
    if workers == 1:
        logger.info("Starting query frontend on port %d (RPC port %d)", state.query_port, state.rpc_port)
    else:
        logger.info("Starting query frontend on port %d with %d workers (RPC ports %d-%d)", state.query_port,
                    workers, rpc_ports[0], rpc_ports[-1])
    cmd = launch.python_module_command(
        "query_frontend",
        *redis_args,
        "--rpc_service_port", str(state.rpc_port),
        "--prediction_cache_size", str(settings.cache_size),
        "--thread_pool_size", str(settings.thread_pool_size),
        "--timeout_request", str(settings.timeout_request),
        "--timeout_content", str(settings.timeout_content),
        "--query_port", str(state.query_port),
        *(["--workers", str(workers)] if workers != 1 else []),
    )  # fmt: skip
    # Every worker binds its RPC port before it opens the REST port: wait for all of them.
    start_process(paths, state, ROLE_QUERY, ROLE_QUERY, cmd, [state.query_port, *rpc_ports], timeout_s)


def start_prometheus(paths: ClusterPaths, state: ClusterState, binary: str, scrape_interval: str, timeout_s: float,
                     logger: launch.Logger) -> None:  # fmt: skip
    """Start Prometheus on 127.0.0.1:``state.prometheus_port`` and wait until ``/-/ready`` answers.

    It scrapes the query frontend and the replicas of the targets file (see
    ``prometheus``). Raises ClipperException with its log if it fails.
    """
    assert state.prometheus_port is not None
    logger.info("Starting Prometheus on 127.0.0.1:%d", state.prometheus_port)
    prometheus.write_config(paths, state, scrape_interval)
    cmd = prometheus.command(binary, paths, state.prometheus_port)
    record = start_process(paths, state, ROLE_PROMETHEUS, ROLE_PROMETHEUS, cmd, [state.prometheus_port], timeout_s)
    launch.wait_until(record, paths, ROLE_NAMES[ROLE_PROMETHEUS], prometheus.ready(state.prometheus_port), timeout_s)


def start_process(paths: ClusterPaths, state: ClusterState, name: str, role: str, cmd: list[str], ports: list[int],
                  timeout_s: float, env: dict[str, str] | None = None) -> ProcessRecord:  # fmt: skip
    """Spawn one core process, record it, and wait until it listens on every port of ``ports``."""
    log = paths.log_file(name)
    mark = None
    if role != ROLE_PROMETHEUS:  # metrics are optional: a dead Prometheus is reported, not restarted
        mark = paths.ready_file(name)
        mark.unlink(missing_ok=True)
        cmd = launch.restarted(cmd, ready=(ports[0], mark))
    handle = spawn(cmd, log, env=launch.child_env(env), cwd=paths.root)
    record = ProcessRecord(name, role, handle.pid, handle.start_ticks, cmd, str(log.relative_to(paths.root)), time.time())
    state.processes[name] = record
    save_state(paths, state)  # record the pid at once: stop_all must find it
    what = ROLE_NAMES[role]
    for port in ports:
        launch.wait_until(record, paths, what, launch.listening(port), timeout_s)
    if mark is not None:  # the restarter saw it serve: from now on it restarts it
        launch.wait_until(record, paths, what, mark.exists, timeout_s)
    return record
