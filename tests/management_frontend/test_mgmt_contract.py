"""The admin contract is defined once (clipper_protocol.admin_api) and everything
else derives from it: the served routes, the OpenAPI document, the Lua scripts'
field names and their result words."""

from __future__ import annotations

import re

from clipper_protocol import admin_api
from clipper_protocol.redis_schema import APP_INPUT_TYPE_FIELD, APP_POLICY_FIELD, MODEL_VALID_FIELD
from clipper_protocol.selection_schema import PARAMS_FIELD
from management_frontend import scripts
from management_frontend.http import ADMIN_PATHS
from management_frontend.openapi import component_name, openapi_document
from management_frontend.service import ManagementService


def test_routes_are_the_endpoints() -> None:
    assert ADMIN_PATHS[:-2] == tuple(e.path for e in admin_api.POST_ENDPOINTS)
    for endpoint in admin_api.POST_ENDPOINTS:
        assert callable(getattr(ManagementService, endpoint.name)), endpoint.name


def test_openapi_request_schemas_are_the_request_fields() -> None:
    schemas = openapi_document()["components"]["schemas"]
    for endpoint in admin_api.POST_ENDPOINTS:
        schema = schemas[component_name(endpoint.request)]
        fields = [name for name, _ in endpoint.request.wire_fields()]
        assert list(schema["properties"]) == fields
        assert all(f'"{name}"' in endpoint.request.SCHEMA for name in fields)
        if endpoint.record is not None:
            record = schemas[component_name(endpoint.record)]
            assert list(record["properties"]) == [name for name, _ in endpoint.record.wire_fields()]
    assert schemas["SetSelectionPolicy"]["required"] == ["app_name", "policy"]


def test_scripts_spell_no_hash_field_and_only_known_results() -> None:
    sources = [m.source for m in scripts.Mutation]
    for source in sources:
        body = source.split("-- First app")[1]  # past the generated bindings
        for field in {APP_INPUT_TYPE_FIELD, APP_POLICY_FIELD, MODEL_VALID_FIELD, PARAMS_FIELD}:
            assert f"'{field}'" not in body and f'"{field}"' not in body
        for word in re.findall(r"\bR\.([A-Z_]+)", body):
            assert word in scripts.ScriptResult.__members__, word
        assert not re.search(r"return \{'", body)  # results only as R.<NAME>
    used = {w for s in sources for w in re.findall(r"\bR\.([A-Z_]+)", s.split("-- First app")[1])}
    assert used == set(scripts.ScriptResult.__members__)


def test_script_answers_decode_to_results() -> None:
    outcome = scripts.ScriptOutcome.decode(["conflict", "app", "ints"])
    assert outcome == scripts.ScriptOutcome(scripts.ScriptResult.CONFLICT, ("app", "ints"))
    for raw in ([], ["what"], None):
        try:
            scripts.ScriptOutcome.decode(raw)
        except RuntimeError as e:
            assert "unexpected script answer" in str(e)
        else:
            raise AssertionError(raw)
