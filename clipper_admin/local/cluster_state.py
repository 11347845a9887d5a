"""The on-disk state of a local cluster: its files, ``cluster.json`` and its lock.

Layout of a cluster directory::

    cluster.json            ports, processes (pid, start time, command line, log)
    logs/<process>.log      stdout and stderr of each process
    logs/<replica>.ready    written by a model replica once it serves
    redis/                  Redis data (append-only file)
    prometheus/             Prometheus's configuration, replica targets and data (see ``prometheus``)
    models/<name>/<version>/<build>/  packaged models, one directory per build (see ``packaging``)

Any Python process may read or change the cluster: ``cluster.json`` is
replaced atomically, and changes happen under an ``fcntl`` lock kept next to
the directory (so removing the directory never pulls the lock away).
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clipper_admin.exceptions import ClipperException
from clipper_admin.local.processes import ProcessHandle

ROLE_REDIS = "redis"
ROLE_MANAGEMENT = "management_frontend"
ROLE_QUERY = "query_frontend"
ROLE_MODEL = "model"
ROLE_PROMETHEUS = "prometheus"

_STATE_VERSION = 1


def default_clusters_root() -> Path:
    """``$CLIPPER_HOME/clusters`` (``CLIPPER_HOME`` defaults to ``~/.clipper``)."""
    return Path(os.environ.get("CLIPPER_HOME") or "~/.clipper").expanduser() / "clusters"


@dataclass(frozen=True)
class ClusterPaths:
    """Where a cluster keeps its files."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "cluster.json"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def redis_dir(self) -> Path:
        return self.root / "redis"

    @property
    def prometheus_dir(self) -> Path:
        return self.root / "prometheus"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def admin_token_file(self) -> Path:
        """The admin token of a cluster started with one (owner-only), so ``connect()`` learns it."""
        return self.root / "admin-token"

    @property
    def lock_file(self) -> Path:
        return self.root.parent / f".{self.root.name}.lock"

    def log_file(self, process_name: str) -> Path:
        return self.logs_dir / f"{process_name}.log"

    def ready_file(self, process_name: str) -> Path:
        return self.logs_dir / f"{process_name}.ready"

    def model_dir(self, name: str, version: str) -> Path:
        """The directory of one model version's builds (each build is a directory in it)."""
        return self.models_dir / name / version


@dataclass
class ReplicaInfo:
    """What a model replica serves."""

    model_name: str
    model_version: str
    label: str
    input_type: str
    image: str
    metrics_port: int
    frontend_index: int = 0
    """The query-frontend worker it serves (its RPC port is the cluster's ``rpc_port`` + this)."""


@dataclass
class ProcessRecord:
    """One process of the cluster, as ``cluster.json`` stores it."""

    name: str
    role: str
    pid: int
    start_ticks: int | None
    cmd: list[str]
    log: str
    started_at: float
    replica: ReplicaInfo | None = None

    @property
    def handle(self) -> ProcessHandle:
        return ProcessHandle(self.pid, self.start_ticks)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRecord:
        replica = data.get("replica")
        return cls(
            name=data["name"],
            role=data["role"],
            pid=int(data["pid"]),
            start_ticks=data.get("start_ticks"),
            cmd=list(data["cmd"]),
            log=data["log"],
            started_at=float(data["started_at"]),
            replica=ReplicaInfo(**replica) if replica else None,
        )


@dataclass
class ClusterState:
    """Contents of ``cluster.json``."""

    cluster_name: str
    host: str
    query_port: int
    management_port: int
    rpc_port: int
    redis_ip: str
    redis_port: int
    managed_redis: bool
    created_at: float = field(default_factory=time.time)
    processes: dict[str, ProcessRecord] = field(default_factory=dict)
    # Last replica number used per ``name_version`` label; never reused, so a
    # new replica never appends to an old replica's log.
    replica_seq: dict[str, int] = field(default_factory=dict)
    # Port of the cluster's Prometheus (on 127.0.0.1); None when it runs without one.
    prometheus_port: int | None = None
    # Worker processes of the query frontend (its ``--workers``): worker i's RPC port is rpc_port + i,
    # and every model version has its replicas once per worker.
    query_frontend_workers: int = 1
    # The management frontend's certificate when it serves HTTPS (--tls_cert), else None.
    admin_tls_cert: str | None = None

    def next_replica_name(self, label: str) -> str:
        n = self.replica_seq.get(label, 0) + 1
        self.replica_seq[label] = n
        return f"{label}-{n}"

    def replicas(self, label: str | None = None) -> list[ProcessRecord]:
        """Model replica records, optionally only those of one ``name_version`` label."""
        return [
            p
            for p in self.processes.values()
            if p.role == ROLE_MODEL and p.replica is not None and (label is None or p.replica.label == label)
        ]

    def prometheus(self) -> ProcessRecord | None:
        """The record of the cluster's Prometheus, if it has one."""
        return next((p for p in self.processes.values() if p.role == ROLE_PROMETHEUS), None)

    def core(self) -> list[ProcessRecord]:
        """Redis (when managed) and the two frontends, in start order (Prometheus is optional: not here)."""
        order = (ROLE_REDIS, ROLE_MANAGEMENT, ROLE_QUERY)
        return sorted((p for p in self.processes.values() if p.role in order), key=lambda p: order.index(p.role))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state_version"] = _STATE_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterState:
        return cls(
            cluster_name=data["cluster_name"],
            host=data["host"],
            query_port=int(data["query_port"]),
            management_port=int(data["management_port"]),
            rpc_port=int(data["rpc_port"]),
            redis_ip=data["redis_ip"],
            redis_port=int(data["redis_port"]),
            managed_redis=bool(data["managed_redis"]),
            created_at=float(data["created_at"]),
            processes={k: ProcessRecord.from_json(v) for k, v in data.get("processes", {}).items()},
            replica_seq={k: int(v) for k, v in data.get("replica_seq", {}).items()},
            prometheus_port=int(data["prometheus_port"]) if data.get("prometheus_port") is not None else None,
            query_frontend_workers=int(data.get("query_frontend_workers", 1)),
            admin_tls_cert=data.get("admin_tls_cert") or None,
        )


def load_state(paths: ClusterPaths) -> ClusterState | None:
    """The cluster's state, or None if it has none (never started, or stopped)."""
    try:
        raw = paths.state_file.read_text()
    except FileNotFoundError:
        return None
    try:
        return ClusterState.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError) as e:
        raise ClipperException(f"Cluster state file {paths.state_file} is corrupt ({e}); remove it to start afresh") from e


def save_state(paths: ClusterPaths, state: ClusterState) -> None:
    """Replace ``cluster.json`` atomically (write a temp file, fsync, rename)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=paths.root, prefix=".cluster.", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(state.to_json(), f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, paths.state_file)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class ClusterLock:
    """Inter-process lock of one cluster; re-entrant within a process.

    ``flock`` locks belong to an open file, so a second ``open`` + ``flock``
    in the same process would deadlock: nested uses share one file here.
    """

    _registry: dict[Path, ClusterLock] = {}
    _registry_guard = threading.Lock()

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @classmethod
    def for_paths(cls, paths: ClusterPaths) -> ClusterLock:
        key = paths.lock_file.resolve()
        with cls._registry_guard:
            lock = cls._registry.get(key)
            if lock is None:
                lock = cls._registry[key] = cls(key)
            return lock

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock, waiting for it."""
        with self._acquired(blocking=True):
            yield

    @contextmanager
    def try_held(self) -> Iterator[bool]:
        """Hold the lock if it is free now; yields whether it was acquired."""
        with self._acquired(blocking=False) as acquired:
            yield acquired

    @contextmanager
    def _acquired(self, blocking: bool) -> Iterator[bool]:
        if not self._thread_lock.acquire(blocking=blocking):
            yield False
            return
        try:
            if self._depth == 0:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    yield False
                    return
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
            self._depth += 1
            try:
                yield True
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    os.close(self._fd)
                    self._fd = None
        finally:
            self._thread_lock.release()
