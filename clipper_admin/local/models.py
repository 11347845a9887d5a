"""The model half of ``LocalContainerManager``: packaging, replicas, scaling.

A mixin, like the Docker manager's ``ModelReplicas``: the manager provides
the attributes declared here. Every change happens under the cluster lock,
so several Python processes may scale one cluster at the same time.
"""

from __future__ import annotations

from collections.abc import Callable

from clipper_admin.container_manager import create_model_container_label
from clipper_admin.exceptions import ClipperException
from clipper_admin.local import launch, packaging, replicas
from clipper_admin.local.cluster_state import (
    ROLE_QUERY,
    ClusterLock,
    ClusterPaths,
    ClusterState,
    ProcessRecord,
    ReplicaInfo,
    load_state,
)
from clipper_admin.local.processes import is_alive


class LocalModels:
    """Model packaging and replicas of a local cluster (see the manager for the attributes)."""

    cluster_name: str
    paths: ClusterPaths
    _lock: ClusterLock
    logger: launch.Logger
    replica_ready_timeout_s: float
    stop_grace_s: float

    def build_model(
        self,
        name: str,
        version: str,
        model_data_path: str,
        base_image: str,
        container_registry: str | None = None,
        pkgs_to_install: list[str] | None = None,
    ) -> str:
        """Copy the model into a new build directory of the cluster; returns ``local:<dir>``.

        Each call makes a new ``models/<name>/<version>/<build id>/`` and
        never touches an earlier build, which replicas may be running.
        ``pkgs_to_install`` go into a virtualenv of the model's own.
        ``container_registry`` is ignored (nothing is pushed).
        """
        version_dir = self.paths.model_dir(name, str(version))
        image = packaging.package_model(version_dir, model_data_path, base_image, pkgs_to_install)
        self.logger.info("Packaged model %s:%s as %s", name, version, image)
        return image

    def discard_model(self, name: str, version: str, image: str) -> None:
        """Undo a deploy of ``image`` as ``name:version``: stop its replicas, remove its build.

        Replicas of that version started from another image are left alone,
        and so is an image this cluster did not package.
        """
        label = create_model_container_label(name, str(version))
        self._stop_replicas(lambda r: r.label == label and r.image == image)
        with self._lock.held():
            if packaging.discard_build(image, self.paths.models_dir):
                self.logger.info("Removed the build %s of model %s:%s", image, name, version)

    def deploy_model(self, name: str, version: str, input_type: str, image: str, num_replicas: int = 1) -> None:
        self.set_num_replicas(name, version, input_type, image, num_replicas)

    def get_num_replicas(self, name: str, version: str) -> int:
        label = create_model_container_label(name, str(version))
        with self._lock.try_held() as locked:
            state = self._prune_dead_replicas() if locked else load_state(self.paths)
        if state is None:
            return 0
        # Per query-frontend worker, as Docker and Kubernetes count per frontend: worker 0's.
        return sum(1 for p in state.replicas(label)
                   if is_alive(p.handle) and p.replica is not None and p.replica.frontend_index == 0)

    def set_num_replicas(self, name: str, version: str, input_type: str, image: str, num_replicas: int) -> None:
        version = str(version)
        if num_replicas < 0:
            raise ClipperException(f"num_replicas must be >= 0, got {num_replicas}")
        label = create_model_container_label(name, version)
        with self._lock.held():
            state = self._prune_dead_replicas()
            if state is None:
                raise ClipperException(f"No Clipper query frontend to attach model container to (cluster {self.cluster_name} is not running)")
            qf = state.processes.get(ROLE_QUERY)
            if qf is None or not is_alive(qf.handle):
                detail = launch.describe_death(qf, self.paths, "Query frontend") if qf else ""
                raise ClipperException(f"No Clipper query frontend to attach model container to. {detail}".strip())
            # ``num_replicas`` per query-frontend worker: each worker has a full set of its own.
            missing: list[int] = []
            surplus: list[ProcessRecord] = []
            found = 0
            for index in range(state.query_frontend_workers):
                current = sorted((p for p in state.replicas(label) if p.replica is not None
                                  and p.replica.frontend_index == index), key=lambda p: p.started_at)
                found += len(current)
                missing += [index] * max(0, num_replicas - len(current))
                surplus += current[num_replicas:]
            per = f" ({state.query_frontend_workers} frontend workers)" if state.query_frontend_workers > 1 else ""
            if surplus:
                self.logger.info("Found %d replicas for %s:%s%s. Removing %d", found, name, version, per, len(surplus))
                replicas.stop_replicas(self.paths, state, surplus, self.stop_grace_s)
            if missing:
                self.logger.info("Found %d replicas for %s:%s%s. Adding %d", found, name, version, per, len(missing))
                local_image = packaging.resolve_image(image)
                replicas.start_replicas(
                    self.paths, state, name, version, input_type, image, local_image,
                    missing, self.replica_ready_timeout_s,
                )  # fmt: skip

    def _prune_dead_replicas(self) -> ClusterState | None:
        """The state without crashed replicas (each reported). Caller holds the lock."""
        state = load_state(self.paths)
        if state is not None:
            replicas.prune_dead(self.paths, state, self.logger)
        return state

    def stop_models(self, models: dict[str, list[str]]) -> None:
        """Stop the replicas of ``{name: [version, ...]}``."""
        wanted = {create_model_container_label(n, str(v)) for n, versions in models.items() for v in versions}
        self._stop_replicas(lambda r: r.label in wanted)

    def stop_all_model_containers(self) -> None:
        self._stop_replicas(lambda r: True)

    def _stop_replicas(self, select: Callable[[ReplicaInfo], bool]) -> None:
        with self._lock.held():
            state = load_state(self.paths)
            if state is None:
                return
            doomed = [p for p in state.replicas() if p.replica is not None and select(p.replica)]
            replicas.stop_replicas(self.paths, state, doomed, self.stop_grace_s)
