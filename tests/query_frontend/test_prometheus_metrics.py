"""``/metrics/prometheus``: labelled histograms and counters that count real queries, whatever the names.

Every page is parsed with prometheus_client's own parser (which rejects an
invalid page), under applications and models whose names are not valid in
metric names. Defaults by reason are in test_default_reasons.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from typing import Any
from urllib.parse import quote

from prometheus_client.parser import text_string_to_metric_families

from query_frontend.meters import Buckets, Histogram
from query_frontend.metrics import LATENCY_BOUNDS_MICROS, MetricsRegistry
from query_frontend.server import QueryFrontend
from query_frontend.settings import QueryFrontendSettings
from tests.query_frontend.conftest import RunningFrontend

ODD_APPS = ["Bad App", 'quo"te', "back\\slash", "ünïcode", "new\nline"]
ODD_MODEL = 'bad "model"\\1 ü'

Families = dict[str, Any]


async def scrape(url: str, session: Any) -> Families:
    async with session.get(f"{url}/metrics/prometheus") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = await resp.text()
    families = list(text_string_to_metric_families(text))  # raises on an invalid page
    names = [f.name for f in families]
    assert len(set(names)) == len(names), "a family appears twice"
    return {f.name: f for f in families}


def samples(families: Families, family: str, sample: str, **labels: str) -> list[Any]:
    return [s for s in families[family].samples
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]


def value(families: Families, family: str, sample: str, **labels: str) -> float:
    found = [s for s in samples(families, family, sample, **labels) if set(s.labels) - {"le"} == set(labels)]
    assert len(found) == 1, (family, sample, labels, found)
    return float(found[0].value)


def buckets(families: Families, family: str, **labels: str) -> dict[float, float]:
    return {float(s.labels["le"]): float(s.value) for s in samples(families, family, family + "_bucket", **labels)}


async def test_histograms_count_every_query_under_odd_names(qf: RunningFrontend, cluster_state) -> None:
    cluster_state.add_model(ODD_MODEL, "1")
    for app in ODD_APPS:
        cluster_state.add_app(app, slo_micros=2_000_000)
        cluster_state.link(app, ODD_MODEL)
    for app in ODD_APPS:
        await qf.wait_app(app, lambda a: a.linked_models == [ODD_MODEL])
    c = qf.container(ODD_MODEL)
    await qf.wait_replicas(ODD_MODEL, "1", 1)
    queried = {}
    for i, app in enumerate(ODD_APPS):
        queried[app] = i + 1
        for j in range(i + 1):
            async with qf.session.post(f"{qf.url}/{quote(app, safe='')}/predict",
                                       json={"input": [float(j)]}) as resp:
                assert resp.status == 200 and not (await resp.json())["default"], app
    fam = await scrape(qf.url, qf.session)

    family = "clipper_query_latency_seconds"
    assert fam[family].type == "histogram"
    for app, n in queried.items():
        b = buckets(fam, family, app=app)
        assert list(b) == [x / 1e6 for x in LATENCY_BOUNDS_MICROS] + [math.inf]
        counts = list(b.values())
        assert counts == sorted(counts) and counts[-1] == n, (app, b)
        assert b[10.0] == n  # every query answered within 10 s
        assert value(fam, family, family + "_count", app=app) == n
        assert 0 < value(fam, family, family + "_sum", app=app) < n * 2.0
        assert value(fam, "clipper_app_predictions", "clipper_app_predictions_total", app=app) == n
        defaults = samples(fam, "clipper_app_default_predictions", "clipper_app_default_predictions_total", app=app)
        assert defaults and all(s.value == 0 for s in defaults)

    inputs = sum(len(batch) for batch in c.batches)
    mv = {"model": ODD_MODEL, "version": "1"}
    assert inputs == 5  # j = 0..4: the other queries were cache hits
    lat = "clipper_model_batch_latency_seconds"
    assert value(fam, lat, lat + "_count", **mv) == len(c.batches)
    size = "clipper_model_batch_size"
    assert value(fam, size, size + "_sum", **mv) == inputs
    assert buckets(fam, size, **mv)[math.inf] == len(c.batches)
    assert value(fam, "clipper_model_predictions", "clipper_model_predictions_total", **mv) == inputs
    assert value(fam, "clipper_model_failures", "clipper_model_failures_total", **mv) == 0
    lookups = sum(queried.values())
    assert value(fam, "clipper_model_cache_misses", "clipper_model_cache_misses_total", **mv) == inputs
    assert value(fam, "clipper_model_cache_hits", "clipper_model_cache_hits_total", **mv) == lookups - inputs
    assert value(fam, "clipper_prediction_cache_lookups", "clipper_prediction_cache_lookups_total") == lookups
    # The original exporter's names only where valid: none of these applications or this model has one.
    legacy = [n for n in fam if n.startswith(("app_", "model_"))]
    assert legacy == [], legacy
    assert "internal_prediction_cache_lookups_count" in fam


async def test_latency_lands_in_the_right_bucket(qf: RunningFrontend, cluster_state) -> None:
    cluster_state.add_app("slow", slo_micros=100_000)
    cluster_state.add_model("slow-model", "1")
    cluster_state.link("slow", "slow-model")
    await qf.wait_app("slow", lambda a: a.linked_models == ["slow-model"])
    qf.container("slow-model", delay_s=0.3)
    await qf.wait_replicas("slow-model", "1", 1)
    status, body = await qf.predict("slow", {"input": [1.0]})
    assert body["default"] is True
    await asyncio.sleep(0.4)  # the late answer arrives
    fam = await scrape(qf.url, qf.session)
    b = buckets(fam, "clipper_query_latency_seconds", app="slow")
    assert b[0.05] == 0 and b[0.25] == 1, b  # answered at the 100 ms SLO
    m = buckets(fam, "clipper_model_batch_latency_seconds", model="slow-model", version="1")
    assert m[0.25] == 0 and m[1.0] == 1, m  # the batch took 300 ms
    assert "app_slow_num_predictions_count" in fam and "model_slow_model_1_num_predictions_count" in fam


async def test_legacy_names_can_be_switched_off(qf_settings: QueryFrontendSettings, cluster_state) -> None:
    import aiohttp

    settings = dataclasses.replace(qf_settings, prometheus_legacy_names=False)
    frontend = QueryFrontend(settings)
    await frontend.start()
    try:
        async with aiohttp.ClientSession() as session:
            running = RunningFrontend.of(frontend, session)
            await asyncio.wait_for(frontend.sync.ready.wait(), 10)
            cluster_state.add_app("lonely", slo_micros=1_000_000)
            await running.wait_app("lonely")
            await running.predict("lonely", {"input": [1.0]})
            fam = await scrape(running.url, session)
    finally:
        await frontend.close()
    assert all(name.startswith("clipper_") for name in fam), sorted(fam)
    assert value(fam, "clipper_app_default_predictions", "clipper_app_default_predictions_total",
                 app="lonely", reason="no_connected_models") == 1


def test_bucket_bounds_are_inclusive_and_unknown_reasons_count() -> None:
    b = Buckets((1, 2, 4))
    for v in (0.5, 1, 1.5, 2, 4, 5):
        b.observe(v)
    assert b.cumulative() == [2, 4, 5, 6] and b.total == 14
    m = MetricsRegistry()
    am = m.app("a")
    am.record(100.0, None)
    am.record(100.5, "something_new")
    assert am.latency_counts[0] == 1 and am.latency_counts[1] == 1
    assert am.defaults == 1 and am.by_reason["something_new"] == 1 and am.count == 2
    text = m.prometheus_text()
    families = {f.name for f in text_string_to_metric_families(text)}
    assert "clipper_query_latency_seconds" in families


def test_reservoir_stays_uniform() -> None:
    """Algorithm L keeps every value with the same chance: each tenth of the stream fills a tenth."""
    h = Histogram("x", reservoir_size=2000)
    n = 200_000
    for i in range(n):
        h.insert(float(i))
    assert h.seen == n and len(h.samples) == 2000
    tenths = [0] * 10
    for v in h.samples:
        tenths[int(v * 10 // n)] += 1
    assert all(140 <= t <= 260 for t in tenths), tenths  # 200 expected, sd ~13
