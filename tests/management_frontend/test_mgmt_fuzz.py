"""Row 10, for the admin API: hypothesis-generated bodies for every route
(wrong types, missing fields, huge strings, invalid UTF-8, deep nesting) are
always answered 4xx with a JSON content type, never 5xx, and the frontend
stays responsive. Also: the OpenAPI description lists every route."""

from __future__ import annotations

import json
from typing import Any

import orjson
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from management_frontend.http import ADMIN_PATHS
from management_frontend.openapi import POST_OPERATIONS, openapi_document
from tests.support.seeding import hypothesis_seed

POST_ROUTES = sorted(p for p in ADMIN_PATHS if p.removeprefix("/admin/") in POST_OPERATIONS)
FIELDS = ["name", "app_name", "model_name", "model_version", "model_names", "labels", "input_type",
          "default_output", "latency_slo_micros", "container_name", "model_data_path", "batch_size",
          "verbose", "replica_id", "uid"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63, max_value=2**80),
    st.floats(allow_nan=False), st.text(max_size=40), st.sampled_from(["", "doubles", "ints", "-1", "a,b", "x:y"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8), inner, max_size=4), max_leaves=12)
bodies = st.dictionaries(st.sampled_from(FIELDS), values, max_size=8)


def _nested(depth: int) -> bytes:
    return b'{"name":' * depth + b"1" + b"}" * depth


raw_bodies = st.one_of(
    bodies.map(lambda b: json.dumps(b).encode()),
    st.binary(max_size=200),  # mostly invalid UTF-8 / not JSON
    st.sampled_from([b"", b"null", b"[]", b"\"x\"", b"{", b"\xff\xfe{}", b'{"name": "\xed\xa0\x80"}',
                     _nested(10_000), b"[" * 100_000, b'{"name": "' + b"a" * 300_000 + b'"}',
                     b'{"verbose": NaN}', b'{"uid": 1e400}', b'{"name": "a", "name": 1}']),
)

# Bodies that are valid requests but may legitimately succeed (e.g. a
# well-formed add_app). Everything else must be refused with a 4xx.
_OK = 200


def _check_reply(status: int, content_type: str | None, body: bytes) -> None:
    assert status < 500, (status, body[:300])
    assert status == _OK or 400 <= status < 500, status
    assert content_type == "application/json"
    assert b"Traceback" not in body
    if status in (404, 405, 413):
        error = orjson.loads(body)
        assert set(error) == {"error", "cause"}


async def test_fuzzed_bodies_on_every_route_never_5xx(admin) -> None:
    seen: dict[int, int] = {}

    @hypothesis_seed("test_mgmt_fuzz.test_fuzzed_bodies_on_every_route_never_5xx")
    @settings(max_examples=300, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(route=st.sampled_from(POST_ROUTES), body=raw_bodies)
    def one_case(route: str, body: bytes) -> None:
        cases.append((route, body))

    cases: list[tuple[str, bytes]] = []
    one_case()  # collect the generated cases; the async client sends them below
    assert len(cases) >= 300
    for route, body in cases:
        async with admin.http.post(route, data=body, headers={"Content-Type": "application/json"}) as r:
            payload = await r.read()
            _check_reply(r.status, r.headers.get("Content-Type"), payload)
            seen[r.status] = seen.get(r.status, 0) + 1
    assert seen.get(400, 0) > len(cases) // 2, seen  # most fuzz is refused as a bad request
    assert (await admin.get("/admin/ping")).text == "PONG"
    assert (await admin.get("/ready")).status == 200


async def test_wrong_methods_and_oversized_bodies_are_4xx_json(make_settings, admin_factory) -> None:
    admin = await admin_factory(make_settings(max_body_bytes=1024))
    for route in POST_ROUTES:
        async with admin.http.get(route) as r:
            _check_reply(r.status, r.headers.get("Content-Type"), await r.read())
            assert r.status == 405
        async with admin.http.post(route, data=b"x" * 2048) as r:
            _check_reply(r.status, r.headers.get("Content-Type"), await r.read())
            assert r.status == 413
    assert (await admin.get("/admin/ping")).text == "PONG"


def _routes_of(app: web.Application) -> set[tuple[str, str]]:
    return {(r.method, r.resource.canonical) for r in app.router.routes()
            if r.method != "HEAD" and r.resource is not None}


async def test_openapi_document_lists_every_route(admin, make_settings) -> None:
    reply = await admin.get("/admin/openapi.json")
    assert reply.status == 200
    doc: dict[str, Any] = json.loads(reply.text)
    assert doc == json.loads(json.dumps(openapi_document()))
    assert doc["openapi"].startswith("3.")
    from management_frontend.server import build_app

    served = _routes_of(build_app(make_settings()))
    described = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert described == served
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert "200" in op["responses"], path
            ref = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if "$ref" in ref:
                assert ref["$ref"].rsplit("/", 1)[1] in doc["components"]["schemas"]
    # Every documented request field is one the frontend actually requires.
    from management_frontend import protocol

    add_app = doc["components"]["schemas"]["AddApp"]["required"]
    assert all(f'"{field}"' in protocol.AddAppRequest.SCHEMA for field in add_app)
