"""What every selection policy is: select, combine, observe over a small state.

A policy object is built per application from its parameters and linked
models; it holds no learned data itself. The learned data is a *state*
value, passed in and returned, so the same policy code serves uid 0 and
per-user states and is trivial to unit-test. States are frozen dataclasses
that flatten to ``{field: float}`` (:meth:`PolicyState.to_fields`): the
frontend stores the *change* of each field in Redis with ``HINCRBYFLOAT``,
so every ``observe`` must change the state by plain additions (counts, sums,
log-weights), which makes feedback from several frontends commute.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from clipper_protocol.selection_schema import SelectionParams

Target = tuple[str, "str | None"]
"""A model to ask: its name and a pinned version (None: its current version)."""


class PolicyState(ABC):
    """A policy's learned state: a frozen dataclass of float statistics."""

    @abstractmethod
    def to_fields(self) -> dict[str, float]:
        """The state as a flat hash; fields absent from it are 0.0."""


S = TypeVar("S", bound=PolicyState)


@dataclass(frozen=True, slots=True)
class EmptyState(PolicyState):
    """The state of policies that learn nothing."""

    def to_fields(self) -> dict[str, float]:
        return {}


@dataclass(frozen=True, slots=True)
class Feedback:
    """One ``/update``: the true label and what the asked models answered."""

    label: float
    predictions: Mapping[str, object]
    uid: int = 0


class SelectionPolicy(ABC, Generic[S]):
    """Chooses which linked models answer a query and how their answers combine."""

    name: ClassVar[str]
    ensemble: ClassVar[bool] = False
    """True when a query asks several models and waits for them until the SLO."""
    learns: ClassVar[bool] = True
    """False for policies feedback cannot change: ``/update`` then asks no model."""

    def __init__(self, params: SelectionParams, models: Sequence[str], rng: random.Random | None = None) -> None:
        self.params = params
        self.models: tuple[str, ...] = tuple(models)
        self.rng = rng if rng is not None else random.Random(params.seed)

    def state_uid(self, uid: int) -> int:
        """Whose state a feedback or query of ``uid`` uses: its own or the app's (0)."""
        return uid if self.params.personalize else 0

    @abstractmethod
    def initial_state(self) -> S:
        """The state before any feedback."""

    @abstractmethod
    def state_from_fields(self, fields: Mapping[str, float]) -> S:
        """Inverse of :meth:`PolicyState.to_fields`."""

    @abstractmethod
    def select(self, state: S, input: bytes) -> list[Target]:
        """The models to ask for one query (one, or several for an ensemble)."""

    def combine(self, state: S, answers: Mapping[str, object]) -> tuple[object, list[str]]:
        """The output from the models that answered (``answers`` is never empty), and which were used."""
        model = next(iter(answers))
        return answers[model], [model]

    def feedback_targets(self, state: S, input: bytes) -> list[Target]:
        """The models whose answer feedback needs; by default a fresh selection."""
        return self.select(state, input)

    def observe(self, state: S, feedback: Feedback) -> S:
        """The state after learning from ``feedback``; by default unchanged."""
        return state


def as_number(value: object) -> float | None:
    """A model output as a number, or None if it is not one."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def reward(prediction: object, label: float, loss_scale: float) -> float:
    """In [0, 1]: 1 for an exact answer, falling linearly to 0 at ``loss_scale`` away."""
    y = as_number(prediction)
    if y is None or y != y:  # not a number, or NaN
        return 0.0
    return max(0.0, 1.0 - abs(y - label) / loss_scale)


def weighted_choice(rng: random.Random, items: Sequence[str], cumulative: Sequence[float]) -> str:
    """An item drawn with probabilities given by a cumulative weight list."""
    x = rng.random() * cumulative[-1]
    lo, hi = 0, len(cumulative) - 1
    while lo < hi:  # first index whose cumulative weight exceeds x
        mid = (lo + hi) // 2
        if cumulative[mid] > x:
            hi = mid
        else:
            lo = mid + 1
    return items[lo]
