"""REST JSON shapes of the query frontend: request parsing and response rendering.

Input typing is as strict as the original's: a ``doubles`` or ``floats``
application takes arrays of numbers written with a fraction or exponent,
``integers`` takes int32 integers, ``strings`` a JSON string and ``bytes`` a
base64 string. Errors name the problem in the original's words.
"""

from __future__ import annotations

import array
import base64
import binascii
import sys
from dataclasses import dataclass

import numpy as np
import orjson

from clipper_protocol.input_types import InputType
from clipper_protocol.json_types import json_type_name
from query_frontend.errors import RequestError
from query_frontend.processor import QueryResult, SelectedResult

PREDICT_SCHEMA = """{
  "input" := [double] | [int] | [string] | [byte] | [float],
  "input_batch" := [[double] | [int] | [byte] | [float] | string],
  "version" := string (optional),
  "uid" := int (optional)
}"""

UPDATE_SCHEMA = """{
  "uid" := int (optional, default 0),
  "input" := [double] | [int] | [string] | [byte] | [float],
  "label" := double
}"""

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_BIG_ENDIAN = sys.byteorder == "big"
assert array.array("i").itemsize == 4, "int32 inputs need a 4-byte C int"


@dataclass(slots=True)
class PredictRequest:
    inputs: list[bytes]
    is_batch: bool
    version: str | None
    uid: int = 0


@dataclass(slots=True)
class UpdateRequest:
    uid: int
    input: bytes
    label: float


def _json_error(detail: str, schema: str) -> RequestError:
    return RequestError(f"Error parsing JSON: {detail}. Expected JSON schema: {schema}")


def _parse_object(body: bytes, schema: str) -> dict:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise _json_error(f"JSON parse error: {e}", schema) from None
    if not isinstance(doc, dict):
        raise _json_error(f"Can only get key-value pair from an object, got {json_type_name(doc)}", schema)
    return doc


DEFAULT_MAX_INPUT_ELEMENTS = 1_000_000


def pack_input(
    value: object, input_type: InputType, key: str, schema: str, max_elements: int = DEFAULT_MAX_INPUT_ELEMENTS
) -> bytes:
    """Validate one input for an app of ``input_type`` and pack it for the wire.

    Messages name the key and the problem but never quote the offending
    value: error bodies must not echo request bytes back.
    """
    if input_type is InputType.STRINGS:
        if type(value) is not str:
            raise _json_error(
                f"Type mismatch! JSON key {key} expected type Stringbut found type {json_type_name(value)}", schema
            )
        return value.encode()
    if input_type is InputType.BYTES:
        if type(value) is not str:
            raise _json_error(
                f"Type mismatch! JSON key {key} expected type String (base64)but found type {json_type_name(value)}",
                schema,
            )
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _json_error(f"JSON key {key} is not valid base64", schema) from None
    if type(value) is not list:
        raise _json_error(
            f"Type mismatch! JSON key {key} expected type Arraybut found type {json_type_name(value)}", schema
        )
    if not value:
        raise _json_error(f"JSON key {key} is an empty array; an input needs at least one element", schema)
    if len(value) > max_elements:
        raise RequestError(
            f"JSON key {key} holds an array of {len(value)} elements; the limit is {max_elements} "
            "(setting max_input_elements)",
            error="Input too large",
        )
    if input_type is InputType.INTEGERS:
        for x in value:
            if type(x) is not int:
                raise _json_error(f"Array input of type {json_type_name(x)} is not of type int", schema)
            if not _INT32_MIN <= x <= _INT32_MAX:
                raise _json_error(f"An integer in JSON key {key} does not fit a 32-bit int", schema)
        return _packed("i", value)
    for x in value:
        if type(x) is not float:
            target = "double" if input_type is InputType.DOUBLES else "float"
            raise _json_error(f"Array input of type {json_type_name(x)} is not of type {target}", schema)
    if input_type is InputType.FLOATS:
        if any(abs(x) > _FLOAT32_MAX for x in value):
            raise _json_error("Array input is out of the range of a 32-bit float", schema)
        return _packed("f", value)
    return _packed("d", value)


def _packed(typecode: str, values: list) -> bytes:
    """Little-endian machine values; array.array beats numpy on short vectors."""
    arr = array.array(typecode, values)
    if _BIG_ENDIAN:
        arr.byteswap()
    return arr.tobytes()


def parse_predict(
    body: bytes, input_type: InputType, max_batch_inputs: int, max_elements: int = DEFAULT_MAX_INPUT_ELEMENTS
) -> PredictRequest:
    doc = _parse_object(body, PREDICT_SCHEMA)
    version = doc.get("version")
    if version is not None and type(version) is not str:
        raise _json_error(
            f"Type mismatch! JSON key version expected type Stringbut found type {json_type_name(version)}",
            PREDICT_SCHEMA,
        )
    uid = _parse_uid(doc, PREDICT_SCHEMA)
    if "input" in doc:
        return PredictRequest(
            [pack_input(doc["input"], input_type, "input", PREDICT_SCHEMA, max_elements)], False, version, uid
        )
    if "input_batch" in doc:
        batch = doc["input_batch"]
        if type(batch) is not list:
            raise _json_error(
                f"Type mismatch! JSON key input_batch expected type Arraybut found type {json_type_name(batch)}",
                PREDICT_SCHEMA,
            )
        if len(batch) > max_batch_inputs:
            raise RequestError(
                f"input_batch holds {len(batch)} inputs; the limit is {max_batch_inputs}",
                status=413,
                error="Request too large",
            )
        inputs = [pack_input(x, input_type, "input_batch", PREDICT_SCHEMA, max_elements) for x in batch]
        # The original answers a one-element batch like a single input.
        return PredictRequest(inputs, len(inputs) != 1, version, uid)
    raise _json_error("JSON object does not have required keys input or input_batch", PREDICT_SCHEMA)


def parse_update(
    body: bytes, input_type: InputType, max_elements: int = DEFAULT_MAX_INPUT_ELEMENTS
) -> UpdateRequest:
    doc = _parse_object(body, UPDATE_SCHEMA)
    for key in ("input", "label"):
        if key not in doc:
            raise _json_error(f"JSON object does not have required key: {key}", UPDATE_SCHEMA)
    uid = _parse_uid(doc, UPDATE_SCHEMA)
    label = doc["label"]
    if type(label) not in (int, float):
        raise _json_error(
            f"Type mismatch! JSON key label expected type Numberbut found type {json_type_name(label)}", UPDATE_SCHEMA
        )
    return UpdateRequest(uid, pack_input(doc["input"], input_type, "input", UPDATE_SCHEMA, max_elements), float(label))


def _parse_uid(doc: dict, schema: str) -> int:
    """The optional user id (personalised selection state); 0 when absent, as the original."""
    uid = doc.get("uid", 0)
    if type(uid) is not int:
        raise _json_error(
            f"Type mismatch! JSON key uid expected type Numberbut found type {json_type_name(uid)}", schema
        )
    if not 0 <= uid < 2**63:
        raise _json_error("JSON key uid must be a non-negative 64-bit integer", schema)
    return uid


def render_result(r: QueryResult) -> dict[str, object]:
    """The original's fields, in its order; then, for apps with a selection
    policy, which model served the query (``model``, ``version``) or, for an
    ensemble, which models' answers it combines (``models_used``)."""
    out: dict[str, object] = {"query_id": r.query_id, "output": r.output, "default": r.default}
    if r.default and r.explanation:
        out["default_explanation"] = r.explanation
    if r.__class__ is SelectedResult:
        _render_served(r, out)  # type: ignore[arg-type]
    return out


def _render_served(r: SelectedResult, out: dict[str, object]) -> None:
    if r.ensemble:
        out["models_used"] = [{"model": m, "version": v} for m, v in r.served]
    elif r.served:
        out["model"], out["version"] = r.served[0]


def render_predict(results: list[QueryResult], is_batch: bool) -> bytes:
    if is_batch:
        return orjson.dumps({"batch_predictions": [render_result(r) for r in results]})
    return orjson.dumps(render_result(results[0]))


def render_error(error: str, cause: str) -> bytes:
    """The original's error body: ``error`` names the kind, ``cause`` is the message."""
    return orjson.dumps({"error": error, "cause": cause})
