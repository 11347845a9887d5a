"""Prediction cascades: ask models cheapest first, stop at the first confident answer.

Each stage's model answers the JSON object ``{"output": <answer>,
"confidence": <number>}`` (a container's output string; the frontend parses
it as JSON). A stage whose confidence reaches its threshold answers the
query; otherwise the next stage is asked, but only while the time left until
the query's deadline covers that stage's expected latency (the frontend's
measured batch latency of the model, else the stage's ``latency_ms`` hint,
else 0). When the cascade stops early, or a later stage fails, the query
gets the most confident answer so far (ties: the later stage). The last
stage always answers when it is reached. An output that is not such an
object answers as it is, with no confidence, so it never stops the cascade
before its last stage.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from clipper_protocol.selection_schema import (
    CASCADE_OUTPUT,
    CASCADE_POLICY,
    CONFIDENCE,
    CascadeStage,
    SelectionParams,
    parse_target,
)
from query_frontend.selection.base import EmptyState, SelectionPolicy, Target

ModelVersion = tuple[str, str]


def read_confidence(value: object) -> tuple[object, float | None]:
    """A stage's answer and confidence from its model's (JSON-parsed) output.

    ``{"output": x, "confidence": c}`` → (x, c); an object with a numeric
    ``confidence`` but no ``output`` is its own answer; anything else is
    (value, None).
    """
    if isinstance(value, dict):
        confidence = value.get(CONFIDENCE)
        if isinstance(confidence, (int, float)) and not isinstance(confidence, bool):
            return value.get(CASCADE_OUTPUT, value), float(confidence)
    return value, None


@dataclass(frozen=True, slots=True)
class StageAnswer:
    """What one stage answered: its index in ``params.stages``, its model version, answer, confidence."""

    stage: int
    target: ModelVersion
    output: object
    confidence: float | None


@dataclass(frozen=True, slots=True)
class CascadeOutcome:
    """The answer a cascade settled on (None if no stage answered) and how far it went."""

    answer: StageAnswer | None
    asked: int
    """How many stages were asked."""
    cut_by_slo: bool
    """Whether a stage was left out because the time left could not cover its latency."""


class CascadePolicy(SelectionPolicy[EmptyState]):
    """Stages in the configured order; see the module docstring. It learns nothing."""

    name = CASCADE_POLICY
    learns = False

    def __init__(self, params: SelectionParams, models: Sequence[str], rng: random.Random | None = None) -> None:
        super().__init__(params, models, rng)
        self.stages: tuple[CascadeStage, ...] = params.stages
        self.targets: tuple[Target, ...] = tuple(parse_target(s.model) for s in self.stages)

    def initial_state(self) -> EmptyState:
        return EmptyState()

    def state_from_fields(self, fields: Mapping[str, float]) -> EmptyState:
        return EmptyState()

    def select(self, state: EmptyState, input: bytes) -> list[Target]:
        """The stages' targets in order (the first one linked is asked first)."""
        return list(self.targets)

    def feedback_targets(self, state: EmptyState, input: bytes) -> list[Target]:
        return []

    def accepts(self, stage: int, confidence: float | None) -> bool:
        """Whether stage ``stage``'s answer ends the cascade."""
        threshold = self.stages[stage].threshold
        if threshold is None:  # the last stage
            return True
        return confidence is not None and confidence >= threshold

    def expected_latency_s(self, stage: int, measured_s: float) -> float:
        """The latency to budget for a stage: the frontend's measurement, else the configured hint, else 0."""
        if measured_s > 0.0:
            return measured_s
        hint = self.stages[stage].latency_ms
        return hint / 1000.0 if hint is not None else 0.0

    async def run(
        self,
        stages: Sequence[tuple[int, ModelVersion]],
        ask: Callable[[ModelVersion], Awaitable[tuple[bool, object]]],
        measured_latency_s: Callable[[ModelVersion], float],
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> CascadeOutcome:
        """Ask ``stages`` ((index, model version), in order) until one is confident.

        ``ask`` answers (True, output) or (False, None) when the model gave
        no answer by the deadline (or failed); the first stage is always
        asked. Stages whose model is not linked are left out by the caller.
        """
        answers: list[StageAnswer] = []
        asked = 0
        cut = False
        for position, (stage, target) in enumerate(stages):
            if position > 0:
                left = deadline - clock()
                if left <= 0.0 or left < self.expected_latency_s(stage, measured_latency_s(target)):
                    cut = True
                    break
            asked += 1
            ok, value = await ask(target)
            if not ok:
                continue
            output, confidence = read_confidence(value)
            answer = StageAnswer(stage, target, output, confidence)
            if self.accepts(stage, confidence):
                return CascadeOutcome(answer, asked, cut)
            answers.append(answer)
        return CascadeOutcome(best_so_far(answers), asked, cut)


def best_so_far(answers: Sequence[StageAnswer]) -> StageAnswer | None:
    """The most confident answer (no confidence counts lowest); ties go to the later stage."""
    best: StageAnswer | None = None
    for a in answers:
        if best is None or _rank(a) >= _rank(best):
            best = a
    return best


def _rank(a: StageAnswer) -> float:
    return a.confidence if a.confidence is not None else float("-inf")
