"""The query frontend's ``GET /metrics`` document as per-application and per-model figures.

The document (:class:`clipper_protocol.query_api.MetricsReport`) groups
metrics named ``app:<app>:<metric>``, ``model:<name>:<version>:<metric>``
and ``internal:<metric>`` under ``counters``, ``ratio_counters``, ``meters``
and ``histograms``, every value a string; names and versions never hold a
``:``. Latencies are in microseconds.
"""

from __future__ import annotations

import math
from typing import Any

_PERCENTILES = ("p50", "p95", "p99", "mean", "max")


def _number(text: object) -> float | None:
    try:
        value = float(str(text))
    except ValueError:
        return None
    return None if math.isnan(value) else value


def _flatten(report: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``{metric name: {field: value}}`` over every group."""
    flat: dict[str, dict[str, str]] = {}
    for group in report.values():
        if isinstance(group, list):
            for entry in group:
                if isinstance(entry, dict):
                    flat.update({k: v for k, v in entry.items() if isinstance(v, dict)})
    return flat


def _latency(fields: dict[str, str] | None) -> dict[str, float | None]:
    fields = fields or {}
    if fields.get("size", "0") == "0":
        return dict.fromkeys(_PERCENTILES)
    return {k: _number(fields.get(k, "nan")) for k in _PERCENTILES}


def summarize_metrics(report: dict[str, Any], apps: list[str]) -> dict[str, Any]:
    """``{"apps": [...], "models": [...], "prediction_cache": {...}}`` from a ``/metrics`` document.

    ``apps`` are the registered applications, listed even before their first
    query (the frontend reports an application once it was queried).
    """
    flat = _flatten(report)
    app_names = list(apps) + sorted({k.split(":")[1] for k in flat if k.startswith("app:")} - set(apps))
    out_apps = []
    for app in app_names:
        prefix = f"app:{app}:"
        count = int(_number(flat.get(prefix + "num_predictions", {}).get("count", "0")) or 0)
        ratio = _number(flat.get(prefix + "default_prediction_ratio", {}).get("ratio", "nan"))
        out_apps.append({
            "app": app,
            "num_predictions": count,
            "default_predictions": round((ratio or 0.0) * count),
            "default_ratio": ratio,
            "latency_micros": _latency(flat.get(prefix + "prediction_latency")),
            "throughput_per_s": _number(flat.get(prefix + "prediction_throughput", {}).get("rate", "nan")),
        })
    models = sorted({tuple(k.split(":")[1:3]) for k in flat if k.startswith("model:") and k.count(":") == 3})
    out_models = []
    for name, version in models:
        prefix = f"model:{name}:{version}:"
        batch = flat.get(prefix + "batch_size", {})
        out_models.append({
            "model_name": name,
            "model_version": version,
            "num_predictions": int(_number(flat.get(prefix + "num_predictions", {}).get("count", "0")) or 0),
            "cache_hit_ratio": _number(flat.get(prefix + "cache_hit_ratio", {}).get("ratio", "nan")),
            "latency_micros": _latency(flat.get(prefix + "prediction_latency")),
            "mean_batch_size": _number(batch.get("mean", "nan")) if batch.get("size", "0") != "0" else None,
        })
    cache = {
        "lookups": int(_number(flat.get("internal:prediction_cache_lookups", {}).get("count", "0")) or 0),
        "hit_ratio": _number(flat.get("internal:prediction_cache_hit_ratio", {}).get("ratio", "nan")),
    }
    return {"apps": out_apps, "models": out_models, "prediction_cache": cache}


def ms(micros: float | None) -> str:
    return "-" if micros is None else f"{micros / 1000:.2f}"


def percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.1f}"
