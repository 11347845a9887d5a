"""Exp4: an ensemble of every linked model, combined with weights learned from feedback."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from clipper_protocol.selection_schema import EXP4_POLICY
from query_frontend.selection.base import Feedback, SelectionPolicy, Target, as_number, reward
from query_frontend.selection.exp3 import LogWeights, log_weights_from_fields, softmax


class Exp4Policy(SelectionPolicy[LogWeights]):
    """Asks every linked model; answers combine by their exponential weights.

    ``combine``: ``mean`` is the weighted mean of numeric answers; ``vote``
    the answer with the largest total weight; ``auto`` (default) votes
    unless some answer is a non-integral number. Only the models that
    answered by the SLO take part, their weights renormalised (straggler
    mitigation). Feedback asks every model and subtracts ``η (1 - r)`` from
    each one's log-weight (full information: all answers are known).
    """

    name = EXP4_POLICY
    ensemble = True

    def initial_state(self) -> LogWeights:
        return LogWeights({})

    def state_from_fields(self, fields: Mapping[str, float]) -> LogWeights:
        return log_weights_from_fields(fields)

    def weights(self, state: LogWeights) -> dict[str, float]:
        """Each model's share of the ensemble in ``state``."""
        if not self.models:
            return {}
        return dict(zip(self.models, softmax(self.models, state)))

    def select(self, state: LogWeights, input: bytes) -> list[Target]:
        return [(m, None) for m in self.models]

    def combine(self, state: LogWeights, answers: Mapping[str, object]) -> tuple[object, list[str]]:
        used = [m for m in answers]
        if len(used) == 1:
            return answers[used[0]], used
        weights = dict(zip(used, softmax(used, state)))
        mode = self.params.combine
        numbers = {m: as_number(v) for m, v in answers.items() if not isinstance(v, (str, bool))}
        numeric = len(numbers) == len(used) and all(x is not None for x in numbers.values())
        if mode == "auto":
            mode = "mean" if numeric and any(isinstance(v, float) and not v.is_integer()
                                             for v in answers.values()) else "vote"
        if mode == "mean" and numeric:
            total = 0.0
            for m in used:
                total += weights[m] * (numbers[m] or 0.0)
            return total / sum(weights.values()), used
        return _vote(answers, weights), used

    def observe(self, state: LogWeights, feedback: Feedback) -> LogWeights:
        logs = dict(state.log_weights)
        for model, prediction in feedback.predictions.items():
            loss = 1.0 - reward(prediction, feedback.label, self.params.loss_scale)
            logs[model] = logs.get(model, 0.0) - self.params.eta * loss
        return LogWeights(logs)


def _vote(answers: Mapping[str, object], weights: Mapping[str, float]) -> object:
    """The answer with the most weight behind it; ties go to the first model's."""
    totals: dict[bytes, float] = {}
    values: dict[bytes, object] = {}
    for model, value in answers.items():
        key = orjson.dumps(value)  # lists and objects are not hashable
        totals[key] = totals.get(key, 0.0) + weights[model]
        values.setdefault(key, value)
    return values[max(totals, key=lambda k: totals[k])]
