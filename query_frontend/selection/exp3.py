"""Exp3: single-model selection by exponential weights with importance-weighted rewards."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from clipper_protocol.selection_schema import EXP3_POLICY, SelectionParams, stat_field
from query_frontend.selection.base import (
    Feedback,
    PolicyState,
    SelectionPolicy,
    Target,
    reward,
    weighted_choice,
)

LOG_WEIGHT = "logw"


@dataclass(frozen=True, slots=True)
class LogWeights(PolicyState):
    """Per model, the log of its weight (0.0: weight 1, the start)."""

    log_weights: dict[str, float]

    def to_fields(self) -> dict[str, float]:
        return {stat_field(LOG_WEIGHT, m): w for m, w in self.log_weights.items()}


def log_weights_from_fields(fields: Mapping[str, float]) -> LogWeights:
    prefix = LOG_WEIGHT + ":"
    return LogWeights({k[len(prefix):]: v for k, v in fields.items() if k.startswith(prefix)})


def softmax(models: Sequence[str], state: LogWeights) -> list[float]:
    """Normalised weights of ``models``; log-weights keep large values finite."""
    logs = [state.log_weights.get(m, 0.0) for m in models]
    top = max(logs)
    exps = [math.exp(x - top) for x in logs]
    total = sum(exps)
    return [e / total for e in exps]


class Exp3Policy(SelectionPolicy[LogWeights]):
    """Each query asks one model, drawn with ``p_i = (1-γ) w_i / Σw + γ/K``.

    Feedback draws a model the same way, asks it (usually a cache hit: the
    query it answered had the same input), and multiplies its weight by
    ``exp(γ r / (K p_i))`` with ``r`` its reward in [0, 1]: dividing by
    ``p_i`` makes the estimate unbiased although only one model is judged.
    In log space the update is an addition, as the Redis store needs.
    """

    name = EXP3_POLICY

    def __init__(self, params: SelectionParams, models: Sequence[str], rng: random.Random | None = None) -> None:
        super().__init__(params, models, rng)
        # Probabilities of the last state seen: states are immutable and
        # replaced on every update, so identity is a valid cache key.
        self._cached: tuple[LogWeights, list[float], list[float]] | None = None

    def initial_state(self) -> LogWeights:
        return LogWeights({})

    def state_from_fields(self, fields: Mapping[str, float]) -> LogWeights:
        return log_weights_from_fields(fields)

    def _probabilities(self, state: LogWeights) -> tuple[list[float], list[float]]:
        cached = self._cached
        if cached is not None and cached[0] is state:
            return cached[1], cached[2]
        k = len(self.models)
        gamma = self.params.gamma
        probs = [(1.0 - gamma) * w + gamma / k for w in softmax(self.models, state)]
        cumulative = list(_accumulate(probs))
        self._cached = (state, probs, cumulative)
        return probs, cumulative

    def probabilities(self, state: LogWeights) -> dict[str, float]:
        """Each model's chance of serving a query in ``state``."""
        if not self.models:
            return {}
        return dict(zip(self.models, self._probabilities(state)[0]))

    def select(self, state: LogWeights, input: bytes) -> list[Target]:
        if not self.models:
            return []
        _, cumulative = self._probabilities(state)
        return [(weighted_choice(self.rng, self.models, cumulative), None)]

    def observe(self, state: LogWeights, feedback: Feedback) -> LogWeights:
        if not self.models:
            return state
        probs = self.probabilities(state)
        k = len(self.models)
        logs = dict(state.log_weights)
        for model, prediction in feedback.predictions.items():
            p = probs.get(model)
            if p is None:  # no longer linked
                continue
            r = reward(prediction, feedback.label, self.params.loss_scale)
            logs[model] = logs.get(model, 0.0) + self.params.gamma * r / (k * p)
        return LogWeights(logs)


def _accumulate(values: Sequence[float]) -> list[float]:
    out, total = [], 0.0
    for v in values:
        total += v
        out.append(total)
    return out
