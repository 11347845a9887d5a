"""Unit tests of request parsing (management_frontend.protocol) and settings."""

from __future__ import annotations

import json

import pytest

from clipper_protocol.input_types import InputType
from management_frontend.errors import BadRequestError, JsonRequestError
from management_frontend.protocol import (
    AddAppRequest,
    AddModelRequest,
    ContainerRequest,
    JsonFieldError,
    ModelLinksRequest,
    VerboseRequest,
    get_bool,
    get_int,
    get_str,
    get_str_list,
    json_type_name,
    parse_json_object,
    parse_request,
)
from management_frontend.settings import Settings, load_settings


def _raw(body: object) -> bytes:
    return json.dumps(body).encode()


def test_add_app_parses_and_canonicalizes_input_type():
    req = parse_request(AddAppRequest, _raw({"name": "a", "input_type": "ints", "default_output": "1",
                                             "latency_slo_micros": 5}))
    assert req == AddAppRequest("a", "ints", "1", 5)
    assert req.parsed_input_type is InputType.INTEGERS


def test_add_model_parses_every_field():
    req = parse_request(AddModelRequest, _raw({
        "model_name": "m", "model_version": "v", "labels": ["a"], "input_type": "s",
        "container_name": "img", "model_data_path": "p", "batch_size": 4, "extra": "ignored"}))
    assert req == AddModelRequest("m", "v", ["a"], "s", "img", "p", 4)
    assert req.parsed_input_type is InputType.STRINGS


@pytest.mark.parametrize(
    ("value", "name"),
    [(None, "Null"), (False, "False"), (True, "True"), ({}, "Object"), ([], "Array"),
     ("", "String"), (0, "Number"), (1.5, "Number")],
)
def test_json_type_names(value, name):
    assert json_type_name(value) == name


def test_get_str():
    assert get_str({"k": ""}, "k") == ""
    with pytest.raises(JsonFieldError, match="^JSON object does not have required key: k$"):
        get_str({}, "k")
    with pytest.raises(JsonFieldError, match="^Type mismatch! JSON key k expected type Stringbut found type Array$"):
        get_str({"k": []}, "k")


@pytest.mark.parametrize("value", [0, -1, 2**31 - 1, -(2**31)])
def test_get_int_accepts_int32(value):
    assert get_int({"k": value}, "k") == value


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 1.0, 1e3, 0.5])
def test_get_int_refuses_non_int32_numbers(value):
    with pytest.raises(JsonFieldError, match="^Type mismatch! JSON key k expected type int but found type Number"):
        get_int({"k": value}, "k")


@pytest.mark.parametrize(("value", "found"), [(True, "True"), (False, "False"), ("1", "String"), (None, "Null")])
def test_get_int_refuses_non_numbers(value, found):
    with pytest.raises(JsonFieldError, match=f"^Type mismatch! JSON key k expected type Numberbut found type {found}$"):
        get_int({"k": value}, "k")


def test_get_bool():
    assert get_bool({"k": False}, "k") is False
    with pytest.raises(JsonFieldError, match="^Type mismatch! JSON key k expected type bool but found type Number$"):
        get_bool({"k": 0}, "k")
    with pytest.raises(JsonFieldError, match="expected type bool but found type String"):
        get_bool({"k": "true"}, "k")


def test_get_str_list():
    assert get_str_list({"k": []}, "k") == []
    assert get_str_list({"k": ["a", ""]}, "k") == ["a", ""]
    with pytest.raises(JsonFieldError, match="^Type mismatch! JSON key k expected type Arraybut found type Object$"):
        get_str_list({"k": {}}, "k")
    with pytest.raises(JsonFieldError, match="^Array input of type True is not of type string$"):
        get_str_list({"k": ["a", True]}, "k")


def test_parse_errors_carry_the_schema():
    with pytest.raises(JsonRequestError) as info:
        parse_request(VerboseRequest, b"{")
    assert info.value.schema == VerboseRequest.SCHEMA
    assert info.value.message.startswith("Error parsing JSON: JSON parse error: ")
    assert info.value.message.endswith("\n. Expected JSON schema: " + VerboseRequest.SCHEMA)
    with pytest.raises(JsonRequestError, match="does not have required key: verbose"):
        parse_request(VerboseRequest, b"{}")


def test_field_order_decides_the_first_error():
    # Fields are read in schema order, so the first missing one is reported.
    with pytest.raises(JsonRequestError, match="required key: model_version"):
        parse_request(ContainerRequest, _raw({"model_name": "m"}))


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"s"', b"null", b"true"])
def test_non_object_bodies(raw):
    with pytest.raises(JsonRequestError, match="Can only get key-value pair from an object"):
        parse_json_object(raw, "S")


@pytest.mark.parametrize("raw", [b"NaN", b"[Infinity]", b"-Infinity", b"\xc3\x28", b"", b"{}{}"])
def test_invalid_json(raw):
    with pytest.raises(JsonRequestError, match="^Error parsing JSON: JSON parse error: "):
        parse_json_object(raw, "S")


def test_deep_nesting_is_a_parse_error_not_a_crash():
    with pytest.raises(JsonRequestError, match="Nesting too deep"):
        parse_json_object(b"[" * 200000 + b"]" * 200000, "S")


def test_invalid_input_type_is_not_a_json_error():
    with pytest.raises(BadRequestError) as info:
        parse_request(AddAppRequest, _raw({"name": "a", "input_type": "INTS", "default_output": "",
                                           "latency_slo_micros": 1}))
    assert not isinstance(info.value, JsonRequestError)
    assert info.value.message.startswith("Invalid value for JSON key input_type: INTS is not a valid input string")


def test_model_links_schema_mentions_arrays():
    assert '"model_names" := [string]' in ModelLinksRequest.SCHEMA


# -- settings ---------------------------------------------------------------------


def test_settings_defaults():
    assert load_settings([], {}) == Settings()
    assert Settings().port == 1338 and Settings().redis_port == 6379


def test_settings_flags_in_both_spellings():
    s = load_settings(["--redis_ip=10.0.0.1", "--redis_port", "7777", "--host", "127.0.0.1",
                       "--port=1400", "--max-body-bytes", "10"], {})
    assert (s.redis_ip, s.redis_port, s.host, s.port, s.max_body_bytes) == (
        "10.0.0.1", 7777, "127.0.0.1", 1400, 10)


def test_settings_env_fallbacks_and_flag_precedence():
    env = {"CLIPPER_MGMT_REDIS_IP": "redis", "CLIPPER_MGMT_REDIS_PORT": "1234",
           "CLIPPER_MGMT_HOST": "::", "CLIPPER_MGMT_PORT": "9999"}
    s = load_settings(["--port=1"], env)
    assert (s.redis_ip, s.redis_port, s.host, s.port) == ("redis", 1234, "::", 1)


@pytest.mark.parametrize(
    ("argv", "env"),
    [(["--redis_port=abc"], {}), (["--port=70000"], {}), ([], {"CLIPPER_MGMT_REDIS_PORT": "x"}),
     (["--log_level=LOUD"], {})],
)
def test_settings_refuse_bad_values(argv, env, capsys):
    with pytest.raises(SystemExit) as info:
        load_settings(argv, env)
    assert info.value.code == 2
