"""One Kubernetes cluster's spec and the names of its objects.

Names are the original's (``<component>-at-<cluster>``); the cluster Secret
(``clipper-secrets-at-<cluster>``) and the Prometheus RBAC objects are ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The name ``kubectl describe service query-frontend`` finds (see ``query_services``).
QUERY_FRONTEND_ALIAS = "query-frontend"
DEFAULT_CLUSTER_NAME = "default-cluster"


@dataclass(frozen=True)
class ClusterSpec:
    """What every object of one cluster needs to know."""

    cluster_name: str
    cluster_identifier: str
    namespace: str
    service_types: dict[str, str]
    image_pull_secrets: list[str] = field(default_factory=list)


def redis_name(c: ClusterSpec) -> str:
    return f"redis-at-{c.cluster_name}"


def mgmt_name(c: ClusterSpec) -> str:
    return f"mgmt-frontend-at-{c.cluster_name}"


def query_name(c: ClusterSpec) -> str:
    return f"query-frontend-at-{c.cluster_name}"


def query_replica_name(c: ClusterSpec, index: int) -> str:
    """Deployment and RPC Service of query frontend ``index``."""
    return f"query-frontend-{index}-at-{c.cluster_name}"


def secret_name(c: ClusterSpec) -> str:
    """The Secret holding the admin token and the Redis password."""
    return f"clipper-secrets-at-{c.cluster_name}"


def metrics_name(c: ClusterSpec) -> str:
    return f"metrics-at-{c.cluster_name}"


def prometheus_config_name(c: ClusterSpec) -> str:
    return f"prometheus-config-at-{c.cluster_name}"


def prometheus_rbac_name(c: ClusterSpec) -> str:
    # cluster_identifier, not cluster_name: ClusterRoles are cluster-wide, so
    # equal cluster names in two namespaces must not share one.
    return f"{c.cluster_identifier}-prometheus"


def model_deployment_name(c: ClusterSpec, name: str, version: str, frontend_index: int, worker: int = 0) -> str:
    """The Deployment of the replicas serving worker ``worker`` of query frontend ``frontend_index``.

    Worker 0's keeps the name it had before frontends ran several workers.
    """
    at = f"{frontend_index}" if worker == 0 else f"{frontend_index}-{worker}"
    return f"{name}-{version}-deployment-at-{at}-at-{c.cluster_name}"


def replica_slots(num_frontends: int, workers: int) -> list[tuple[int, int]]:
    """Every (frontend index, worker index): each has its own Deployment of every model version."""
    return [(f, w) for f in range(num_frontends) for w in range(workers)]
