"""Build-time check of the MXNet image (mxnet-container.Dockerfile): its numpy wins and the container serves.

MXNet 1.9.1 runs only on numpy<1.24, while py-rpc carries numpy 2: the
image's ``.pth`` puts the framework directory first on ``sys.path``. This
checks that ``import numpy`` gives the pinned one from there, that MXNet's
bundled native libraries load (CPU only), and that the container runtime
works on that numpy: a real ``model_containers.mxnet_container`` process
(pyzmq, cloudpickle, prometheus_client, the RPC codec) serves a Module bound
to batch 2 and an exported HybridBlock to a ROUTER socket here, and answers
what the models compute in-process.

    python probe_mxnet.py 1.9.1 1.23.5   # the mxnet and numpy versions expected
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from typing import Any

import cloudpickle
import numpy as np
import zmq

from clipper_protocol import rpc
from clipper_protocol.input_types import InputType, pack_input

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import mxnet as mx

FRAMEWORK_DIR = "/opt/clipper-frameworks/mxnet/"


def predict_module(model: Any, inputs: np.ndarray) -> list[str]:
    bound = model.data_shapes[0].shape[0]
    out = model.predict(mx.io.NDArrayIter(inputs.astype(np.float32), batch_size=bound, last_batch_handle="pad"))
    return [str(int(c)) for c in out.asnumpy().argmax(axis=1)]


def predict_block(model: Any, inputs: np.ndarray) -> list[str]:
    return [str(int(c)) for c in model(mx.nd.array(inputs.astype(np.float32))).asnumpy().argmax(axis=1)]


def save(directory: str, func: Any, model_type: str, label_names: list[str]) -> None:
    with open(os.path.join(directory, "func.pkl"), "wb") as f:
        cloudpickle.dump(func, f)
    with open(os.path.join(directory, "mxnet_model_metadata.json"), "w") as f:
        json.dump({"data_shapes": [["data", [2, 4]]], "model_type": model_type, "label_names": label_names}, f)


def serve_once(directory: str, rows: np.ndarray) -> list[str]:
    """Start the container on ``directory``, register it, send one batch; its outputs."""
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    env = {**os.environ, "CLIPPER_MODEL_PATH": directory, "CLIPPER_IP": "127.0.0.1", "CLIPPER_PORT": str(port),
           "CLIPPER_INPUT_TYPE": "doubles", "CLIPPER_MODEL_NAME": "probe", "CLIPPER_MODEL_VERSION": "1",
           "CLIPPER_METRICS_PORT": "auto", "CLIPPER_READY_FILE": os.path.join(directory, "ready")}
    proc = subprocess.Popen([sys.executable, "-m", "model_containers.mxnet_container"], env=env)
    try:
        def recv() -> tuple[bytes, rpc.ContainerMessage]:
            if not router.poll(60_000):
                raise SystemExit(f"the container sent nothing (exit code {proc.poll()})")
            identity, *frames = router.recv_multipart()
            return identity, rpc.decode_container_message(frames)

        identity, _ = recv()  # its first heartbeat
        router.send_multipart([identity, *rpc.encode_frontend_heartbeat(rpc.HeartbeatType.REQUEST_CONTAINER_METADATA)])
        inputs = [pack_input(r.tolist(), InputType.DOUBLES) for r in rows]
        router.send_multipart([identity, *rpc.encode_prediction_request(7, InputType.DOUBLES, inputs)])
        while True:
            _, msg = recv()
            if isinstance(msg, rpc.PredictionResponse):
                return [bytes(o).decode() for o in msg.outputs]
    finally:
        proc.terminate()
        proc.wait(30)
        router.close()
        ctx.term()


def main() -> int:
    want_mxnet, want_numpy = sys.argv[1], sys.argv[2]
    assert np.__version__ == want_numpy and np.__file__.startswith(FRAMEWORK_DIR), (np.__version__, np.__file__)
    assert mx.__version__ == want_mxnet, mx.__version__
    assert mx.context.num_gpus() == 0, "not a CPU build"
    rows = np.random.default_rng(0).random((3, 4))
    out = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3, name="fc"), name="softmax")
    module = mx.mod.Module(out, context=mx.cpu())
    module.bind([("data", (2, 4))], label_shapes=[("softmax_label", (2,))], for_training=False)
    module.init_params(mx.init.Xavier())
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Dense(3))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    net(mx.nd.zeros((1, 4)))
    for model, func, model_type, labels in ((module, predict_module, "module", ["softmax_label"]),
                                            (net, predict_block, "hybrid_block", [])):
        with tempfile.TemporaryDirectory() as d:
            prefix = os.path.join(d, "mxnet_model")
            if model_type == "module":
                module.save_checkpoint(prefix, 0)
            else:
                net.export(prefix, epoch=0)
            save(d, func, model_type, labels)
            served, expected = serve_once(d, rows), func(model, rows)
            assert served == expected, (model_type, served, expected)
    print(f"mxnet {mx.__version__} on numpy {np.__version__} ({np.__file__}): a Module and a HybridBlock served")
    return 0


if __name__ == "__main__":
    sys.exit(main())
