"""JSON shapes of the admin API: request bodies in, response objects out.

Request fields are typed strictly, as the original's rapidjson reader does:
an int must be a JSON integer that fits int32, a bool a JSON ``true``/``false``,
a string a JSON string, and a string array an array of JSON strings. Errors
use the original's detail texts (including its missing space in ``expected
type Stringbut found``) and are raised as :class:`JsonRequestError` carrying
the endpoint's schema text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from clipper_protocol.input_types import InputType, InvalidInputType, parse_input_type
from clipper_protocol.json_types import json_type_name
from clipper_protocol.redis_schema import ApplicationRecord, ContainerRecord, ModelRecord
from management_frontend.errors import BadRequestError, JsonRequestError

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


class JsonFieldError(ValueError):
    """A field is missing or has the wrong JSON type; the text is the detail."""


# --------------------------------------------------------------------------
# Parsing and typed field access


def _reject_constant(name: str) -> object:
    # Python's json accepts NaN/Infinity; JSON (and rapidjson) does not.
    raise ValueError(f"Invalid value '{name}'")


def parse_json_object(raw: bytes, schema: str) -> dict[str, Any]:
    """Decode a request body that must be one JSON object."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise JsonRequestError(
            f"JSON parse error: Invalid encoding in string. (offset {e.start})\n", schema
        ) from None
    if not text.strip():
        raise JsonRequestError("JSON parse error: The document is empty. (offset 0)\n", schema)
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise JsonRequestError(f"JSON parse error: {e.msg}. (offset {e.pos})\n", schema) from None
    except ValueError as e:
        raise JsonRequestError(f"JSON parse error: {e}.\n", schema) from None
    except RecursionError:
        raise JsonRequestError("JSON parse error: Nesting too deep.\n", schema) from None
    if not isinstance(body, dict):
        raise JsonRequestError("Can only get key-value pair from an object", schema)
    return body


def _get(body: dict[str, Any], key: str) -> object:
    if key not in body:
        raise JsonFieldError(f"JSON object does not have required key: {key}")
    return body[key]


def _mismatch(key: str, expected: str, value: object) -> JsonFieldError:
    # No space before "but": the original's text, kept as it is on the wire.
    return JsonFieldError(
        f"Type mismatch! JSON key {key} expected type {expected}but found type {json_type_name(value)}"
    )


def get_str(body: dict[str, Any], key: str) -> str:
    value = _get(body, key)
    if not isinstance(value, str):
        raise _mismatch(key, "String", value)
    return value


def get_int(body: dict[str, Any], key: str) -> int:
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


def get_bool(body: dict[str, Any], key: str) -> bool:
    value = _get(body, key)
    if not isinstance(value, bool):
        raise JsonFieldError(
            f"Type mismatch! JSON key {key} expected type bool but found type {json_type_name(value)}"
        )
    return value


def get_str_list(body: dict[str, Any], key: str) -> list[str]:
    value = _get(body, key)
    if not isinstance(value, list):
        raise _mismatch(key, "Array", value)
    for item in value:
        if not isinstance(item, str):
            raise JsonFieldError(f"Array input of type {json_type_name(item)} is not of type string")
    return list(value)


def get_input_type(body: dict[str, Any], key: str = "input_type") -> InputType:
    """An input-type name or alias; an unknown name is a 400 naming the field.

    (The original sent no response at all for an unknown name.)
    """
    name = get_str(body, key)
    try:
        return parse_input_type(name)
    except InvalidInputType as e:
        raise BadRequestError(f"Invalid value for JSON key {key}: {e}") from None


# --------------------------------------------------------------------------
# Request bodies

R = TypeVar("R", bound="Request")


class Request:
    """Base of request bodies: ``SCHEMA`` is quoted in JSON error messages."""

    __slots__ = ()
    SCHEMA: ClassVar[str]

    @classmethod
    def from_json(cls: type[R], body: dict[str, Any]) -> R:
        raise NotImplementedError

    @classmethod
    def parse(cls: type[R], raw: bytes) -> R:
        """Decode and validate a raw body into this request type."""
        body = parse_json_object(raw, cls.SCHEMA)
        try:
            return cls.from_json(body)
        except JsonFieldError as e:
            raise JsonRequestError(str(e), cls.SCHEMA) from None


def _schema(*fields: tuple[str, str]) -> str:
    lines = ",\n".join(f'  "{name}" := {type_}' for name, type_ in fields)
    return "{\n" + lines + "\n}"


@dataclass(frozen=True, slots=True)
class AddAppRequest(Request):
    name: str
    input_type: InputType
    default_output: str
    latency_slo_micros: int

    SCHEMA: ClassVar[str] = _schema(
        ("name", "string"),
        ("input_type", "string"),
        ("default_output", "string"),
        ("latency_slo_micros", "int"),
    )

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "AddAppRequest":
        return cls(
            name=get_str(body, "name"),
            input_type=get_input_type(body),
            default_output=get_str(body, "default_output"),
            latency_slo_micros=get_int(body, "latency_slo_micros"),
        )


@dataclass(frozen=True, slots=True)
class AppNameRequest(Request):
    """``delete_app`` and ``get_application``: ``{"name": ...}``."""

    name: str

    SCHEMA: ClassVar[str] = _schema(("name", "string"))

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "AppNameRequest":
        return cls(name=get_str(body, "name"))


@dataclass(frozen=True, slots=True)
class ModelLinksRequest(Request):
    """``add_model_links`` and ``delete_model_links``."""

    app_name: str
    model_names: list[str]

    SCHEMA: ClassVar[str] = _schema(("app_name", "string"), ("model_names", "[string]"))

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "ModelLinksRequest":
        return cls(app_name=get_str(body, "app_name"), model_names=get_str_list(body, "model_names"))


@dataclass(frozen=True, slots=True)
class AppNameFieldRequest(Request):
    """``get_linked_models``: ``{"app_name": ...}``."""

    app_name: str

    SCHEMA: ClassVar[str] = _schema(("app_name", "string"))

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "AppNameFieldRequest":
        return cls(app_name=get_str(body, "app_name"))


@dataclass(frozen=True, slots=True)
class AddModelRequest(Request):
    model_name: str
    model_version: str
    labels: list[str]
    input_type: InputType
    container_name: str
    model_data_path: str
    batch_size: int

    SCHEMA: ClassVar[str] = _schema(
        ("model_name", "string"),
        ("model_version", "string"),
        ("labels", "[string]"),
        ("input_type", "string"),
        ("container_name", "string"),
        ("model_data_path", "string"),
        ("batch_size", "int (positive, or -1 for adaptive batching)"),
    )

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "AddModelRequest":
        return cls(
            model_name=get_str(body, "model_name"),
            model_version=get_str(body, "model_version"),
            labels=get_str_list(body, "labels"),
            input_type=get_input_type(body),
            container_name=get_str(body, "container_name"),
            model_data_path=get_str(body, "model_data_path"),
            batch_size=get_int(body, "batch_size"),
        )


@dataclass(frozen=True, slots=True)
class VersionedModelRequest(Request):
    """``set_model_version``, ``delete_versioned_model`` and ``get_model``."""

    model_name: str
    model_version: str

    SCHEMA: ClassVar[str] = _schema(("model_name", "string"), ("model_version", "string"))

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "VersionedModelRequest":
        return cls(
            model_name=get_str(body, "model_name"),
            model_version=get_str(body, "model_version"),
        )


@dataclass(frozen=True, slots=True)
class VerboseRequest(Request):
    """``get_all_applications``, ``get_all_models``, ``get_all_containers``."""

    verbose: bool

    SCHEMA: ClassVar[str] = _schema(("verbose", "bool"))

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "VerboseRequest":
        return cls(verbose=get_bool(body, "verbose"))


@dataclass(frozen=True, slots=True)
class ContainerRequest(Request):
    model_name: str
    model_version: str
    replica_id: int

    SCHEMA: ClassVar[str] = _schema(
        ("model_name", "string"), ("model_version", "string"), ("replica_id", "int")
    )

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "ContainerRequest":
        return cls(
            model_name=get_str(body, "model_name"),
            model_version=get_str(body, "model_version"),
            replica_id=get_int(body, "replica_id"),
        )


@dataclass(frozen=True, slots=True)
class GetStateRequest(Request):
    app_name: str
    uid: int

    SCHEMA: ClassVar[str] = _schema(("app_name", "string"), ("uid", "int"))

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "GetStateRequest":
        return cls(app_name=get_str(body, "app_name"), uid=get_int(body, "uid"))


# --------------------------------------------------------------------------
# Response objects (key order as the original writes them)


def application_json(app: ApplicationRecord, linked_models: list[str]) -> dict[str, Any]:
    return {
        "input_type": app.input_type,
        "default_output": app.default_output,
        "latency_slo_micros": app.latency_slo_micros,
        "name": app.name,
        "linked_models": linked_models,
    }


def model_json(model: ModelRecord, is_current_version: bool) -> dict[str, Any]:
    return {
        "model_name": model.model_name,
        "model_version": model.model_version,
        "input_type": model.input_type,
        "labels": model.labels,
        "container_name": model.container_name,
        "model_data_path": model.model_data_path,
        "is_current_version": is_current_version,
    }


def container_json(container: ContainerRecord) -> dict[str, Any]:
    return {
        "model_id": container.model_id,
        "model_name": container.model_name,
        "model_version": container.model_version,
        "model_replica_id": container.model_replica_id,
        "input_type": container.input_type,
    }
