"""The query frontend's errors: why a query got the default output, or a request an error answer.

Every class derives from :class:`clipper_protocol.errors.ClipperError`.
:class:`QueryFailed` and its subclasses end in the application's default
output with their ``explanation``; :class:`Overloaded` and
:class:`RequestError` end in an HTTP error answer (mapped in ``http.py``).
"""

from __future__ import annotations

from clipper_protocol.constants import NO_CONNECTED_MODELS_EXPLANATION, SLO_EXCEEDED_EXPLANATION
from clipper_protocol.errors import ClipperError


DEFAULT_REASONS: tuple[str, ...] = ("slo", "no_connected_models", "model_failed", "queue_full", "replica_lost")
"""Why a query got its default output: the ``reason`` label of ``clipper_app_default_predictions_total``."""


class QueryFailed(ClipperError):
    """A query cannot get a model output; ``explanation`` goes to the client, ``reason`` to the metrics."""

    explanation: str = SLO_EXCEEDED_EXPLANATION
    reason: str = "slo"

    def __init__(self, explanation: str | None = None) -> None:
        if explanation is not None:
            self.explanation = explanation
        super().__init__(self.explanation)


class QueryExpired(QueryFailed):
    """The query's deadline passed before a replica took it."""


class NoConnectedModels(QueryFailed):
    """No replica of the model version is connected (or the app has no model)."""

    explanation = NO_CONNECTED_MODELS_EXPLANATION
    reason = "no_connected_models"


class QueueFull(QueryFailed):
    """The model version's queue is at max_queue_size; the query was shed."""

    explanation = "The model's queue is full: the query was shed to protect latency"
    reason = "queue_full"


class ReplicaLost(QueryFailed):
    """The replica holding the query's batch went away."""

    explanation = "The model replica serving the query disconnected before answering"
    reason = "replica_lost"


MAX_CAUSE_CHARS = 200
"""Longest model failure cause put in a default explanation (the whole reason is in the logs)."""


class ModelFailed(QueryFailed):
    """The model raised, or answered with the wrong number of outputs.

    ``cause`` (what the replica reported, e.g. ``ZeroDivisionError: division
    by zero``) is added to the explanation: its first line, printable, at
    most :data:`MAX_CAUSE_CHARS` characters; the full reason is in the query
    frontend's and the replica's logs.
    """

    explanation = "The model failed to produce an output for this input"
    reason = "model_failed"

    def __init__(self, cause: str | None = None) -> None:
        super().__init__(f"{ModelFailed.explanation}: {short_cause(cause)}" if cause else None)


def short_cause(cause: str) -> str:
    """One printable line of at most :data:`MAX_CAUSE_CHARS` characters."""
    line = next((ln.strip() for ln in cause.splitlines() if ln.strip()), "")
    line = "".join(ch if ch.isprintable() else "?" for ch in line)
    return line if len(line) <= MAX_CAUSE_CHARS else line[: MAX_CAUSE_CHARS - 3] + "..."


class Overloaded(ClipperError):
    """Queries are being shed and the frontend is set to refuse them (HTTP 503)."""

    def __init__(self, cause: str, retry_after_s: int = 1) -> None:
        self.cause = cause
        self.retry_after_s = retry_after_s
        super().__init__(cause)


class RequestError(ClipperError):
    """A bad request: answered with ``status`` and ``{"error": error, "cause": cause}``."""

    def __init__(self, cause: str, error: str = "Json error", status: int = 400) -> None:
        self.cause = cause
        self.error = error
        self.status = status
        super().__init__(cause)
