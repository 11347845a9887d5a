"""The query frontend's REST contract: paths, field names and typed shapes.

One definition used by the frontend (its routes, its request parsing and
response rendering), by its OpenAPI document (generated from these classes
by :mod:`query_frontend.openapi`) and by clients (``clipper predict``).

Every shape is a dataclass; a field's ``metadata`` holds its description
(``doc``) and, where the Python type says too little, its JSON schema
(``schema``). A field with a default is optional; ``to_json`` leaves out
optional fields that are None, as the frontend does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from clipper_protocol import api_docs
from clipper_protocol.monitoring_api import MONITORING, RESET, AppMonitoring, ResetAnswer

# --------------------------------------------------------------------------
# Paths

PREDICT = "predict"
UPDATE = "update"
APP_ACTIONS: tuple[str, ...] = (PREDICT, UPDATE)
"""The per-application routes: ``/<app>/<action>``."""
METRICS_PATH = "/metrics"
PROMETHEUS_PATH = "/metrics/prometheus"
READY_PATH = "/ready"
HEALTHZ_PATH = "/healthz"
OPENAPI_PATH = "/openapi.json"
DOCS_PATH = api_docs.DOCS_PATH
"""``GET``: the interactive API page (Swagger UI on :data:`OPENAPI_PATH`)."""
DOCS_ASSET_PATH = api_docs.ASSET_PATH


def app_path(app: str, action: str = PREDICT) -> str:
    """``/<app>/predict`` (or ``/<app>/update``)."""
    return f"/{app}/{action}"


def predict_url(base_url: str, app: str) -> str:
    """The predict URL of ``app`` on the query frontend at ``base_url`` (``http://host:1337``)."""
    return base_url.rstrip("/") + app_path(app, PREDICT)


# --------------------------------------------------------------------------
# Field names

INPUT = "input"
INPUT_BATCH = "input_batch"
VERSION = "version"
UID = "uid"
LABEL = "label"
QUERY_ID = "query_id"
OUTPUT = "output"
DEFAULT = "default"
DEFAULT_EXPLANATION = "default_explanation"
MODEL = "model"
MODELS_USED = "models_used"
STAGE = "stage"
CONFIDENCE = "confidence"
BATCH_PREDICTIONS = "batch_predictions"
ERROR = "error"
CAUSE = "cause"
READY = "ready"
REASON = "reason"
DEGRADED = "degraded"
REDIS = "redis"

FEEDBACK_RECEIVED = "Feedback received? {saved}"
"""The body of an ``/update`` answer (the original's text, sent as JSON's content type): 1 or 0."""

Input = Union[list[float], list[int], str]
"""One input: numbers for doubles, floats and integers apps, a string for strings, base64 for bytes."""

INPUT_SCHEMA: dict[str, Any] = {
    "description": "One input, typed by the application's input_type: doubles and floats take numbers written "
    "with a fraction or exponent, integers take int32 integers, strings a string, bytes a base64 string.",
    "oneOf": [
        {"type": "array", "minItems": 1, "items": {"type": "number"}},
        {"type": "array", "minItems": 1, "items": {"type": "integer", "format": "int32"}},
        {"type": "string", "description": "a strings app's input, or a bytes app's input in base64"},
    ],
}


def _doc(text: str, **schema: Any) -> dict[str, Any]:
    return {"doc": text, "schema": schema} if schema else {"doc": text}


def _compact(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


# --------------------------------------------------------------------------
# Requests


@dataclass(frozen=True, slots=True)
class PredictRequest:
    """Exactly one of input and input_batch."""

    input: Input | None = field(default=None, metadata=_doc("one input", **INPUT_SCHEMA))
    input_batch: list[Input] | None = field(
        default=None, metadata=_doc("at most max_batch_inputs inputs", type="array", items=INPUT_SCHEMA))
    version: str | None = field(default=None, metadata=_doc("pin a version of the (single) linked model"))
    uid: int | None = field(default=None, metadata=_doc("user id for personalised selection state (default 0)",
                                                        type="integer", minimum=0))

    def to_json(self) -> dict[str, Any]:
        return _compact(input=self.input, input_batch=self.input_batch, version=self.version, uid=self.uid)


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """Feedback for a past prediction: the true label of an input."""

    input: Input = field(metadata=_doc("the input the feedback is about", **INPUT_SCHEMA))
    label: float = field(metadata=_doc("the true label"))
    uid: int | None = field(default=None, metadata=_doc("user id (default 0)", type="integer", minimum=0))

    def to_json(self) -> dict[str, Any]:
        return _compact(uid=self.uid, input=self.input, label=self.label)


# --------------------------------------------------------------------------
# Responses


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A model version whose answer a prediction used."""

    model: str = field(metadata=_doc("model name"))
    version: str = field(metadata=_doc("model version"))


@dataclass(frozen=True, slots=True)
class Prediction:
    """One query's answer: the original's three fields, then ours."""

    query_id: int = field(metadata=_doc("the frontend's id of the query"))
    output: Any = field(metadata=_doc("the model's output (JSON if it is a JSON document) or the default output"))
    default: bool = field(metadata=_doc("true when the default output answered"))
    default_explanation: str | None = field(default=None, metadata=_doc("why the default answered"))
    model: str | None = field(default=None, metadata=_doc("the model that served it (apps with a selection policy)"))
    version: str | None = field(default=None, metadata=_doc("that model's version"))
    models_used: list[ServedModel] | None = field(
        default=None, metadata=_doc("the models whose answers an ensemble (Exp4Policy) combined"))
    stage: int | None = field(default=None, metadata=_doc(
        "CascadePolicy: the index in params.stages of the stage that answered", type="integer", minimum=0))
    confidence: float | None = field(default=None, metadata=_doc("CascadePolicy: that stage's confidence"))

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Prediction:
        used = doc.get(MODELS_USED)
        confidence = doc.get(CONFIDENCE)
        return cls(
            query_id=int(doc[QUERY_ID]), output=doc[OUTPUT], default=bool(doc[DEFAULT]),
            default_explanation=doc.get(DEFAULT_EXPLANATION), model=doc.get(MODEL), version=doc.get(VERSION),
            models_used=None if used is None else [ServedModel(str(u[MODEL]), str(u[VERSION])) for u in used],
            stage=doc.get(STAGE), confidence=None if confidence is None else float(confidence),
        )


@dataclass(frozen=True, slots=True)
class BatchPrediction:
    """The answer to an ``input_batch`` of two or more inputs."""

    batch_predictions: list[Prediction] = field(metadata=_doc("one prediction per input, in input order"))

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> BatchPrediction:
        return cls([Prediction.from_json(p) for p in doc[BATCH_PREDICTIONS]])


def parse_predict_response(doc: dict[str, Any]) -> list[Prediction]:
    """The predictions of a 200 answer to ``/<app>/predict``, single or batch."""
    if BATCH_PREDICTIONS in doc:
        return BatchPrediction.from_json(doc).batch_predictions
    return [Prediction.from_json(doc)]


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """Every error answer (4xx, 5xx): the original's body."""

    SCHEMA_NAME: ClassVar[str] = "Error"

    error: str = field(metadata=_doc("the kind of error"))
    cause: str = field(metadata=_doc("the message: what was wrong, never quoting the request"))

    def to_json(self) -> dict[str, Any]:
        return {ERROR: self.error, CAUSE: self.cause}


@dataclass(frozen=True, slots=True)
class Ready:
    """``GET /ready``: 200 with ``ready`` true once the configuration is loaded, else 503."""

    ready: bool = field(metadata=_doc("whether the frontend serves queries"))
    reason: str | None = field(default=None, metadata=_doc(
        "why not ready (redis unreachable, a background task crashed, shutting down)"))
    degraded: dict[str, str] | None = field(default=None, metadata=_doc(
        "applications that can only answer with their default output, with the reason"))
    redis: str | None = field(default=None, metadata=_doc(
        "set while Redis is unreachable (serving from the last snapshot)"))

    def to_json(self) -> dict[str, Any]:
        return {READY: self.ready, **_compact(reason=self.reason, degraded=self.degraded, redis=self.redis)}


MetricGroup = list[dict[str, dict[str, str]]]
"""``[{metric name: {field: value as text}}]``."""


@dataclass(frozen=True, slots=True)
class MetricsReport:
    """``GET /metrics``: the original's document; every leaf value is a string."""

    counters: MetricGroup = field(metadata=_doc("``{name: {count}}``"))
    ratio_counters: MetricGroup = field(metadata=_doc("``{name: {ratio}}``"))
    meters: MetricGroup = field(metadata=_doc("``{name: {unit, rate, rate_1min, rate_5min, rate_15min}}``"))
    histograms: MetricGroup = field(metadata=_doc("``{name: {unit, size, min, max, mean, std_dev, p50, p95, p99}}``"))
    monitoring: dict[str, AppMonitoring] | None = field(default=None, metadata=_doc(
        "ours: statistical monitoring by application (absent with the setting monitoring off)"))

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"counters": self.counters, "ratio_counters": self.ratio_counters,
                               "meters": self.meters, "histograms": self.histograms}
        if self.monitoring is not None:
            doc["monitoring"] = {app: m.to_json() for app, m in self.monitoring.items()}
        return doc


# --------------------------------------------------------------------------
# Endpoints

TEXT = "text/plain"
JSON = "application/json"
HTML = "text/html"


@dataclass(frozen=True, slots=True)
class Answer:
    """One documented answer of an endpoint: a status, its body's shapes (none: text)."""

    status: int
    description: str
    shapes: tuple[type, ...] = ()
    content_type: str = JSON


def _errors(*codes: int) -> tuple[Answer, ...]:
    text = {
        400: "malformed JSON, wrong input type, too many elements or header lines, compressed body",
        404: "no such application (or monitoring switched off, on the monitoring routes)",
        405: "method not allowed",
        413: "body larger than max_body_bytes, or more inputs than max_batch_inputs",
        503: "queue full and shed_with=503 (with Retry-After, from the queue's drain rate), or not ready",
    }
    return tuple(Answer(c, text[c], (ErrorBody,)) for c in codes)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A route: ``path`` is fixed or ``/{app}/<action>``; ``request`` is its body's shape."""

    path: str
    method: str
    summary: str
    answers: tuple[Answer, ...]
    request: type | None = None


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/{app}/" + PREDICT, "POST", "Predict one input or a batch",
             (Answer(200, "the predictions", (Prediction, BatchPrediction)), *_errors(400, 404, 405, 413, 503)),
             PredictRequest),
    Endpoint("/{app}/" + UPDATE, "POST", "Feedback for a past prediction",
             (Answer(200, "Feedback received? 1 (0: the learned state could not be saved)", (), TEXT),
              *_errors(400, 404, 405, 413)),
             UpdateRequest),
    Endpoint("/{app}/" + MONITORING, "GET", "Statistical monitoring of an application: drift, default rate, quality",
             (Answer(200, "the application's figures", (AppMonitoring,)), *_errors(404, 405))),
    Endpoint("/{app}/" + MONITORING + "/" + RESET, "POST",
             "Start new reference windows for an application (after a retrain); the body is ignored",
             (Answer(200, "the windows restarted", (ResetAnswer,)), *_errors(404, 405))),
    Endpoint(READY_PATH, "GET", "Readiness",
             (Answer(200, "configuration loaded; degraded apps listed", (Ready,)),
              Answer(503, "not ready: Redis never reached, a background task down, or shutting down", (Ready,)))),
    Endpoint(HEALTHZ_PATH, "GET", "Liveness", (Answer(200, "ok", (), TEXT),)),
    Endpoint(METRICS_PATH, "GET", "Metrics (the original's JSON; Prometheus text with Accept: text/plain)",
             (Answer(200, "metrics report", (MetricsReport,)),)),
    Endpoint(PROMETHEUS_PATH, "GET", "Metrics as Prometheus text", (Answer(200, "Prometheus text", (), TEXT),)),
    Endpoint(OPENAPI_PATH, "GET", "This document", (Answer(200, "OpenAPI 3 document"),)),
    Endpoint(DOCS_PATH, "GET", "This document as an interactive page (Swagger UI)",
             (Answer(200, "HTML page", (), HTML),)),
    Endpoint(DOCS_ASSET_PATH, "GET", "The page's static files (Swagger UI's scripts, styles and licences)",
             (Answer(200, "the file", (), TEXT), Answer(304, "unchanged (If-None-Match)", (), TEXT),
              Answer(404, "no such file", (ErrorBody,)))),
)
