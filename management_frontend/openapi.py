"""OpenAPI 3 description of the admin API, served at ``GET /admin/openapi.json``.

Hand-written to match :mod:`management_frontend.protocol` (request bodies)
and :mod:`management_frontend.http` (routes); a test checks that it lists
every route the app serves. Error bodies keep the original's shapes: 400 is
the original's message as text (sent with ``Content-Type: application/json``,
as the original did), 401/404/405/413 a JSON ``{"error", "cause"}`` object,
503 a message saying Redis is unreachable.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

Json = dict[str, Any]

_STR: Json = {"type": "string"}
_INT: Json = {"type": "integer"}
_STR_LIST: Json = {"type": "array", "items": _STR}
_INPUT_TYPE: Json = {
    "type": "string",
    "description": "integers, floats, doubles, bytes or strings (or the original's aliases, e.g. ints)",
}


def _object(**props: Json) -> Json:
    return {"type": "object", "required": sorted(props), "properties": props}


# name -> request body schema
SCHEMAS: dict[str, Json] = {
    "AddApp": _object(name=_STR, input_type=_INPUT_TYPE, default_output=_STR, latency_slo_micros=_INT),
    "AppName": _object(name=_STR),
    "AppNameField": _object(app_name=_STR),
    "ModelLinks": _object(app_name=_STR, model_names=_STR_LIST),
    "AddModel": _object(
        model_name=_STR,
        model_version=_STR,
        labels=_STR_LIST,
        input_type=_INPUT_TYPE,
        container_name=_STR,
        model_data_path=_STR,
        batch_size={"type": "integer", "description": "positive, or -1 for adaptive batching"},
    ),
    "VersionedModel": _object(model_name=_STR, model_version=_STR),
    "Verbose": _object(verbose={"type": "boolean"}),
    "Container": _object(model_name=_STR, model_version=_STR, replica_id=_INT),
    "GetState": _object(app_name=_STR, uid=_INT),
    "SetSelectionPolicy": {
        "type": "object",
        "required": ["app_name", "policy"],
        "properties": {
            "app_name": _STR,
            "policy": {"type": "string", "enum": ["DefaultOutputSelectionPolicy", "ABSplitPolicy",
                                                  "EpsilonGreedyPolicy", "Exp3Policy", "Exp4Policy"]},
            "params": {"type": "object", "description": "the policy's parameters (docs/model-selection.md)"},
        },
    },
    "Error": {
        "type": "object",
        "properties": {"error": _STR, "cause": _STR},
        "required": ["error", "cause"],
    },
}

# path under /admin/ -> (request schema, summary, answers JSON?)
POST_OPERATIONS: dict[str, tuple[str, str, bool]] = {
    "add_app": ("AddApp", "Register an application", False),
    "delete_app": ("AppName", "Delete an application, its links and its selection state", False),
    "add_model_links": ("ModelLinks", "Link one model to an application", False),
    "delete_model_links": ("ModelLinks", "Unlink models from an application", False),
    "add_model": ("AddModel", "Register a model version and make it current", False),
    "set_model_version": ("VersionedModel", "Make a registered version the current one", False),
    "delete_versioned_model": ("VersionedModel", "Mark a model version invalid", False),
    "get_all_applications": ("Verbose", "List applications (names, or records when verbose)", True),
    "get_application": ("AppName", "One application's record ({} if unknown)", True),
    "get_linked_models": ("AppNameField", "Models linked to an application", True),
    "get_all_models": ("Verbose", "List model versions (ids, or records when verbose)", True),
    "get_model": ("VersionedModel", "One model version's record ({} if unknown)", True),
    "get_all_containers": ("Verbose", "List connected replicas (ids, or records when verbose)", True),
    "get_container": ("Container", "One replica's record ({} if unknown)", True),
    "get_state": ("GetState", "An application's default output, as stored selection state", False),
    "set_selection_policy": ("SetSelectionPolicy", "Set an application's model-selection policy and parameters",
                             False),
    "get_selection_policy": ("AppNameField", "An application's selection policy, parameters and learned state",
                             True),
}


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


_AUTH_ERRORS: Json = {
    "401": _error("No or wrong admin token (only when the frontend is started with one)"),
}


def _post(schema: str, summary: str, as_json: bool) -> Json:
    ok_schema: Json = {} if as_json else {"type": "string"}
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(schema)}}},
            "responses": {
                "200": {"description": "Success", "content": {"application/json": {"schema": ok_schema}}},
                "400": {"description": "Invalid request: the original's message, as text",
                        "content": {"application/json": {"schema": {"type": "string"}}}},
                **_AUTH_ERRORS,
                "413": _error("Body larger than the configured limit"),
                "503": {"description": "Redis is unreachable; retry later",
                        "content": {"application/json": {"schema": {"type": "string"}}}},
            },
        }
    }


def _get(summary: str, schema: Json, *, secured: bool) -> Json:
    operation: Json = {
        "summary": summary,
        "responses": {"200": {"description": "Success", "content": {"application/json": {"schema": schema}}}},
    }
    if secured:
        operation["responses"].update(_AUTH_ERRORS)
    else:
        operation["security"] = []  # open even when a token is configured
    return {"get": operation}


def _version() -> str:
    try:
        return metadata.version("clipper-py")
    except metadata.PackageNotFoundError:  # run from a bare source tree
        return "unknown"


def openapi_document() -> Json:
    """The whole OpenAPI 3.0 document (a fresh dict each call)."""
    paths: Json = {f"/admin/{name}": _post(*spec) for name, spec in POST_OPERATIONS.items()}
    paths["/admin/ping"] = _get("Liveness: PONG while the process runs", {"type": "string"}, secured=False)
    paths["/admin/openapi.json"] = _get("This document", {"type": "object"}, secured=True)
    ready = _get("Readiness: 200 while Redis answers", {"type": "object"}, secured=False)
    ready["get"]["responses"]["503"] = {
        "description": 'Not ready: {"ready": false, "reason": "redis unreachable: ..."}',
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    paths["/ready"] = ready
    paths["/healthz"] = _get("Liveness: ok while the process runs", {"type": "string"}, secured=False)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Clipper management frontend",
            "version": _version(),
            "description": "The admin REST API of a Clipper cluster. When the frontend has an admin "
            "token, every /admin/* call but /admin/ping needs it.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "clipperToken": {"type": "apiKey", "in": "header", "name": "X-Clipper-Token"},
            },
        },
        "security": [{"bearer": []}, {"clipperToken": []}],
    }
