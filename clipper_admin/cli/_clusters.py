"""Local clusters as the CLI sees them: which exist, which run, and connecting to one."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clipper_admin.cli._errors import DEFAULT_CLUSTER, CliError, cluster_flag
from clipper_admin.exceptions import ClipperException
from clipper_admin.local import LocalContainerManager
from clipper_admin.local.cluster_state import (
    ROLE_MANAGEMENT,
    ROLE_MODEL,
    ROLE_QUERY,
    ROLE_REDIS,
    ClusterPaths,
    default_clusters_root,
    load_state,
)
from clipper_admin.local.processes import exit_code, is_alive

if TYPE_CHECKING:
    from clipper_admin.clipper_admin import ClipperConnection

RUNNING, BROKEN, STOPPED = "running", "broken", "stopped"
#: The processes a cluster cannot serve without (others, like a metrics server, are extras).
CORE_ROLES = (ROLE_REDIS, ROLE_MANAGEMENT, ROLE_QUERY)
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


@dataclass
class Process:
    name: str
    role: str
    pid: int
    alive: bool
    log: str
    model: str | None
    exit_code: int | None = None
    metrics: str | None = None
    """A replica's Prometheus metrics address (host:port)."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "pid": self.pid, "alive": self.alive, "log": self.log,
                "model": self.model, "metrics": self.metrics}


@dataclass
class ClusterSummary:
    """One cluster directory: ``running`` (Redis and both frontends alive), ``broken``
    (recorded, but one of them is gone) or ``stopped`` (no ``cluster.json``)."""

    name: str
    directory: Path
    state: str
    query_address: str | None = None
    management_address: str | None = None
    rpc_port: int | None = None
    redis_address: str | None = None
    prometheus_address: str | None = None
    processes: list[Process] = field(default_factory=list)

    @property
    def replicas(self) -> int:
        return sum(1 for p in self.processes if p.role == ROLE_MODEL and p.alive)

    def dead_core(self) -> list[Process]:
        return [p for p in self.processes if p.role in CORE_ROLES and not p.alive]

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster_name": self.name, "state": self.state, "cluster_dir": str(self.directory),
            "query_address": self.query_address, "management_address": self.management_address,
            "rpc_port": self.rpc_port, "redis_address": self.redis_address,
            "prometheus_address": self.prometheus_address, "replicas": self.replicas,
            "processes": [p.to_json() for p in self.processes],
        }  # fmt: skip


def summarize(name: str, directory: Path) -> ClusterSummary:
    paths = ClusterPaths(directory)
    try:
        state = load_state(paths)
    except ClipperException as e:
        raise CliError(str(e)) from None
    if state is None:
        return ClusterSummary(name, directory, STOPPED)
    processes = [
        Process(p.name, p.role, p.pid, is_alive(p.handle), str(paths.root / p.log),
                f"{p.replica.model_name}:{p.replica.model_version}" if p.replica else None, exit_code(p.handle),
                f"127.0.0.1:{p.replica.metrics_port}" if p.replica and p.replica.metrics_port else None)
        for p in state.processes.values()
    ]  # fmt: skip
    core = [p for p in processes if p.role in CORE_ROLES]
    core_alive = bool(core) and all(p.alive for p in core)
    admin_host = state.host if state.host in _LOOPBACK else "127.0.0.1"
    prometheus_port = state.prometheus_port  # listens on loopback only, like the management frontend
    return ClusterSummary(
        name, directory, RUNNING if core_alive else BROKEN,
        query_address=f"{state.host}:{state.query_port}", management_address=f"{admin_host}:{state.management_port}",
        rpc_port=state.rpc_port, redis_address=f"{state.redis_ip}:{state.redis_port}",
        prometheus_address=None if prometheus_port is None else f"{admin_host}:{prometheus_port}", processes=processes,
    )  # fmt: skip


def all_clusters() -> list[ClusterSummary]:
    """Every cluster directory under ``$CLIPPER_HOME/clusters``, by name."""
    root = default_clusters_root()
    if not root.is_dir():
        return []
    summaries = []
    for d in sorted(root.iterdir()):
        if d.is_dir() and not d.name.startswith("."):
            try:
                summaries.append(summarize(d.name, d))
            except CliError:  # a corrupt cluster.json: `clipper stop` clears it
                summaries.append(ClusterSummary(d.name, d, BROKEN))
    return summaries


# ------------------------------------------------------------------ the chosen cluster


def resolve_cluster(args: argparse.Namespace) -> None:
    """Fill ``args.cluster_name`` (flag, else $CLIPPER_CLUSTER_NAME, else the default) and
    ``args.cluster_chosen`` (whether the user named a cluster at all)."""
    env = os.environ.get("CLIPPER_CLUSTER_NAME") or None
    args.cluster_chosen = bool(args.cluster_name or env or args.cluster_dir)
    args.cluster_name = args.cluster_name or env or DEFAULT_CLUSTER


def manager(args: argparse.Namespace, **ports: Any) -> LocalContainerManager:
    try:
        return LocalContainerManager(cluster_name=args.cluster_name, cluster_dir=args.cluster_dir, **ports)
    except ClipperException as e:
        raise CliError(str(e)) from None


def describe_dead(p: Process) -> str:
    what = "Redis" if p.role == ROLE_REDIS else p.role.replace("_", " ")
    status = f"exited with code {p.exit_code}" if p.exit_code is not None else "is not running"
    return f"its {what} (pid {p.pid}) {status} (log: {p.log})"


def require_running(args: argparse.Namespace, cm: LocalContainerManager) -> ClusterSummary:
    """The cluster's summary; CliError with what to do if it is not running."""
    summary = summarize(args.cluster_name, cm.cluster_dir)
    flag = cluster_flag(args.cluster_name)
    if summary.state == STOPPED:
        others = [c.name for c in all_clusters() if c.state == RUNNING and c.name != args.cluster_name]
        hint = f" (running: {', '.join(others)}; choose one with --cluster-name)" if others else ""
        raise CliError(f"no cluster named {args.cluster_name} is running: start one with `clipper start{flag}`{hint}")
    dead = summary.dead_core()
    if dead:
        raise CliError(
            f"cluster {args.cluster_name} is broken: {'; '.join(describe_dead(p) for p in dead)}. "
            f"Stop it with `clipper stop{flag}` and start it again"
        )
    return summary


def connect(args: argparse.Namespace) -> ClipperConnection:
    """A connection to the chosen cluster, which must be running."""
    from clipper_admin.clipper_admin import ClipperConnection

    cm = manager(args)
    require_running(args, cm)
    conn = ClipperConnection(cm)
    conn.connect()
    return conn
