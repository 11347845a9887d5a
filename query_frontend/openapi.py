"""OpenAPI 3 description of the query API, served at ``GET /openapi.json``.

Generated from :mod:`clipper_protocol.query_api` (the endpoints and the
dataclasses of every request and response), so the document cannot drift
from the contract the frontend parses and renders. Rendered once, at start-up.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from importlib import metadata
from typing import Any, Union

import orjson

from clipper_protocol import query_api as api
from clipper_protocol.constants import DISTRIBUTION

Json = dict[str, Any]

_PATH_PARAM = re.compile(r"\{(\w+)\}")
_SCALARS: dict[Any, Json] = {str: {"type": "string"}, bool: {"type": "boolean"}, int: {"type": "integer"},
                             float: {"type": "number"}}


def schema_name(cls: type) -> str:
    name = getattr(cls, "SCHEMA_NAME", None)
    return name if isinstance(name, str) else cls.__name__


class _Schemas:
    """Component schemas, collected as the endpoints refer to them."""

    def __init__(self) -> None:
        self.components: dict[str, Json] = {}

    def ref(self, cls: type) -> Json:
        name = schema_name(cls)
        if name not in self.components:
            self.components[name] = {}  # placeholder: a shape may refer to itself
            self.components[name] = self.of_dataclass(cls)
        return {"$ref": f"#/components/schemas/{name}"}

    def of_dataclass(self, cls: type) -> Json:
        hints = typing.get_type_hints(cls)
        properties: Json = {}
        required = []
        for f in dataclasses.fields(cls):
            meta = f.metadata
            schema = dict(meta["schema"]) if "schema" in meta else self.of_type(hints[f.name])
            if "doc" in meta and "$ref" not in schema:
                schema.setdefault("description", meta["doc"])
            properties[f.name] = schema
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                required.append(f.name)
        out: Json = {"type": "object"}
        if cls.__doc__:
            out["description"] = " ".join(cls.__doc__.split())
        if required:
            out["required"] = required
        out["properties"] = properties
        return out

    def of_type(self, tp: Any) -> Json:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (Union, types.UnionType):
            options = [a for a in args if a is not type(None)]
            schema = self.of_type(options[0]) if len(options) == 1 else {"oneOf": [self.of_type(a) for a in options]}
            if len(options) < len(args):  # OpenAPI 3.0's null (monitoring figures are null until measured)
                schema = {"allOf": [schema], "nullable": True} if "$ref" in schema else {**schema, "nullable": True}
            return schema
        if origin is list:
            return {"type": "array", "items": self.of_type(args[0])}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.of_type(args[1])}
        if tp in _SCALARS:
            return dict(_SCALARS[tp])
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.ref(tp)
        return {}  # any JSON value


def _answer(schemas: _Schemas, answer: api.Answer) -> Json:
    if answer.status == 304:
        return {"description": answer.description}  # no body
    if answer.content_type != api.JSON:
        return {"description": answer.description,
                "content": {answer.content_type: {"schema": {"type": "string"}}}}
    refs = [schemas.ref(shape) for shape in answer.shapes]
    schema: Json = refs[0] if len(refs) == 1 else {"oneOf": refs} if refs else {"type": "object"}
    return {"description": answer.description, "content": {api.JSON: {"schema": schema}}}


def document() -> Json:
    """The OpenAPI document."""
    try:
        version = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        version = "0"
    schemas = _Schemas()
    paths: dict[str, Json] = {}
    for ep in api.ENDPOINTS:
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in _PATH_PARAM.findall(ep.path)]
        item = paths.setdefault(ep.path, {"parameters": params} if params else {})
        operation: Json = {"summary": ep.summary}
        if ep.request is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {api.JSON: {"schema": schemas.ref(ep.request)}}}
        operation["responses"] = {str(a.status): _answer(schemas, a) for a in ep.answers}
        item[ep.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Clipper query frontend",
            "version": version,
            "description": "Every prediction answers within its application's latency SLO, with the model's "
            "output or the application's default output.",
        },
        "paths": paths,
        "components": {"schemas": schemas.components},
    }


def rendered() -> bytes:
    """The document as JSON bytes."""
    return orjson.dumps(document())
