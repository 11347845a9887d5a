"""The Docker network of a cluster: created when missing, removed only if this manager made it."""

from __future__ import annotations

from typing import Any

from clipper_admin.docker.engine import Logger

#: Label on a network this manager created, so ``stop_all`` may remove it (and no other).
CLIPPER_NETWORK_LABEL = "ai.clipper.network.created"


def create_network(client: Any, name: str, logger: Logger) -> None:
    """Create the bridge network ``name`` (labelled as ours) unless it exists."""
    import docker.errors

    try:
        client.networks.get(name)
        return
    except docker.errors.NotFound:
        pass
    logger.info("Creating Docker network %s", name)
    try:
        client.networks.create(name, driver="bridge", check_duplicate=True, labels={CLIPPER_NETWORK_LABEL: "true"})
    except docker.errors.APIError as e:
        if e.status_code != 409:  # 409: another cluster created it at the same moment
            raise


def remove_network_if_unused(client: Any, name: str, logger: Logger) -> None:
    """Remove the network ``name`` if this manager created it and no container uses it."""
    import docker.errors

    try:
        network = client.networks.get(name)
    except docker.errors.NotFound:
        return
    if (network.attrs.get("Labels") or {}).get(CLIPPER_NETWORK_LABEL) != "true":
        return  # the user's network: not ours to remove
    network.reload()
    if network.attrs.get("Containers"):
        return  # still used (e.g. by another cluster)
    try:
        network.remove()
        logger.info("Removed Docker network %s", name)
    except docker.errors.APIError as e:
        # Another cluster may have joined it in the meantime.
        logger.info("Kept Docker network %s: %s", name, e.explanation or e)
