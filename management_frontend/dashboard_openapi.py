"""The dashboard's entries in the management frontend's OpenAPI document.

Schemas are generated from the dataclasses of
:mod:`clipper_protocol.dashboard_api` (and the monitoring shapes they
embed), so the document cannot drift from what the handler writes.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Union

from clipper_protocol.dashboard_api import DASHBOARD_ASSET_PATH, DASHBOARD_DATA_PATH, DASHBOARD_PATH, DashboardData

Json = dict[str, Any]
_SCALARS: dict[Any, Json] = {str: {"type": "string"}, bool: {"type": "boolean"}, int: {"type": "integer"},
                             float: {"type": "number"}}


class _Schemas:
    """Component schemas, collected as the shapes refer to each other."""

    def __init__(self) -> None:
        self.components: dict[str, Json] = {}

    def ref(self, cls: type) -> Json:
        if cls.__name__ not in self.components:
            self.components[cls.__name__] = {}  # placeholder while its fields are generated
            self.components[cls.__name__] = self._dataclass(cls)
        return {"$ref": f"#/components/schemas/{cls.__name__}"}

    def _dataclass(self, cls: type) -> Json:
        hints = typing.get_type_hints(cls)
        properties: Json = {}
        for f in dataclasses.fields(cls):
            schema = self.of_type(hints[f.name])
            if "doc" in f.metadata and "$ref" not in schema:
                schema["description"] = f.metadata["doc"]
            properties[f.name] = schema
        out: Json = {"type": "object", "required": [f.name for f in dataclasses.fields(cls)
                                                    if f.default is dataclasses.MISSING
                                                    and f.default_factory is dataclasses.MISSING]}
        if cls.__doc__:
            out["description"] = " ".join(cls.__doc__.split())
        out["properties"] = properties
        return out

    def of_type(self, tp: Any) -> Json:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (Union, types.UnionType):
            (inner,) = [a for a in args if a is not type(None)]
            schema = self.of_type(inner)
            return {"allOf": [schema], "nullable": True} if "$ref" in schema else {**schema, "nullable": True}
        if origin is list:
            return {"type": "array", "items": self.of_type(args[0])}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.of_type(args[1])}
        if tp in _SCALARS:
            return dict(_SCALARS[tp])
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.ref(tp)
        raise TypeError(f"no schema for {tp!r}")


def dashboard_schemas() -> dict[str, Json]:
    """``DashboardData`` and every shape it embeds, by name."""
    schemas = _Schemas()
    schemas.ref(DashboardData)
    return schemas.components


def dashboard_paths(auth_errors: Json, not_found: Json) -> Json:
    """The three paths; ``auth_errors`` are the 401 answers, ``not_found`` a 404 answer."""
    text = {"type": "string"}
    data: Json = {"get": {
        "summary": "Everything the dashboard shows: applications, model versions and replicas from Redis, and "
                   "the query frontend's figures sampled into time series (at most one sample a second)",
        "operationId": "dashboard_data",
        "responses": {
            "200": {"description": "Success", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/DashboardData"}}}},
            **auth_errors,
            "503": {"description": "Redis is unreachable; retry later",
                    "content": {"application/json": {"schema": text}}},
        },
    }}
    page: Json = {"get": {"summary": "The dashboard page (HTML; it polls /admin/dashboard_data)", "security": [],
                          "responses": {"200": {"description": "Success", "content": {"text/html": {"schema": text}}}}}}
    asset: Json = {"get": {
        "summary": "The page's files: its script and styles, uPlot and its licence", "security": [],
        "parameters": [{"name": "asset", "in": "path", "required": True, "schema": text}],
        "responses": {"200": {"description": "Success", "content": {"text/plain": {"schema": text}}},
                      "304": {"description": "Unchanged (If-None-Match)"}, "404": not_found},
    }}
    return {DASHBOARD_DATA_PATH: data, DASHBOARD_PATH: page, DASHBOARD_ASSET_PATH: asset}
