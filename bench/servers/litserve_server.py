"""LitServe peer: batching on (max 32, 2 ms), one worker. argv: port workload."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import litserve as ls  # noqa: E402

from models import sums  # noqa: E402

WORKLOAD = sys.argv[2]


class SumAPI(ls.LitAPI):
    def setup(self, device):  # type: ignore[no-untyped-def]
        pass

    def decode_request(self, request):  # type: ignore[no-untyped-def]
        return request["input"]

    def batch(self, inputs):  # type: ignore[no-untyped-def]
        return inputs

    def predict(self, xs):  # type: ignore[no-untyped-def]
        return sums(xs, WORKLOAD)

    def unbatch(self, output):  # type: ignore[no-untyped-def]
        return list(output)

    def encode_response(self, output):  # type: ignore[no-untyped-def]
        return {"output": output}


if __name__ == "__main__":
    ls.LitServer(SumAPI(max_batch_size=32, batch_timeout=0.002), accelerator="cpu",
                 workers_per_device=1).run(port=int(sys.argv[1]), generate_client_file=False)
