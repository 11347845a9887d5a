"""Epsilon-greedy: the model with the best mean reward, a random one with probability epsilon."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clipper_protocol.selection_schema import EPSILON_GREEDY_POLICY, stat_field
from query_frontend.selection.base import Feedback, PolicyState, SelectionPolicy, Target, reward

PULLS, REWARDS = "pulls", "reward"


@dataclass(frozen=True, slots=True)
class ArmStats(PolicyState):
    """Per model: how many feedbacks judged it and the sum of its rewards."""

    pulls: dict[str, float]
    rewards: dict[str, float]

    def to_fields(self) -> dict[str, float]:
        fields = {stat_field(PULLS, m): n for m, n in self.pulls.items()}
        fields.update({stat_field(REWARDS, m): r for m, r in self.rewards.items()})
        return fields

    def mean(self, model: str) -> float:
        n = self.pulls.get(model, 0.0)
        # An untried model looks best, so each is tried before exploiting.
        return self.rewards.get(model, 0.0) / n if n > 0 else float("inf")


class EpsilonGreedyPolicy(SelectionPolicy[ArmStats]):
    """Single-model selection from feedback with a fixed exploration rate.

    Feedback asks one model, drawn the same way as a query, and adds 1 to its
    pulls and its reward (:func:`~query_frontend.selection.base.reward`) to
    its sum: a bandit, learning only about the models it tries.
    """

    name = EPSILON_GREEDY_POLICY

    def initial_state(self) -> ArmStats:
        return ArmStats({}, {})

    def state_from_fields(self, fields: Mapping[str, float]) -> ArmStats:
        pulls: dict[str, float] = {}
        rewards: dict[str, float] = {}
        for key, value in fields.items():
            stat, _, model = key.partition(":")
            if stat == PULLS:
                pulls[model] = value
            elif stat == REWARDS:
                rewards[model] = value
        return ArmStats(pulls, rewards)

    def best(self, state: ArmStats) -> str:
        # max() keeps the first of equals: ties go to the first model by name.
        return max(self.models, key=state.mean)

    def select(self, state: ArmStats, input: bytes) -> list[Target]:
        if not self.models:
            return []
        if self.rng.random() < self.params.epsilon:
            return [(self.rng.choice(self.models), None)]
        return [(self.best(state), None)]

    def observe(self, state: ArmStats, feedback: Feedback) -> ArmStats:
        pulls, rewards = dict(state.pulls), dict(state.rewards)
        for model, prediction in feedback.predictions.items():
            pulls[model] = pulls.get(model, 0.0) + 1.0
            rewards[model] = rewards.get(model, 0.0) + reward(prediction, feedback.label, self.params.loss_scale)
        return ArmStats(pulls, rewards)
