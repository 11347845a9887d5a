"""The query frontend's OpenAPI document says what its parser does: the fields it accepts, which are required.

For each request body the document describes, a body with every property is
accepted; without a property the document lists as required it is refused,
and without any other one it is still accepted (``input`` and
``input_batch`` of a predict body are alternatives: one of them is needed).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from clipper_protocol.input_types import InputType
from query_frontend import openapi
from query_frontend.errors import RequestError
from query_frontend.protocol import parse_predict, parse_update

SCHEMAS = json.loads(openapi.rendered())["components"]["schemas"]
SAMPLES: dict[str, dict[str, Any]] = {
    "PredictRequest": {"input": [1.0, 2.0], "input_batch": [[1.0], [2.0]], "version": "1", "uid": 3},
    "UpdateRequest": {"input": [1.0, 2.0], "label": 1.0, "uid": 3},
}
#: Properties of which a body needs one (not expressible as ``required``).
ALTERNATIVES = {"PredictRequest": {"input", "input_batch"}}


def parse(schema: str, body: dict[str, Any]) -> Any:
    raw = orjson.dumps(body)
    if schema == "PredictRequest":
        return parse_predict(raw, InputType.DOUBLES, max_batch_inputs=100)
    return parse_update(raw, InputType.DOUBLES)


def accepted(schema: str, body: dict[str, Any]) -> bool:
    try:
        parse(schema, body)
    except RequestError:
        return False
    return True


@pytest.mark.parametrize("schema", sorted(SAMPLES))
def test_every_documented_property_is_parsed_and_required_means_required(schema: str) -> None:
    doc = SCHEMAS[schema]
    assert set(doc["properties"]) == set(SAMPLES[schema]), "the sample must hold every documented property"
    assert accepted(schema, SAMPLES[schema])
    required = set(doc.get("required", []))
    for name in doc["properties"]:
        without = {k: v for k, v in SAMPLES[schema].items() if k != name}
        if name in required:
            assert not accepted(schema, without), f"{schema}.{name} is documented as required but is not"
        else:
            assert accepted(schema, without), f"{schema}.{name} is required by the parser but documented optional"
    group = ALTERNATIVES.get(schema, set())
    if group:
        bare = {k: v for k, v in SAMPLES[schema].items() if k not in group}
        assert not accepted(schema, bare), f"{schema} needs one of {sorted(group)}"


def test_uid_is_optional_on_predict_and_update_and_defaults_to_zero() -> None:
    assert parse("PredictRequest", {"input": [1.0]}).uid == 0
    assert parse("UpdateRequest", {"input": [1.0], "label": 0.5}).uid == 0
    assert parse("PredictRequest", {"input": [1.0], "uid": 7}).uid == 7
