"""Model selection policies: which linked models answer a query, and how answers combine.

:func:`make_policy` builds an application's policy from its DB 5 ``policy``
name and parameters; it returns None for the original's default policy,
which the query processor serves on its unchanged fast path.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from clipper_protocol.selection_schema import DEFAULT_POLICY, SelectionParams
from query_frontend.selection.ab_split import ABSplitPolicy
from query_frontend.selection.base import EmptyState, Feedback, PolicyState, SelectionPolicy, Target
from query_frontend.selection.cascade import CascadePolicy
from query_frontend.selection.default import DefaultOutputSelectionPolicy
from query_frontend.selection.epsilon_greedy import ArmStats, EpsilonGreedyPolicy
from query_frontend.selection.exp3 import Exp3Policy, LogWeights
from query_frontend.selection.exp4 import Exp4Policy

POLICY_CLASSES: dict[str, type[SelectionPolicy]] = {  # type: ignore[type-arg]
    cls.name: cls
    for cls in (DefaultOutputSelectionPolicy, ABSplitPolicy, EpsilonGreedyPolicy, Exp3Policy, Exp4Policy,
                CascadePolicy)
}


def make_policy(
    name: str, params: SelectionParams, models: Sequence[str], rng: random.Random | None = None
) -> SelectionPolicy | None:  # type: ignore[type-arg]
    """The policy object for an app; None for the default policy (the fast path).

    Raises KeyError for an unknown policy name.
    """
    if name == DEFAULT_POLICY:
        return None
    return POLICY_CLASSES[name](params, models, rng)


__all__ = [
    "POLICY_CLASSES",
    "ABSplitPolicy",
    "ArmStats",
    "CascadePolicy",
    "DefaultOutputSelectionPolicy",
    "EmptyState",
    "EpsilonGreedyPolicy",
    "Exp3Policy",
    "Exp4Policy",
    "Feedback",
    "LogWeights",
    "PolicyState",
    "SelectionPolicy",
    "Target",
    "make_policy",
]
