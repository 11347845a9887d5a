"""A weighted A/B split across linked models or versions of one model."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence

from clipper_protocol.selection_schema import AB_SPLIT_POLICY, SelectionParams, parse_target
from query_frontend.selection.base import EmptyState, SelectionPolicy, Target, weighted_choice


class ABSplitPolicy(SelectionPolicy[EmptyState]):
    """Each query goes to one target drawn with the configured weights.

    Targets are ``weights`` keys: a model name (its current version) or
    ``<model>:<version>``. Targets whose model is not linked are skipped;
    with no usable weight the split is even over the linked models. It learns
    nothing: the weights change only through the admin API.
    """

    name = AB_SPLIT_POLICY

    def __init__(self, params: SelectionParams, models: Sequence[str], rng: random.Random | None = None) -> None:
        super().__init__(params, models, rng)
        linked = set(self.models)
        targets = [(t, w) for t, w in params.weights.items() if w > 0 and parse_target(t)[0] in linked]
        if not targets:
            targets = [(m, 1.0) for m in self.models]
        self._keys = [t for t, _ in targets]
        self._targets: dict[str, Target] = {t: parse_target(t) for t in self._keys}
        self._cumulative = list(itertools.accumulate(w for _, w in targets))

    def shares(self) -> dict[str, float]:
        """Each target's expected share of the traffic."""
        total = self._cumulative[-1] if self._cumulative else 1.0
        prev = 0.0
        out = {}
        for key, c in zip(self._keys, self._cumulative):
            out[key] = (c - prev) / total
            prev = c
        return out

    def initial_state(self) -> EmptyState:
        return EmptyState()

    def state_from_fields(self, fields: Mapping[str, float]) -> EmptyState:
        return EmptyState()

    def select(self, state: EmptyState, input: bytes) -> list[Target]:
        if not self._keys:
            return []
        return [self._targets[weighted_choice(self.rng, self._keys, self._cumulative)]]
