"""BentoML serving a real model: adaptive batching (max 32, max_latency 1 s), one worker.

Run as ``bentoml serve real_bentoml:RealModel --port P`` with BENCH_WORKLOAD = the model.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bentoml  # noqa: E402
import numpy as np  # noqa: E402

from real_models_common import predictor  # noqa: E402

MODEL = os.environ.get("BENCH_WORKLOAD", "lr")


@bentoml.service(workers=1)
class RealModel:
    def __init__(self) -> None:
        self.predict_rows = predictor(MODEL)

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=32, max_latency_ms=1000)
    def predict(self, input: np.ndarray) -> np.ndarray:
        return np.asarray(self.predict_rows(input), dtype=np.int64)
