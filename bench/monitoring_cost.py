"""What statistical monitoring costs the query frontend, measured in-process (no cluster).

    python -m bench.monitoring_cost [--features 32] [--queries 200000]

Prints the time one query spends in the query path's hook
(``Recorder.observe``: sampled, and with ``monitoring_sample_every=10``),
one ``/update``'s hook (``Recorder.feedback``), and what runs on the event
loop off the query path: a tick taking in a full pending queue (4096
samples; the background loop does it in steps of 512) and the figures' computation (PSI and KS of every feature, as a
read of ``GET /<app>/monitoring`` or a Prometheus scrape does). Figures
from this machine; docs/monitoring.md quotes a run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import struct
import time
from collections.abc import Callable

from clipper_protocol.input_types import InputType
from query_frontend.cache import ModelOutput, PredictionCache
from query_frontend.config import AppConfig, ClusterConfig, ModelRecord
from query_frontend.monitoring import MonitoringLimits, Monitor, Recorder
from query_frontend.monitoring.monitor import STEP
from query_frontend.results import QueryResult


def per_call(fn: Callable[[int], None], n: int) -> float:
    """Mean seconds per call of ``fn(i)`` over ``n`` calls (the best of three runs)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, (time.perf_counter() - start) / n)
    return best


def setup(sample_every: int, features: int) -> tuple[AppConfig, Recorder, Monitor, list[bytes], PredictionCache]:
    app = AppConfig(name="app", input_type=InputType.DOUBLES, default_output="-1", default_value="-1",
                    slo_micros=100_000, policy="DefaultOutputSelectionPolicy", linked_models=["m"])
    config = ClusterConfig(apps={"app": app}, current_versions={"m": "1"},
                           models={("m", "1"): ModelRecord("m", "1", "doubles")})
    limits = MonitoringLimits(sample_every=sample_every, max_features=features)
    cache = PredictionCache(64 << 20)
    recorder = Recorder(limits, config, cache, lambda: [("m", "1")])
    rng = random.Random(0)
    inputs = [struct.pack(f"<{features}d", *(rng.gauss(0, 1) for _ in range(features))) for _ in range(5000)]
    return app, recorder, Monitor(limits, config, recorder), inputs, cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=int, default=32, help="elements per input (default: 32)")
    parser.add_argument("--queries", type=int, default=200_000, help="calls per hook measurement (default: 200000)")
    args = parser.parse_args()
    answer = QueryResult(0, "1.0", False)

    for every in (1, 10):
        app, recorder, _, inputs, _ = setup(every, args.features)
        pending = recorder.samplers

        def observe(i: int) -> None:
            recorder.observe(app, inputs[i % 5000], None, answer)
            if i % 4096 == 0 and pending:
                pending["app"].pending.clear()  # as a tick would

        print(f"query hook, monitoring_sample_every={every}: {per_call(observe, args.queries) * 1e9:.0f} ns/query")

    app, recorder, monitor, inputs, cache = setup(1, args.features)

    async def fill() -> None:  # the answers a query left in the cache, as feedback finds them
        for x in inputs:
            cache.complete(cache.start(("m", "1", x), float("inf")), ModelOutput(b"1.0", 1.0))

    asyncio.run(fill())
    print(f"feedback hook: {per_call(lambda i: recorder.feedback(app, inputs[i % 5000], 1.0), 50_000) * 1e9:.0f}"
          " ns/update")

    monitor.tick()
    ticks, reports = [], []
    for round_ in range(5):
        for i in range(4096):
            recorder.observe(app, inputs[(round_ * 4096 + i) % 5000], None, answer)
        start = time.perf_counter()
        monitor.tick()
        ticks.append(time.perf_counter() - start)
        start = time.perf_counter()
        monitor.report("app", fresh=False)
        reports.append(time.perf_counter() - start)
    print(f"tick taking in 4096 samples: {min(ticks) * 1e3:.1f} ms (max {max(ticks) * 1e3:.1f} ms)")
    steps = []
    for round_ in range(5):
        for i in range(STEP):
            recorder.observe(app, inputs[(round_ * STEP + i) % 5000], None, answer)
        start = time.perf_counter()
        monitor.tick()
        steps.append(time.perf_counter() - start)
    print(f"one step of the background tick ({STEP} samples, the longest the event loop waits): "
          f"{min(steps) * 1e3:.2f} ms (max {max(steps) * 1e3:.2f} ms)")
    print(f"figures of one application ({args.features} features, windows of 1000): "
          f"{min(reports[1:]) * 1e3:.1f} ms (max {max(reports[1:]) * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
