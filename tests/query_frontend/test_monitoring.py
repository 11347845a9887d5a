"""Statistical monitoring end to end: real Redis, a real query frontend, ZeroMQ frame containers.

Small windows (reference and recent of 500 samples, drift from 50) keep the
tests short; inputs are drawn from seeded generators, and every figure is
read over REST (``GET /<app>/monitoring``, ``GET /metrics``, the Prometheus
page), each read taking in what was sampled before it.
"""

from __future__ import annotations

import dataclasses
import random
import struct
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from clipper_protocol import monitoring_api as mapi
from query_frontend.metrics import MetricsRegistry
from query_frontend.prometheus import PrometheusPage
from query_frontend.settings import QueryFrontendSettings
from tests.query_frontend.conftest import RunningFrontend

WINDOW = 500
FEATURES = 4


@pytest.fixture
def qf_settings(qf_settings: QueryFrontendSettings) -> QueryFrontendSettings:
    # A long interval: figures change only when a read takes samples in, never in between.
    return dataclasses.replace(qf_settings, monitoring_reference_size=WINDOW, monitoring_window_size=WINDOW,
                               monitoring_min_window=50, monitoring_feedback_window=100, monitoring_interval_s=3600)


def labelled(inputs: list[bytes]) -> list[bytes]:
    """A classifier of inputs ``[i, label]``: right unless ``i % 10 == 0``."""
    out = []
    for raw in inputs:
        i, label = struct.unpack("<2d", raw)
        out.append(str(int(label) if int(i) % 10 else 1 - int(label)).encode())
    return out


def lengths(inputs: list[bytes]) -> list[bytes]:
    return [str(len(x)).encode() for x in inputs]


async def setup(qf: RunningFrontend, cluster_state: Any, app: str = "app", model: str = "m", input_type: str = "doubles",
                **container: Any) -> None:
    cluster_state.add_app(app, input_type=input_type, slo_micros=2_000_000)
    cluster_state.add_model(model, "1", input_type=input_type)
    cluster_state.link(app, model)
    qf.container(model, **container)
    await qf.wait_app(app, lambda a: bool(a.linked_models))  # type: ignore[attr-defined]
    await qf.wait_replicas(model, "1", 1)


async def send(qf: RunningFrontend, inputs: list[Any], app: str = "app") -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = []
    for start in range(0, len(inputs), 100):
        status, body = await qf.predict(app, {"input_batch": inputs[start:start + 100]})
        assert status == 200, body
        answers += body["batch_predictions"] if "batch_predictions" in body else [body]
    return answers


def gaussian(rng: random.Random, n: int, shift: dict[int, float] | None = None) -> list[list[float]]:
    shift = shift or {}
    return [[rng.gauss(0, 1) + shift.get(j, 0.0) for j in range(FEATURES)] for _ in range(n)]


async def report(qf: RunningFrontend, app: str = "app") -> dict[str, Any]:
    async with qf.session.get(f"{qf.url}/{app}/monitoring") as r:
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
    mapi.AppMonitoring.from_json(body)  # the document has the protocol's shape
    return body


async def reset(qf: RunningFrontend, app: str = "app") -> dict[str, Any]:
    async with qf.session.post(f"{qf.url}/{app}/monitoring/reset") as r:
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
    return body


def drift(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["feature"]: f for f in body["features"]}


async def prometheus(qf: RunningFrontend) -> dict[str, Any]:
    async with qf.session.get(f"{qf.url}/metrics/prometheus") as r:
        text = await r.text()
    return {f.name: f for f in text_string_to_metric_families(text)}  # raises on an invalid page


def series(families: dict[str, Any], family: str, **labels: str) -> list[float]:
    return [s.value for s in families[family].samples if all(s.labels.get(k) == v for k, v in labels.items())]


async def test_input_drift_is_measured_against_the_reference(qf: RunningFrontend, cluster_state: Any,
                                                            rng: random.Random) -> None:
    await setup(qf, cluster_state)
    await send(qf, gaussian(rng, WINDOW))
    body = await report(qf)
    assert body["reference"]["size"] == WINDOW and body["reference"]["complete"] is True
    assert body["reference"]["reason"] == "start"
    assert body["sampled"] == WINDOW and body["window"] == 0
    assert all(f["psi"] is None for f in body["features"])  # nothing after the reference yet
    assert [f["feature"] for f in body["features"]] == ["0", "1", "2", "3"]

    await send(qf, gaussian(rng, WINDOW))
    same = drift(await report(qf))
    assert all(f["psi"] is not None and f["psi"] < 0.25 for f in same.values()), same
    assert all(f["ks"] < 0.2 for f in same.values()), same
    assert abs(same["0"]["recent"]["mean"]) < 0.3 and abs(same["0"]["reference"]["std"] - 1) < 0.2

    await send(qf, gaussian(rng, WINDOW, shift={2: 2.0}))
    shifted = drift(await report(qf))
    assert shifted["2"]["psi"] > 1.0 and shifted["2"]["ks"] > 0.5, shifted["2"]
    assert shifted["2"]["recent"]["mean"] > 1.5
    assert all(shifted[f]["psi"] < 0.25 for f in ("0", "1", "3")), shifted
    families = await prometheus(qf)
    assert series(families, "clipper_input_drift_psi", app="app", feature="2")[0] > 1.0
    assert len(series(families, "clipper_input_drift_psi", app="app")) == FEATURES
    assert series(families, "clipper_monitoring_sampled", app="app") == [3 * WINDOW]


async def test_reset_takes_a_new_reference(qf: RunningFrontend, cluster_state: Any, rng: random.Random) -> None:
    await setup(qf, cluster_state)
    await send(qf, gaussian(rng, WINDOW))
    await send(qf, gaussian(rng, WINDOW, shift={0: 3.0}))
    assert drift(await report(qf))["0"]["psi"] > 1.0
    answer = await reset(qf)
    assert answer["app"] == "app" and answer["reset"] is True
    body = await report(qf)
    assert body["reference"] == {"size": 0, "capacity": WINDOW, "complete": False,
                                 "started_at": answer["started_at"], "reason": "reset"}
    assert body["window"] == 0 and all(f["psi"] is None for f in body["features"])
    # The shifted traffic is the new normal: no drift against it.
    await send(qf, gaussian(rng, 2 * WINDOW, shift={0: 3.0}))
    after = drift(await report(qf))
    assert after["0"]["psi"] < 0.25 and after["0"]["reference"]["mean"] > 2.5, after["0"]


async def test_a_new_version_starts_new_references(qf: RunningFrontend, cluster_state: Any,
                                                   rng: random.Random) -> None:
    await setup(qf, cluster_state)
    await send(qf, gaussian(rng, WINDOW))
    assert (await report(qf))["reference"]["size"] == WINDOW
    cluster_state.add_model("m", "2")  # the current version is now 2
    qf.container("m", "2")
    await qf.wait_replicas("m", "2", 1)
    await qf.wait_app("app")
    body = await report(qf)
    assert body["reference"]["reason"] == "deploy" and body["reference"]["size"] == 0
    await send(qf, gaussian(rng, 10))
    body = await report(qf)
    assert {(m["model"], m["version"]) for m in body["models"]} == {("m", "1"), ("m", "2")}
    v2 = next(m for m in body["models"] if m["version"] == "2")
    assert v2["answers"] == 10 and v2["reference"]["size"] == 10


async def test_output_drift_follows_the_answers(qf: RunningFrontend, cluster_state: Any, rng: random.Random) -> None:
    await setup(qf, cluster_state)  # the model answers the sum of the input
    await send(qf, gaussian(rng, 2 * WINDOW))
    (model,) = (await report(qf))["models"]
    assert model["outputs"]["kind"] == "numeric" and model["outputs"]["psi"] < 0.25
    await send(qf, gaussian(rng, WINDOW, shift={1: 2.0}))
    (model,) = (await report(qf))["models"]
    assert (model["model"], model["version"]) == ("m", "1")
    assert model["outputs"]["psi"] > 0.5 and model["outputs"]["recent"]["mean"] > 1.5, model["outputs"]
    families = await prometheus(qf)
    assert series(families, "clipper_output_drift_psi", app="app", model="m", version="1")[0] > 0.5


async def test_classifier_accuracy_from_feedback(qf: RunningFrontend, cluster_state: Any) -> None:
    await setup(qf, cluster_state, behaviour=labelled)
    inputs = [[float(i), float(i % 2)] for i in range(150)]
    await send(qf, inputs)
    for x in inputs:
        async with qf.session.post(f"{qf.url}/app/update", json={"input": x, "label": x[1]}) as r:
            assert await r.text() == "Feedback received? 1"
    # Feedback for an input nobody asked about cannot be attributed.
    async with qf.session.post(f"{qf.url}/app/update", json={"input": [1e6, 1.0], "label": 1.0}) as r:
        assert r.status == 200
    body = await report(qf)
    assert body["feedback_unmatched"] == 1
    (model,) = body["models"]
    q = model["quality"]
    assert q["kind"] == "classifier" and q["feedback"] == 150 and q["non_numeric"] == 0
    # The window holds the last 100 feedbacks (i = 50..149): wrong for i % 10 == 0.
    assert q["accuracy"]["recent"] == pytest.approx(0.9)
    assert q["accuracy"]["reference"] == pytest.approx(0.9)  # the first 100
    assert q["accuracy"]["lifetime"] == pytest.approx(135 / 150)
    assert q["reference"]["complete"] is True
    assert sum(b["feedback"] for b in q["buckets"]) == 150
    families = await prometheus(qf)
    labels = {"app": "app", "model": "m", "version": "1"}
    assert series(families, "clipper_model_accuracy", **labels, window="lifetime") == [pytest.approx(0.9)]
    assert series(families, "clipper_model_feedback", **labels) == [150]
    assert "clipper_model_mean_absolute_error" not in families or not families[
        "clipper_model_mean_absolute_error"].samples


async def test_regressor_mean_absolute_error(qf: RunningFrontend, cluster_state: Any, rng: random.Random) -> None:
    await setup(qf, cluster_state)  # the sum of the input
    inputs = gaussian(rng, 60)
    await send(qf, inputs)
    for x in inputs:
        async with qf.session.post(f"{qf.url}/app/update", json={"input": x, "label": sum(x) + 0.5}) as r:
            assert r.status == 200
    (model,) = (await report(qf))["models"]
    q = model["quality"]
    assert q["kind"] == "regressor" and q["feedback"] == 60
    assert q["mae"]["recent"] == pytest.approx(0.5) and q["mae"]["lifetime"] == pytest.approx(0.5)
    assert q["mae"]["reference"] is None and q["reference"]["complete"] is False  # 60 of 100
    families = await prometheus(qf)
    assert series(families, "clipper_model_mean_absolute_error", app="app", window="recent") == [pytest.approx(0.5)]


async def test_default_rate_and_reasons(qf: RunningFrontend, cluster_state: Any, rng: random.Random) -> None:
    cluster_state.add_app("lonely", slo_micros=100_000)  # links no model: every answer is the default
    await qf.wait_app("lonely")
    await send(qf, gaussian(rng, WINDOW + 60), app="lonely")
    body = await report(qf, "lonely")
    assert body["defaults"]["rate"] == {"recent": 1.0, "reference": 1.0, "lifetime": 1.0}
    assert body["defaults"]["recent_reasons"] == {"no_connected_models": 1.0}
    assert body["defaults"]["lifetime_reasons"] == {"no_connected_models": WINDOW + 60}
    assert body["models"] == []
    families = await prometheus(qf)
    assert series(families, "clipper_default_rate", app="lonely", window="recent") == [1.0]
    assert series(families, "clipper_default_reason_share", app="lonely", reason="no_connected_models") == [1.0]


async def test_strings_are_tracked_by_length_and_kind(qf: RunningFrontend, cluster_state: Any,
                                                      rng: random.Random) -> None:
    await setup(qf, cluster_state, input_type="strings", input_type_code=4, behaviour=lengths)
    words = ["".join(rng.choice("abcdefgh") for _ in range(rng.randint(3, 9))) for _ in range(2 * WINDOW)]
    await send(qf, words)
    body = await report(qf)
    assert [f["feature"] for f in body["features"]] == ["length", "type_mix"]
    assert body["type_mix"]["ascii"] == {"recent": 1.0, "reference": 1.0, "lifetime": None}
    assert all(f["psi"] < 0.25 for f in body["features"]), body["features"]
    await send(qf, [f'{{"text": "{w}", "n": {i}}}' for i, w in enumerate(words[:WINDOW])])
    body = await report(qf)
    assert drift(body)["type_mix"]["psi"] > 1.0 and drift(body)["length"]["psi"] > 1.0
    assert body["type_mix"]["json"]["recent"] == 1.0 and body["type_mix"]["json"]["reference"] == 0.0


async def test_only_the_first_features_are_tracked(qf: RunningFrontend, cluster_state: Any) -> None:
    await setup(qf, cluster_state)
    await send(qf, [[float(i + j) for j in range(100)] for i in range(10)])
    body = await report(qf)
    assert body["features_seen"] == 100 and len(body["features"]) == 32


async def test_metrics_document_gains_a_monitoring_key(qf: RunningFrontend, cluster_state: Any,
                                                       rng: random.Random) -> None:
    await setup(qf, cluster_state)
    await send(qf, gaussian(rng, 5))
    async with qf.session.get(f"{qf.url}/metrics") as r:
        doc = await r.json()
    assert list(doc) == ["counters", "ratio_counters", "meters", "histograms", "monitoring"]
    assert doc["monitoring"]["app"]["sampled"] == 5
    mapi.AppMonitoring.from_json(doc["monitoring"]["app"])
    async with qf.session.get(f"{qf.url}/nope/monitoring") as r:
        assert r.status == 404 and "No application named 'nope'" in (await r.json())["cause"]
    async with qf.session.post(f"{qf.url}/app/monitoring") as r:
        assert r.status == 405 and r.headers["Allow"] == "GET"


async def test_monitoring_off(qf_settings: QueryFrontendSettings, cluster_state: Any) -> None:
    import aiohttp

    from query_frontend.server import QueryFrontend

    frontend = QueryFrontend(dataclasses.replace(qf_settings, monitoring=False))
    await frontend.start()
    try:
        session = aiohttp.ClientSession()
        qf = RunningFrontend.of(frontend, session)
        cluster_state.add_app("app")
        await qf.wait_app("app")
        await send(qf, [[1.0]])
        async with session.get(f"{qf.url}/metrics") as r:
            assert list(await r.json()) == ["counters", "ratio_counters", "meters", "histograms"]
        async with session.get(f"{qf.url}/app/monitoring") as r:
            assert r.status == 404 and "switched off" in (await r.json())["cause"]
        await session.close()
    finally:
        await frontend.close()


class _BrokenMonitoring:
    """A monitoring source with a defect: it writes half a family, then raises."""

    def json_report(self) -> dict[str, object]:
        raise RuntimeError("defect")

    def render_prometheus(self, page: PrometheusPage) -> None:
        page.head("gauge", "clipper_half_family", "written before the defect")
        raise RuntimeError("defect")


def test_a_monitoring_defect_leaves_the_server_metrics_readable(caplog: pytest.LogCaptureFixture) -> None:
    registry = MetricsRegistry()
    registry.app("a").record(1000.0, None)
    registry.monitoring = _BrokenMonitoring()
    doc = registry.json_document()
    assert "monitoring" not in doc and doc["counters"]
    text = registry.prometheus_text()
    assert "clipper_half_family" not in text
    assert list(text_string_to_metric_families(text))  # the page still parses
    assert sum("statistical monitoring failed" in r.message for r in caplog.records) == 2
