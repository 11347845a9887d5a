"""Malformed requests over real HTTP: JSON errors, unknown paths, methods, sizes."""

from __future__ import annotations

import json

import pytest

from clipper_protocol.redis_schema import RedisDB
from management_frontend.protocol import AddAppRequest, AddModelRequest, ModelLinksRequest

APP = {"name": "a", "input_type": "doubles", "default_output": "0", "latency_slo_micros": 100}
MODEL = {"model_name": "m", "model_version": "1", "labels": [], "input_type": "doubles",
         "container_name": "img", "model_data_path": "DEPRECATED", "batch_size": -1}


def _json_error(detail: str, schema: str) -> str:
    return f"Error parsing JSON: {detail}. Expected JSON schema: {schema}"


async def test_missing_field(admin, rdb):
    body = dict(APP)
    del body["default_output"]
    assert await admin.error("add_app", body) == _json_error(
        "JSON object does not have required key: default_output", AddAppRequest.SCHEMA)
    assert rdb(RedisDB.APPLICATIONS).dbsize() == 0


async def test_batch_size_is_required(admin):
    body = dict(MODEL)
    del body["batch_size"]
    assert await admin.error("add_model", body) == _json_error(
        "JSON object does not have required key: batch_size", AddModelRequest.SCHEMA)


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("name", 5, "Type mismatch! JSON key name expected type Stringbut found type Number"),
        ("name", None, "Type mismatch! JSON key name expected type Stringbut found type Null"),
        ("latency_slo_micros", "100",
         "Type mismatch! JSON key latency_slo_micros expected type Numberbut found type String"),
        ("latency_slo_micros", True,
         "Type mismatch! JSON key latency_slo_micros expected type Numberbut found type True"),
    ],
)
async def test_wrong_type(admin, field, value, detail):
    body = dict(APP, **{field: value})
    assert await admin.error("add_app", body) == _json_error(detail, AddAppRequest.SCHEMA)


@pytest.mark.parametrize("value", [1.5, 100.0, 2**31, -(2**31) - 1])
async def test_int_must_be_an_int32(admin, value):
    text = await admin.error("add_app", dict(APP, latency_slo_micros=value))
    assert text.startswith(
        "Error parsing JSON: Type mismatch! JSON key latency_slo_micros expected type int "
        "but found type Number")


async def test_verbose_must_be_bool(admin):
    text = await admin.error("get_all_models", {"verbose": 1})
    assert text.startswith(
        "Error parsing JSON: Type mismatch! JSON key verbose expected type bool but found type Number."
        " Expected JSON schema: ")


async def test_string_arrays(admin):
    text = await admin.error("add_model_links", {"app_name": "a", "model_names": "m"})
    assert text == _json_error(
        "Type mismatch! JSON key model_names expected type Arraybut found type String",
        ModelLinksRequest.SCHEMA)
    text = await admin.error("add_model_links", {"app_name": "a", "model_names": ["m", 3]})
    assert text == _json_error("Array input of type Number is not of type string",
                               ModelLinksRequest.SCHEMA)
    text = await admin.error("add_model", dict(MODEL, labels=[None]))
    assert text == _json_error("Array input of type Null is not of type string", AddModelRequest.SCHEMA)


@pytest.mark.parametrize("endpoint", ["add_app", "add_model"])
async def test_invalid_input_type_is_a_400_naming_the_field(admin, rdb, endpoint):
    body = dict(APP if endpoint == "add_app" else MODEL, input_type="tensor")
    text = await admin.error(endpoint, body)
    assert text.startswith("Invalid value for JSON key input_type: tensor is not a valid input string")
    for name in ("bytes", "integers", "floats", "doubles", "strings"):
        assert name in text
    assert rdb(RedisDB.APPLICATIONS).dbsize() == 0 and rdb(RedisDB.MODELS).dbsize() == 0


async def test_input_type_aliases_are_case_sensitive(admin):
    text = await admin.error("add_app", dict(APP, input_type="Doubles"))
    assert text.startswith("Invalid value for JSON key input_type: Doubles")


async def test_bad_json(admin):
    reply = await admin.post("add_app", raw=b'{"name": "a",')
    assert reply.status == 400
    assert reply.content_type == "application/json"
    assert reply.text.startswith("Error parsing JSON: JSON parse error: ")
    assert "(offset 13)\n. Expected JSON schema: " + AddAppRequest.SCHEMA in reply.text


@pytest.mark.parametrize("raw", [b"", b"   "])
async def test_empty_body(admin, raw):
    reply = await admin.post("get_all_models", raw=raw)
    assert reply.status == 400
    assert reply.text.startswith("Error parsing JSON: JSON parse error: The document is empty. (offset 0)\n")


@pytest.mark.parametrize("raw", [b"NaN", b'{"verbose": Infinity}', b"\xff\xfe"])
async def test_non_json_tokens_and_bad_utf8(admin, raw):
    reply = await admin.post("get_all_models", raw=raw)
    assert reply.status == 400
    assert reply.text.startswith("Error parsing JSON: JSON parse error: ")


@pytest.mark.parametrize("body", [[APP], "text", 3, None])
async def test_non_object_body(admin, body):
    assert await admin.error("add_app", body) == _json_error(
        "Can only get key-value pair from an object", AddAppRequest.SCHEMA)


async def test_every_schema_names_its_fields(admin):
    text = await admin.error("get_container", {"model_name": "m", "model_version": "1"})
    assert text.startswith("Error parsing JSON: JSON object does not have required key: replica_id.")
    assert '"replica_id" := int' in text
    text = await admin.error("delete_app", {})
    assert '"name" := string' in text and "latency_slo_micros" not in text


async def test_unknown_path_is_404_json(admin):
    reply = await admin.post("no_such_thing", {})
    assert reply.status == 404
    assert reply.content_type == "application/json"
    body = json.loads(reply.text)
    assert body["error"] == "Not found"
    assert "/admin/no_such_thing" in body["cause"]
    # No trailing slash, as in the original.
    assert (await admin.post("add_app/", APP)).status == 404
    assert (await admin.get("/")).status == 404


async def test_wrong_method_is_405_json(admin):
    reply = await admin.get("/admin/add_app")
    assert reply.status == 405
    body = json.loads(reply.text)
    assert body["error"] == "Method not allowed"
    assert "POST" in body["cause"]
    async with admin.http.post("/admin/ping") as r:
        assert r.status == 405
        assert "GET" in (await r.json())["cause"]


async def test_body_over_limit_is_413(make_settings, admin_factory):
    small = await admin_factory(make_settings(max_body_bytes=1000))
    reply = await small.post("add_app", dict(APP, default_output="x" * 2000))
    assert reply.status == 413
    assert json.loads(reply.text)["error"] == "Request body too large"
    # Under the limit still works.
    assert (await small.post("add_app", APP)).status == 200
