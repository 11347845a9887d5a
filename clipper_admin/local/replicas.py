"""Model replicas of a local cluster: start them, wait until they serve, drop the dead.

Each replica runs under ``restarter.py``, which starts it again when it
fails after it was ready (Docker's ``on-failure`` restart policy).

Callers hold the cluster lock; every function saves the state it changes,
and with it the targets file of the cluster's Prometheus (if it has one),
so Prometheus scrapes exactly the recorded replicas.
"""

from __future__ import annotations

import time
from pathlib import Path

from clipper_admin.container_manager import create_model_container_label
from clipper_admin.exceptions import ClipperException
from clipper_admin.local import launch, prometheus
from clipper_admin.local.cluster_state import ROLE_MODEL, ClusterPaths, ClusterState, ProcessRecord, ReplicaInfo, save_state
from clipper_admin.local.packaging import LocalImage
from clipper_admin.local.processes import is_alive, spawn, terminate
from clipper_admin.local.redis_server import free_port

def _save(paths: ClusterPaths, state: ClusterState) -> None:
    """Save the state, then point Prometheus at its replicas."""
    save_state(paths, state)
    prometheus.write_targets(paths, state)


def start_replicas(
    paths: ClusterPaths,
    state: ClusterState,
    name: str,
    version: str,
    input_type: str,
    image: str,
    local_image: LocalImage,
    frontend_indices: list[int],
    ready_timeout_s: float,
) -> None:
    """Start a replica of ``name:version`` per entry of ``frontend_indices`` and wait until each is ready.

    An entry names the query-frontend worker the replica connects to (RPC
    port ``state.rpc_port`` + it; 0 when the frontend runs one process).

    A replica is ready once it writes its ready file (the local stand-in for
    the Docker HEALTHCHECK). Replicas that die or time out are stopped,
    dropped from the state and reported in one ClipperException with their
    log tails; the others keep running.
    """
    label = create_model_container_label(name, version)
    model_dir = local_image.model_dir
    started: list[ProcessRecord] = []
    for index in frontend_indices:
        pname = state.next_replica_name(label)
        ready = paths.ready_file(pname)
        ready.unlink(missing_ok=True)
        metrics_port = free_port()
        env = {
            "CLIPPER_MODEL_NAME": name,
            "CLIPPER_MODEL_VERSION": version,
            "CLIPPER_IP": "127.0.0.1",
            "CLIPPER_PORT": str(state.rpc_port + index),
            "CLIPPER_INPUT_TYPE": input_type,
            "CLIPPER_METRICS_PORT": str(metrics_port),
            "CLIPPER_READY_FILE": str(ready),
        }
        if model_dir is not None:
            env["CLIPPER_MODEL_PATH"] = model_dir
        # Through the restarter: a replica that crashes after it served is started again.
        cmd = launch.restarted(launch.python_module_command(local_image.module, python=local_image.python))
        log = paths.log_file(pname)
        # The model's directory as working directory, like /model in an image.
        handle = spawn(cmd, log, env=launch.child_env(env), cwd=Path(model_dir) if model_dir else paths.root)
        record = ProcessRecord(
            pname, ROLE_MODEL, handle.pid, handle.start_ticks, cmd, str(log.relative_to(paths.root)), time.time(),
            ReplicaInfo(name, version, label, input_type, image, metrics_port, index),
        )  # fmt: skip
        state.processes[pname] = record
        started.append(record)
        _save(paths, state)  # record each pid at once: stop_all must find it
    _wait_ready(paths, state, started, ready_timeout_s)


def _wait_ready(paths: ClusterPaths, state: ClusterState, started: list[ProcessRecord], timeout_s: float) -> None:
    failures: list[str] = []
    deadline = time.monotonic() + timeout_s
    for record in started:
        ready = paths.ready_file(record.name)
        what = f"Model replica {record.name}"
        try:
            launch.wait_until(record, paths, what, ready.exists, max(0.0, deadline - time.monotonic()))
        except ClipperException as e:
            terminate([record.handle], graceful=False)
            del state.processes[record.name]
            failures.append(str(e))
    if failures:
        _save(paths, state)
        raise ClipperException("\n".join(failures))


def stop_replicas(paths: ClusterPaths, state: ClusterState, doomed: list[ProcessRecord], grace_s: float) -> None:
    """Stop replicas (SIGTERM, SIGKILL after ``grace_s``) and forget them."""
    terminate([p.handle for p in doomed], graceful=True, grace_s=grace_s)
    for p in doomed:
        del state.processes[p.name]
        paths.ready_file(p.name).unlink(missing_ok=True)
    _save(paths, state)


def prune_dead(paths: ClusterPaths, state: ClusterState, logger: launch.Logger) -> None:
    """Drop crashed replicas from the state, warning with each one's log tail."""
    dead = [p for p in state.replicas() if not is_alive(p.handle)]
    for p in dead:
        logger.warning("%s", launch.describe_death(p, paths, f"Model replica {p.name}"))
        del state.processes[p.name]
        paths.ready_file(p.name).unlink(missing_ok=True)
    if dead:
        _save(paths, state)
