"""The dashboard's routes, data and series, on a real management frontend, Redis and HTTP.

The query frontend is stood in for by a small aiohttp app serving fixed
``/metrics`` pages (the browser test runs the real one), so the rates the
ring computes can be checked exactly.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import json
import socket
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from clipper_protocol import dashboard_api as api
from clipper_protocol.redis_schema import ContainerRecord, RedisDB, container_key
from management_frontend import dashboard_page
from management_frontend.dashboard_openapi import dashboard_schemas
from management_frontend.dashboard_scrape import AppSample, ModelSample, Sample, parse_prometheus
from management_frontend.dashboard_series import SeriesRing
from management_frontend.openapi import _schemas, openapi_document

TOKEN = "dashboard-test-token-0123"
REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "management_frontend" / "dashboard_assets"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- the page


async def test_page_and_files_are_open_and_self_contained(make_settings, admin_factory) -> None:
    secured = await admin_factory(make_settings(admin_token=TOKEN))
    async with secured.http.get("/dashboard") as r:
        page = await r.text()
        assert r.status == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert 'data-url="admin/dashboard_data"' in page
    for src in ('src="dashboard/uPlot.iife.min.js?v=', 'src="dashboard/dashboard.js?v=',
                'href="dashboard/uPlot.min.css?v='):
        assert src in page, src
    assert "http://" not in page and "https://" not in page  # nothing outside the cluster
    async with secured.http.get("/dashboard/uPlot.iife.min.js", headers={"Accept-Encoding": "identity"}) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert await r.read() == (ASSETS / "uPlot.iife.min.js").read_bytes()
    assert (await secured.get("/dashboard/missing.js")).status == 404
    assert (await secured.get("/dashboard/")).text == page  # redirected to the page
    assert (await secured.get("/admin/dashboard_data")).status == 401  # the data keeps the token


def test_vendored_files_match_their_record_and_ship_in_the_package() -> None:
    source = (ASSETS / "SOURCE.txt").read_text()
    assert f"uplot@{dashboard_page.UPLOT_VERSION}" in source
    for line in source.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 64:
            digest, name = parts
            assert hashlib.sha256((ASSETS / Path(name).name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (ASSETS / "LICENSE").read_text()
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for name in dashboard_page.FILES:
        assert (ASSETS / name).is_file(), name
        assert any(fnmatch.fnmatch(f"dashboard_assets/{name}", p) for p in patterns["management_frontend"]), name


# ---------------------------------------------------------------- the data


@pytest.mark.parametrize("header", ["X-Clipper-Token", "Authorization"])
async def test_data_needs_the_token_when_one_is_set(make_settings, admin_factory, header) -> None:
    secured = await admin_factory(make_settings(admin_token=TOKEN, query_frontend_url=""))
    async with secured.http.get("/admin/dashboard_data") as r:
        assert r.status == 401 and TOKEN not in await r.text()
    value = TOKEN if header == "X-Clipper-Token" else f"Bearer {TOKEN}"
    async with secured.http.get("/admin/dashboard_data", headers={header: value}) as r:
        assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
        assert api.DashboardData.from_json(await r.json()).query_frontend.error == "query_frontend_url is not set"


async def test_data_shows_the_redis_state_while_the_query_frontend_is_down(make_settings, admin_factory,
                                                                           rdb) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    admin = await admin_factory(make_settings(query_frontend_url=url))
    assert (await admin.add_app("shop", slo=20000)).status == 200
    assert (await admin.add_model("ranker", "1")).status == 200
    assert (await admin.add_model("ranker", "2", batch_size=8)).status == 200
    assert (await admin.link("shop", "ranker")).status == 200
    record = ContainerRecord("ranker", "2", 3, 0, "doubles", 8, "qf-1")
    rdb(RedisDB.CONTAINERS).hset(container_key("ranker", "2", 3), mapping=record.to_hash())

    data = api.DashboardData.from_json(json.loads((await admin.get("/admin/dashboard_data")).text))
    (app,) = data.applications
    assert (app.name, app.latency_slo_micros, app.linked_models) == ("shop", 20000,
                                                                    [api.LinkedModel("ranker", "2")])
    v1, v2 = data.models
    assert (v1.version, v1.current, v1.replicas) == ("1", False, [])
    assert (v2.version, v2.current, v2.batch_size) == ("2", True, 8)
    assert v2.replicas == [api.ReplicaOverview(3, api.REPLICA_CONNECTED, 8, "qf-1")]
    qf = data.query_frontend
    assert qf.url == url and not qf.reachable and qf.sampled_at is None
    assert qf.error is not None and url in qf.error
    assert data.monitoring is None and data.series.t == []


# ---------------------------------------------------------------- sampling a frontend


PROM = """# HELP clipper_app_predictions_total Queries answered, by application.
# TYPE clipper_app_predictions_total counter
clipper_app_predictions_total{{app="we \\"q\\""}} {n}
clipper_app_default_predictions_total{{app="we \\"q\\"",reason="slo"}} {slo}
clipper_app_default_predictions_total{{app="we \\"q\\"",reason="queue_full"}} 0
clipper_model_predictions_total{{model="m",version="1"}} {n}
clipper_model_batch_size_bucket{{model="m",version="1",le="+Inf"}} {batches}
clipper_model_batch_size_sum{{model="m",version="1"}} {n}
clipper_model_batch_size_count{{model="m",version="1"}} {batches}
clipper_model_cache_hits_total{{model="m",version="1"}} {hits}
clipper_model_cache_misses_total{{model="m",version="1"}} {misses}
clipper_model_replicas{{model="m",version="1"}} 2.0
clipper_prediction_cache_lookups_total {n}
clipper_prediction_cache_hits_total {hits}
"""


@pytest.fixture
async def fake_frontend() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A stand-in query frontend whose counters the test sets; counts the scrapes."""
    state: dict[str, Any] = {"n": 0, "slo": 0, "batches": 0, "hits": 0, "misses": 0, "scrapes": 0}

    async def prometheus(request: web.Request) -> web.Response:
        state["scrapes"] += 1
        await asyncio.sleep(0.05)  # lets concurrent polls overlap
        return web.Response(text=PROM.format(**state))

    async def metrics(request: web.Request) -> web.Response:
        histograms = [{'app:we "q":prediction_latency': {"unit": "microseconds", "size": "10", "p50": "1500",
                                                          "p95": "4000", "p99": "9000.0"}}]
        return web.json_response({"counters": [], "ratio_counters": [], "meters": [], "histograms": histograms})

    app = web.Application()
    app.router.add_get("/metrics/prometheus", prometheus)
    app.router.add_get("/metrics", metrics)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")), state
    await server.close()


async def test_ring_turns_counters_into_rates(fake_frontend) -> None:
    url, state = fake_frontend
    now = [100.0]
    ring = SeriesRing(url, capacity=3, interval_s=1.0, clock=lambda: now[0])
    try:
        await ring.maybe_sample()
        await asyncio.gather(ring.maybe_sample(), ring.maybe_sample())  # within the interval: no scrape
        assert state["scrapes"] == 1 and len(ring.samples) == 1
        state.update(n=100, slo=10, batches=25, hits=30, misses=70)
        now[0] += 1.0
        await asyncio.gather(ring.maybe_sample(), ring.maybe_sample())  # two pages polling: one scrape
        assert state["scrapes"] == 2
        series = ring.series()
    finally:
        await ring.close()
    dt = ring.samples[1].t - ring.samples[0].t
    (app,) = series.apps
    assert app.app == 'we "q"'  # label escapes undone
    assert app.throughput == [pytest.approx(100 / dt)]
    assert app.default_rate == [pytest.approx(0.1)]
    assert app.default_reasons == {"queue_full": [0.0], "slo": [pytest.approx(10 / dt)]}
    assert (app.latency_p50_ms, app.latency_p95_ms, app.latency_p99_ms) == ([1.5], [4.0], [9.0])
    (model,) = series.models
    assert model.batch_size == [4.0] and model.cache_hit_rate == [pytest.approx(0.3)]
    assert series.cache_hit_rate == [pytest.approx(0.3)]
    assert ring.status().reachable and ring.status().sampled_at == ring.samples[1].t


def _sample(t: float, n: float, error: str | None = None) -> Sample:
    if error is not None:
        return Sample(t, error=error)
    return Sample(t, apps={"a": AppSample(predictions=n, defaults={"slo": n / 2})},
                  models={("m", "1"): ModelSample(predictions=n)})


def test_gaps_and_counter_resets_are_null_and_the_ring_is_bounded() -> None:
    ring = SeriesRing("http://unused", capacity=4)
    for t, n, error in [(0, 0, None), (1, 10, None), (2, 0, "down"), (3, 5, None), (4, 2, None), (5, 6, None)]:
        ring.add(_sample(float(t), float(n), error))
    series = ring.series()
    assert series.t == [2.0, 3.0, 4.0, 5.0]  # capacity points: the first sample fell out
    (app,) = series.apps
    # 1->2 gap, 2->3 after the gap, 3->4 counter went down (frontend restarted), 4->5 a real rate
    assert app.throughput == [None, None, None, 4.0]
    assert app.default_reasons["slo"] == [None, None, None, 2.0]
    assert app.default_rate == [None, None, None, 0.5]
    assert series.models[0].throughput == [None, None, None, 4.0]
    assert ring.status().reachable


def test_prometheus_text_parsing() -> None:
    families = parse_prometheus('x{a="b\\\\c",d="e\\nf"} 1.5\n# HELP x y\ny 2\nz{a="1"} NaN\nbroken\n')
    assert families["x"] == [({"a": "b\\c", "d": "e\nf"}, 1.5)]
    assert families["y"] == [({}, 2.0)]
    assert "broken" not in families


# ---------------------------------------------------------------- the contract


def test_openapi_describes_the_dashboard_from_its_dataclasses() -> None:
    doc = openapi_document()
    for path in (api.DASHBOARD_PATH, api.DASHBOARD_ASSET_PATH, api.DASHBOARD_DATA_PATH):
        assert "get" in doc["paths"][path], path
    assert "401" in doc["paths"][api.DASHBOARD_DATA_PATH]["get"]["responses"]
    assert doc["paths"][api.DASHBOARD_PATH]["get"]["security"] == []
    schemas = doc["components"]["schemas"]
    assert not set(dashboard_schemas()) & set(_schemas())  # no admin schema is overwritten
    for cls in (api.DashboardData, api.TimeSeries, api.AppSeries, api.ModelSeries, api.ModelVersionOverview):
        assert list(schemas[cls.__name__]["properties"]) == list(cls.__dataclass_fields__), cls


def test_data_round_trips_through_json(rng) -> None:
    ring = SeriesRing("http://unused")
    for t in range(3):
        ring.add(_sample(float(t), float(t * rng.randint(1, 9))))
    data = api.DashboardData(
        generated_at=1.0, query_frontend=ring.status(), applications=[
            api.AppOverview("a", "doubles", "-1", 100, "DefaultOutputSelectionPolicy", [api.LinkedModel("m", None)])],
        models=[], series=ring.series(), monitoring={})
    doc = json.loads(json.dumps(data.to_json()))
    assert api.DashboardData.from_json(doc) == data


def test_query_frontend_url_setting_is_checked(capsys) -> None:
    from management_frontend.settings import load_settings

    assert load_settings(["--query_frontend_url=http://qf:1337"], {}).query_frontend_url == "http://qf:1337"
    assert load_settings([], {"CLIPPER_MGMT_QUERY_FRONTEND_URL": "https://qf"}).query_frontend_url == "https://qf"
    assert load_settings(["--query_frontend_url="], {}).query_frontend_url == ""
    with pytest.raises(SystemExit) as exit_info:
        load_settings(["--query_frontend_url=qf:1337"], {})
    assert exit_info.value.code == 2
    assert "'qf:1337' is not an http:// or https:// URL" in capsys.readouterr().err
