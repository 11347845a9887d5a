"""The query frontend's tail at high concurrency, beside its event-loop lag and CPU use.

    python -m bench.tail_probe [--workload a] [--connections 128] [--seconds 5] [--runs 3]

Starts the benchmark cluster, warms up, then runs wrk ``--runs`` times at
one concurrency. After each run it prints throughput, p50, p99 and default
share, the frontend's ``clipper_event_loop_lag_max_seconds`` and
``clipper_event_loop_stalls`` gauges, and the CPU seconds the frontend ran and
waited for a core (``/proc/<pid>/schedstat``). A p99 far above p50 while the
loop lag is low points to batching or the replica; a large lag while the
process ran all along points to work inside the loop (docs/architecture.md,
"Garbage collection and the latency tail").
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import requests

from bench import load
from bench.clipper_system import APPS, ClipperBench


def loop_lag(base_url: str) -> dict[str, float]:
    text = requests.get(f"{base_url}/metrics/prometheus", timeout=10).text
    return {k: float(v) for k, v in re.findall(r"^(clipper_event_loop_\w+) (\S+)$", text, re.M)}


def sched_s(pid: int) -> tuple[float, float]:
    """Seconds the process's main thread ran on a CPU and waited for one, since it started."""
    ran, waited, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    return int(ran) / 1e9, int(waited) / 1e9


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", default="a", choices=sorted(APPS))
    p.add_argument("--connections", type=int, default=128)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    cb = ClipperBench(32 * 1024 * 1024)
    cb.start()
    try:
        app = APPS[a.workload]
        url = cb.url(app)
        base = url.rsplit("/", 2)[0]
        pid = cb.frontend_pid()
        load.wrk(url, a.connections, 2, app.template, app.mode)  # warm-up
        for _ in range(a.runs):
            ran0, waited0 = sched_s(pid)
            s = load.wrk(url, a.connections, a.seconds, app.template, app.mode)
            ran1, waited1 = sched_s(pid)
            lag = loop_lag(base)
            print(f"({a.workload}) c = {a.connections}: {s.rps:8,.0f} req/s  p50 {s.p50_ms:6.2f}  p99 {s.p99_ms:7.2f} ms  "
                  f"default {100 * s.default_share:4.2f} %  loop lag max "
                  f"{1000 * lag.get('clipper_event_loop_lag_max_seconds', 0):5.1f} ms, stalls "
                  f"{lag.get('clipper_event_loop_stalls', 0):.0f}  frontend ran {ran1 - ran0:.2f} s, waited "
                  f"{waited1 - waited0:.2f} s", flush=True)
    finally:
        cb.stop()


if __name__ == "__main__":
    main()
