"""Why a query got the default output instead of a model's answer."""

from __future__ import annotations

from clipper_protocol.constants import NO_CONNECTED_MODELS_EXPLANATION, SLO_EXCEEDED_EXPLANATION


class QueryFailed(Exception):
    """A query cannot get a model output; ``explanation`` goes to the client."""

    explanation: str = SLO_EXCEEDED_EXPLANATION

    def __init__(self, explanation: str | None = None) -> None:
        if explanation is not None:
            self.explanation = explanation
        super().__init__(self.explanation)


class QueryExpired(QueryFailed):
    """The query's deadline passed before a replica took it."""


class NoConnectedModels(QueryFailed):
    explanation = NO_CONNECTED_MODELS_EXPLANATION


class QueueFull(QueryFailed):
    explanation = "The model's queue is full: the query was shed to protect latency"


class ReplicaLost(QueryFailed):
    explanation = "The model replica serving the query disconnected before answering"


class ModelFailed(QueryFailed):
    explanation = "The model failed to produce an output for this input"


class Overloaded(Exception):
    """Queries are being shed and the frontend is set to refuse them (HTTP 503)."""

    def __init__(self, cause: str, retry_after_s: int = 1) -> None:
        self.cause = cause
        self.retry_after_s = retry_after_s
        super().__init__(cause)


class RequestError(Exception):
    """A bad request: answered with ``status`` and ``{"error": error, "cause": cause}``."""

    def __init__(self, cause: str, error: str = "Json error", status: int = 400) -> None:
        self.cause = cause
        self.error = error
        self.status = status
        super().__init__(cause)
