"""REST contract of the query frontend: input typing, error bodies, metrics, feedback."""

from __future__ import annotations

import asyncio
import base64
import struct

import orjson
import pytest

from tests.query_frontend.conftest import RunningFrontend, eventually


@pytest.fixture
async def typed_apps(qf: RunningFrontend, cluster_state):
    for t in ("doubles", "floats", "integers", "strings", "bytes"):
        cluster_state.add_app(f"app-{t}", input_type=t, slo_micros=1_000_000)
        await qf.wait_app(f"app-{t}")
    return qf


@pytest.mark.parametrize(
    "input_type, value, code, packed",
    [
        ("doubles", [1.5, -2.0], 3, struct.pack("<2d", 1.5, -2.0)),
        ("floats", [1.5, 2.25], 2, struct.pack("<2f", 1.5, 2.25)),
        # Integers the type holds exactly are accepted for doubles and floats (a deliberate difference).
        ("doubles", [1, -2, 2**53], 3, struct.pack("<3d", 1.0, -2.0, 2.0**53)),
        ("floats", [3, 1.5, -(2**24)], 2, struct.pack("<3f", 3.0, 1.5, -(2.0**24))),
        ("integers", [1, -7, 2**31 - 1], 1, struct.pack("<3i", 1, -7, 2**31 - 1)),
        ("strings", "héllo", 4, "héllo".encode()),
        ("bytes", base64.b64encode(b"\x00\xffab").decode(), 0, b"\x00\xffab"),
    ],
)
async def test_each_input_type_reaches_the_container_packed(
    qf: RunningFrontend, cluster_state, input_type, value, code, packed
) -> None:
    cluster_state.add_app("app", input_type=input_type, slo_micros=1_000_000)
    cluster_state.add_model("m", "1", input_type=input_type)
    cluster_state.link("app", "m")
    await qf.wait_app("app", lambda a: a.linked_models == ["m"])
    c = qf.container("m", input_type_code=code, behaviour=lambda xs: [b'{"n": %d}' % len(x) for x in xs])
    await qf.wait_replicas("m", "1", 1)
    status, body = await qf.predict("app", {"input": value})
    assert status == 200, body
    assert c.batches == [[packed]]
    assert body["output"] == {"n": len(packed)}


@pytest.mark.parametrize(
    "app, body, fragment",
    [
        ("app-doubles", b"{not json", "Error parsing JSON: JSON parse error"),
        ("app-doubles", b"[1, 2]", "Can only get key-value pair from an object"),
        ("app-doubles", b"{}", "JSON object does not have required keys input or input_batch"),
        ("app-doubles", b'{"input": [1.5, true]}', "Array input of type True is not of type double"),
        ("app-doubles", b'{"input": [9007199254740993]}', "The integer 9007199254740993 in JSON key input is not "
                                                          "exactly representable as a double; send it as a number "
                                                          "with a decimal point"),
        ("app-floats", b'{"input": [16777217]}', "not exactly representable as a float"),
        ("app-doubles", b'{"input": "x"}', "Type mismatch! JSON key input expected type Arraybut found type String"),
        ("app-doubles", b'{"input": []}', "empty array"),
        ("app-floats", b'{"input": [1e300]}', "32-bit float"),
        ("app-integers", b'{"input": [1.0]}', "Array input of type Number is not of type int: an integers "
                                              "application takes whole numbers written without a decimal point"),
        ("app-integers", b'{"input": [4294967296]}', "does not fit a 32-bit int"),
        ("app-integers", b'{"input": [true]}', "Array input of type True is not of type int"),
        ("app-strings", b'{"input": ["a"]}', "Type mismatch! JSON key input expected type Stringbut found type Array"),
        ("app-bytes", b'{"input": "%%%"}', "not valid base64"),
        ("app-doubles", b'{"input_batch": [[1.0], 3]}', "Type mismatch! JSON key input_batch expected type Array"),
        ("app-doubles", b'{"input": [1.0], "version": 3}', "JSON key version expected type String"),
    ],
)
async def test_bad_input_gets_400_with_the_reason(typed_apps: RunningFrontend, app, body, fragment) -> None:
    status, resp = await typed_apps.predict(app, body)
    assert status == 400
    assert resp["error"] == "Json error"
    assert fragment in resp["cause"]
    assert "Expected JSON schema" in resp["cause"]


async def test_version_on_unlinked_app_is_a_clear_error(typed_apps: RunningFrontend) -> None:
    status, resp = await typed_apps.predict("app-doubles", {"input": [1.0], "version": "1"})
    assert status == 400 and resp["error"] == "Query processing error"


async def test_unknown_routes_and_methods(qf: RunningFrontend) -> None:
    async with qf.session.get(f"{qf.url}/nope/predict") as resp:
        assert resp.status == 405
        assert (await resp.json())["error"] == "Method not allowed"
    async with qf.session.post(f"{qf.url}/a/b/c") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"] == "Not found"
    status, body = await qf.predict("ghost", {"input": [1.0]})
    assert status == 404 and "ghost" in body["cause"]


async def test_oversized_bodies_and_batches_are_refused(qf_settings, typed_apps: RunningFrontend) -> None:
    too_many = {"input_batch": [[1.0]] * (qf_settings.max_batch_inputs + 1)}
    status, body = await typed_apps.predict("app-doubles", too_many)
    assert status == 413
    huge = b'{"input": "' + b"a" * (qf_settings.max_body_bytes + 1) + b'"}'
    status, body = await typed_apps.predict("app-strings", huge)
    assert status == 413 and body["error"] == "Request too large"


async def test_trailing_slash_route(typed_apps: RunningFrontend) -> None:
    async with typed_apps.session.post(f"{typed_apps.url}/app-doubles/predict/", json={"input": [1.0]}) as resp:
        assert resp.status == 200
        assert (await resp.json())["default"] is True


async def test_feedback_endpoint(typed_apps: RunningFrontend) -> None:
    url = f"{typed_apps.url}/app-doubles/update"
    async with typed_apps.session.post(url, json={"uid": 0, "input": [1.0], "label": 1.0}) as resp:
        assert resp.status == 200
        assert await resp.text() == "Feedback received? 1"
    async with typed_apps.session.post(url, json={"uid": 0, "input": [1.0]}) as resp:
        assert resp.status == 400
        assert "label" in (await resp.json())["cause"]
    # The user id is optional (0 when absent) but must be a non-negative integer.
    async with typed_apps.session.post(url, json={"input": [1.0], "label": 0.0}) as resp:
        assert resp.status == 200
    for uid in ("7", -1, 1.5):
        async with typed_apps.session.post(url, json={"uid": uid, "input": [1.0], "label": 0.0}) as resp:
            assert resp.status == 400, uid
            assert "uid" in (await resp.json())["cause"]


async def test_predict_accepts_an_optional_uid(typed_apps: RunningFrontend) -> None:
    status, body = await typed_apps.predict("app-doubles", {"input": [1.0], "uid": 3})
    assert status == 200 and body["default"] is True
    status, body = await typed_apps.predict("app-doubles", {"input": [1.0], "uid": "3"})
    assert status == 400 and "uid" in body["cause"]


async def test_metrics_report_and_prometheus_text(qf: RunningFrontend, cluster_state) -> None:
    cluster_state.add_app("app", slo_micros=1_000_000)
    cluster_state.add_model("m", "1")
    cluster_state.link("app", "m")
    await qf.wait_app("app", lambda a: a.linked_models == ["m"])
    qf.container("m")
    await qf.wait_replicas("m", "1", 1)
    for i in range(3):
        await qf.predict("app", {"input": [float(i)]})
    await qf.predict("app", {"input": [0.0]})
    async with qf.session.get(f"{qf.url}/metrics") as resp:
        report = await resp.json()
    # The original's four keys, and statistical monitoring's (tests/query_frontend/test_monitoring.py).
    assert set(report) == {"counters", "ratio_counters", "meters", "histograms", "monitoring"}
    counters = {k: v for d in report["counters"] for k, v in d.items()}
    assert counters["app:app:num_predictions"] == {"count": "4"}
    assert counters["model:m:1:num_predictions"] == {"count": "3"}
    assert counters["internal:prediction_cache_lookups"] == {"count": "4"}
    hist = {k: v for d in report["histograms"] for k, v in d.items()}
    assert hist["app:app:prediction_latency"]["unit"] == "microseconds"
    assert hist["app:app:prediction_latency"]["size"] == "4"
    assert hist["model:m:1:batch_size"]["unit"] == "queries"
    ratios = {k: v for d in report["ratio_counters"] for k, v in d.items()}
    assert ratios["app:app:default_prediction_ratio"] == {"ratio": "0"}
    meters = {k: v for d in report["meters"] for k, v in d.items()}
    assert meters["app:app:prediction_throughput"]["unit"] == "events per second"
    async with qf.session.get(f"{qf.url}/metrics", headers={"Accept": "text/plain"}) as resp:
        text = await resp.text()
    assert "app_app_num_predictions_count 4.0" in text
    assert 'clipper_app_predictions_total{app="app"} 4' in text
    assert "clipper_prediction_cache_hits_total 1" in text
    assert "internal_prediction_cache_hit_ratio_ratio 0.25" in text


async def test_ready_reflects_redis(qf: RunningFrontend) -> None:
    async with qf.session.get(f"{qf.url}/ready") as resp:
        assert resp.status == 200


async def test_openapi_document_describes_every_route(qf: RunningFrontend) -> None:
    async with qf.session.get(f"{qf.url}/openapi.json") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    handlers = qf.frontend.handlers
    served = (set(handlers.fixed_routes) | set(handlers.asset_routes)
              | {f"/{{app}}/{name}" for name in handlers.app_routes})
    assert set(doc["paths"]) == served
    for path, methods in handlers.fixed_routes.items():
        assert set(doc["paths"][path]) == {m.lower() for m in methods}
    # Every $ref resolves.
    refs = {v for v in _walk(doc) if isinstance(v, str) and v.startswith("#/components/schemas/")}
    assert refs and all(r.rsplit("/", 1)[1] in doc["components"]["schemas"] for r in refs)
    assert set(doc["components"]["schemas"]["Error"]["required"]) == {"error", "cause"}


def _walk(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)
    else:
        yield node


async def test_ready_lists_degraded_apps(qf: RunningFrontend, cluster_state) -> None:
    cluster_state.add_app("lonely", slo_micros=1_000_000)
    await qf.wait_app("lonely")
    async with qf.session.get(f"{qf.url}/ready") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["ready"] is True and "no model is linked" in body["degraded"]["lonely"]
    qf.frontend.begin_drain()
    async with qf.session.get(f"{qf.url}/ready") as resp:
        assert resp.status == 503
        assert await resp.json() == {"ready": False, "reason": "shutting down"}
        assert resp.headers.get("Connection", "").lower() == "close"


async def test_runtime_gauges_in_prometheus_text(qf: RunningFrontend) -> None:
    async with qf.session.get(f"{qf.url}/metrics/prometheus") as resp:
        text = await resp.text()
    for name in ("clipper_model_queue_max_length", "clipper_pending_predictions", "clipper_prediction_cache_bytes",
                 "clipper_http_connections", "clipper_asyncio_tasks", "clipper_inflight_batches",
                 "clipper_event_loop_lag_max_seconds", "clipper_event_loop_stalls"):
        assert f"\n{name} " in text, name


async def test_oversized_content_length_is_refused_unread(qf_settings, typed_apps: RunningFrontend) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", typed_apps.query_port)
    writer.write(b"POST /app-doubles/predict HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: %d\r\n\r\n" % (qf_settings.max_body_bytes + 1))
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    await writer.wait_closed()
    assert head.startswith(b"HTTP/1.1 413")


async def test_malformed_http_gets_a_json_error(qf: RunningFrontend) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", qf.query_port)
    writer.write(b"G\x00T /ready HTTP/1.1\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b" 400 " in head.split(b"\r\n", 1)[0] and b"application/json" in head
    doc = orjson.loads(body)
    assert doc["error"] == "Bad request" and "\x00" not in doc["cause"]
