"""BentoML peer: adaptive batching (max 32, max_latency 1 s), one worker.

Run as ``bentoml serve bentoml_service:Sum --port P`` with BENCH_WORKLOAD set.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bentoml  # noqa: E402
import numpy as np  # noqa: E402

from models import sums  # noqa: E402

WORKLOAD = os.environ.get("BENCH_WORKLOAD", "sum")


@bentoml.service(workers=1)
class Sum:
    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=32, max_latency_ms=1000)
    def predict(self, input: np.ndarray) -> np.ndarray:
        return np.asarray(sums(input.tolist(), WORKLOAD))
