"""What user-defined metrics (``clipper_admin.metrics``) cost a deployed function, measured in-process.

    python -m bench.user_metrics_cost [--calls 200000]

Prints the time of one ``add_metric`` of a metric already added (what a
function that adds its metrics on every call pays), one ``report_metric``
per type with a container's store installed and with none (outside a
container), and one scrape of 20 metrics. Figures from this machine;
docs/monitoring.md quotes a run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from prometheus_client import generate_latest

import clipper_admin.metrics as metrics
from clipper_protocol import user_metrics as api
from model_containers.metrics import ContainerMetrics


def per_call(fn: Callable[[int], None], n: int) -> float:
    """Mean seconds per call of ``fn(i)`` over ``n`` calls (the best of three runs)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, (time.perf_counter() - start) / n)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    n = parser.parse_args().calls

    kinds = {"Counter": "bench_counter", "Gauge": "bench_gauge", "Histogram": "bench_histogram",
             "Summary": "bench_summary"}  # fmt: skip
    for kind, name in kinds.items():
        metrics.add_metric(name, kind, f"a {kind}")
    again = per_call(lambda i: metrics.add_metric("bench_counter", "Counter", "d"), n)
    print(f"add_metric, already added:          {again * 1e6:6.2f} us")

    container = ContainerMetrics()
    container.set_model("bench", "1")
    for kind, name in kinds.items():
        print(f"report_metric {kind:<9}, container: "
              f"{per_call(lambda i, name=name: metrics.report_metric(name, i % 600), n) * 1e6:6.2f} us")
    container.close()
    assert api.current_sink() is None
    outside = per_call(lambda i: metrics.report_metric("bench_counter", 1), n)
    print(f"report_metric Counter  , outside:   {outside * 1e6:6.2f} us")

    container = ContainerMetrics()
    for j in range(20):
        metrics.add_metric(f"bench_scrape_{j}", "Histogram", "d")
        metrics.report_metric(f"bench_scrape_{j}", j)
    scrape = per_call(lambda i: None if generate_latest(container.registry) else None, 200)
    print(f"scrape (clipper_mc_* + 24 user metrics): {scrape * 1e3:.2f} ms")
    container.close()


if __name__ == "__main__":
    main()
