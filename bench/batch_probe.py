"""Count, inside the model process, the size of every batch it receives.

The query frontend's ``batch_size`` histogram is a reservoir over the whole
life of a model, so it cannot be split per measurement. A wrapped model
function keeps an exact size -> count table and writes it to a small JSON
file at most every 0.2 s; the harness diffs two reads around a measurement.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FLUSH_EVERY_S = 0.2


def counting(func: Callable[[list[Any]], list[Any]], tag: str, outdir: str) -> Callable[[list[Any]], list[Any]]:
    """``func`` plus a batch-size table written to ``outdir/<tag>-<pid>.json``."""
    state: dict[str, Any] = {"counts": {}, "last": 0.0}

    def predict(xs: list[Any]) -> list[Any]:
        counts = state["counts"]
        counts[len(xs)] = counts.get(len(xs), 0) + 1
        now = time.monotonic()
        if now - state["last"] > FLUSH_EVERY_S:
            state["last"] = now
            path = os.path.join(outdir, f"{tag}-{os.getpid()}.json")
            with open(path + ".tmp", "w") as f:
                json.dump(counts, f)
            os.replace(path + ".tmp", path)
        return func(xs)

    return predict


def read_counts(outdir: Path, tag: str) -> dict[int, int]:
    """The summed table over every replica of ``tag``."""
    total: dict[int, int] = {}
    for path in outdir.glob(f"{tag}-*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for size, n in data.items():
            total[int(size)] = total.get(int(size), 0) + n
    return total


def diff_stats(before: dict[int, int], after: dict[int, int]) -> dict[str, float]:
    """Mean, p50, p99 and max of the batches between two reads."""
    delta = {s: after.get(s, 0) - before.get(s, 0) for s in after}
    delta = {s: n for s, n in delta.items() if n > 0}
    batches = sum(delta.values())
    if not batches:
        return {"batches": 0, "mean": 0.0, "p50": 0.0, "p99": 0.0, "max": 0.0}
    items = sum(s * n for s, n in delta.items())
    ordered = sorted(delta.items())

    def pct(q: float) -> float:
        seen = 0
        for s, n in ordered:
            seen += n
            if seen >= q * batches:
                return float(s)
        return float(ordered[-1][0])

    return {"batches": batches, "mean": items / batches, "p50": pct(0.5), "p99": pct(0.99), "max": float(ordered[-1][0])}
