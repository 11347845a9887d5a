"""Waiting, after a deploy, until the new version's replicas serve: a query right after ``deploy`` is answered.

A replica serves once it has loaded its model and connected to the query
frontend, which then records it (the replica records the management
frontend lists). Each query frontend has replicas of its own, so a
deploy of N replicas waits for N records per frontend.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from clipper_admin.exceptions import ClipperException

#: How long a deploy waits for its replicas by default (a framework image's first start may build nothing
#: but still loads a large runtime: TensorFlow, a JVM).
DEFAULT_SERVING_TIMEOUT_S = 300.0
_POLL_S = 0.1
_PROGRESS_EVERY_S = 5.0


class _Connection(Protocol):
    cm: Any
    logger: Any

    def get_all_model_replicas(self, verbose: bool = False) -> list[Any]: ...


def connected_replicas(conn: _Connection, name: str, version: str) -> int:
    """How many replicas of ``name:version`` the query frontends have recorded."""
    return sum(1 for r in conn.get_all_model_replicas(verbose=True)
               if r.get("model_name") == name and str(r.get("model_version")) == version)


def wait_until_serving(conn: _Connection, name: str, version: str, num_replicas: int,
                       timeout_s: float = DEFAULT_SERVING_TIMEOUT_S) -> None:
    """Return once every replica of ``name:version`` is connected; ClipperException after ``timeout_s``.

    Logs progress every few seconds. The version stays registered on a
    time-out (its replicas may still come up): the message says so, and
    where to look.
    """
    # One set of replicas per query frontend, or per worker of each (``replica_sets`` where the manager says).
    sets = getattr(conn.cm, "replica_sets", None)
    if not isinstance(sets, int):
        sets = getattr(conn.cm, "num_frontend_replicas", 1)
    want = num_replicas * (sets if isinstance(sets, int) and sets > 0 else 1)
    if want <= 0:
        return
    start = time.monotonic()
    next_progress = start + _PROGRESS_EVERY_S
    while True:
        have = connected_replicas(conn, name, version)
        if have >= want:
            waited = time.monotonic() - start
            if waited >= 1.0:
                conn.logger.info(f"{name}:{version}: {want} replica(s) serving after {waited:.1f} s")
            return
        now = time.monotonic()
        if now - start >= timeout_s:
            raise ClipperException(
                f"Model {name}:{version} is registered, but only {have} of its {want} replica(s) connected to the "
                f"query frontend within {timeout_s:.0f} s: queries get the default output until one does. "
                "Look at the replica logs (ClipperConnection.get_clipper_logs(), or `clipper logs`) for why "
                "the model did not start; deploy with wait=False not to wait."
            )
        if now >= next_progress:
            conn.logger.info(f"Waiting for {name}:{version}: {have} of {want} replica(s) connected "
                             f"({now - start:.0f} s of at most {timeout_s:.0f} s)")
            next_progress = now + _PROGRESS_EVERY_S
        time.sleep(_POLL_S)
