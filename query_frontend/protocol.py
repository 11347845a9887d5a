"""The REST codec of the query frontend: request parsing and response rendering.

Field names and shapes are :mod:`clipper_protocol.query_api`'s; each input
is validated and packed by the one input-element codec
(:func:`clipper_protocol.input_types.pack_input`). Errors name the problem
in the original's words and never quote the request. No serving logic here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from clipper_protocol import query_api as api
from clipper_protocol.input_types import DEFAULT_MAX_INPUT_ELEMENTS, InputTooLarge, InputType, InvalidInput, pack_input
from clipper_protocol.json_types import json_type_name
from query_frontend.errors import RequestError
from query_frontend.results import QueryResult, SelectedResult

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


@dataclass(slots=True)
class PredictRequest:
    """A parsed ``/predict`` body: each input packed for the wire."""

    inputs: list[bytes]
    is_batch: bool
    version: str | None
    uid: int = 0


@dataclass(slots=True)
class UpdateRequest:
    """A parsed ``/update`` body."""

    uid: int
    input: bytes
    label: float


def _json_error(detail: str, schema: str) -> RequestError:
    return RequestError(f"Error parsing JSON: {detail}. Expected JSON schema: {schema}")


def _parse_object(body: bytes, schema: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise _json_error(f"JSON parse error: {e}", schema) from None
    if not isinstance(doc, dict):
        raise _json_error(f"Can only get key-value pair from an object, got {json_type_name(doc)}", schema)
    return doc


def _pack(value: object, input_type: InputType, key: str, schema: str, max_elements: int) -> bytes:
    try:
        return pack_input(value, input_type, key, max_elements)
    except InputTooLarge as e:
        raise RequestError(e.detail, error="Input too large") from None
    except InvalidInput as e:
        raise _json_error(e.detail, schema) from None


def parse_predict(
    body: bytes, input_type: InputType, max_batch_inputs: int, max_elements: int = DEFAULT_MAX_INPUT_ELEMENTS
) -> PredictRequest:
    doc = _parse_object(body, PREDICT_SCHEMA)
    version = doc.get(api.VERSION)
    if version is not None and type(version) is not str:
        raise _json_error(
            f"Type mismatch! JSON key version expected type Stringbut found type {json_type_name(version)}",
            PREDICT_SCHEMA,
        )
    uid = _parse_uid(doc, PREDICT_SCHEMA)
    if api.INPUT in doc:
        packed = _pack(doc[api.INPUT], input_type, api.INPUT, PREDICT_SCHEMA, max_elements)
        return PredictRequest([packed], False, version, uid)
    if api.INPUT_BATCH in doc:
        batch = doc[api.INPUT_BATCH]
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
        inputs = [_pack(x, input_type, api.INPUT_BATCH, PREDICT_SCHEMA, max_elements) for x in batch]
        # The original answers a one-element batch like a single input.
        return PredictRequest(inputs, len(inputs) != 1, version, uid)
    raise _json_error("JSON object does not have required keys input or input_batch", PREDICT_SCHEMA)


def parse_update(
    body: bytes, input_type: InputType, max_elements: int = DEFAULT_MAX_INPUT_ELEMENTS
) -> UpdateRequest:
    doc = _parse_object(body, UPDATE_SCHEMA)
    for key in (api.INPUT, api.LABEL):
        if key not in doc:
            raise _json_error(f"JSON object does not have required key: {key}", UPDATE_SCHEMA)
    uid = _parse_uid(doc, UPDATE_SCHEMA)
    label = doc[api.LABEL]
    if type(label) not in (int, float):
        raise _json_error(
            f"Type mismatch! JSON key label expected type Numberbut found type {json_type_name(label)}", UPDATE_SCHEMA
        )
    return UpdateRequest(uid, _pack(doc[api.INPUT], input_type, api.INPUT, UPDATE_SCHEMA, max_elements), float(label))


def _parse_uid(doc: dict[str, Any], schema: str) -> int:
    """The optional user id (personalised selection state); 0 when absent, as the original."""
    uid = doc.get(api.UID, 0)
    if type(uid) is not int:
        raise _json_error(
            f"Type mismatch! JSON key uid expected type Numberbut found type {json_type_name(uid)}", schema
        )
    if not 0 <= uid < 2**63:
        raise _json_error("JSON key uid must be a non-negative 64-bit integer", schema)
    return uid


def render_result(r: QueryResult) -> dict[str, object]:
    """A :class:`clipper_protocol.query_api.Prediction`: the original's fields, in its order; then, for
    apps with a selection policy, which model served the query (``model``, ``version``) or, for an
    ensemble, which models' answers it combines (``models_used``); a cascade adds ``stage`` and
    ``confidence``."""
    out: dict[str, object] = {api.QUERY_ID: r.query_id, api.OUTPUT: r.output, api.DEFAULT: r.default}
    if r.default and r.explanation:
        out[api.DEFAULT_EXPLANATION] = r.explanation
    if isinstance(r, SelectedResult):
        if r.ensemble:
            out[api.MODELS_USED] = [{api.MODEL: m, api.VERSION: v} for m, v in r.served]
        elif r.served:
            out[api.MODEL], out[api.VERSION] = r.served[0]
        if r.stage is not None:
            out[api.STAGE] = r.stage
            if r.confidence is not None:
                out[api.CONFIDENCE] = r.confidence
    return out


def render_predict(results: list[QueryResult], is_batch: bool) -> bytes:
    if is_batch:
        return orjson.dumps({api.BATCH_PREDICTIONS: [render_result(r) for r in results]})
    return orjson.dumps(render_result(results[0]))


def render_error(error: str, cause: str) -> bytes:
    """The original's error body: ``error`` names the kind, ``cause`` is the message."""
    return orjson.dumps({api.ERROR: error, api.CAUSE: cause})
