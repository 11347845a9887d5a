"""Prediction cascades, the policy logic: confidence parsing, escalation, SLO-limited escalation.

``CascadePolicy.run`` is driven with scripted stage answers and a scripted
clock (the time each stage takes is added to it), so which stages are asked
is decided exactly, never by the machine's speed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from clipper_protocol import query_api as api
from clipper_protocol import selection_schema as ss
from query_frontend.protocol import render_result
from query_frontend.results import SelectedResult
from query_frontend.selection import CascadePolicy, make_policy
from query_frontend.selection.cascade import CascadeOutcome, StageAnswer, best_so_far, read_confidence


def policy(stages: list[dict[str, Any]]) -> CascadePolicy:
    made = make_policy(ss.CASCADE_POLICY, ss.parse_params(ss.CASCADE_POLICY, {"stages": stages}),
                       sorted({s["model"].split(":")[0] for s in stages}))
    assert isinstance(made, CascadePolicy)
    return made


class Script:
    """Stage answers by model, each taking a scripted time on a scripted clock."""

    def __init__(self, answers: dict[str, tuple[float, object | None]], now: float = 0.0) -> None:
        self.answers = answers  # model -> (seconds it takes, output or None for no answer)
        self.now = now
        self.asked: list[str] = []

    def clock(self) -> float:
        return self.now

    async def ask(self, target: tuple[str, str]) -> tuple[bool, object]:
        self.asked.append(target[0])
        took, value = self.answers[target[0]]
        self.now += took
        return (value is not None), value


def run(p: CascadePolicy, script: Script, deadline: float, measured: dict[str, float] | None = None,
        linked: list[str] | None = None) -> CascadeOutcome:
    stages = [(i, (m, "1")) for i, (m, _) in enumerate(p.targets) if linked is None or m in linked]
    latency = measured or {}
    return asyncio.run(p.run(stages, script.ask, lambda t: latency.get(t[0], 0.0), deadline, script.clock))


def answer(output: object, confidence: float) -> dict[str, object]:
    return {"output": output, "confidence": confidence}


TWO = [{"model": "lr", "threshold": 0.9}, {"model": "rf"}]


# -- the model's output format ---------------------------------------------------


def test_read_confidence_unwraps_the_output_and_keeps_non_cascade_outputs_as_they_are() -> None:
    assert read_confidence({"output": 7, "confidence": 0.93}) == (7, 0.93)
    assert read_confidence({"output": None, "confidence": 1}) == (None, 1.0)
    assert read_confidence({"label": "cat", "confidence": 0.5}) == ({"label": "cat", "confidence": 0.5}, 0.5)
    assert read_confidence("7") == ("7", None)
    assert read_confidence(7) == (7, None)
    assert read_confidence({"output": 7}) == ({"output": 7}, None)
    assert read_confidence({"output": 7, "confidence": "high"}) == ({"output": 7, "confidence": "high"}, None)
    assert read_confidence({"output": 7, "confidence": True}) == ({"output": 7, "confidence": True}, None)


# -- escalation ----------------------------------------------------------------


def test_a_confident_first_stage_answers_and_the_second_is_never_asked() -> None:
    s = Script({"lr": (0.001, answer(3, 0.95)), "rf": (0.05, answer(4, 0.99))})
    out = run(policy(TWO), s, deadline=1.0)
    assert out.answer == StageAnswer(0, ("lr", "1"), 3, 0.95)
    assert s.asked == ["lr"] and out.asked == 1 and not out.cut_by_slo


def test_the_threshold_is_inclusive() -> None:
    s = Script({"lr": (0.001, answer(3, 0.9)), "rf": (0.05, answer(4, 0.99))})
    assert run(policy(TWO), s, deadline=1.0).answer == StageAnswer(0, ("lr", "1"), 3, 0.9)


def test_an_unconfident_first_stage_escalates_and_the_last_stage_always_answers() -> None:
    s = Script({"lr": (0.001, answer(3, 0.6)), "rf": (0.05, answer(4, 0.4))})
    out = run(policy(TWO), s, deadline=1.0)
    assert out.answer == StageAnswer(1, ("rf", "1"), 4, 0.4)  # less confident than lr, but it is the last stage
    assert s.asked == ["lr", "rf"] and out.asked == 2


def test_three_stages_stop_at_the_first_that_passes_its_own_threshold() -> None:
    p = policy([{"model": "a", "threshold": 0.9}, {"model": "b", "threshold": 0.7}, {"model": "c"}])
    s = Script({"a": (0.001, answer("x", 0.8)), "b": (0.001, answer("y", 0.75)), "c": (0.001, answer("z", 1.0))})
    out = run(p, s, deadline=1.0)
    assert out.answer is not None and (out.answer.stage, out.answer.output) == (1, "y")
    assert s.asked == ["a", "b"]


def test_an_output_without_confidence_never_stops_the_cascade_early() -> None:
    s = Script({"lr": (0.001, "3"), "rf": (0.05, "4")})
    out = run(policy(TWO), s, deadline=1.0)
    assert out.answer == StageAnswer(1, ("rf", "1"), "4", None)


def test_a_failed_stage_is_passed_over() -> None:
    s = Script({"lr": (0.001, None), "rf": (0.05, answer(4, 0.5))})
    out = run(policy(TWO), s, deadline=1.0)
    assert out.answer == StageAnswer(1, ("rf", "1"), 4, 0.5) and s.asked == ["lr", "rf"]


def test_when_the_last_stage_fails_the_best_earlier_answer_serves() -> None:
    p = policy([{"model": "a", "threshold": 0.9}, {"model": "b", "threshold": 0.9}, {"model": "c"}])
    s = Script({"a": (0.001, answer("x", 0.8)), "b": (0.001, answer("y", 0.6)), "c": (0.001, None)})
    out = run(p, s, deadline=1.0)
    assert out.answer == StageAnswer(0, ("a", "1"), "x", 0.8)


def test_no_answer_at_all_is_none() -> None:
    s = Script({"lr": (0.001, None), "rf": (0.001, None)})
    out = run(policy(TWO), s, deadline=1.0)
    assert out.answer is None and out.asked == 2


def test_unlinked_stages_are_left_out_by_index() -> None:
    p = policy([{"model": "a", "threshold": 0.9}, {"model": "b", "threshold": 0.9}, {"model": "c"}])
    s = Script({"a": (0.001, answer("x", 0.1)), "c": (0.001, answer("z", 0.2))})
    out = run(p, s, deadline=1.0, linked=["a", "c"])
    assert out.answer is not None and out.answer.stage == 2 and s.asked == ["a", "c"]


def test_best_so_far_prefers_confidence_then_the_later_stage() -> None:
    a = StageAnswer(0, ("a", "1"), "x", 0.7)
    b = StageAnswer(1, ("b", "1"), "y", 0.7)
    c = StageAnswer(2, ("c", "1"), "z", None)
    assert best_so_far([a, b]) is b
    assert best_so_far([a, c]) is a
    assert best_so_far([c]) is c
    assert best_so_far([]) is None


# -- SLO-limited escalation --------------------------------------------------------


def test_no_escalation_when_the_time_left_is_less_than_the_next_stages_measured_latency() -> None:
    # lr takes 30 ms of a 100 ms budget; rf is measured at 80 ms: 70 ms left is not enough.
    s = Script({"lr": (0.030, answer(3, 0.6)), "rf": (0.0, answer(4, 0.99))})
    out = run(policy(TWO), s, deadline=0.100, measured={"rf": 0.080})
    assert out.answer == StageAnswer(0, ("lr", "1"), 3, 0.6)
    assert s.asked == ["lr"] and out.cut_by_slo


def test_escalation_when_the_time_left_covers_the_next_stage() -> None:
    s = Script({"lr": (0.030, answer(3, 0.6)), "rf": (0.0, answer(4, 0.99))})
    out = run(policy(TWO), s, deadline=0.100, measured={"rf": 0.060})
    assert out.answer is not None and out.answer.stage == 1 and not out.cut_by_slo


def test_the_latency_hint_counts_until_the_frontend_has_measured_the_model() -> None:
    stages = [{"model": "lr", "threshold": 0.9}, {"model": "rf", "latency_ms": 80}]
    s = Script({"lr": (0.030, answer(3, 0.6)), "rf": (0.0, answer(4, 0.99))})
    assert run(policy(stages), s, deadline=0.100).answer == StageAnswer(0, ("lr", "1"), 3, 0.6)
    # A measurement replaces the hint, whichever way it goes.
    s = Script({"lr": (0.030, answer(3, 0.6)), "rf": (0.0, answer(4, 0.99))})
    out = run(policy(stages), s, deadline=0.100, measured={"rf": 0.010})
    assert out.answer is not None and out.answer.stage == 1


def test_an_unmeasured_stage_without_a_hint_is_asked_while_any_time_is_left() -> None:
    s = Script({"lr": (0.099, answer(3, 0.6)), "rf": (0.0, answer(4, 0.99))})
    assert run(policy(TWO), s, deadline=0.100).answer == StageAnswer(1, ("rf", "1"), 4, 0.99)
    s = Script({"lr": (0.100, answer(3, 0.6)), "rf": (0.0, answer(4, 0.99))})
    out = run(policy(TWO), s, deadline=0.100)
    assert out.answer == StageAnswer(0, ("lr", "1"), 3, 0.6) and out.cut_by_slo


def test_cut_short_the_cascade_answers_with_the_most_confident_stage_so_far() -> None:
    p = policy([{"model": "a", "threshold": 0.95}, {"model": "b", "threshold": 0.95}, {"model": "c"}])
    s = Script({"a": (0.010, answer("x", 0.8)), "b": (0.010, answer("y", 0.5)), "c": (0.0, answer("z", 1.0))})
    out = run(p, s, deadline=0.100, measured={"c": 0.5})
    assert out.answer == StageAnswer(0, ("a", "1"), "x", 0.8) and s.asked == ["a", "b"] and out.cut_by_slo


def test_the_first_stage_is_asked_even_when_its_latency_exceeds_the_budget() -> None:
    s = Script({"lr": (0.0, answer(3, 0.95)), "rf": (0.0, answer(4, 0.99))})
    out = run(policy(TWO), s, deadline=0.100, measured={"lr": 5.0})
    assert out.answer is not None and out.answer.stage == 0


# -- parameters -------------------------------------------------------------------


def test_parameters_round_trip_in_the_shape_they_are_given() -> None:
    raw = {"stages": [{"model": "lr", "threshold": 0.9, "latency_ms": 2.5}, {"model": "rf:3"}]}
    params = ss.parse_params(ss.CASCADE_POLICY, raw)
    assert params.stages == (ss.CascadeStage("lr", 0.9, 2.5), ss.CascadeStage("rf:3"))
    assert params.to_json() == raw
    assert ss.parse_params(ss.CASCADE_POLICY, params.to_json()) == params
    assert policy(raw["stages"]).targets == (("lr", None), ("rf", "3"))


@pytest.mark.parametrize(("params", "message"), [
    (None, "params.stages is required"),
    ({"stages": []}, "params.stages must be a non-empty list"),
    ({"stages": {"lr": 0.9}}, "params.stages must be a non-empty list"),
    ({"stages": ["lr"]}, r"params.stages\[0\] must be an object"),
    ({"stages": [{"threshold": 0.9}, {"model": "rf"}]}, r"params.stages\[0\].model is missing"),
    ({"stages": [{"model": "lr"}, {"model": "rf"}]}, r"params.stages\[0\].threshold is missing"),
    ({"stages": [{"model": "lr", "threshold": 1.5}, {"model": "rf"}]},
     r"params.stages\[0\].threshold must be in \[0.0, 1.0\], got 1.5"),
    ({"stages": [{"model": "lr", "threshold": "high"}, {"model": "rf"}]},
     r"params.stages\[0\].threshold must be a number"),
    ({"stages": [{"model": "lr", "threshold": 0.9}, {"model": "rf", "threshold": 0.9}]},
     r"params.stages\[1\].threshold must be left out: the last stage always answers"),
    ({"stages": [{"model": "lr", "threshold": 0.9}, {"model": "lr"}]},
     r"params.stages\[1\].model 'lr' is already stage 0"),
    ({"stages": [{"model": "lr", "threshold": 0.9, "cost": 1}, {"model": "rf"}]},
     r"params.stages\[0\].cost is not a stage field"),
    ({"stages": [{"model": 7}]}, r"params.stages\[0\].model must be a string"),
    ({"stages": [{"model": "rf:"}]}, r"params.stages\[0\].model 'rf:' must be a model name"),
    ({"stages": [{"model": "rf", "latency_ms": -1}]}, r"params.stages\[0\].latency_ms must be in"),
    ({"stages": [{"model": "rf"}], "gamma": 0.1}, "params.gamma is not a parameter of CascadePolicy"),
])
def test_bad_parameters_are_refused_naming_the_field(params: object, message: str) -> None:
    with pytest.raises(ss.SelectionParamsError, match=message):
        ss.parse_params(ss.CASCADE_POLICY, params)


def test_stages_are_not_a_parameter_of_other_policies() -> None:
    with pytest.raises(ss.SelectionParamsError, match="params.stages is not a parameter of Exp3Policy"):
        ss.parse_params(ss.EXP3_POLICY, {"stages": [{"model": "rf"}]})


# -- the response and feedback -------------------------------------------------------


def test_the_response_names_the_stage_and_its_confidence_after_the_original_fields() -> None:
    r = SelectedResult(4, 7, False, None, (("lr", "1"),), stage=0, confidence=0.93)
    assert render_result(r) == {"query_id": 4, "output": 7, "default": False, "model": "lr", "version": "1",
                                "stage": 0, "confidence": 0.93}
    assert list(render_result(SelectedResult(4, 7, False, None, (("rf", "1"),), stage=1))) == [
        "query_id", "output", "default", "model", "version", "stage"]
    parsed = api.Prediction.from_json(render_result(r))
    assert (parsed.stage, parsed.confidence, parsed.model) == (0, 0.93, "lr")


def test_other_policies_answers_have_no_stage() -> None:
    assert "stage" not in render_result(SelectedResult(4, 7, False, None, (("lr", "1"),)))
    assert api.Prediction.from_json({"query_id": 1, "output": 2, "default": False}).stage is None


def test_feedback_asks_no_model() -> None:
    p = policy(TWO)
    assert not p.learns and p.feedback_targets(p.initial_state(), b"") == []
    assert p.select(p.initial_state(), b"") == [("lr", None), ("rf", None)]
