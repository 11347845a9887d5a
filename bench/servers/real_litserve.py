"""LitServe serving a real model: batching on (max 32, 2 ms), one worker. argv: port model."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import litserve as ls  # noqa: E402
import numpy as np  # noqa: E402

from real_models_common import predictor  # noqa: E402

MODEL = sys.argv[2]


class RealAPI(ls.LitAPI):
    def setup(self, device):  # type: ignore[no-untyped-def]
        self.predict_rows = predictor(MODEL)

    def decode_request(self, request):  # type: ignore[no-untyped-def]
        return request["input"]

    def batch(self, inputs):  # type: ignore[no-untyped-def]
        return np.asarray(inputs, dtype=np.float64)

    def predict(self, rows):  # type: ignore[no-untyped-def]
        return self.predict_rows(rows)

    def unbatch(self, output):  # type: ignore[no-untyped-def]
        return list(output)

    def encode_response(self, output):  # type: ignore[no-untyped-def]
        return {"output": output}


if __name__ == "__main__":
    ls.LitServer(RealAPI(max_batch_size=32, batch_timeout=0.002), accelerator="cpu",
                 workers_per_device=1).run(port=int(sys.argv[1]), generate_client_file=False)
