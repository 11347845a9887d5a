"""One sample of the query frontend's figures, for the dashboard.

Counters come from the Prometheus text (``GET /metrics/prometheus``: exact
cumulative counts, so rates are differences), latency percentiles and the
monitoring section from the JSON document (``GET /metrics``). Both are read
concurrently; either failing makes the sample a gap, with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from clipper_protocol.monitoring_api import MONITORING_KEY, AppMonitoring
from clipper_protocol.query_api import METRICS_PATH, PROMETHEUS_PATH

logger = logging.getLogger("clipper.management_frontend.dashboard")

_LINE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = re.compile(r"\\(.)")
_APP_LATENCY = re.compile(r"app:(.*):prediction_latency")

Labels = dict[str, str]
Families = dict[str, list[tuple[Labels, float]]]


def _unescape(value: str) -> str:
    return _UNESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse_prometheus(text: str) -> Families:
    """Samples of a Prometheus text page by metric name: ``{name: [(labels, value)]}``."""
    families: Families = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.fullmatch(line.strip())
        if m is None:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        labels = {k: _unescape(v) for k, v in _LABEL.findall(m.group(2) or "")}
        families.setdefault(m.group(1), []).append((labels, value))
    return families


@dataclass(slots=True)
class AppSample:
    predictions: float = 0.0
    defaults: dict[str, float] = field(default_factory=dict)
    """Cumulative default outputs by reason."""
    latency_ms: tuple[float | None, float | None, float | None] = (None, None, None)
    """p50, p95, p99."""
    input_drift_psi: float | None = None


@dataclass(slots=True)
class ModelSample:
    predictions: float = 0.0
    batches: float = 0.0
    batch_inputs: float = 0.0
    cache_hits: float = 0.0
    cache_misses: float = 0.0
    replicas: float | None = None
    queue_length: float | None = None
    accuracy: float | None = None
    mae: float | None = None
    output_drift_psi: float | None = None


@dataclass(slots=True)
class Sample:
    """The query frontend's figures at ``t`` (Unix seconds); ``error`` set makes it a gap."""

    t: float
    error: str | None = None
    apps: dict[str, AppSample] = field(default_factory=dict)
    models: dict[tuple[str, str], ModelSample] = field(default_factory=dict)
    cache_lookups: float = 0.0
    cache_hits: float = 0.0
    monitoring: dict[str, AppMonitoring] | None = None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _ms(micros: Any) -> float | None:
    value = _number(micros)
    return None if value is None else value / 1000


def _model(sample: Sample, labels: Labels) -> ModelSample:
    key = (labels.get("model", ""), labels.get("version", ""))
    return sample.models.setdefault(key, ModelSample())


def _read_prometheus(sample: Sample, families: Families) -> None:
    for labels, value in families.get("clipper_app_predictions_total", []):
        sample.apps.setdefault(labels.get("app", ""), AppSample()).predictions = value
    for labels, value in families.get("clipper_app_default_predictions_total", []):
        app = sample.apps.setdefault(labels.get("app", ""), AppSample())
        app.defaults[labels.get("reason", "")] = value
    per_model = {
        "clipper_model_predictions_total": "predictions", "clipper_model_batch_size_count": "batches",
        "clipper_model_batch_size_sum": "batch_inputs", "clipper_model_cache_hits_total": "cache_hits",
        "clipper_model_cache_misses_total": "cache_misses", "clipper_model_replicas": "replicas",
        "clipper_model_queue_length": "queue_length",
    }
    for name, attr in per_model.items():
        for labels, value in families.get(name, []):
            setattr(_model(sample, labels), attr, value)
    sample.cache_lookups = sum(v for _, v in families.get("clipper_prediction_cache_lookups_total", []))
    sample.cache_hits = sum(v for _, v in families.get("clipper_prediction_cache_hits_total", []))


def _read_json(sample: Sample, doc: dict[str, Any]) -> None:
    for entry in doc.get("histograms", []):
        for name, fields in entry.items():
            m = _APP_LATENCY.fullmatch(name)
            if m is None or m.group(1) not in sample.apps or not isinstance(fields, dict):
                continue
            # The reservoir's figures are in microseconds; an empty one reports zeros.
            if _number(fields.get("size")) == 0:
                continue
            p50, p95, p99 = (_ms(fields.get(k)) for k in ("p50", "p95", "p99"))
            sample.apps[m.group(1)].latency_ms = (p50, p95, p99)
    raw = doc.get(MONITORING_KEY)
    if not isinstance(raw, dict):
        return
    try:
        sample.monitoring = {str(app): AppMonitoring.from_json(m) for app, m in raw.items()}
    except (ValueError, TypeError, KeyError):  # a frontend of another version: show the rest
        logger.debug("the query frontend's monitoring section has an unknown shape; not shown", exc_info=True)
        return
    for app, mon in sample.monitoring.items():
        psis = [f.psi for f in mon.features if f.psi is not None]
        sample.apps.setdefault(app, AppSample()).input_drift_psi = max(psis) if psis else None
        for mm in mon.models:
            ms = sample.models.get((mm.model, mm.version))
            if ms is None or ms.accuracy is not None or ms.mae is not None:
                continue  # a version serving several apps: the first app's figures
            ms.accuracy, ms.mae = mm.quality.accuracy.recent, mm.quality.mae.recent
            ms.output_drift_psi = mm.outputs.psi


async def take_sample(session: aiohttp.ClientSession, base_url: str) -> Sample:
    """Reads both pages of the query frontend at ``base_url``; never raises (a failure is a gap)."""
    sample = Sample(time.time())

    async def get(path: str) -> bytes:
        async with session.get(base_url.rstrip("/") + path) as r:
            if r.status != 200:
                raise ValueError(f"GET {path} answered {r.status}")
            return await r.read()

    try:
        text, doc = await asyncio.gather(get(PROMETHEUS_PATH), get(METRICS_PATH))
        _read_prometheus(sample, parse_prometheus(text.decode("utf-8", "replace")))
        parsed = orjson.loads(doc)
        if not isinstance(parsed, dict):
            raise ValueError(f"GET {METRICS_PATH} is not a JSON object")
        _read_json(sample, parsed)
    except (aiohttp.ClientError, TimeoutError, ValueError, orjson.JSONDecodeError) as e:
        reason = str(e) or type(e).__name__
        return Sample(sample.t, error=f"query frontend at {base_url} unreachable or unreadable: {reason}")
    return sample
