"""The query frontends of a Docker cluster (one, or several with ``num_frontend_replicas``).

Docker has no load balancer in front of several containers, so each of the
N frontends is a container of its own: frontend 0 is published on the
cluster's query and RPC ports, frontend i > 0 on host ports Docker picks
(read back from its published ports), and all of them share network aliases so that clients on the
cluster network get DNS round-robin. As on Kubernetes, every frontend has
its own full set of model replicas (a replica's ``CLIPPER_IP`` is one
frontend), so ``num_replicas`` counts replicas per frontend.

A frontend of several worker processes (``query_frontend_workers``) is
still one container; worker i listens for replicas on RPC port 7000 + i,
and every worker has its own set of replicas too: a replica set is a
(frontend, worker) pair, a :data:`ReplicaSlot`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from clipper_admin.container_manager import (
    CLIPPER_DOCKER_PORT_LABELS,
    CLIPPER_INTERNAL_QUERY_PORT,
    CLIPPER_INTERNAL_RPC_PORT,
    CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL,
    CLIPPER_QUERY_FRONTEND_ID_LABEL,
    CLIPPER_QUERY_FRONTEND_WORKER_LABEL,
    CLIPPER_QUERY_FRONTEND_WORKERS_LABEL,
)
from clipper_admin.docker.engine import published_port

#: Network alias every query frontend carries (DNS round-robin inside the network).
QUERY_FRONTEND_ALIAS = "query-frontend"


@dataclass(frozen=True)
class QueryFrontend:
    """One running query frontend: its index, container name and published host ports."""

    index: int
    name: str
    query_port: int
    rpc_port: int
    #: Its worker processes; worker i takes replicas on RPC port 7000 + i.
    workers: int = 1


#: A set of replicas of one model version: (frontend index, worker index).
ReplicaSlot = tuple[int, int]


def frontend_index(labels: dict[str, str]) -> int:
    """The frontend a container (frontend or model replica) belongs to.

    Containers of clusters started before scale-out carry no index: they
    belong to frontend 0, the only one there was.
    """
    return int(labels.get(CLIPPER_QUERY_FRONTEND_ID_LABEL, "0"))


def worker_index(labels: dict[str, str]) -> int:
    """The worker of its frontend a replica serves (0 for replicas of single-process frontends)."""
    return int(labels.get(CLIPPER_QUERY_FRONTEND_WORKER_LABEL, "0"))


def workers_of(labels: dict[str, str]) -> int:
    """A query frontend container's worker processes (1 for frontends started before workers existed)."""
    return max(1, int(labels.get(CLIPPER_QUERY_FRONTEND_WORKERS_LABEL, "1")))


def frontend_names(base: str, count: int) -> list[str]:
    """Container names: frontend 0 keeps the original's ``query_frontend-<n>``, frontend i is ``<base>-<i>``."""
    return [base if i == 0 else f"{base}-{i}" for i in range(count)]


def network_aliases(cluster_name: str) -> list[str]:
    """The shared alias, plus one per cluster (unambiguous when clusters share a network)."""
    return [QUERY_FRONTEND_ALIAS, f"{QUERY_FRONTEND_ALIAS}-at-{cluster_name}"]


def frontend_labels(index: int, query_port: int, rpc_port: int, workers: int = 1) -> dict[str, str]:
    """Labels of frontend ``index``: role, index, workers and the host ports asked for (0: any).

    ``connect`` reads the ports from the container's published ports; the
    port labels are kept for whoever reads them (they are the real ports
    unless 0 was asked for).
    """
    return {
        CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL: "",
        CLIPPER_QUERY_FRONTEND_ID_LABEL: str(index),
        CLIPPER_QUERY_FRONTEND_WORKERS_LABEL: str(workers),
        CLIPPER_DOCKER_PORT_LABELS["query_rest"]: str(query_port),
        CLIPPER_DOCKER_PORT_LABELS["query_rpc"]: str(rpc_port),
    }


def running_frontends(containers: Iterable[Any]) -> list[QueryFrontend]:
    """The query frontends among ``containers``, by index; those without port labels are skipped.

    Their ports are the ones Docker published (as last inspected: containers
    from ``containers.list`` are fresh), the labels' where none shows.
    """
    rest, rpc = CLIPPER_DOCKER_PORT_LABELS["query_rest"], CLIPPER_DOCKER_PORT_LABELS["query_rpc"]
    found = [
        QueryFrontend(frontend_index(c.labels), c.name,
                      published_port(c, CLIPPER_INTERNAL_QUERY_PORT, int(c.labels[rest] or 0)),
                      published_port(c, CLIPPER_INTERNAL_RPC_PORT, int(c.labels[rpc] or 0)), workers_of(c.labels))
        for c in containers
        if CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL in c.labels and rest in c.labels and rpc in c.labels
    ]
    return sorted(found, key=lambda f: f.index)


def scale_out_notice(host: str, frontends: list[QueryFrontend]) -> str:
    """What a user with several frontends must know: only frontend 0 is on the query port."""
    others = ", ".join(str(f.query_port) for f in frontends[1:])
    return (
        f"Started {len(frontends)} query frontends; the query port {frontends[0].query_port} reaches frontend 0, "
        f"frontends 1..{len(frontends) - 1} listen on {others} (at {host}); put a load balancer in front to "
        f"spread traffic (inside the network, the alias {QUERY_FRONTEND_ALIAS} resolves to all of them)"
    )
