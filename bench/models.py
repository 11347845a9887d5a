"""The benchmark's model functions, shared by Clipper and every peer.

Pure Python (no third-party imports) so each peer's virtual environment can
import it as it is.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

# Workload (b): a fixed cost per call plus a small cost per item, as a model
# whose per-call overhead dominates (where batching pays).
FIXED_COST_S = 0.010
PER_ITEM_COST_S = 20e-6


def feature_sum(xs: Sequence[Sequence[float]]) -> list[str]:
    """Workload (a): the quickstart's sum of a feature vector."""
    return [str(sum(x)) for x in xs]


def fixed_cost_sum(xs: Sequence[Sequence[float]]) -> list[str]:
    """Workload (b): 10 ms per call plus 20 us per item, then the sum."""
    time.sleep(FIXED_COST_S + PER_ITEM_COST_S * len(xs))
    return [str(sum(x)) for x in xs]


def sums(xs: Sequence[Sequence[float]], workload: str) -> list[float]:
    """The same functions for peers that want numbers rather than strings."""
    if workload == "cost":
        time.sleep(FIXED_COST_S + PER_ITEM_COST_S * len(xs))
    return [float(sum(x)) for x in xs]
