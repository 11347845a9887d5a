"""Where a seed test's Docker cluster publishes the ports the articles name.

The articles assume the default cluster: ``DockerContainerManager()``
publishing the query frontend on 1337 (its RPC port on 7000), the management
frontend on 1338 and Prometheus on 9090, all reached at ``localhost``. The
seed tests run the articles' code as written against a cluster of their own
instead (its name in ``CLIPPER_SEED_CLUSTER``; every port chosen when its
container is published), so they never need, or touch, the ports or the
cluster a user runs. This module answers "which host port stands for the
default port D": the port Docker published for the container port D (the
containers listen on the defaults inside) of that cluster's container that
serves it (query frontend 0 for 1337 and 7000).

Imported by :mod:`sitecustomize` in the samples' processes and by the tests.
No side effects; only the standard library until a lookup imports ``docker``.
"""

from __future__ import annotations

import os
import time
from typing import Any

CLUSTER_ENV = "CLIPPER_SEED_CLUSTER"
CLUSTER_LABEL = "ai.clipper.container.label"
FRONTEND_ID_LABEL = "ai.clipper.query_frontend.id"
DEFAULT_PORTS = (1337, 1338, 7000, 9090)
"""Query REST, management, query RPC, Prometheus: the ports the articles name."""
LOOPBACK = ("localhost", "127.0.0.1", "::1", "0.0.0.0", "ip6-localhost")

_cache: dict[str, tuple[float, dict[int, int]]] = {}
CACHE_S = 1.0


def published_ports(cluster: str, client: Any = None) -> dict[int, int]:
    """Default port -> host port of ``cluster``'s published ports (those it has now)."""
    own = client is None
    if own:
        import docker

        client = docker.from_env(timeout=30)
    try:
        containers = client.containers.list(filters={"label": f"{CLUSTER_LABEL}={cluster}"})
    finally:
        if own:
            client.close()
    found: dict[int, int] = {}
    # Frontend 0 last: it is the one on the cluster's query and RPC ports.
    containers.sort(key=lambda c: c.labels.get(FRONTEND_ID_LABEL) == "0")
    for c in containers:
        for spec, bindings in (c.ports or {}).items():
            port, _, proto = spec.partition("/")
            if proto == "tcp" and bindings and int(port) in DEFAULT_PORTS:
                found[int(port)] = int(bindings[0]["HostPort"])
    return found


def host_port(cluster: str, default_port: int) -> int | None:
    """The host port standing for ``default_port`` now (briefly cached), None if not published."""
    now = time.monotonic()
    cached = _cache.get(cluster)
    if cached is None or now - cached[0] > CACHE_S or default_port not in cached[1]:
        try:
            cached = (now, published_ports(cluster))
        except Exception:  # noqa: BLE001 - no engine, or the cluster is going away: no mapping
            return None
        _cache[cluster] = cached
    return cached[1].get(default_port)


def current_cluster() -> str | None:
    return os.environ.get(CLUSTER_ENV) or None
