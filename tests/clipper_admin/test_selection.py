"""Model selection through ClipperConnection: real frontends, real closure-container models.

``tree`` always predicts 1; ``forest`` predicts the true label (1 when the
first feature is positive, else 0). An A/B split is set and observed, then
Exp3 learns from feedback sent to the query frontend's ``/update``.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
import requests

from clipper_admin import ClipperConnection, ClipperException
from clipper_admin.deployers import python as python_deployer


def tree(xs: list[Any]) -> list[str]:
    return ["1" for _ in xs]


def forest(xs: list[Any]) -> list[str]:
    return ["1" if x[0] > 0 else "0" for x in xs]


@pytest.fixture
def two_models(conn: ClipperConnection, poll) -> ClipperConnection:
    conn.register_application("ab", "doubles", "-1", 2_000_000)
    python_deployer.deploy_python_closure(conn, name="tree", version=1, input_type="doubles", func=tree)
    python_deployer.deploy_python_closure(conn, name="forest", version=1, input_type="doubles", func=forest)
    conn.link_model_to_app("ab", "tree")
    return conn


def _predict_batch(conn: ClipperConnection, inputs: list[list[float]]) -> list[dict[str, Any]]:
    r = requests.post(f"http://{conn.get_query_addr()}/ab/predict", json={"input_batch": inputs}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["batch_predictions"]


def test_ab_split_then_exp3_through_the_client(two_models: ClipperConnection, poll, rng: random.Random) -> None:
    conn = two_models
    # The original's rule holds until a selection policy is set.
    with pytest.raises(ClipperException, match="A model with name tree is already linked"):
        conn.link_model_to_app("ab", "forest")
    conn.set_model_weights("ab", {"tree": 90, "forest": 10})  # switches to ABSplitPolicy
    conn.link_model_to_app("ab", "forest")  # now a second link is allowed
    info = conn.get_selection_policy("ab")
    assert info["policy"] == "ABSplitPolicy" and info["params"] == {"weights": {"tree": 90.0, "forest": 10.0}}
    assert info["linked_models"] == ["forest", "tree"]

    def served_models() -> list[str]:
        preds = _predict_batch(conn, [[rng.uniform(-1, 1)] for _ in range(500)])
        return [p["model"] for p in preds if not p["default"]]

    served = poll(lambda: (s := served_models()) and len(s) == 500 and s, what="both models answering")
    share = served.count("tree") / len(served)
    assert abs(share - 0.9) < 4 * math.sqrt(0.09 / len(served)), share  # 4 sigma: 0.054

    conn.set_selection_policy("ab", "Exp3Policy", {"gamma": 0.1, "seed": 3})
    poll(lambda: _predict_batch(conn, [[0.5], [0.6]])[0]["model"] in ("tree", "forest"), what="Exp3 live")
    for _ in range(200):
        x = rng.uniform(-1, 1)
        label = 1.0 if x > 0 else 0.0
        r = requests.post(f"http://{conn.get_query_addr()}/ab/update",
                          json={"uid": 0, "input": [x], "label": label}, timeout=30)
        assert r.text == "Feedback received? 1"
    state = conn.get_selection_policy("ab")["state"]
    assert state["logw:forest"] > state["logw:tree"] + 1.0


def test_selection_arguments_are_validated_locally(conn: ClipperConnection) -> None:
    with pytest.raises(ClipperException, match="policy must be one of"):
        conn.set_selection_policy("x", "Greedy")
    with pytest.raises(ClipperException, match=r"params.gamma must be in \(0.0, 1.0\]"):
        conn.set_selection_policy("x", "Exp3Policy", {"gamma": 5})
    with pytest.raises(ClipperException, match="weights must be a non-empty dict"):
        conn.set_model_weights("x", {})
    with pytest.raises(ClipperException, match="No app with name 'x' exists"):
        conn.set_selection_policy("x", "Exp3Policy")
    with pytest.raises(ClipperException, match="No application with name 'x' exists"):
        conn.get_selection_policy("x")
