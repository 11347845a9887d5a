"""TorchServe handler for the real MLP: a module-level ``handle(data, context)``.

TorchServe batches requests (batchSize 32, maxBatchDelay 5 ms, from the
model's registration in config.properties) and hands the handler the list;
the bench directory is on PYTHONPATH (TorchServe's workers inherit it).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from real_models_common import predictor

_state: dict[str, Any] = {}


def handle(data: list[dict[str, Any]] | None, context: Any) -> list[Any] | None:
    if data is None:
        return None
    if "predict" not in _state:
        _state["predict"] = predictor(context.manifest["model"]["modelName"])
    rows = []
    for req in data:
        body = req.get("body", req.get("data"))
        if isinstance(body, (bytes, bytearray)):
            body = json.loads(body)
        rows.append(body["input"])
    return [{"output": c} for c in _state["predict"](np.asarray(rows, dtype=np.float64))]
