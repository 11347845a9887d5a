"""Ray Serve peer: @serve.batch (max 32, 5 ms), one replica. argv: port workload."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import ray  # noqa: E402
from ray import serve  # noqa: E402
from starlette.requests import Request  # noqa: E402

from models import sums  # noqa: E402

WORKLOAD = sys.argv[2]


@serve.deployment(max_ongoing_requests=256, ray_actor_options={"num_cpus": 0})
class Sum:
    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def handle(self, xs):  # type: ignore[no-untyped-def]
        return sums(xs, WORKLOAD)

    async def __call__(self, req: Request):  # type: ignore[no-untyped-def]
        return {"output": await self.handle((await req.json())["input"])}


if __name__ == "__main__":
    ray.init(num_cpus=2, include_dashboard=False)
    serve.start(http_options={"host": "127.0.0.1", "port": int(sys.argv[1])})
    serve.run(Sum.bind(), route_prefix="/predict")
    while True:
        time.sleep(3600)
