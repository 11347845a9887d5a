"""A connected model replica, as the RPC service and the model queues see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

import orjson

from clipper_protocol.input_types import InputType
from query_frontend.batching import ModelQueue, Task
from query_frontend.cache import ModelOutput

MAX_REMEMBERED = 10000
"""Bound on remembered identities (retired, rejected, gone) and logged rejections."""


class ReplicaLink(Protocol):
    """What a replica's batches travel over (the RPC service)."""

    def send_batch(self, replica: Replica, tasks: list[Task]) -> bool: ...


@dataclass(slots=True)
class InFlightBatch:
    """The one batch a replica holds, keyed by its message id."""

    msg_id: int
    tasks: list[Task]
    sent_at: float


@dataclass(slots=True, eq=False)
class Replica:
    """A connected model container."""

    identity: bytes
    model_name: str
    model_version: str
    connection_id: int
    input_type: InputType
    last_seen: float
    link: ReplicaLink
    replica_id: int | None = None
    """Unique across the frontends sharing a Redis: claimed there when its record is written."""
    queue: ModelQueue | None = None
    inflight: InFlightBatch | None = None
    alive: bool = True
    quarantined: bool = False
    """Holds a batch far past its SLO; gets no new batch until it answers."""

    @property
    def label(self) -> str:
        """``<model>:<version>:<replica id>`` (``#<connection id>`` until the id is claimed)."""
        rid = self.replica_id if self.replica_id is not None else f"#{self.connection_id}"
        return f"{self.model_name}:{self.model_version}:{rid}"

    def send_batch(self, tasks: list[Task]) -> bool:
        """Hand ``tasks`` to the container; False if it is unreachable (and now removed).

        The model queues dispatch through this (``ModelQueue(send_batch=Replica.send_batch)``).
        """
        return self.link.send_batch(self, tasks)


def parse_output(raw: bytes) -> ModelOutput:
    """A model's string output, embedded as JSON when it is a valid document."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = raw.decode("utf-8", errors="replace")
    return ModelOutput(raw, value)


K = TypeVar("K")


def remember(bounded: dict[K, None], key: K) -> None:
    """Add ``key`` to an insertion-ordered dict used as a bounded set."""
    bounded[key] = None
    while len(bounded) > MAX_REMEMBERED:
        del bounded[next(iter(bounded))]
