"""Talking to the Docker engine: clients, images, ports, readiness, removal.

Everything here is independent of what a Clipper cluster is made of; the
manager (``docker_container_manager``) composes these into a cluster.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from clipper_admin._image_build import _docker_client
from clipper_admin.exceptions import ClipperException
from clipper_admin.local.launch import port_is_free

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]

LOG_TAIL_LINES = 20
# The original picked a random port in this range when the requested one was taken.
_RANDOM_PORT_RANGE = (10000, 50000)
_UNREACHABLE = "Unable to Connect to Docker. Please Check if Docker is running."


@contextmanager
def engine() -> Iterator[Any]:
    """A Docker client for one operation, closed afterwards.

    Engine failures in the body become ClipperExceptions: an unreachable
    engine gets the original's message, an API error says what the engine
    answered.
    """
    import docker.errors
    import requests

    client = _docker_client()  # raises the original's "Unable to Connect to Docker..." message
    try:
        yield client
    except requests.exceptions.ConnectionError as e:
        raise ClipperException(f"{_UNREACHABLE} ({e})") from e
    except docker.errors.APIError as e:
        raise ClipperException(f"Docker engine error: {e.explanation or e}") from e
    finally:
        client.close()


def random_suffix() -> int:
    """Suffix of a container name (``redis-<n>``).

    The original drew from 0..100000; a wider range makes name clashes
    between clusters started side by side practically impossible.
    """
    return random.randint(0, 10**9)


def find_unbound_port(start: int, what: str, logger: Logger) -> int:
    """``start`` if it is free; a random free port in [10000, 50000] if not.

    The original's semantics, plus: ``start == 0`` returns 0, which asks
    Docker to pick a free host port when it publishes the container's port
    (read it back with :func:`published_port` once the container runs).
    Picking one here and publishing it afterwards would race other
    processes for it. The host side of a published port binds every
    interface, so that is what is checked.
    """
    if start == 0:
        return 0
    if port_is_free(start):
        return start
    while True:
        port = random.randint(*_RANDOM_PORT_RANGE)
        if port_is_free(port):
            logger.warning("Port %d for the %s is in use; using port %d instead", start, what, port)
            return port


def published_port(container: Any, container_port: int, requested: int, logger: Logger | None = None) -> int:
    """The host port Docker published ``container``'s TCP ``container_port`` on.

    Reads the container's ``NetworkSettings.Ports`` as last inspected (a
    started container: call ``container.reload()`` first; containers from
    ``containers.list`` are fresh), preferring an IPv4 binding. When the
    container shows no binding, ``requested`` (the host port asked for) is
    returned, with a warning if that was 0 (any port) since then nobody
    knows the port.
    """
    network = (getattr(container, "attrs", None) or {}).get("NetworkSettings") or {}
    bindings = (network.get("Ports") or {}).get(f"{container_port}/tcp") or []
    for binding in sorted(bindings, key=lambda b: ":" in str(b.get("HostIp") or "")):
        host_port = str(binding.get("HostPort") or "")
        if host_port.isdigit() and int(host_port) > 0:
            return int(host_port)
    if requested == 0 and logger is not None:
        logger.warning("Container %s shows no published host port for its port %d",
                       getattr(container, "name", "?"), container_port)  # fmt: skip
    return requested


def ensure_image(client: Any, image: str, hint: str, logger: Logger) -> None:
    """Make sure ``image`` is present, pulling it if it is not local.

    Raises ClipperException ``Image X not found. <hint>`` when neither works.
    """
    import docker.errors

    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    logger.info("Image %s is not present locally; pulling it", image)
    try:
        client.images.pull(image)
    except docker.errors.APIError as e:
        raise ClipperException(f"Image {image} not found. {hint} (pulling it failed: {e.explanation or e})") from e


def log_tail(container: Any, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a container's output (stdout and stderr), or a note why there are none."""
    import docker.errors

    try:
        text: str = container.logs(tail=lines).decode("utf-8", "replace").rstrip()
    except docker.errors.APIError as e:
        return f"(its log cannot be read: {e.explanation or e})"
    return text or "(its log is empty)"


def _state(container: Any) -> tuple[str, str | None, dict[str, Any]]:
    container.reload()
    state: dict[str, Any] = container.attrs["State"]
    health = state.get("Health") or {}
    return state["Status"], health.get("Status"), state


def _failure(container: Any, status: str, health: str | None, state: dict[str, Any]) -> str | None:
    """Why the container cannot become ready, or None while it still may."""
    if status in ("exited", "dead"):
        return f"exited with code {state.get('ExitCode')}"
    if status == "restarting":
        return f"crashed (exit code {state.get('ExitCode')}) and is being restarted"
    # "unhealthy" is not final: a model that loads slowly turns healthy once
    # its ready file appears, so it stays pending until the timeout.
    return None


def wait_until_ready(containers: Iterable[Any], what: str, timeout_s: float, logger: Logger) -> None:
    """Block until every container runs (and is healthy where it has a health check).

    Fails fast, with the container's last log lines, when one exits or
    crashes; raises the original's "not running yet or broken"
    message on timeout.
    """
    pending = list(containers)
    deadline = time.monotonic() + timeout_s
    interval, last_log = 0.1, time.monotonic()
    while pending:
        still = []
        for c in pending:
            status, health, state = _state(c)
            if status == "running" and health in (None, "healthy"):
                continue
            why = _failure(c, status, health, state)
            if why is not None:
                raise ClipperException(
                    f"The {what} container {c.name} {why}. Its last log lines:\n{log_tail(c)}"
                )
            still.append(c)
        pending = still
        if not pending:
            return
        now = time.monotonic()
        if now >= deadline:
            names = ", ".join(c.name for c in pending)
            raise ClipperException(
                f"{names} container is not running yet or broken. We will try to run again. "
                f"Please analyze logs if it keeps failing (waited {timeout_s:.0f} s for the {what})"
            )
        if now - last_log >= 5:
            logger.info("Waiting for the %s (%s) to be ready", what, ", ".join(c.name for c in pending))
            last_log = now
        time.sleep(interval)
        interval = min(interval * 2, 1.0)


def remove_containers(containers: list[Any], graceful: bool, stop_timeout_s: int) -> None:
    """Stop (or kill) and remove containers, with their anonymous volumes, in parallel."""
    import docker.errors

    def remove(c: Any) -> None:
        try:
            if graceful:
                c.stop(timeout=stop_timeout_s)
            c.remove(v=True, force=True)  # force: kills what a graceful stop left running
        except docker.errors.NotFound:
            pass  # already gone (removed by someone else)

    if not containers:
        return
    with ThreadPoolExecutor(max_workers=min(8, len(containers))) as pool:
        list(pool.map(remove, containers))
