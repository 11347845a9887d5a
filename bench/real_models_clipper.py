"""Clipper's side of the real-model benchmark: one local cluster, two apps per model.

Each model file of bench/real_models_train.py is deployed with the deployer
Clipper has for it: ``lr`` and ``rf`` as Python closures over the estimator
loaded from its joblib file, ``mlp`` with the PyTorch deployer, ``onnx`` with
the ONNX deployer (which exports the same trained MLP, loaded from its file,
with the same exporter the training used). Per model one app with adaptive
batching (the default) and one deployed with ``batch_size=1``.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import requests

from bench import batch_probe
from bench.clipper_system import (BATCH_WAIT_FRACTION, BATCH_WAIT_MAX_MS, SLO_MICROS, App, ClipperBench,
                                   fresh_connection)
from bench.real_models_common import BATCH_DIR, BatchCounter, classes, extract_class, load, meta, template
from clipper_admin import ClipperConnection, LocalContainerManager

logger = logging.getLogger("clipper.bench")
CLUSTER = "bench-real"
CLIPPER_BATCH_DIR = BATCH_DIR / "clipper"


def app_for(model: str, batch1: bool) -> App:
    name = f"real-{model}-b1" if batch1 else f"real-{model}"
    return App(name, name, template("plain", meta()["rows"][model]), "unique")


def closure(model: str, obj: Any, counter: BatchCounter) -> Callable[[list[Any]], list[str]]:
    """A Python closure (cloudpickled with the estimator in it)."""
    def predict(xs: list[Any]) -> list[str]:
        counter.add(len(xs))
        return [str(c) for c in classes(model, obj, np.asarray(xs, dtype=np.float64))]

    return predict


def torch_func(counter: BatchCounter) -> Callable[[Any, Any], list[str]]:
    """``func(model, inputs)`` for the PyTorch deployer."""
    from bench.real_models_common import torch_classes

    def predict(model: Any, inputs: Any) -> list[str]:
        counter.add(len(inputs))
        return [str(c) for c in torch_classes(model, inputs)]

    return predict


def onnx_func(counter: BatchCounter) -> Callable[[Any, Any], list[str]]:
    """``func(model, inputs)`` for the ONNX deployer (``model.run`` as Caffe2's backend had it)."""
    def predict(model: Any, inputs: Any) -> list[str]:
        counter.add(len(inputs))
        return [str(int(c)) for c in model.run(np.asarray(inputs, dtype=np.float32))[0].argmax(1)]

    return predict


class RealClipper(ClipperBench):
    """ClipperBench's helpers (url, wait_ready, memory, stop) on a cluster of its own name."""

    def __init__(self, cache_size: int, models: list[str]) -> None:
        self.cache_size = cache_size
        self.models = models
        self.manager = LocalContainerManager(cluster_name=CLUSTER, clipper_query_port=0, clipper_management_port=0,
                                             clipper_rpc_port=0, redis_port=0, prometheus_port=None)
        self.conn = ClipperConnection(self.manager)
        self.cold_start_s = 0.0
        self.deploy_s: dict[str, float] = {}

    def start(self) -> None:
        self.conn = fresh_connection(self.manager, CLUSTER)
        shutil.rmtree(CLIPPER_BATCH_DIR, ignore_errors=True)
        CLIPPER_BATCH_DIR.mkdir(parents=True)
        os.environ["CLIPPER_QF_BATCH_WAIT_MAX_MS"] = str(BATCH_WAIT_MAX_MS)
        os.environ["CLIPPER_QF_BATCH_WAIT_FRACTION"] = str(BATCH_WAIT_FRACTION)
        t0 = time.monotonic()
        self.conn.start_clipper(cache_size=self.cache_size)
        self.cold_start_s = time.monotonic() - t0
        for model in self.models:
            for batch1 in (False, True):
                app = app_for(model, batch1)
                t0 = time.monotonic()
                self.deploy(model, app.model, {"batch_size": 1} if batch1 else {})
                self.conn.register_application(name=app.name, input_type="doubles", default_output="-1",
                                               slo_micros=SLO_MICROS)
                self.conn.link_model_to_app(app_name=app.name, model_name=app.model)
                self.wait_ready(app)
                self.check(model, app)
                self.deploy_s[app.name] = round(time.monotonic() - t0, 1)
                logger.info("Clipper %s deployed and checked in %.1f s", app.name, self.deploy_s[app.name])

    def deploy(self, model: str, name: str, kwargs: dict[str, Any]) -> None:
        # One folder per app: read_counts globs "<tag>-*", and "real-lr-*" would match real-lr-b1 too.
        counter = BatchCounter(name, CLIPPER_BATCH_DIR / name)
        if model in ("lr", "rf"):
            from clipper_admin.deployers import python as python_deployer

            python_deployer.deploy_python_closure(self.conn, name=name, version=1, input_type="doubles",
                                                  func=closure(model, load(model), counter), **kwargs)
        elif model == "mlp":
            from clipper_admin.deployers import pytorch as pytorch_deployer

            pytorch_deployer.deploy_pytorch_model(self.conn, name=name, version=1, input_type="doubles",
                                                  func=torch_func(counter), pytorch_model=load("mlp"), **kwargs)
        elif model == "onnx":
            import torch

            from clipper_admin.deployers import onnx as onnx_deployer

            onnx_deployer.deploy_pytorch_model(self.conn, name=name, version=1, input_type="doubles",
                                               inputs=torch.zeros(1, 64), func=onnx_func(counter),
                                               pytorch_model=load("mlp"), onnx_backend="onnxruntime", **kwargs)
        else:
            raise ValueError(model)

    def check(self, model: str, app: App) -> None:
        """The check row answers the model's own prediction."""
        info = meta()
        body = template("plain", info["rows"][model]).replace("NONCE", repr(float(info["rows"][model][0])))
        r = requests.post(self.url(app), data=body, headers={"Content-Type": "application/json"}, timeout=10)
        got = extract_class(r.json())
        if got != info["expected"][model]:
            raise RuntimeError(f"Clipper {app.name} answered {r.text}, expected class {info['expected'][model]}")

    def flush(self, app: App) -> dict[int, int]:
        """The app's batch table, after one request makes each replica write it."""
        time.sleep(batch_probe.FLUSH_EVERY_S + 0.05)
        body = app.template.replace("NONCE", f"{0.75 + time.time() % 1 * 1e-3:.9f}")
        requests.post(self.url(app), data=body, headers={"Content-Type": "application/json"}, timeout=10)
        time.sleep(0.1)
        return batch_probe.read_counts(CLIPPER_BATCH_DIR / app.model, app.model)
