"""What a query answers, before the REST codec renders it (a leaf: imports nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class QueryResult:
    """One query's answer, as the REST response reports it."""

    query_id: int
    output: object
    default: bool
    explanation: str | None = None
    reason: str | None = field(default=None, kw_only=True)
    """Why the default output (``query_frontend.errors.DEFAULT_REASONS``); None for a model's output."""


@dataclass(slots=True)
class SelectedResult(QueryResult):
    """The answer of an app with a selection policy: also which models served it.

    ``served`` lists (model, version) pairs: the one model a single-model
    policy chose (reported even when it fell back to the default), or the
    models whose answers an ensemble combined (empty when none answered).
    """

    served: tuple[tuple[str, str], ...] = ()
    ensemble: bool = False
    stage: int | None = None
    """A cascade's answering stage (its index in ``params.stages``); None for other policies."""
    confidence: float | None = None
    """That stage's confidence, if its model gave one."""
