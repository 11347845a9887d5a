"""OpenAPI 3 description of the admin API, served at ``GET /admin/openapi.json``.

Generated from :mod:`clipper_protocol.admin_api`, the definitions the routes
are served from, so it lists exactly the routes the app serves and the body
fields it reads. Error bodies keep the original's shapes: 400 is the
original's message as text (sent with ``Content-Type: application/json``,
as the original did), 401/404/405/413 a JSON ``{"error", "cause"}`` object,
503 a message saying Redis is unreachable.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from clipper_protocol import admin_api
from clipper_protocol.admin_api import Answer, Endpoint
from clipper_protocol.constants import DISTRIBUTION
from clipper_protocol.json_body import Json, JsonMessage
from management_frontend.dashboard_openapi import dashboard_paths, dashboard_schemas

POST_OPERATIONS: dict[str, Endpoint[Any]] = dict(admin_api.ENDPOINTS_BY_NAME)
"""Every ``POST /admin/<name>`` operation, by name."""


def component_name(message: type[JsonMessage]) -> str:
    """``AddAppRequest`` -> ``AddApp``; ``ApplicationInfo`` stays ``ApplicationInfo``."""
    return message.__name__.removesuffix("Request")


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


_TEXT: Json = {"type": "string"}
_AUTH_ERRORS: Json = {
    "401": _error("No or wrong admin token (only when the frontend is started with one)"),
}


def _success_schema(endpoint: Endpoint[Any]) -> Json:
    record = _ref(component_name(endpoint.record)) if endpoint.record is not None else {"type": "object"}
    match endpoint.answer:
        case Answer.MESSAGE:
            return dict(_TEXT)
        case Answer.RECORD:
            return {"oneOf": [record, {"type": "object", "maxProperties": 0}]}
        case Answer.LISTING:
            return {"type": "array", "items": {"oneOf": [_TEXT, record]}}
        case Answer.NAMES:
            return {"type": "array", "items": _TEXT}


def _post(endpoint: Endpoint[Any]) -> Json:
    return {
        "post": {
            "summary": endpoint.summary,
            "operationId": endpoint.name,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(component_name(endpoint.request))}},
            },
            "responses": {
                "200": {"description": "Success",
                        "content": {"application/json": {"schema": _success_schema(endpoint)}}},
                "400": {"description": "Invalid request: the original's message, as text",
                        "content": {"application/json": {"schema": _TEXT}}},
                **_AUTH_ERRORS,
                "413": _error("Body larger than the configured limit"),
                "503": {"description": "Redis is unreachable; retry later",
                        "content": {"application/json": {"schema": _TEXT}}},
            },
        }
    }


def _get(summary: str, schema: Json, *, secured: bool, content_type: str = "application/json") -> Json:
    operation: Json = {
        "summary": summary,
        "responses": {"200": {"description": "Success", "content": {content_type: {"schema": schema}}}},
    }
    if secured:
        operation["responses"].update(_AUTH_ERRORS)
    else:
        operation["security"] = []  # open even when a token is configured
    return {"get": operation}


def _schemas() -> Json:
    messages: list[type[JsonMessage]] = []
    for endpoint in admin_api.POST_ENDPOINTS:
        for message in (endpoint.request, endpoint.record):
            if message is not None and message not in messages:
                messages.append(message)
    schemas: Json = {component_name(m): m.openapi_schema() for m in messages}
    schemas["Error"] = {
        "type": "object",
        "properties": {"error": dict(_TEXT), "cause": dict(_TEXT)},
        "required": ["error", "cause"],
    }
    return schemas


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a bare source tree
        return "unknown"


def openapi_document() -> Json:
    """The whole OpenAPI 3.0 document (a fresh dict each call)."""
    paths: Json = {e.path: _post(e) for e in admin_api.POST_ENDPOINTS}
    paths[admin_api.PING_PATH] = _get("Liveness: PONG while the process runs", dict(_TEXT), secured=False)
    paths[admin_api.OPENAPI_PATH] = _get("This document", {"type": "object"}, secured=True)
    ready = _get("Readiness: 200 while Redis answers and every background loop runs", {"type": "object"},
                 secured=False)
    ready["get"]["responses"]["503"] = {
        "description": 'Not ready: {"ready": false, "reason": "redis unreachable: ..."}, or the reason '
        "a background loop is down",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    paths[admin_api.READY_PATH] = ready
    paths[admin_api.HEALTHZ_PATH] = _get("Liveness: ok while the process runs", dict(_TEXT), secured=False)
    paths[admin_api.DOCS_PATH] = _get("This document as an interactive page (Swagger UI)", dict(_TEXT),
                                      secured=False, content_type="text/html")
    asset = _get("The page's files: Swagger UI's scripts, styles and licences, and this document as "
                 "/docs/openapi.json", dict(_TEXT), secured=False, content_type="text/plain")
    asset["get"]["parameters"] = [{"name": "asset", "in": "path", "required": True, "schema": dict(_TEXT)}]
    asset["get"]["responses"]["304"] = {"description": "Unchanged (If-None-Match)"}
    asset["get"]["responses"]["404"] = _error("No such file")
    paths[admin_api.DOCS_ASSET_PATH] = asset
    paths.update(dashboard_paths(_AUTH_ERRORS, _error("No such file")))
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
            "schemas": {**_schemas(), **dashboard_schemas()},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "clipperToken": {"type": "apiKey", "in": "header", "name": "X-Clipper-Token"},
            },
        },
        "security": [{"bearer": []}, {"clipperToken": []}],
    }
