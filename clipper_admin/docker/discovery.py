"""Finding a running Docker cluster again: its ports and settings, read from its containers.

Every container of a cluster carries ``ai.clipper.container.label=<cluster>``
and the core ones carry port labels, so any Python process can
``connect()`` to a cluster another one started. The labels tell which
container plays which role; the ports are those Docker published for each
(``NetworkSettings.Ports``), since a port asked for as 0 is only known once
Docker picked it. A label's port is used only where a container shows none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from clipper_admin import _http
from clipper_admin.container_manager import (
    CLIPPER_DOCKER_PORT_LABELS,
    CLIPPER_INTERNAL_MANAGEMENT_PORT,
    CLIPPER_INTERNAL_REDIS_PORT,
    CLIPPER_METRIC_CONFIG_LABEL,
    CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL,
    CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL,
)
from clipper_admin.docker.core_containers import PROMETHEUS_CONTAINER_PORT
from clipper_admin.docker.engine import published_port
from clipper_admin.docker.query_frontends import QueryFrontend, running_frontends
from clipper_admin.exceptions import ClipperException

_REQUIRED_PORT_LABELS = ("management", "query_rest", "query_rpc", "metric")


@dataclass(frozen=True)
class RunningCluster:
    """What ``connect()`` learns from the running containers of a cluster."""

    management_port: int
    query_port: int
    rpc_port: int
    prometheus_port: int
    prometheus_config_path: str
    query_frontends: list[QueryFrontend]
    #: The published Redis port; None when Redis is not published.
    redis_port: int | None
    #: Fluentd's port when the cluster runs one (centralized logs).
    fluentd_port: int | None
    admin_token: str | None
    #: The query frontends' RPC secret and Redis password ("" when off).
    rpc_secret: str = ""
    redis_password: str = ""


def running_cluster(cluster_name: str, running: list[Any]) -> RunningCluster:
    """Read the cluster's settings from its running containers.

    Raises
    ------
    ClipperException
        If no container carries a label the cluster cannot work without.
    """
    frontends = running_frontends(running)
    labels: dict[str, str] = {}
    owner: dict[str, Any] = {}  # label -> the container whose value ``labels`` holds
    # Frontend 0's port labels last: they are the cluster's query and RPC ports.
    by_name = {c.name: c for c in running}
    others = [c for c in running if CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL not in c.labels]
    for c in others + [by_name[f.name] for f in reversed(frontends)]:
        labels.update(c.labels)
        owner.update(dict.fromkeys(c.labels, c))
    wanted = {key: CLIPPER_DOCKER_PORT_LABELS[key] for key in _REQUIRED_PORT_LABELS}
    missing = [label for label in [*wanted.values(), CLIPPER_METRIC_CONFIG_LABEL] if label not in labels]
    if missing:
        raise ClipperException(
            f"Cluster {cluster_name} is incomplete: no running container carries the label(s) "
            f"{', '.join(missing)}. Stop it with ClipperConnection.stop_all() and start it again."
        )

    def port(key: str, container_port: int) -> int:
        label = CLIPPER_DOCKER_PORT_LABELS[key]
        return published_port(owner[label], container_port, int(labels[label] or 0))

    redis_label = CLIPPER_DOCKER_PORT_LABELS["redis"]
    redis_port = None
    if labels.get(redis_label):  # "" when Redis is not published
        redis_port = port("redis", CLIPPER_INTERNAL_REDIS_PORT) or None
    fluentd_port = labels.get(CLIPPER_DOCKER_PORT_LABELS["fluentd"])
    if frontends:
        query_port, rpc_port = frontends[0].query_port, frontends[0].rpc_port
    else:  # no container with the frontend role label carries the ports (not one of ours)
        query_port, rpc_port = int(labels[wanted["query_rest"]]), int(labels[wanted["query_rpc"]])
    return RunningCluster(
        management_port=port("management", CLIPPER_INTERNAL_MANAGEMENT_PORT),
        query_port=query_port,
        rpc_port=rpc_port,
        prometheus_port=port("metric", PROMETHEUS_CONTAINER_PORT),
        prometheus_config_path=labels[CLIPPER_METRIC_CONFIG_LABEL],
        query_frontends=frontends,
        redis_port=redis_port,
        fluentd_port=int(fluentd_port) if fluentd_port is not None else None,
        admin_token=management_token(running),
        rpc_secret=frontend_env(running, "CLIPPER_QF_RPC_SECRET"),
        redis_password=frontend_env(running, "CLIPPER_QF_REDIS_PASSWORD"),
    )


def frontend_env(containers: Iterable[Any], name: str) -> str:
    """A variable of the query frontends' environment ("" when unset): the RPC secret, the Redis password."""
    prefix = f"{name}="
    for c in containers:
        if CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL not in c.labels:
            continue
        for entry in (c.attrs.get("Config") or {}).get("Env") or []:
            if entry.startswith(prefix):
                return str(entry[len(prefix):])
    return ""


def management_token(containers: Iterable[Any]) -> str | None:
    """The admin token in the management frontend container's environment, if any.

    Whoever can inspect the cluster's containers can read it anyway; this
    spares a user who ``connect()``s from another process passing it again.
    """
    prefix = f"{_http.ADMIN_TOKEN_ENV}="
    for c in containers:
        if CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL not in c.labels:
            continue
        for entry in (c.attrs.get("Config") or {}).get("Env") or []:
            if entry.startswith(prefix) and len(entry) > len(prefix):
                return str(entry[len(prefix):])
    return None
