"""Cold start and per-batch latency of the framework deployers (docs/frameworks.md).

    python -m bench.frameworks [--manager local|docker] [--frameworks pytorch,onnx,xgboost,tensorflow,keras,pyspark]
                               [--batches 1,32] [--requests 200] [--json FILE]
    build/mxnet-venv/bin/python -m bench.frameworks --frameworks mxnet   # MXNet: its own client virtualenv

For each framework: trains a small model on scikit-learn's digits, deploys
it on a fresh cluster, and reports

* cold start: from the deploy call to the first non-default answer (image
  build or packaging, replica start, model load, first batch);
* per-batch latency: one REST request of B rows at a time (``input`` for 1, ``input_batch`` else)
  (closed loop, one client), median and p99 over ``--requests`` requests,
  after 20 warm-up requests. Every answer is checked against the model's own
  predictions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import requests

from clipper_admin import ClipperConnection, DockerContainerManager
from clipper_admin.local import LocalContainerManager
from clipper_admin.local.redis_server import free_port


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float64), d.target.astype(np.int64)


def _mlp() -> Any:
    import torch

    torch.manual_seed(0)
    x, y = _digits()
    xt, yt = torch.from_numpy((x / 16).astype(np.float32)), torch.from_numpy(y)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()  # type: ignore[no-untyped-call]
        opt.step()
    return model.eval()


def predict_torch(model: Any, inputs: Any) -> list[str]:
    import torch

    return [str(int(c)) for c in model(torch.from_numpy((np.asarray(inputs) / 16).astype(np.float32))).argmax(1)]


def predict_onnx(model: Any, inputs: Any) -> list[str]:
    return [str(int(np.argmax(p))) for p in model.run((np.asarray(inputs) / 16).astype(np.float32))[0]]


def _torch_expected(model: Any, rows: np.ndarray) -> list[int]:
    import torch

    with torch.no_grad():
        return [int(c) for c in model(torch.from_numpy((rows / 16).astype(np.float32))).argmax(1)]


def _xgb_closure(booster: Any) -> Callable[[Any], list[str]]:
    def predict(inputs: Any) -> list[str]:
        import xgboost as xgb

        return [str(int(c)) for c in booster.predict(xgb.DMatrix(np.asarray(inputs)))]

    return predict


def _keras_mlp() -> Any:
    import keras

    keras.utils.set_random_seed(0)
    x, y = _digits()
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x / 16, y, epochs=5, batch_size=64, verbose=0)
    return model


def predict_keras(model: Any, inputs: Any) -> list[str]:
    return [str(int(c)) for c in model(np.asarray(np.asarray(inputs) / 16, dtype=np.float32)).numpy().argmax(1)]


def _keras_expected(model: Any, rows: np.ndarray) -> list[int]:
    return [int(c) for c in model(np.asarray(rows / 16, dtype=np.float32)).numpy().argmax(1)]


def deploy(framework: str, conn: ClipperConnection, app: str) -> Callable[[np.ndarray], list[int]]:
    """Deploy ``framework``'s model as ``app``; return the model's own predictions."""
    if framework == "pytorch":
        from clipper_admin.deployers import pytorch

        model = _mlp()
        pytorch.create_endpoint(conn, app, "doubles", predict_torch, model, default_output="-1",
                                slo_micros=10_000_000)
        return lambda rows: _torch_expected(model, rows)
    if framework == "onnx":
        import torch

        from clipper_admin.deployers import onnx

        model = _mlp()
        onnx.create_pytorch_endpoint(conn, app, "doubles", torch.zeros(1, 64), predict_onnx, model,
                                     default_output="-1", slo_micros=10_000_000)
        return lambda rows: _torch_expected(model, rows)
    if framework == "xgboost":
        import xgboost as xgb

        from clipper_admin.deployers import python

        x, y = _digits()
        booster = xgb.train({"objective": "multi:softmax", "num_class": 10, "max_depth": 3, "nthread": 1},
                            xgb.DMatrix(x, label=y), num_boost_round=20)
        python.create_endpoint(conn, app, "doubles", _xgb_closure(booster), default_output="-1",
                               slo_micros=10_000_000, pkgs_to_install=["xgboost"])
        return lambda rows: [int(c) for c in booster.predict(xgb.DMatrix(rows))]
    if framework in ("tensorflow", "keras"):
        from clipper_admin.deployers import keras as keras_deployer
        from clipper_admin.deployers import tensorflow as tf_deployer

        model = _keras_mlp()
        create = tf_deployer.create_endpoint if framework == "tensorflow" else keras_deployer.create_endpoint
        create(conn, app, "doubles", predict_keras, model, default_output="-1", slo_micros=10_000_000)
        return lambda rows: _keras_expected(model, rows)
    if framework == "pyspark":
        return _deploy_pyspark(conn, app)
    if framework == "mxnet":
        return _deploy_mxnet(conn, app)
    raise SystemExit(f"unknown framework {framework}")


def predict_spark(spark: Any, model: Any, inputs: Any) -> list[str]:
    from pyspark.ml.linalg import Vectors

    return [str(int(model.predict(Vectors.dense(r)))) for r in inputs]


def _deploy_pyspark(conn: ClipperConnection, app: str) -> Callable[[np.ndarray], list[int]]:
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.linalg import Vectors
    from pyspark.sql import SparkSession

    from clipper_admin.deployers import pyspark as pyspark_deployer

    spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
    x, y = _digits()
    frame = spark.createDataFrame([(Vectors.dense(r), float(c)) for r, c in zip(x, y)], ["features", "label"])
    model = LogisticRegression(maxIter=30).fit(frame)
    pyspark_deployer.create_endpoint(conn, app, "doubles", predict_spark, model, spark.sparkContext,
                                     default_output="-1", slo_micros=10_000_000)
    return lambda rows: [int(model.predict(Vectors.dense(r))) for r in rows]


def predict_mxnet(model: Any, inputs: Any) -> list[str]:
    import mxnet as mx

    # Padded to the batch the Module is bound to (1 in the replica, 100 here after training).
    batches = mx.io.NDArrayIter((np.asarray(inputs) / 16).astype(np.float32),
                                batch_size=model.data_shapes[0].shape[0], last_batch_handle="pad")
    return [str(int(c)) for c in model.predict(batches).asnumpy().argmax(axis=1)]


def _deploy_mxnet(conn: ClipperConnection, app: str) -> Callable[[np.ndarray], list[int]]:
    """Run with the MXNet client's Python (``build/mxnet-venv/bin/python -m bench.frameworks``)."""
    import mxnet as mx

    from clipper_admin.deployers import mxnet as mxnet_deployer

    mx.random.seed(0)
    x, y = _digits()
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=10), name="softmax")
    model = mx.mod.Module(net)
    model.fit(mx.io.NDArrayIter((x / 16).astype(np.float32), y.astype(np.float32), batch_size=100), num_epoch=20,
              optimizer="adam", initializer=mx.init.Xavier())
    mxnet_deployer.create_endpoint(conn, app, "doubles", predict_mxnet, model, [("data", (1, 64))],
                                   default_output="-1", slo_micros=10_000_000)
    return lambda rows: [int(c) for c in predict_mxnet(model, rows)]


def _post(url: str, rows: np.ndarray) -> list[Any]:
    body = {"input": rows[0].tolist()} if len(rows) == 1 else {"input_batch": rows.tolist()}
    r = requests.post(url, json=body, timeout=30).json()
    answers = r.get("batch_predictions", [r])
    return [None if a.get("default", True) else a["output"] for a in answers]


def measure(framework: str, conn: ClipperConnection, batches: list[int], n: int) -> dict[str, Any]:
    app = f"bench-{framework}"
    x, _ = _digits()
    url = f"http://{conn.get_query_addr()}/{app}/predict"
    t0 = time.perf_counter()
    expected = deploy(framework, conn, app)
    deployed = time.perf_counter() - t0
    while None in _post(url, x[:1]):
        time.sleep(0.05)
    result: dict[str, Any] = {"framework": framework, "deploy_call_s": round(deployed, 2),
                              "cold_start_s": round(time.perf_counter() - t0, 2), "batches": {}}
    rng = np.random.default_rng(0)
    for b in batches:
        lat = []
        for i in range(n + 20):
            rows = x[rng.choice(len(x), b, replace=False)]
            s = time.perf_counter()
            out = _post(url, rows)
            elapsed = time.perf_counter() - s
            assert out == expected(rows), (framework, b, out)
            if i >= 20:
                lat.append(elapsed * 1000)
        lat.sort()
        result["batches"][b] = {"median_ms": round(statistics.median(lat), 2),
                                "p99_ms": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 2)}
    return result


def cluster(kind: str) -> ClipperConnection:
    name = f"fwbench-{uuid.uuid4().hex[:6]}"
    if kind == "local":
        cm: Any = LocalContainerManager(cluster_name=name, clipper_query_port=0, clipper_management_port=0,
                                        clipper_rpc_port=0, redis_port=0, prometheus_port=None)
    else:
        cm = DockerContainerManager(cluster_name=name, clipper_query_port=free_port(),
                                    clipper_management_port=free_port(), clipper_rpc_port=free_port(),
                                    redis_port=free_port(), prometheus_port=free_port(), docker_network=f"{name}-net")
    conn = ClipperConnection(cm)
    conn.start_clipper()
    return conn


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manager", choices=["local", "docker"], default="local")
    p.add_argument("--frameworks", default="pytorch,onnx,xgboost,tensorflow,keras")
    p.add_argument("--batches", default="1,32")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    results = []
    for framework in args.frameworks.split(","):
        conn = cluster(args.manager)  # a fresh cluster each: cold starts do not share a warm replica
        try:
            results.append({"manager": args.manager, **measure(framework, conn, [int(b) for b in
                                                                                 args.batches.split(",")],
                                                                args.requests)})
        finally:
            conn.stop_all()
        print(json.dumps(results[-1]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
