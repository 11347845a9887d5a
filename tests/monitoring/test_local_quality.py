"""Statistical monitoring through a real local cluster: ClipperConnection and ``clipper quality``.

Redis, both frontends and a noop replica (it answers ``"1.0"``) run as
processes; the query frontend keeps windows of 300 samples and 20
feedbacks (its settings from the environment, as ``clipper start`` passes
them). The traffic: 300 seeded Gaussian inputs of 3 features (the
reference), then 300 with feature 0 shifted by 3 standard deviations, and
40 labels, 1 for the first 20 and alternating after (accuracy 1 in the
reference window, 0.5 in the recent one).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from clipper_admin import ClipperConnection
from clipper_admin.exceptions import ClipperException
from clipper_admin.local import LocalContainerManager
from tests.support.cluster import wait_for
from tests.test_cli import clipper_home, run  # noqa: F401 - clipper_home is a fixture

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

NOOP_IMAGE = "clipper/noop-container:develop"
APP = "quality-app"
CLUSTER = "quality"
WINDOW = 300
FEEDBACK_WINDOW = 20
FEATURES = 3


@pytest.fixture
def conn(tmp_path: Path, clipper_home: Path,  # noqa: F811 - the fixture
         monkeypatch: pytest.MonkeyPatch) -> Iterator[ClipperConnection]:
    for name, value in (("REFERENCE_SIZE", WINDOW), ("WINDOW_SIZE", WINDOW), ("MIN_WINDOW", 100),
                        ("FEEDBACK_WINDOW", FEEDBACK_WINDOW)):
        monkeypatch.setenv(f"CLIPPER_QF_MONITORING_{name}", str(value))
    cm = LocalContainerManager(cluster_name=CLUSTER, cluster_dir=tmp_path / "cluster", clipper_query_port=0,
                               clipper_management_port=0, clipper_rpc_port=0, redis_port=0, prometheus_port=None)
    connection = ClipperConnection(cm)
    connection.start_clipper()
    try:
        yield connection
    finally:
        connection.stop_all()


def send(conn: ClipperConnection, inputs: list[list[float]]) -> None:
    url = f"http://{conn.get_query_addr()}/{APP}/predict"
    for start in range(0, len(inputs), 100):
        r = requests.post(url, json={"input_batch": inputs[start:start + 100]}, timeout=30)
        assert r.status_code == 200 and not any(p["default"] for p in r.json()["batch_predictions"]), r.text


def feedback(conn: ClipperConnection, x: list[float], label: float) -> None:
    r = requests.post(f"http://{conn.get_query_addr()}/{APP}/update", json={"input": x, "label": label}, timeout=10)
    assert r.status_code == 200 and r.text == "Feedback received? 1", r.text


def quality(conn: ClipperConnection, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, "quality", *argv, "--cluster-name", CLUSTER, "--cluster-dir",
                         str(conn.cm.cluster_dir))  # type: ignore[attr-defined]
    assert code == 0, err
    return out


def without_time(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "updated_at"}


def test_quality_from_the_library_and_the_cli(conn: ClipperConnection, rng: random.Random,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    conn.register_application(APP, "doubles", "-1", 2_000_000)
    conn.deploy_model("noop", "1", "doubles", NOOP_IMAGE)
    conn.link_model_to_app(APP, "noop")
    url = f"http://{conn.get_query_addr()}/{APP}/predict"
    wait_for(lambda: requests.post(url, json={"input": [0.5] * FEATURES}, timeout=10).json().get("default") is False,
             timeout_s=30, what="the link to reach the query frontend", interval_s=0.1)
    conn.reset_reference_window(APP)  # the probes above are not part of the reference
    probes = conn.get_model_quality(APP)
    sampled, answered = probes["sampled"], probes["models"][0]["answers"]  # the probes: lifetime counts

    reference = [[rng.gauss(0, 1) for _ in range(FEATURES)] for _ in range(WINDOW)]
    send(conn, reference)
    shifted = [[rng.gauss(0, 1) + (3.0 if j == 0 else 0.0) for j in range(FEATURES)] for _ in range(WINDOW)]
    send(conn, shifted)
    labelled = shifted[-2 * FEEDBACK_WINDOW:]  # still in the prediction cache
    for i, x in enumerate(labelled):
        feedback(conn, x, 1.0 if i < FEEDBACK_WINDOW or i % 2 else 0.0)

    report = conn.get_model_quality(APP)
    assert report["app"] == APP and report["input_type"] == "doubles" and report["sampled"] == sampled + 2 * WINDOW
    assert report["reference"]["complete"] is True and report["reference"]["reason"] == "reset"
    features = {f["feature"]: f for f in report["features"]}
    assert list(features) == ["0", "1", "2"]
    assert features["0"]["psi"] > 1.0 and features["0"]["ks"] > 0.6, features["0"]
    assert features["1"]["psi"] < 0.5 and features["2"]["psi"] < 0.5, features
    assert report["defaults"]["rate"]["recent"] == 0.0 and report["feedback_unmatched"] == 0
    (model,) = report["models"]
    assert (model["model"], model["version"], model["answers"]) == ("noop", "1", answered + 2 * WINDOW)
    assert model["outputs"]["kind"] == "numeric" and model["outputs"]["psi"] < 0.01  # always "1.0"
    q = model["quality"]
    assert q["kind"] == "classifier" and q["feedback"] == 2 * FEEDBACK_WINDOW
    assert q["accuracy"] == {"recent": 0.5, "reference": 1.0, "lifetime": 0.75}

    assert without_time(json.loads(quality(conn, capsys, APP, "--json"))) == without_time(report)
    table = quality(conn, capsys, APP)
    assert f"application {APP} (doubles): {sampled + 2 * WINDOW} queries sampled (1 in 1)" in table
    rows = {line.split()[0]: line.split() for line in table.splitlines() if line.strip()}
    assert rows["FEATURE"] == ["FEATURE", "PSI", "KS", "REF_MEAN", "RECENT_MEAN", "REF_STD", "RECENT_STD"]
    assert float(rows["0"][1]) > 1.0 and float(rows["0"][4]) > 2.0
    assert rows["noop"][1:] == ["1", str(answered + 2 * WINDOW), "0.000", "classifier", "40", "0.500", "1.000", "0.750"]
    assert "default outputs: recent 0.000, reference 0.000, lifetime 0.000" in table

    # After a retrain the shifted traffic is the new normal: a reset measures against it.
    out = quality(conn, capsys, APP, "--reset")
    assert out.startswith(f"Started new reference windows for {APP}")
    after = conn.get_model_quality(APP)
    assert after["reference"]["size"] == 0 and after["reference"]["reason"] == "reset"
    assert all(f["psi"] is None for f in after["features"])
    assert after["models"][0]["quality"]["accuracy"]["reference"] is None
    send(conn, [[rng.gauss(0, 1) + (3.0 if j == 0 else 0.0) for j in range(FEATURES)] for _ in range(2 * WINDOW)])
    features = {f["feature"]: f for f in conn.get_model_quality(APP)["features"]}
    assert features["0"]["psi"] < 0.5 and features["0"]["reference"]["mean"] > 2.5, features["0"]
    answer = json.loads(quality(conn, capsys, APP, "--reset", "--json"))
    assert answer["app"] == APP and answer["reset"] is True and answer["started_at"] > after["reference"]["started_at"]


def test_unknown_application_and_bad_names(conn: ClipperConnection, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ClipperException, match="No application named 'nope' is registered"):
        conn.get_model_quality("nope")
    with pytest.raises(ClipperException, match="No application named 'nope' is registered"):
        conn.reset_reference_window("nope")
    with pytest.raises(ClipperException, match="app_name must be a non-empty string"):
        conn.get_model_quality("")
    code, out, err = run(capsys, "quality", "nope", "--cluster-name", CLUSTER, "--cluster-dir",
                         str(conn.cm.cluster_dir))  # type: ignore[attr-defined]
    assert code == 1 and out == ""
    assert err == "clipper: error: No application named 'nope' is registered with Clipper\n"
