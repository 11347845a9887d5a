"""OpenAPI 3 description of the query API, served at ``GET /openapi.json``.

Hand-written to match :mod:`query_frontend.protocol` (request and response
shapes) and :class:`query_frontend.http.QueryHandlers` (routes); a test
checks that every route the frontend serves is described and that the
documented shapes match real answers. It is rendered once, at start-up.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import orjson

Json = dict[str, Any]

_NUMBERS: Json = {"type": "array", "minItems": 1, "items": {"type": "number"}}
_INTS: Json = {"type": "array", "minItems": 1, "items": {"type": "integer", "format": "int32"}}
_STRING: Json = {"type": "string", "description": "a strings app's input, or a bytes app's input in base64"}
_INPUT: Json = {
    "description": "One input, typed by the application's input_type: doubles and floats take numbers written "
    "with a fraction or exponent, integers take int32 integers, strings a string, bytes a base64 string.",
    "oneOf": [_NUMBERS, _INTS, _STRING],
}

SCHEMAS: dict[str, Json] = {
    "PredictRequest": {
        "type": "object",
        "description": "Exactly one of input and input_batch.",
        "properties": {
            "input": _INPUT,
            "input_batch": {"type": "array", "items": _INPUT, "description": "at most max_batch_inputs inputs"},
            "version": {"type": "string", "description": "pin a version of the (single) linked model"},
            "uid": {"type": "integer", "minimum": 0,
                    "description": "user id for personalised selection state (default 0)"},
        },
    },
    "Prediction": {
        "type": "object",
        "required": ["query_id", "output", "default"],
        "properties": {
            "query_id": {"type": "integer"},
            "output": {"description": "the model's output (JSON if it is a JSON document) or the default output"},
            "default": {"type": "boolean", "description": "true when the default output answered"},
            "default_explanation": {"type": "string", "description": "why the default answered"},
            "model": {"type": "string", "description": "the model that served it (apps with a selection policy)"},
            "version": {"type": "string", "description": "that model's version"},
            "models_used": {
                "type": "array",
                "description": "the models whose answers an ensemble (Exp4Policy) combined",
                "items": {"type": "object", "properties": {"model": {"type": "string"},
                                                           "version": {"type": "string"}}},
            },
        },
    },
    "BatchPrediction": {
        "type": "object",
        "required": ["batch_predictions"],
        "properties": {"batch_predictions": {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}}},
    },
    "UpdateRequest": {
        "type": "object",
        "required": ["uid", "input", "label"],
        "properties": {"uid": {"type": "integer"}, "input": _INPUT, "label": {"type": "number"}},
    },
    "Error": {
        "type": "object",
        "required": ["error", "cause"],
        "properties": {
            "error": {"type": "string", "description": "the kind of error"},
            "cause": {"type": "string", "description": "the message: what was wrong, never quoting the request"},
        },
    },
    "Ready": {
        "type": "object",
        "required": ["ready"],
        "properties": {
            "ready": {"type": "boolean"},
            "reason": {"type": "string", "description": "why not ready (e.g. redis unreachable, shutting down)"},
            "degraded": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "applications that can only answer with their default output, with the reason",
            },
            "redis": {"type": "string", "description": "set while Redis is unreachable (serving from the snapshot)"},
        },
    },
}


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Json, description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Json]:
    text = {
        400: "malformed JSON, wrong input type, too many elements or header lines",
        404: "no such application",
        405: "method not allowed",
        413: "body larger than max_body_bytes, or more inputs than max_batch_inputs",
        503: "queue full and shed_with=503 (with Retry-After), or not ready",
    }
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


_APP_PARAM: Json = {"name": "app", "in": "path", "required": True, "schema": {"type": "string"}}


def document() -> Json:
    """The OpenAPI document."""
    try:
        version = metadata.version("clipper-py")
    except metadata.PackageNotFoundError:
        version = "0"
    plain = {"description": "text", "content": {"text/plain": {"schema": {"type": "string"}}}}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Clipper query frontend",
            "version": version,
            "description": "Every prediction answers within its application's latency SLO, with the model's "
            "output or the application's default output.",
        },
        "paths": {
            "/{app}/predict": {
                "parameters": [_APP_PARAM],
                "post": {
                    "summary": "Predict one input or a batch",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("PredictRequest")}}},
                    "responses": {
                        "200": _json({"oneOf": [_ref("Prediction"), _ref("BatchPrediction")]}, "the predictions"),
                        **_errors(400, 404, 405, 413, 503),
                    },
                },
            },
            "/{app}/update": {
                "parameters": [_APP_PARAM],
                "post": {
                    "summary": "Feedback for a past prediction",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("UpdateRequest")}}},
                    "responses": {"200": plain, **_errors(400, 404, 405, 413)},
                },
            },
            "/ready": {"get": {"summary": "Readiness", "responses": {
                "200": _json(_ref("Ready"), "configuration loaded; degraded apps listed"),
                "503": _json(_ref("Ready"), "not ready: Redis never reached, or shutting down"),
            }}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": plain}}},
            "/metrics": {"get": {"summary": "Metrics (the original's JSON; Prometheus text with Accept: text/plain)",
                                 "responses": {"200": _json({"type": "object"}, "metrics report")}}},
            "/metrics/prometheus": {"get": {"summary": "Metrics as Prometheus text", "responses": {"200": plain}}},
            "/openapi.json": {"get": {"summary": "This document",
                                      "responses": {"200": _json({"type": "object"}, "OpenAPI 3 document")}}},
        },
        "components": {"schemas": SCHEMAS},
    }


def rendered() -> bytes:
    """The document as JSON bytes."""
    return orjson.dumps(document())
