"""A prediction cascade on a real local cluster: two scikit-learn models through ClipperConnection.

A LogisticRegression answers first, a RandomForestClassifier second, on
scikit-learn's digits; both closures answer ``{"output", "confidence"}``
(the class and its predict_proba). With an SLO far above both models'
latency, which stage answers each query is known in advance from the
regression's own probabilities, so the test compares exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

pytest.importorskip("sklearn")

from bench.cascade import CHEAP, COSTLY, deploy, digits_split, train  # noqa: E402
from clipper_admin import ClipperConnection, ClipperException  # noqa: E402
from clipper_admin.local import LocalContainerManager  # noqa: E402
from tests.support.cluster import wait_for  # noqa: E402

pytestmark = pytest.mark.timeout(300)

THRESHOLD = 0.95
ROWS = 120


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClipperConnection]:
    manager = LocalContainerManager(
        cluster_name="cascade", clipper_query_port=0, clipper_management_port=0, clipper_rpc_port=0,
        redis_port=0, prometheus_port=None, cluster_dir=tmp_path_factory.mktemp("local") / "cluster",
    )  # fmt: skip
    connection = ClipperConnection(manager)
    connection.start_clipper()
    try:
        yield connection
    finally:
        connection.stop_all(graceful=False)


def admin(conn: ClipperConnection, body: dict[str, object]) -> requests.Response:
    return requests.post(f"http://{conn.cm.get_admin_addr()}/admin/set_selection_policy", json=body, timeout=10)


def test_cascade_of_a_regression_and_a_forest(conn: ClipperConnection) -> None:
    x_train, x_test, y_train, y_test = digits_split()
    cheap, costly = train(x_train, y_train, trees=50)
    deploy(conn, cheap, costly)
    conn.register_application("digits", "doubles", "-1", 20_000_000)
    conn.link_model_to_app("digits", CHEAP)

    # Bad configurations are refused naming the field, by the client and by the REST API.
    with pytest.raises(ClipperException, match=r"params.stages\[0\].threshold is missing"):
        conn.set_selection_policy("digits", "CascadePolicy", {"stages": [{"model": CHEAP}, {"model": COSTLY}]})
    r = admin(conn, {"app_name": "digits", "policy": "CascadePolicy",
                     "params": {"stages": [{"model": CHEAP, "threshold": 2}, {"model": COSTLY}]}})
    assert r.status_code == 400 and "params.stages[0].threshold must be in [0.0, 1.0], got 2" in r.text
    r = admin(conn, {"app_name": "digits", "policy": "CascadePolicy",
                     "params": {"stages": [{"model": CHEAP, "threshold": 0.9}, {"model": "nope"}]}})
    assert r.status_code == 400 and "params.stages[1].model names model 'nope', which does not exist" in r.text

    stages = [{"model": CHEAP, "threshold": THRESHOLD}, {"model": COSTLY}]
    conn.set_selection_policy("digits", "CascadePolicy", {"stages": stages})
    conn.link_model_to_app("digits", COSTLY)
    info = conn.get_selection_policy("digits")
    assert info["policy"] == "CascadePolicy" and info["params"] == {"stages": stages}
    assert info["linked_models"] == sorted([CHEAP, COSTLY])

    rows = x_test[:ROWS]
    url = f"http://{conn.get_query_addr()}/digits/predict"

    def answers() -> list[dict]:
        r = requests.post(url, json={"input_batch": rows.tolist()}, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()["batch_predictions"]

    # The frontend sees the policy and the second link a moment after the calls return.
    preds = wait_for(lambda: (p := answers()) and all("stage" in a for a in p) and
                     any(a["stage"] == 1 for a in p) and p, timeout_s=30, what="the cascade serving")
    confident = cheap.predict_proba(rows).max(axis=1) >= THRESHOLD
    assert 0 < confident.sum() < ROWS
    assert [a["stage"] for a in preds] == [0 if c else 1 for c in confident]
    assert [a["model"] for a in preds] == [CHEAP if c else COSTLY for c in confident]
    assert not any(a["default"] for a in preds)
    expected = np.where(confident, cheap.predict(rows), costly.predict(rows))
    assert [a["output"] for a in preds] == expected.tolist()
    assert all(a["confidence"] >= THRESHOLD for a, c in zip(preds, confident) if c)
    accuracy = float(np.mean(np.asarray([a["output"] for a in preds]) == y_test[:ROWS]))
    assert accuracy >= 0.9
