"""Ray Serve serving a real model: @serve.batch (max 32, 5 ms), one replica. argv: port model."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np  # noqa: E402
import ray  # noqa: E402
from ray import serve  # noqa: E402
from starlette.requests import Request  # noqa: E402

MODEL = sys.argv[2]


@serve.deployment(max_ongoing_requests=256, ray_actor_options={"num_cpus": 0})
class RealModel:
    def __init__(self, model: str) -> None:
        from real_models_common import predictor

        self.predict_rows = predictor(model)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def handle(self, rows):  # type: ignore[no-untyped-def]
        return self.predict_rows(np.asarray(rows, dtype=np.float64))

    async def __call__(self, req: Request):  # type: ignore[no-untyped-def]
        return {"output": await self.handle((await req.json())["input"])}


if __name__ == "__main__":
    ray.init(num_cpus=2, include_dashboard=False)
    serve.start(http_options={"host": "127.0.0.1", "port": int(sys.argv[1])})
    serve.run(RealModel.bind(MODEL), route_prefix="/predict")
    while True:
        time.sleep(3600)
