"""The selection policies as pure functions: learning claims with stated counts and bounds.

Two simulated binary classifiers of known accuracy (0.9 and 0.6) answer a
seeded stream of labelled inputs; every query is followed by its feedback.
"""

from __future__ import annotations

import math
import random

import pytest

from clipper_protocol import selection_schema as ss
from query_frontend.selection import (
    ABSplitPolicy,
    EpsilonGreedyPolicy,
    Exp3Policy,
    Exp4Policy,
    Feedback,
    SelectionPolicy,
    make_policy,
)
from query_frontend.selection.base import reward
from query_frontend.selection.default import DefaultOutputSelectionPolicy

ACCURACY = {"good": 0.9, "bad": 0.6}
MODELS = sorted(ACCURACY)


def answer(model: str, label: int, rng: random.Random) -> int:
    return label if rng.random() < ACCURACY[model] else 1 - label


def run_bandit(policy: SelectionPolicy, rounds: int, seed: int) -> list[str]:
    """Query then feedback, ``rounds`` times; the model that served each query."""
    world = random.Random(seed)
    state = policy.initial_state()
    served = []
    for _ in range(rounds):
        label = world.randint(0, 1)
        (model, _), = policy.select(state, b"x")
        served.append(model)
        asked = [m for m, _ in policy.feedback_targets(state, b"x")]
        state = policy.observe(state, Feedback(label, {m: answer(m, label, world) for m in asked}))
    return served


def share(served: list[str], model: str) -> float:
    return served.count(model) / len(served)


# Claim: after N queries with feedback (N = EXP3_LEARN or EPS_LEARN), at least
# SHARE of the next WINDOW queries go to the better model, for every seed in
# SEEDS. Measured over 100 seeds: Exp3 (gamma 0.1) after 800 queries, worst
# seed 0.915, mean 0.95 (after 500: worst 0.81, mean 0.95); epsilon-greedy
# (epsilon 0.1) after 500 queries, worst 0.92, mean 0.95.
EXP3_LEARN, EPS_LEARN, WINDOW, SHARE, SEEDS = 800, 500, 200, 0.85, range(10)


@pytest.mark.parametrize("seed", SEEDS)
def test_exp3_shifts_traffic_to_the_better_model(seed: int) -> None:
    policy = Exp3Policy(ss.SelectionParams(gamma=0.1), MODELS, random.Random(seed))
    assert policy.probabilities(policy.initial_state()) == {"bad": 0.5, "good": 0.5}
    served = run_bandit(policy, EXP3_LEARN + WINDOW, seed)
    assert share(served[EXP3_LEARN:], "good") >= SHARE


@pytest.mark.parametrize("seed", SEEDS)
def test_epsilon_greedy_shifts_traffic_to_the_better_model(seed: int) -> None:
    policy = EpsilonGreedyPolicy(ss.SelectionParams(epsilon=0.1), MODELS, random.Random(seed))
    served = run_bandit(policy, EPS_LEARN + WINDOW, seed)
    assert share(served[EPS_LEARN:], "good") >= SHARE


def test_exp3_keeps_exploring_and_probabilities_sum_to_one() -> None:
    policy = Exp3Policy(ss.SelectionParams(gamma=0.2), MODELS, random.Random(1))
    state = policy.state_from_fields({"logw:good": 500.0, "logw:bad": -500.0})
    probs = policy.probabilities(state)
    assert math.isclose(sum(probs.values()), 1.0)
    assert probs["bad"] == pytest.approx(0.2 / 2)  # never below gamma / K


def test_exp4_beats_the_worse_model() -> None:
    """1000 labelled queries: the ensemble's accuracy vs each model's on the same answers."""
    world = random.Random(7)
    policy = Exp4Policy(ss.SelectionParams(eta=0.5), MODELS)
    state = policy.initial_state()
    correct = {"good": 0, "bad": 0, "ensemble": 0}
    n = 1000
    for _ in range(n):
        label = world.randint(0, 1)
        answers = {m: answer(m, label, world) for m, _ in policy.select(state, b"x")}
        output, used = policy.combine(state, answers)
        assert used == MODELS
        for m in MODELS:
            correct[m] += answers[m] == label
        correct["ensemble"] += output == label
        state = policy.observe(state, Feedback(label, answers))
    acc = {k: v / n for k, v in correct.items()}
    assert acc["ensemble"] >= acc["bad"] + 0.2
    assert acc["ensemble"] >= acc["good"] - 0.03
    assert policy.weights(state)["good"] > 0.99


def test_ab_split_90_10_within_four_sigma() -> None:
    n = 20000
    policy = ABSplitPolicy(ss.SelectionParams(weights={"good": 9, "bad": 1}), MODELS, random.Random(3))
    served = [policy.select(policy.initial_state(), b"x")[0][0] for _ in range(n)]
    bound = 4 * math.sqrt(0.9 * 0.1 / n)  # 0.0085
    assert abs(share(served, "good") - 0.9) < bound
    assert policy.shares() == {"good": 0.9, "bad": 0.1}


def test_ab_split_across_versions_and_unlinked_targets() -> None:
    params = ss.SelectionParams(weights={"m:1": 1, "m:2": 3, "gone": 5})
    policy = ABSplitPolicy(params, ["m"], random.Random(0))
    picks = [policy.select(policy.initial_state(), b"")[0] for _ in range(4000)]
    assert set(picks) == {("m", "1"), ("m", "2")}  # "gone" is not linked
    assert abs(picks.count(("m", "2")) / 4000 - 0.75) < 0.03
    even = ABSplitPolicy(ss.SelectionParams(), ["a", "b"], random.Random(0))
    assert even.shares() == {"a": 0.5, "b": 0.5}


def test_exp4_combines_only_the_answers_it_has() -> None:
    policy = Exp4Policy(ss.SelectionParams(), ["a", "b", "c"])
    state = policy.state_from_fields({"logw:a": 2.0, "logw:b": 0.0, "logw:c": 0.0})
    assert policy.combine(state, {"b": 1, "c": 1, "a": 0}) == (0, ["b", "c", "a"])  # a outweighs b + c
    assert policy.combine(state, {"b": 1, "c": 0}) == (1, ["b", "c"])  # tie: first answer
    out, used = policy.combine(state, {"a": 1.5, "b": 0.5})
    w = math.exp(2) / (math.exp(2) + 1)
    assert used == ["a", "b"] and out == pytest.approx(1.5 * w + 0.5 * (1 - w))
    assert policy.combine(state, {"c": "cat"}) == ("cat", ["c"])
    vote = Exp4Policy(ss.SelectionParams(combine="vote"), ["a", "b"])
    assert vote.combine(vote.initial_state(), {"a": [1, 2], "b": [1, 2]}) == ([1, 2], ["a", "b"])


def test_states_round_trip_through_fields() -> None:
    eps = EpsilonGreedyPolicy(ss.SelectionParams(), MODELS)
    s = eps.observe(eps.initial_state(), Feedback(1.0, {"good": 1, "bad": "0"}))
    assert s.to_fields() == {"pulls:good": 1.0, "pulls:bad": 1.0, "reward:good": 1.0, "reward:bad": 0.0}
    assert eps.state_from_fields(s.to_fields()) == s
    exp3 = Exp3Policy(ss.SelectionParams(gamma=0.5), MODELS)
    s3 = exp3.observe(exp3.initial_state(), Feedback(1.0, {"good": 1}))
    assert s3.to_fields() == {"logw:good": pytest.approx(0.5 * 1 / (2 * 0.5))}
    assert exp3.state_from_fields(s3.to_fields()) == s3


def test_reward_and_personalisation() -> None:
    assert reward(1, 1.0, 1.0) == 1.0 and reward("0", 1.0, 1.0) == 0.0
    assert reward("cat", 1.0, 1.0) == 0.0 and reward(2.5, 2.0, 2.0) == 0.75
    assert Exp3Policy(ss.SelectionParams(), MODELS).state_uid(7) == 0
    assert Exp3Policy(ss.SelectionParams(personalize=True), MODELS).state_uid(7) == 7


def test_make_policy_and_default_policy() -> None:
    assert make_policy(ss.DEFAULT_POLICY, ss.SelectionParams(), ["a"]) is None
    assert isinstance(make_policy(ss.EXP4_POLICY, ss.SelectionParams(), ["a"]), Exp4Policy)
    default = DefaultOutputSelectionPolicy(ss.SelectionParams(), ["b", "a"])
    assert default.select(default.initial_state(), b"") == [("b", None)]


@pytest.mark.parametrize(
    ("policy", "params", "message"),
    [
        ("Nope", {}, "policy 'Nope' is not one of"),
        (ss.EXP3_POLICY, {"epsilon": 0.1}, "params.epsilon is not a parameter of Exp3Policy"),
        (ss.EXP3_POLICY, {"gamma": 0}, "params.gamma must be in (0.0, 1.0]"),
        (ss.EPSILON_GREEDY_POLICY, {"epsilon": "x"}, "params.epsilon must be a number"),
        (ss.AB_SPLIT_POLICY, {"weights": {"a": -1}}, "params.weights['a'] must be a number >= 0"),
        (ss.AB_SPLIT_POLICY, {"weights": {"a": 0}}, "at least one target a positive weight"),
        (ss.AB_SPLIT_POLICY, {"weights": [1]}, "params.weights must be an object"),
        (ss.EXP4_POLICY, {"combine": "max"}, "params.combine must be one of"),
        (ss.DEFAULT_POLICY, {"seed": 1}, "it takes: none"),
        (ss.EXP3_POLICY, [], "params must be a JSON object"),
    ],
)
def test_params_validation_names_the_field(policy: str, params: object, message: str) -> None:
    with pytest.raises(ss.SelectionParamsError) as e:
        ss.parse_params(policy, params)
    assert message in str(e.value)


def test_state_keys() -> None:
    assert ss.state_key("app", 0, ss.EXP3_POLICY) == "app:0:Exp3Policy"
    assert ss.parse_state_key("a:b:3:Exp4Policy") == ("a:b", 3, "Exp4Policy")
    assert ss.parse_state_key("app:0:0") is None  # the original's y_hat key
    assert ss.parse_state_key("app:x:Exp3Policy") is None
    assert ss.parse_params(ss.EXP3_POLICY, {"gamma": 0.2}).to_json() == {"gamma": 0.2}
