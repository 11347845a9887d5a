"""Triton Inference Server (from the nvidia-pytriton wheel) serving a real model. argv: port model.

Dynamic batching (max 32, max queue delay 5 ms); the Python function runs
in this process, Triton's HTTP endpoint speaks the KServe v2 protocol
(``/v2/models/<model>/infer``, input ``x`` FP64 [1, 64], output ``y`` INT64).
"""

from __future__ import annotations

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np  # noqa: E402
from pytriton.decorators import batch  # noqa: E402
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor  # noqa: E402
from pytriton.triton import Triton, TritonConfig  # noqa: E402

from real_models_common import predictor  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    port, model = int(sys.argv[1]), sys.argv[2]
    predict_rows = predictor(model)

    @batch  # type: ignore[misc]
    def infer(x: np.ndarray) -> dict[str, np.ndarray]:
        return {"y": np.asarray(predict_rows(x), dtype=np.int64).reshape(-1, 1)}

    config = TritonConfig(http_address="127.0.0.1", http_port=port, grpc_address="127.0.0.1", grpc_port=free_port(),
                          metrics_port=free_port(), allow_metrics=False)
    with Triton(config=config) as triton:
        triton.bind(model_name=model, infer_func=infer, inputs=[Tensor(name="x", dtype=np.float64, shape=(64,))],
                    outputs=[Tensor(name="y", dtype=np.int64, shape=(1,))],
                    config=ModelConfig(max_batch_size=32, batcher=DynamicBatcher(max_queue_delay_microseconds=5000)))
        triton.serve()


if __name__ == "__main__":
    main()
