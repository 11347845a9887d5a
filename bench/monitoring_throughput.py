"""Query throughput with statistical monitoring on and off, on a local cluster with a noop model.

    python -m bench.monitoring_throughput [--rounds 3] [--seconds 8] [--concurrency 16] [--features 32]

Each round starts a cluster with ``CLIPPER_QF_MONITORING`` on, then one
with it off (so drift on a shared machine hits both alike), drives it
closed-loop from a separate process (aiohttp, ``--concurrency`` requests in
flight, every input distinct so each goes to the model) and prints the
replies per second and latency percentiles of each run, then the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from clipper_admin import ClipperConnection
from clipper_admin.local import LocalContainerManager

DRIVER = r"""
import asyncio, json, random, sys, time
import aiohttp

async def main(url, seconds, concurrency, features):
    latencies, defaults = [], 0
    stop = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        async def worker(k):
            nonlocal defaults
            rng = random.Random(k)
            while time.monotonic() < stop:
                body = {"input": [rng.random() for _ in range(features)]}
                start = time.perf_counter()
                async with session.post(url, json=body) as r:
                    answer = await r.json()
                latencies.append(time.perf_counter() - start)
                defaults += bool(answer.get("default"))
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3
    print(json.dumps({"rps": len(latencies) / seconds, "p50_ms": pick(0.5), "p99_ms": pick(0.99),
                      "defaults": defaults}))

asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
"""


def one_run(monitoring: bool, args: argparse.Namespace, root: Path) -> dict[str, float]:
    os.environ["CLIPPER_QF_MONITORING"] = "true" if monitoring else "false"
    cm = LocalContainerManager(cluster_name=f"mon-{time.monotonic_ns()}", cluster_dir=root / str(time.monotonic_ns()),
                               clipper_query_port=0, clipper_management_port=0, clipper_rpc_port=0, redis_port=0,
                               prometheus_port=None)
    conn = ClipperConnection(cm)
    conn.start_clipper()
    try:
        conn.register_application("bench", "doubles", "-1", 1_000_000)
        conn.deploy_model("noop", "1", "doubles", "clipper/noop-container:develop")
        conn.link_model_to_app("bench", "noop")
        url = f"http://{conn.get_query_addr()}/bench/predict"
        driver = [sys.executable, "-c", DRIVER, url]
        subprocess.run([*driver, "2", "4", str(args.features)], check=True, capture_output=True)  # warm-up
        done = subprocess.run([*driver, str(args.seconds), str(args.concurrency), str(args.features)], check=True,
                              capture_output=True, text=True)
        result: dict[str, float] = json.loads(done.stdout)
        return result
    finally:
        conn.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="on/off pairs (default: 3)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per run (default: 8)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default: 16)")
    parser.add_argument("--features", type=int, default=32, help="elements per input (default: 32)")
    args = parser.parse_args()
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for monitoring in (True, False):
                r = one_run(monitoring, args, Path(tmp))
                runs[monitoring].append(r)
                print(f"monitoring {'on ' if monitoring else 'off'}: {r['rps']:.0f} replies/s, "
                      f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, {r['defaults']:.0f} defaults", flush=True)
    for monitoring in (True, False):
        rs = runs[monitoring]
        print(f"median, monitoring {'on ' if monitoring else 'off'}: {statistics.median(r['rps'] for r in rs):.0f} "
              f"replies/s, p99 {statistics.median(r['p99_ms'] for r in rs):.2f} ms")


if __name__ == "__main__":
    main()
