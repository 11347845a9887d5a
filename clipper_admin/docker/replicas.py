"""Model replicas of a Docker cluster: start, count, scale and stop them.

A mixin of :class:`DockerContainerManager`; replicas are containers
labelled with the cluster, ``ai.clipper.model_container.label=<name>_<version>``
and ``ai.clipper.query_frontend.id=<i>``: as on Kubernetes, each query
frontend has its own replicas (their ``CLIPPER_IP`` is that frontend), and
``num_replicas`` is a count per frontend. A frontend of several workers
has a set per worker: replica sets are (frontend, worker) slots, a
replica's ``ai.clipper.query_frontend.worker=<w>`` label names its worker
and its ``CLIPPER_PORT`` is that worker's RPC port (7000 + w).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from clipper_admin.container_manager import (
    CLIPPER_INTERNAL_RPC_PORT,
    CLIPPER_MODEL_CONTAINER_LABEL,
    CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL,
    CLIPPER_QUERY_FRONTEND_ID_LABEL,
    CLIPPER_QUERY_FRONTEND_WORKER_LABEL,
    create_model_container_label,
    parse_model_container_label,
)
from clipper_admin.docker import prometheus_config
from clipper_admin.docker.engine import Logger, engine, ensure_image, random_suffix, remove_containers, wait_until_ready
from clipper_admin.docker.query_frontends import ReplicaSlot, frontend_index, worker_index, workers_of
from clipper_admin.exceptions import ClipperException


class ModelReplicas:
    """The model-replica half of the Docker manager (see the manager for the attributes)."""

    cluster_name: str
    logger: Logger
    common_labels: dict[str, str]
    log_config: dict[str, Any]
    prometheus_config_path: str | None
    container_ready_timeout_s: float
    stop_timeout_s: int
    rpc_secret: str

    def _containers(self, client: Any, labels: dict[str, str | None] | None = None, all: bool = False) -> list[Any]:
        raise NotImplementedError

    def _run_on_network(self, client: Any, image: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def get_metric_addr(self) -> str:
        raise NotImplementedError

    # ---------------------------------------------------------------- models

    def deploy_model(self, name: str, version: str, input_type: str, image: str, num_replicas: int = 1) -> None:
        self.set_num_replicas(name, version, input_type, image, num_replicas)

    def get_num_replicas(self, name: str, version: str) -> int:
        """Replicas of ``name:version`` serving worker 0 of query frontend 0 (the count per replica set)."""
        with engine() as client:
            return len(self._replicas_by_slot(client, name, str(version)).get((0, 0), []))

    def _replicas_by_slot(self, client: Any, name: str, version: str) -> dict[ReplicaSlot, list[Any]]:
        grouped: dict[ReplicaSlot, list[Any]] = {}
        for replica in self._replicas(client, name, version):
            grouped.setdefault((frontend_index(replica.labels), worker_index(replica.labels)), []).append(replica)
        return grouped

    def _query_frontend_slots(self, client: Any) -> dict[ReplicaSlot, str]:
        """Container name of the query frontend behind each replica set of the running frontends."""
        qfs = self._containers(client, {CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL: None})
        return {(frontend_index(c.labels), w): c.name for c in qfs for w in range(workers_of(c.labels))}

    def _replicas(self, client: Any, name: str, version: str, all: bool = False) -> list[Any]:
        label = create_model_container_label(name, version)
        found = self._containers(client, {CLIPPER_MODEL_CONTAINER_LABEL: label}, all=all)
        return sorted(found, key=lambda c: c.attrs.get("Created", ""))

    def set_num_replicas(self, name: str, version: str, input_type: str, image: str, num_replicas: int) -> None:
        """Start or stop replicas of ``name:version`` until ``num_replicas`` run for each replica set.

        New replicas are awaited (running and healthy) and added to
        Prometheus; surplus ones (the newest) are stopped and removed.
        """
        version = str(version)
        if num_replicas < 0:
            raise ClipperException(f"num_replicas must be >= 0, got {num_replicas}")
        with engine() as client:
            frontends = self._query_frontend_slots(client)
            grouped = self._replicas_by_slot(client, name, version)
            missing: dict[ReplicaSlot, int] = {}
            surplus: list[Any] = []
            # Slots of the running frontends, and those that replicas still point at (to scale those down).
            for slot in sorted(set(frontends) | set(grouped)):
                current = grouped.get(slot, [])
                if num_replicas > len(current):
                    missing[slot] = num_replicas - len(current)
                else:
                    surplus += current[num_replicas:]
                if num_replicas != len(current):
                    where = "" if len(frontends) <= 1 else f" of query frontend {slot[0]} worker {slot[1]}"
                    self.logger.info("Found %d replicas%s for %s:%s. %s %d", len(current), where, name, version,
                                     "Adding" if num_replicas > len(current) else "Removing",
                                     abs(num_replicas - len(current)))  # fmt: skip
            if surplus:
                self._remove_replicas(surplus, graceful=True)
            if missing:
                self._add_replicas(client, name, version, input_type, image, frontends, missing)

    def _add_replicas(self, client: Any, name: str, version: str, input_type: str, image: str,
                      frontends: dict[ReplicaSlot, str], counts: dict[ReplicaSlot, int]) -> None:  # fmt: skip
        """Start ``counts[slot]`` replicas attached to that (frontend, worker), then wait for all of them."""
        absent = sorted({f for f, _ in set(counts) - set(frontends)})
        if absent:
            which = "" if absent == [0] and not frontends else f" {', '.join(map(str, absent))}"
            raise ClipperException(
                f"No Clipper query frontend{which} to attach model container to "
                f"(no running query frontend{which} in cluster {self.cluster_name}; start it with "
                "ClipperConnection.start_clipper())"
            )
        ensure_image(client, image, "Build it with ClipperConnection.build_model() (or `make images` for Clipper's "
                                    "own images) or pass an image that exists.", self.logger)  # fmt: skip
        label = create_model_container_label(name, version)
        new: list[Any] = []
        try:
            for (index, worker), count in sorted(counts.items()):
                for _ in range(count):
                    new.append(self._run_on_network(client, image, **{
                        "name": f"{label}-{random_suffix()}",
                        "environment": {
                            "CLIPPER_MODEL_NAME": name,
                            "CLIPPER_MODEL_VERSION": version,
                            "CLIPPER_IP": frontends[(index, worker)],
                            "CLIPPER_PORT": str(CLIPPER_INTERNAL_RPC_PORT + worker),
                            "CLIPPER_INPUT_TYPE": input_type,
                            **({"CLIPPER_RPC_SECRET": self.rpc_secret} if self.rpc_secret else {}),
                        },
                        "labels": {**self.common_labels, CLIPPER_MODEL_CONTAINER_LABEL: label,
                                   CLIPPER_QUERY_FRONTEND_ID_LABEL: str(index),
                                   CLIPPER_QUERY_FRONTEND_WORKER_LABEL: str(worker)},
                        "log_config": self.log_config,
                        # A crashed replica is restarted by the engine (the original's was not).
                        "restart_policy": {"Name": "on-failure"},
                    }))  # fmt: skip
            self.logger.info("Waiting for %d replicas of %s:%s to be ready", len(new), name, version)
            wait_until_ready(new, f"model {name}:{version}", self.container_ready_timeout_s, self.logger)
        except BaseException:
            # A replica that cannot start would crash-loop under its restart policy.
            remove_containers(new, graceful=False, stop_timeout_s=self.stop_timeout_s)
            raise
        self._update_prometheus(prometheus_config.add_model_targets, [c.name for c in new])

    def _remove_replicas(self, replicas: list[Any], graceful: bool) -> None:
        remove_containers(replicas, graceful, self.stop_timeout_s)
        self._update_prometheus(prometheus_config.remove_model_targets, [c.name for c in replicas])

    def _update_prometheus(self, change: Callable[[str, list[str]], bool], names: list[str]) -> None:
        path = self.prometheus_config_path
        if not names:
            return
        if path is None or not os.path.exists(path):
            self.logger.warning("Prometheus configuration %s is not on this machine; replicas %s are not "
                                "added to or removed from its targets", path, ", ".join(names))  # fmt: skip
            return
        if change(path, names):
            prometheus_config.reload(self.get_metric_addr(), self.logger)

    def discard_model(self, name: str, version: str, image: str) -> None:
        """Undo a deploy of ``image`` as ``name:version``: remove the replicas started from ``image``.

        Replicas of that version started from another image are left
        alone; the image itself is not this manager's to remove.
        """
        with engine() as client:
            doomed = [c for c in self._replicas(client, name, str(version), all=True)
                      if (c.attrs.get("Config") or {}).get("Image") == image]  # fmt: skip
            if doomed:
                self.logger.info("Removing %d replicas of %s:%s started from %s", len(doomed), name, version, image)
            self._remove_replicas(doomed, graceful=False)

    def stop_models(self, models: dict[str, list[str]]) -> None:
        """Stop and remove the replicas of ``{name: [version, ...]}``."""
        wanted = {(n, str(v)) for n, versions in models.items() for v in versions}
        self._stop_model_containers(lambda nv: nv in wanted)

    def stop_all_model_containers(self) -> None:
        """Stop and remove every model replica of the cluster."""
        self._stop_model_containers(lambda nv: True)

    def _stop_model_containers(self, select: Callable[[tuple[str, str]], bool]) -> None:
        with engine() as client:
            models = self._containers(client, {CLIPPER_MODEL_CONTAINER_LABEL: None}, all=True)
            doomed = [c for c in models if select(parse_model_container_label(c.labels[CLIPPER_MODEL_CONTAINER_LABEL]))]
            if doomed:
                self.logger.info("Stopping %d model containers", len(doomed))
            self._remove_replicas(doomed, graceful=True)

