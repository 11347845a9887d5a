"""KServe's Python model server with a real model (a kserve.Model), v1 protocol. argv: port model.

``/v1/models/<model>:predict`` with ``{"instances": [[...64 doubles]]}``; one
uvicorn worker, gRPC and the per-request latency log off. KServe's server
has no batcher of its own (batching is a sidecar agent in a cluster), so each
call predicts the instances of one request.
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import kserve  # noqa: E402
import numpy as np  # noqa: E402

from real_models_common import predictor  # noqa: E402


class RealModel(kserve.Model):  # type: ignore[misc]
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.predict_rows = predictor(name)
        self.ready = True

    def predict(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        return {"predictions": self.predict_rows(np.asarray(payload["instances"], dtype=np.float64))}


if __name__ == "__main__":
    kserve.ModelServer(http_port=int(sys.argv[1]), workers=1, enable_grpc=False,
                       enable_latency_logging=False).start([RealModel(sys.argv[2])])
