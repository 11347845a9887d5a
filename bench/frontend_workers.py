"""``python -m bench.frontend_workers [--workers 1,2] [--seconds 5]``: throughput of the query frontend's workers.

For each worker count, a local cluster (``LocalContainerManager(query_frontend_workers=N)``)
serving workload (a), the sum model (one replica per worker, unique bodies:
no cache hits), loaded with wrk at 32 and 128 connections. Prints and writes
``bench/results/frontend_workers.json``: req/s, p50 and p99 per point.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import requests

from bench import load, models
from bench.clipper_system import BATCH_WAIT_FRACTION, BATCH_WAIT_MAX_MS, SLO_MICROS, App
from bench.peers import CLIPPER_SUM_TEMPLATE, RESULTS
from clipper_admin import ClipperConnection, ClipperException, LocalContainerManager
from clipper_admin.deployers import python as python_deployer

logger = logging.getLogger("clipper.bench")
CLUSTER = "bench-workers"
APP = App("bench-sum", "sum-model", CLIPPER_SUM_TEMPLATE, "unique")
CONNECTIONS = (32, 128)
OUT = RESULTS / "frontend_workers.json"


def start_cluster(workers: int) -> ClipperConnection:
    cm = LocalContainerManager(cluster_name=CLUSTER, clipper_query_port=0, clipper_management_port=0,
                               clipper_rpc_port=0, redis_port=0, prometheus_port=None,
                               query_frontend_workers=workers)
    conn = ClipperConnection(cm)
    try:
        conn.connect()
        logger.info("a %s cluster was left running: stopping it", CLUSTER)
        conn.stop_all()
        conn = ClipperConnection(cm)
    except ClipperException:
        pass
    # The frontend settings of bench/clipper_system.py's cluster.
    os.environ["CLIPPER_QF_BATCH_WAIT_MAX_MS"] = str(BATCH_WAIT_MAX_MS)
    os.environ["CLIPPER_QF_BATCH_WAIT_FRACTION"] = str(BATCH_WAIT_FRACTION)
    conn.start_clipper()
    python_deployer.deploy_python_closure(conn, name=APP.model, version=1, input_type="doubles",
                                          func=models.feature_sum)
    conn.register_application(name=APP.name, input_type="doubles", default_output="-1.0", slo_micros=SLO_MICROS)
    conn.link_model_to_app(app_name=APP.name, model_name=APP.model)
    return conn


def wait_ready(url: str, timeout_s: float = 120.0) -> None:
    """Until fresh connections (so every worker) get real predictions 20 times in a row."""
    deadline = time.monotonic() + timeout_s
    good, n = 0, 0
    while good < 20:
        n += 1
        body = APP.template.replace("NONCE", f"{0.25 + n * 1e-6:.7f}")
        r = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
        good = good + 1 if r.status_code == 200 and not r.json().get("default") else 0
        if time.monotonic() > deadline:
            raise RuntimeError(f"{APP.name} did not serve within {timeout_s:.0f} s: {r.status_code} {r.text}")
        if not good:
            time.sleep(0.2)


def measure(workers: int, seconds: float) -> list[dict[str, Any]]:
    conn = start_cluster(workers)
    rows = []
    try:
        url = f"http://{conn.get_query_addr()}/{APP.name}/predict"
        wait_ready(url)
        load.wrk(url, 32, 1, APP.template, APP.mode)  # warm-up
        for c in CONNECTIONS:
            s = load.wrk(url, c, seconds, APP.template, APP.mode)
            row = {"workers": workers, "connections": c, **asdict(s)}
            rows.append(row)
            print(f"workers={workers} c={c:4d}  {s.rps:9.0f} req/s  p50 {s.p50_ms:6.2f} ms  p99 {s.p99_ms:7.2f} ms  "
                  f"defaults {s.default_share:.1%}  errors {s.error_share:.1%}", flush=True)
    finally:
        conn.stop_all()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.frontend_workers", description=__doc__)
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds per load point (default 5)")
    args = p.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    logging.basicConfig(level=logging.WARNING)
    rows: list[dict[str, Any]] = []
    for w in counts:
        rows += measure(w, args.seconds)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    doc = {"command": " ".join(["python -m bench.frontend_workers", *sys.argv[1:]]), "seconds": args.seconds,
           "cpus": os.cpu_count(), "machine": platform.platform(), "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "workload": "a: sum model, unique bodies (cache misses), one replica per worker", "results": rows}
    Path(OUT).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
