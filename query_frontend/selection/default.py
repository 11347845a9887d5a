"""The original's only policy: the first linked model, or the default output."""

from __future__ import annotations

from collections.abc import Mapping

from clipper_protocol.selection_schema import DEFAULT_POLICY
from query_frontend.selection.base import EmptyState, SelectionPolicy, Target


class DefaultOutputSelectionPolicy(SelectionPolicy[EmptyState]):
    """One model (the first linked, by name); feedback changes nothing.

    The query frontend serves apps with this policy on its own fast path and
    never calls this class there; it exists so that every policy has the same
    interface (and tests). Its state in Redis stays the original's
    ``<app>:0:0`` string ``{"y_hat": <default output>}``.
    """

    name = DEFAULT_POLICY

    def initial_state(self) -> EmptyState:
        return EmptyState()

    def state_from_fields(self, fields: Mapping[str, float]) -> EmptyState:
        return EmptyState()

    def select(self, state: EmptyState, input: bytes) -> list[Target]:
        return [(self.models[0], None)] if self.models else []
