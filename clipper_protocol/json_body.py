"""Strictly typed JSON objects: how the admin API's bodies are declared, read and written.

A body is a frozen dataclass deriving from :class:`JsonMessage` whose fields
are made with :func:`wire` (the field's JSON kind, optionally a value check,
the text quoted in error messages, documentation). From that one
declaration come the reader (:meth:`JsonMessage.parse`), the writer
(:meth:`JsonMessage.to_json`), the original's schema text quoted in JSON
errors (:attr:`JsonMessage.SCHEMA`) and the OpenAPI schema.

Fields are read as the original's rapidjson reader reads them: in
declaration order, so the first missing or mistyped field is the one
reported; an int must be a JSON integer that fits int32, a bool a JSON
``true``/``false``, a string a JSON string, a string array an array of
JSON strings. Error texts are the original's, including its missing space
in ``expected type Stringbut found``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable
from dataclasses import MISSING, dataclass
from typing import Any, ClassVar, TypeVar

from clipper_protocol.errors import ClipperError
from clipper_protocol.json_types import json_type_name

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

Json = dict[str, Any]
Check = Callable[[Any], "str | None"]
"""Returns what is wrong with a field's (correctly typed) value, or None."""

_META_KEY = "clipper_wire"


class JsonFieldError(ClipperError, ValueError):
    """A field is missing or has the wrong JSON type; the text is the original's detail."""


class JsonBodyError(ClipperError, ValueError):
    """A body is not a JSON object or a field is missing or mistyped.

    ``detail`` is the original's text for the problem, ``schema`` the
    expected body's schema text (see :attr:`JsonMessage.SCHEMA`).
    """

    def __init__(self, detail: str, schema: str) -> None:
        super().__init__(f"Error parsing JSON: {detail}. Expected JSON schema: {schema}")
        self.detail = detail
        self.schema = schema


class FieldValueError(ClipperError, ValueError):
    """A field has the right JSON type but a value the API refuses."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"Invalid value for JSON key {key}: {problem}")
        self.key = key
        self.problem = problem


# --------------------------------------------------------------------------
# Typed field access


def _get(body: Json, key: str) -> object:
    if key not in body:
        raise JsonFieldError(f"JSON object does not have required key: {key}")
    return body[key]


def _mismatch(key: str, expected: str, value: object) -> JsonFieldError:
    # No space before "but": the original's text, kept as it is on the wire.
    return JsonFieldError(
        f"Type mismatch! JSON key {key} expected type {expected}but found type {json_type_name(value)}"
    )


def get_str(body: Json, key: str) -> str:
    value = _get(body, key)
    if not isinstance(value, str):
        raise _mismatch(key, "String", value)
    return value


def get_int(body: Json, key: str) -> int:
    """A JSON integer fitting int32 (``1.0``, ``true`` and ``2**31`` are refused)."""
    value = _get(body, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _mismatch(key, "Number", value)
    if not isinstance(value, int) or not INT32_MIN <= value <= INT32_MAX:
        raise JsonFieldError(
            f"Type mismatch! JSON key {key} expected type int but found type Number "
            f"({value!r} is not an integer in [{INT32_MIN}, {INT32_MAX}])"
        )
    return value


def get_bool(body: Json, key: str) -> bool:
    value = _get(body, key)
    if not isinstance(value, bool):
        raise JsonFieldError(
            f"Type mismatch! JSON key {key} expected type bool but found type {json_type_name(value)}"
        )
    return value


def get_str_list(body: Json, key: str) -> list[str]:
    value = _get(body, key)
    if not isinstance(value, list):
        raise _mismatch(key, "Array", value)
    for item in value:
        if not isinstance(item, str):
            raise JsonFieldError(f"Array input of type {json_type_name(item)} is not of type string")
    return list(value)


def get_any(body: Json, key: str) -> Any:
    """Any JSON value (its own check decides); absent reads as None."""
    return body.get(key)


def _reject_constant(name: str) -> object:
    # Python's json accepts NaN/Infinity; JSON (and rapidjson) does not.
    raise ValueError(f"Invalid value '{name}'")


def parse_json_object(raw: bytes, schema: str) -> Json:
    """Decode a body that must be one JSON object; :class:`JsonBodyError` otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise JsonBodyError(f"JSON parse error: Invalid encoding in string. (offset {e.start})\n", schema) from None
    if not text.strip():
        raise JsonBodyError("JSON parse error: The document is empty. (offset 0)\n", schema)
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise JsonBodyError(f"JSON parse error: {e.msg}. (offset {e.pos})\n", schema) from None
    except ValueError as e:
        raise JsonBodyError(f"JSON parse error: {e}.\n", schema) from None
    except RecursionError:
        raise JsonBodyError("JSON parse error: Nesting too deep.\n", schema) from None
    if not isinstance(body, dict):
        raise JsonBodyError("Can only get key-value pair from an object", schema)
    return body


# --------------------------------------------------------------------------
# Field declarations


class JsonKind(enum.Enum):
    """The JSON type of a field: how it is read, quoted in schema texts and documented."""

    STRING = "string"
    INT = "int"
    BOOL = "bool"
    STRING_LIST = "[string]"
    OBJECT = "object"
    """Any JSON value, documented as an object; the field's check validates it."""

    def read(self, body: Json, key: str) -> Any:
        return _READERS[self](body, key)

    def openapi(self) -> Json:
        return dict(_OPENAPI[self])


_READERS: dict[JsonKind, Callable[[Json, str], Any]] = {
    JsonKind.STRING: get_str,
    JsonKind.INT: get_int,
    JsonKind.BOOL: get_bool,
    JsonKind.STRING_LIST: get_str_list,
    JsonKind.OBJECT: get_any,
}
_OPENAPI: dict[JsonKind, Json] = {
    JsonKind.STRING: {"type": "string"},
    JsonKind.INT: {"type": "integer", "format": "int32"},
    JsonKind.BOOL: {"type": "boolean"},
    JsonKind.STRING_LIST: {"type": "array", "items": {"type": "string"}},
    JsonKind.OBJECT: {"type": "object"},
}


@dataclass(frozen=True, slots=True)
class WireField:
    """What :func:`wire` records about one field of a body."""

    kind: JsonKind
    required: bool
    check: Check | None = None
    schema_text: str | None = None
    description: str = ""
    choices: tuple[str, ...] = ()

    def openapi(self) -> Json:
        schema = self.kind.openapi()
        if self.description:
            schema["description"] = self.description
        if self.choices:
            schema["enum"] = list(self.choices)
        return schema


def wire(
    kind: JsonKind,
    *,
    check: Check | None = None,
    schema_text: str | None = None,
    description: str = "",
    choices: tuple[str, ...] = (),
    default: Any = MISSING,
) -> Any:
    """A body field of JSON type ``kind``.

    ``check`` refuses values of the right type (:class:`FieldValueError`
    naming the key and its problem); ``schema_text`` replaces the kind in the
    schema text quoted by JSON errors; ``description`` and ``choices`` go to
    the OpenAPI document. A field with a ``default`` is optional.
    """
    info = WireField(kind, default is MISSING, check, schema_text, description, choices)
    return dataclasses.field(default=default, metadata={_META_KEY: info})


M = TypeVar("M", bound="JsonMessage")


class JsonMessage:
    """Base of the API's bodies: frozen dataclasses whose fields are :func:`wire` fields."""

    __slots__ = ()
    SCHEMA: ClassVar[str] = ""
    """The original's schema text, quoted in JSON errors (set by :func:`message`)."""

    @classmethod
    def wire_fields(cls) -> list[tuple[str, WireField]]:
        return [(f.name, f.metadata[_META_KEY]) for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def schema_text(cls) -> str:
        lines = ",\n".join(f'  "{name}" := {w.schema_text or w.kind.value}' for name, w in cls.wire_fields())
        return "{\n" + lines + "\n}"

    @classmethod
    def from_json(cls: type[M], body: Json) -> M:
        """Read the fields in order; :class:`JsonFieldError` or :class:`FieldValueError` on the first bad one."""
        values: dict[str, Any] = {}
        for name, w in cls.wire_fields():
            if not w.required and name not in body:
                continue
            value = w.kind.read(body, name)
            if w.check is not None and (problem := w.check(value)) is not None:
                raise FieldValueError(name, problem)
            values[name] = value
        cls.check_fields(values)
        return cls(**values)

    @classmethod
    def check_fields(cls, values: Json) -> None:
        """Checks that need several fields; raise :class:`FieldValueError`. None by default."""

    @classmethod
    def parse(cls: type[M], raw: bytes) -> M:
        """Decode and validate a raw body; :class:`JsonBodyError` or :class:`FieldValueError`."""
        body = parse_json_object(raw, cls.SCHEMA)
        try:
            return cls.from_json(body)
        except JsonFieldError as e:
            raise JsonBodyError(str(e), cls.SCHEMA) from None

    def to_json(self) -> Json:
        """The body as a JSON-ready dict, keys in declaration order (the original's)."""
        out: Json = {}
        for name, _ in self.wire_fields():
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, list) else value
        return out

    @classmethod
    def openapi_schema(cls) -> Json:
        fields = cls.wire_fields()
        return {
            "type": "object",
            "required": sorted(name for name, w in fields if w.required),
            "properties": {name: w.openapi() for name, w in fields},
        }


def message(cls: type[M]) -> type[M]:
    """Class decorator (above ``@dataclass``) that sets :attr:`JsonMessage.SCHEMA`."""
    cls.SCHEMA = cls.schema_text()
    return cls
