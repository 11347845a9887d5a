"""Statistical performance monitoring on the query frontend: paths and JSON shapes.

The query frontend watches every application's traffic (inputs, outputs,
default outputs) and the feedback sent to ``/<app>/update``, and reports:

- ``GET /metrics``: the original's document plus one top-level key,
  :data:`MONITORING_KEY` (``"monitoring"``), mapping each application name
  to its :class:`AppMonitoring`;
- ``GET /<app>/monitoring``: that one :class:`AppMonitoring` (404 for an
  unknown application);
- ``POST /<app>/monitoring/reset``: start new reference windows for the
  application (inputs, defaults, and the outputs and quality of each of its
  model versions); answers :class:`ResetAnswer`.

Every figure is a JSON number or ``null`` (not enough data yet; never NaN).
Times are Unix seconds. Windows: *reference* is the first ``reference_size``
samples after a model version of the application was deployed or linked,
or after a reset; *recent* the last ``window_size`` samples; *lifetime*
everything since the frontend started (or the version appeared).
docs/monitoring.md explains each figure.

Like every module of this package it imports nothing of the serving logic;
``to_json`` writes and ``from_json`` reads each shape.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

MONITORING_KEY = "monitoring"
"""The top-level key ``GET /metrics`` adds to the original's document."""

MONITORING = "monitoring"
"""The per-application action: ``GET /<app>/monitoring``."""
RESET = "reset"
"""``POST /<app>/monitoring/reset``."""

CLASSIFIER = "classifier"
REGRESSOR = "regressor"
QUALITY_KINDS: tuple[str, ...] = (CLASSIFIER, REGRESSOR)
"""How a model version's quality is measured: accuracy (classifier) or mean absolute error (regressor)."""

NUMERIC = "numeric"
CATEGORICAL = "categorical"

LENGTH_FEATURE = "length"
"""The feature name of a strings or bytes input's length (in bytes)."""
TYPE_MIX_FEATURE = "type_mix"
"""The feature name of the mix of kinds of strings or bytes inputs (see :data:`STRING_KINDS`)."""
STRING_KINDS: tuple[str, ...] = ("empty", "numeric", "json", "ascii", "unicode", "binary")
"""Kinds of a strings or bytes input: empty; a number; a JSON object or array; other ASCII text; other
UTF-8 text; not UTF-8."""

RESET_REASONS: tuple[str, ...] = ("start", "deploy", "reset")
"""Why a reference window started: the frontend first saw the application, its served model versions
changed (a deploy, link, unlink or version change), or a reset was asked for."""


def monitoring_path(app: str) -> str:
    """``/<app>/monitoring``."""
    return f"/{app}/{MONITORING}"


def reset_path(app: str) -> str:
    """``/<app>/monitoring/reset``."""
    return f"/{app}/{MONITORING}/{RESET}"


def _doc(text: str) -> dict[str, Any]:
    return {"doc": text}


# --------------------------------------------------------------------------
# Building blocks


@dataclass(frozen=True, slots=True)
class Summary:
    """A numeric window at a glance."""

    count: int = field(metadata=_doc("values in the window"))
    mean: float | None = field(default=None, metadata=_doc("their mean"))
    std: float | None = field(default=None, metadata=_doc("their standard deviation"))
    min: float | None = field(default=None, metadata=_doc("smallest"))
    p50: float | None = field(default=None, metadata=_doc("median"))
    max: float | None = field(default=None, metadata=_doc("largest"))


@dataclass(frozen=True, slots=True)
class WindowInfo:
    """A reference window: how far it has filled, since when and why it started."""

    size: int = field(metadata=_doc("samples held"))
    capacity: int = field(metadata=_doc("samples it holds when complete (reference_size)"))
    complete: bool = field(metadata=_doc("true once full: drift is computed against it from then on"))
    started_at: float = field(metadata=_doc("when it started (Unix seconds)"))
    reason: str = field(metadata=_doc("why it started: start, deploy or reset"))


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """The drift of one input feature: the recent window against the reference."""

    feature: str = field(metadata=_doc("the element's index (\"0\", \"1\", ...), or length, or type_mix"))
    psi: float | None = field(default=None, metadata=_doc(
        "population stability index (bins: the reference's deciles, and one each side of its range; "
        "0.1 moderate, 0.25 large)"))
    ks: float | None = field(default=None, metadata=_doc(
        "two-sample Kolmogorov-Smirnov statistic, the largest gap of the two CDFs (numeric features)"))
    reference: Summary | None = field(default=None, metadata=_doc("the reference window's values"))
    recent: Summary | None = field(default=None, metadata=_doc("the recent window's values"))


@dataclass(frozen=True, slots=True)
class Windows:
    """One figure over the three windows."""

    recent: float | None = None
    reference: float | None = None
    lifetime: float | None = None


@dataclass(frozen=True, slots=True)
class DefaultRates:
    """Queries answered with the application's default output, and why."""

    rate: Windows = field(metadata=_doc("share of sampled queries that got the default output"))
    recent_reasons: dict[str, float] = field(metadata=_doc(
        "in the recent window, share of sampled queries per reason (slo, no_connected_models, ...)"))
    lifetime_reasons: dict[str, int] = field(metadata=_doc("sampled queries per reason since start"))


@dataclass(frozen=True, slots=True)
class TimeBucket:
    """Feedback of one time slot (bucket_s long) of a model version."""

    start: float = field(metadata=_doc("the slot's start (Unix seconds)"))
    feedback: int = field(metadata=_doc("feedbacks in it"))
    accuracy: float | None = field(default=None, metadata=_doc("share of exact answers"))
    mae: float | None = field(default=None, metadata=_doc("mean absolute error of numeric answers"))


@dataclass(frozen=True, slots=True)
class Quality:
    """A model version's quality, from the labels of ``/update``.

    Both figures are computed; ``kind`` says which one measures the version
    (and which Prometheus exports): accuracy for a classifier (outputs and
    labels integral, few distinct values), MAE for a regressor.
    """

    kind: str | None = field(metadata=_doc("classifier or regressor (null before the first feedback)"))
    feedback: int = field(metadata=_doc("feedbacks matched to this version's answer since start"))
    non_numeric: int = field(metadata=_doc("of those, answers that are not a number (counted wrong, no error)"))
    reference: WindowInfo = field(metadata=_doc("the feedback reference window"))
    accuracy: Windows = field(metadata=_doc("share of answers equal to the label"))
    mae: Windows = field(metadata=_doc("mean absolute error of numeric answers"))
    buckets: list[TimeBucket] = field(metadata=_doc("the last time slots with feedback, oldest first"))


@dataclass(frozen=True, slots=True)
class OutputDrift:
    """The distribution of a model version's answers (default outputs excluded)."""

    kind: str | None = field(metadata=_doc("numeric or categorical (null before the first answer)"))
    psi: float | None = field(default=None, metadata=_doc("population stability index, recent vs reference"))
    ks: float | None = field(default=None, metadata=_doc("Kolmogorov-Smirnov statistic (numeric answers)"))
    reference: Summary | None = field(default=None, metadata=_doc("numeric answers of the reference"))
    recent: Summary | None = field(default=None, metadata=_doc("numeric answers of the recent window"))
    top: dict[str, float] = field(default_factory=dict, metadata=_doc(
        "categorical answers: share of each of the most frequent in the recent window"))


@dataclass(frozen=True, slots=True)
class ModelMonitoring:
    """One model version serving the application."""

    model: str
    version: str
    answers: int = field(metadata=_doc("sampled answers of this version since start"))
    reference: WindowInfo = field(metadata=_doc("the output reference window"))
    outputs: OutputDrift
    quality: Quality


@dataclass(frozen=True, slots=True)
class AppMonitoring:
    """Everything monitored of one application (``GET /<app>/monitoring``)."""

    app: str
    input_type: str
    updated_at: float = field(metadata=_doc("when these figures were computed (Unix seconds)"))
    sample_every: int = field(metadata=_doc("one query in this many is sampled (setting monitoring_sample_every)"))
    sampled: int = field(metadata=_doc("queries sampled since start"))
    reference: WindowInfo = field(metadata=_doc("the input and default-rate reference window"))
    window: int = field(metadata=_doc("samples in the recent window now"))
    features: list[FeatureDrift] = field(metadata=_doc(
        "drift of each numeric element (the first max_features), or of length and type_mix for strings and bytes"))
    features_seen: int = field(metadata=_doc("most elements an input had (features past max_features are not tracked)"))
    type_mix: dict[str, Windows] | None = field(metadata=_doc(
        "strings and bytes apps: share of each kind of input (recent and reference windows)"))
    defaults: DefaultRates
    models: list[ModelMonitoring]
    feedback_unmatched: int = field(metadata=_doc(
        "feedbacks whose input no model version's cached answer matched (quality could not be attributed)"))

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = to_json(self)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> AppMonitoring:
        return from_json(cls, doc)


@dataclass(frozen=True, slots=True)
class ResetAnswer:
    """``POST /<app>/monitoring/reset``: the reference windows were restarted."""

    app: str
    reset: bool = field(metadata=_doc("always true"))
    started_at: float = field(metadata=_doc("when the new reference windows started (Unix seconds)"))

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = to_json(self)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ResetAnswer:
        return from_json(cls, doc)


# --------------------------------------------------------------------------
# Reading and writing


def to_json(value: Any) -> Any:
    """A shape (or a list or dict of them) as JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


T = TypeVar("T")


def from_json(cls: type[T], doc: Any) -> T:
    """A shape read back from JSON data (what :func:`to_json` wrote). Raises ValueError on a wrong shape."""
    return typing.cast(T, _read(cls, doc))


def _read(tp: Any, doc: Any) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if doc is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _read(inner, doc)
    if origin is list:
        if not isinstance(doc, list):
            raise ValueError(f"expected a list, got {type(doc).__name__}")
        return [_read(args[0], v) for v in doc]
    if origin is dict:
        if not isinstance(doc, dict):
            raise ValueError(f"expected an object, got {type(doc).__name__}")
        return {str(k): _read(args[1], v) for k, v in doc.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(doc, dict):
            raise ValueError(f"expected an object for {tp.__name__}, got {type(doc).__name__}")
        hints = typing.get_type_hints(tp)
        kwargs = {f.name: _read(hints[f.name], doc[f.name]) for f in dataclasses.fields(tp) if f.name in doc}
        return tp(**kwargs)
    if tp is float:
        if isinstance(doc, bool) or not isinstance(doc, (int, float)):
            raise ValueError(f"expected a number, got {type(doc).__name__}")
        return float(doc)
    if tp is int and (isinstance(doc, bool) or not isinstance(doc, int)):
        raise ValueError(f"expected an integer, got {type(doc).__name__}")
    if tp is str and not isinstance(doc, str):
        raise ValueError(f"expected a string, got {type(doc).__name__}")
    if tp is bool and not isinstance(doc, bool):
        raise ValueError(f"expected a boolean, got {type(doc).__name__}")
    return doc
