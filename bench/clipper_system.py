"""A local Clipper cluster with every benchmark application deployed."""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import requests

from bench import batch_probe, models
from bench.peers import CLIPPER_SUM_TEMPLATE, RESULTS
from clipper_admin import ClipperConnection, ClipperException, LocalContainerManager
from clipper_admin.deployers import python as python_deployer

logger = logging.getLogger("clipper.bench")
CLUSTER = "bench"
BATCH_DIR = RESULTS / "batches"
SLO_MICROS = 100_000
# Workload (c): the HR example's features.
HR_FEATURES = ["satisfaction_level", "last_evaluation", "number_project", "average_montly_hours",
               "time_spend_company", "Work_accident", "promotion_last_5years"]
HR_TEMPLATE = '{"input":[0.38,0.53,2.0,NONCE,3.0,0.0,0.0]}'


@dataclass(frozen=True)
class App:
    """One benchmark application and the model behind it."""

    name: str
    model: str
    template: str
    mode: str  # "unique" bodies (cache misses) or one "fixed" body (cache hits)


APPS = {
    "a": App("bench-sum", "sum-model", CLIPPER_SUM_TEMPLATE, "unique"),
    "b": App("bench-cost", "cost-model", CLIPPER_SUM_TEMPLATE, "unique"),
    "b-nobatch": App("bench-cost-nobatch", "cost-model-b1", CLIPPER_SUM_TEMPLATE, "unique"),
    "c": App("bench-tree", "hr-tree", HR_TEMPLATE, "unique"),
    "d": App("bench-sum", "sum-model", CLIPPER_SUM_TEMPLATE, "fixed"),
    "e": App("bench-cost-2", "cost-model-2", CLIPPER_SUM_TEMPLATE, "unique"),
}


def train_hr_tree() -> Any:
    """A decision tree on synthetic data shaped like the HR attrition example."""
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    n = 15_000
    X = np.column_stack([
        rng.uniform(0.09, 1.0, n), rng.uniform(0.36, 1.0, n), rng.integers(2, 8, n),
        rng.integers(96, 311, n), rng.integers(2, 11, n), rng.integers(0, 2, n), rng.integers(0, 2, n),
    ]).astype(float)
    left = (X[:, 0] < 0.45) & ((X[:, 3] > 240) | (X[:, 2] <= 2)) | ((X[:, 1] > 0.8) & (X[:, 4] >= 5))
    y = (left ^ (rng.uniform(size=n) < 0.05)).astype(int)
    return DecisionTreeClassifier(max_depth=10, random_state=0).fit(X, y)


def make_tree_predict(tree: Any) -> Any:
    def predict(xs: list[Any]) -> list[str]:
        return [str(v) for v in tree.predict(np.asarray(xs, dtype=float))]

    return predict


BATCH_WAIT_MAX_MS = 5.0
"""The query frontend's ``batch_wait_max_ms`` in the benchmark cluster."""
BATCH_WAIT_FRACTION = 0.3
"""The query frontend's ``batch_wait_fraction`` in the benchmark cluster."""


def fresh_connection(manager: LocalContainerManager, cluster: str) -> ClipperConnection:
    """A connection for ``manager``'s cluster, after stopping one an earlier run left running."""
    conn = ClipperConnection(manager)
    try:
        conn.connect()
    except ClipperException:
        return conn
    logger.info("a %s cluster was left running: stopping it", cluster)
    conn.stop_all()
    return ClipperConnection(manager)


class ClipperBench:
    """Starts the cluster, deploys the models, reads metrics, stops it."""

    def __init__(self, cache_size: int) -> None:
        self.cache_size = cache_size
        self.manager = LocalContainerManager(cluster_name=CLUSTER, clipper_query_port=0, clipper_management_port=0,
                                             clipper_rpc_port=0, redis_port=0, prometheus_port=None)
        self.conn = ClipperConnection(self.manager)
        self.cold_start_s = 0.0

    def start(self) -> None:
        self.conn = fresh_connection(self.manager, CLUSTER)
        shutil.rmtree(BATCH_DIR, ignore_errors=True)
        BATCH_DIR.mkdir(parents=True)
        t0 = time.monotonic()
        # Delayed batching on, as the peers get their batch timeouts: an idle
        # replica waits for the burst of queries to end, up to 5 ms and at
        # most 30 % of the model's batch latency (so the cheap models barely wait).
        os.environ["CLIPPER_QF_BATCH_WAIT_MAX_MS"] = str(BATCH_WAIT_MAX_MS)
        os.environ["CLIPPER_QF_BATCH_WAIT_FRACTION"] = str(BATCH_WAIT_FRACTION)
        self.conn.start_clipper(cache_size=self.cache_size)
        self.cold_start_s = time.monotonic() - t0
        out = str(BATCH_DIR)
        deployments: list[tuple[str, Any, int, int]] = [
            ("sum-model", models.feature_sum, -1, 1),
            ("cost-model", models.fixed_cost_sum, -1, 1),
            ("cost-model-b1", models.fixed_cost_sum, 1, 1),
            ("hr-tree", make_tree_predict(train_hr_tree()), -1, 1),
            ("cost-model-2", models.fixed_cost_sum, -1, 2),
        ]
        for name, func, batch_size, replicas in deployments:
            kwargs: dict[str, Any] = {"num_replicas": replicas}
            if batch_size != -1:
                kwargs["batch_size"] = batch_size
            python_deployer.deploy_python_closure(self.conn, name=name, version=1, input_type="doubles",
                                                  func=batch_probe.counting(func, name, out), **kwargs)
        for app in {a.name: a for a in APPS.values()}.values():
            self.conn.register_application(name=app.name, input_type="doubles", default_output="-1.0",
                                           slo_micros=SLO_MICROS)
            self.conn.link_model_to_app(app_name=app.name, model_name=app.model)
        for app in {a.name: a for a in APPS.values()}.values():
            self.wait_ready(app)

    def url(self, app: App) -> str:
        return f"http://{self.conn.get_query_addr()}/{app.name}/predict"

    def wait_ready(self, app: App, timeout_s: float = 120.0) -> None:
        """Until the app answers with a real (not default) prediction."""
        deadline = time.monotonic() + timeout_s
        n = 0
        while True:
            n += 1
            body = app.template.replace("NONCE", f"{0.25 + n * 1e-6:.7f}")
            r = requests.post(self.url(app), data=body, headers={"Content-Type": "application/json"}, timeout=10)
            if r.status_code == 200 and not r.json().get("default"):
                return
            if r.status_code != 200:
                raise RuntimeError(f"{app.name} answered {r.status_code}: {r.text}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{app.name} gave only default outputs for {timeout_s:.0f} s: {r.text}")
            time.sleep(0.2)

    def flush_batches(self, app: App) -> dict[int, int]:
        """The model's batch table, after nudging every replica to write it."""
        time.sleep(batch_probe.FLUSH_EVERY_S + 0.05)
        for i in range(4):  # several requests so each replica of app e gets one
            body = app.template.replace("NONCE", f"{0.75 + time.time() % 1 * 1e-3 + i * 1e-7:.9f}")
            requests.post(self.url(app), data=body, headers={"Content-Type": "application/json"}, timeout=10)
        time.sleep(0.1)
        return batch_probe.read_counts(BATCH_DIR, app.model)

    def frontend_batch_histogram(self, model: str) -> dict[str, str]:
        for h in self.conn.inspect_instance().get("histograms", []):
            key = f"model:{model}:1:batch_size"
            if key in h:
                return dict(h[key])
        return {}

    def frontend_pid(self) -> int:
        """The query frontend process itself (the cluster records the restarter that runs it)."""
        for p in self.manager.process_status():
            if p.role == "query_frontend" and p.served_pid is not None:
                return p.served_pid
        raise RuntimeError("no query frontend process")

    def frontend_memory_kib(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the query frontend, in KiB."""
        fields = {}
        for line in Path(f"/proc/{self.frontend_pid()}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
        return fields["VmRSS"], fields["VmHWM"]

    def stop(self) -> None:
        self.conn.stop_all()
