"""The REST contract in ``clipper_protocol.query_api`` is the one the frontend speaks.

The codec renders and parses its shapes, the OpenAPI document is generated
from them, and a client can build requests and read answers with it alone.
"""

from __future__ import annotations

import dataclasses

import orjson

from clipper_protocol import query_api as api
from clipper_protocol.input_types import InputType
from query_frontend import openapi, protocol
from query_frontend.results import QueryResult, SelectedResult


def test_rendered_predictions_read_back_as_the_contract_s_shapes() -> None:
    plain = QueryResult(7, {"a": 1}, False)
    fallback = QueryResult(8, "D", True, "late")
    single = SelectedResult(9, 2.0, False, None, (("m", "1"),))
    ensemble = SelectedResult(10, 3.0, False, None, (("a", "1"), ("b", "2")), True)
    assert api.parse_predict_response(orjson.loads(protocol.render_predict([plain], False))) == [
        api.Prediction(7, {"a": 1}, False)]
    batch = orjson.loads(protocol.render_predict([fallback, single, ensemble], True))
    assert list(batch) == [api.BATCH_PREDICTIONS]
    assert api.parse_predict_response(batch) == [
        api.Prediction(8, "D", True, default_explanation="late"),
        api.Prediction(9, 2.0, False, model="m", version="1"),
        api.Prediction(10, 3.0, False, models_used=[api.ServedModel("a", "1"), api.ServedModel("b", "2")]),
    ]


def test_requests_built_with_the_contract_parse() -> None:
    body = orjson.dumps(api.PredictRequest(input=[1.5, 2.0], version="3", uid=4).to_json())
    req = protocol.parse_predict(body, InputType.DOUBLES, 10)
    assert req.version == "3" and req.uid == 4 and not req.is_batch and len(req.inputs[0]) == 16
    batch = protocol.parse_predict(orjson.dumps(api.PredictRequest(input_batch=["a", "b"]).to_json()),
                                   InputType.STRINGS, 10)
    assert batch.is_batch and batch.inputs == [b"a", b"b"]
    update = protocol.parse_update(orjson.dumps(api.UpdateRequest(input=[1, 2], label=1.0).to_json()),
                                   InputType.INTEGERS)
    assert update.uid == 0 and update.label == 1.0
    assert api.predict_url("http://h:1337/", "app") == "http://h:1337/app/predict"


def test_the_openapi_document_is_generated_from_the_contract() -> None:
    doc = openapi.document()
    schemas = doc["components"]["schemas"]
    for shape in (api.PredictRequest, api.UpdateRequest, api.Prediction, api.BatchPrediction, api.ErrorBody,
                  api.Ready, api.MetricsReport):
        schema = schemas[openapi.schema_name(shape)]
        fields = dataclasses.fields(shape)
        assert set(schema["properties"]) == {f.name for f in fields}
        required = {f.name for f in fields if f.default is dataclasses.MISSING}
        assert set(schema.get("required", [])) == required
    assert set(doc["paths"]) == {ep.path for ep in api.ENDPOINTS}
    assert schemas["Error"]["required"] == [api.ERROR, api.CAUSE]
