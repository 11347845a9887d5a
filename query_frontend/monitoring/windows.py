"""Bounded windows of samples: a reference (the first N after it starts) and a recent one (the last M).

Samples enter the recent window only once the reference is complete, so
drift always compares samples taken after the reference with it. Memory is
fixed when a window is built: ``N x features`` and ``M x features`` floats
for numbers, at most ``max_categories`` distinct values plus ``M`` labels
for categories.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from clipper_protocol.monitoring_api import Summary, WindowInfo
from query_frontend.monitoring import stats
from query_frontend.monitoring.stats import Floats

_EMPTY: Floats = np.empty((0, 0))

OTHER = "(other)"
"""The category of values the reference did not hold (or held past ``max_categories``)."""


class ReferenceClock:
    """When and why a reference window started."""

    def __init__(self, reason: str = "start") -> None:
        self.started_at = time.time()
        self.reason = reason

    def restart(self, reason: str) -> None:
        self.started_at = time.time()
        self.reason = reason

    def info(self, size: int, capacity: int) -> WindowInfo:
        return WindowInfo(size, capacity, size >= capacity, self.started_at, self.reason)


@dataclass(frozen=True, slots=True)
class ReferenceColumn:
    """What drift needs of one feature of a complete reference (computed once, until a reset)."""

    sorted: Floats
    edges: Floats
    shares: Floats
    summary: Summary


class NumericWindows:
    """Reference and recent rows of up to ``features`` numbers each; NaN marks a missing element."""

    def __init__(self, features: int, reference_size: int, window_size: int) -> None:
        self.features = features
        self.capacity = reference_size
        self.window_size = window_size
        # Allocated on the first add: a registered application nobody queries costs nothing.
        self._ref = _EMPTY
        self._recent = _EMPTY
        self.ref_size = 0
        self.recent_size = 0
        self._next = 0  # where the recent ring writes next
        self._ref_sorted: list[Floats] | None = None
        self._ref_columns: dict[int, ReferenceColumn] = {}

    @property
    def complete(self) -> bool:
        return self.ref_size >= self.capacity

    def reset(self) -> None:
        self.ref_size = self.recent_size = self._next = 0
        self._ref_sorted = None
        self._ref_columns.clear()

    def add(self, rows: Floats) -> None:
        """Add rows (``k x features``): to the reference until it is full, then to the recent ring."""
        if self._ref is _EMPTY:
            self._ref = np.full((self.capacity, self.features), math.nan)
            self._recent = np.full((self.window_size, self.features), math.nan)
        if not self.complete:
            take = min(rows.shape[0], self.capacity - self.ref_size)
            self._ref[self.ref_size : self.ref_size + take] = rows[:take]
            self.ref_size += take
            rows = rows[take:]
        m = self._recent.shape[0]
        if rows.shape[0] >= m:
            rows = rows[-m:]
        k = rows.shape[0]
        self._recent[(self._next + np.arange(k)) % m] = rows
        self._next = (self._next + k) % m
        self.recent_size = min(m, self.recent_size + k)

    def reference_sorted(self, feature: int) -> Floats:
        """The reference's values of one feature, sorted, NaN dropped (cached once complete)."""
        if self.ref_size == 0:
            return np.empty(0)
        if self.complete:
            if self._ref_sorted is None:
                self._ref_sorted = [_sorted_finite(self._ref[:, j]) for j in range(self.features)]
            return self._ref_sorted[feature]
        return _sorted_finite(self._ref[: self.ref_size, feature])

    def reference_column(self, feature: int) -> ReferenceColumn:
        """The feature's reference values, PSI bins and summary (cached once the reference is complete)."""
        column = self._ref_columns.get(feature)
        if column is None:
            values = self.reference_sorted(feature)
            edges = stats.bin_edges(values)
            column = ReferenceColumn(values, edges, stats.bin_shares(values, edges), stats.summary_of_sorted(values))
            if self.complete:
                self._ref_columns[feature] = column
        return column

    def recent(self, feature: int) -> Floats:
        if self.recent_size == 0:
            return np.empty(0)
        column = self._recent[: self.recent_size, feature]
        return np.asarray(column[~np.isnan(column)], dtype=np.float64)


def _sorted_finite(column: Floats) -> Floats:
    return np.sort(column[~np.isnan(column)])


class CategoricalWindows:
    """Reference counts (at most ``max_categories`` distinct values) and the recent window's values.

    Values of ``known`` (a fixed set, such as the kinds of strings) are always
    counted as themselves; others count as :data:`OTHER` when the reference
    did not hold them.
    """

    def __init__(self, reference_size: int, window_size: int, max_categories: int,
                 known: Sequence[str] = ()) -> None:
        self.capacity = reference_size
        self.max_categories = max_categories
        self.known = tuple(known)
        self.reference: Counter[str] = Counter()
        self.ref_size = 0
        self._recent: deque[str] = deque(maxlen=window_size)
        self.recent_counts: Counter[str] = Counter()

    @property
    def complete(self) -> bool:
        return self.ref_size >= self.capacity

    @property
    def recent_size(self) -> int:
        return len(self._recent)

    def reset(self) -> None:
        self.reference.clear()
        self.ref_size = 0
        self._recent.clear()
        self.recent_counts.clear()

    def add(self, value: str) -> None:
        if not self.complete:
            if value not in self.reference and value not in self.known and len(self.reference) >= self.max_categories:
                value = OTHER
            self.reference[value] += 1
            self.ref_size += 1
            return
        if value not in self.reference and value not in self.known:
            value = OTHER
        if len(self._recent) == self._recent.maxlen:
            old = self._recent[0]
            self.recent_counts[old] -= 1
            if not self.recent_counts[old]:
                del self.recent_counts[old]
        self._recent.append(value)
        self.recent_counts[value] += 1

    def add_many(self, values: Sequence[str]) -> None:
        """:meth:`add` each of ``values`` in order (the recent window's part in a few C-level calls)."""
        i = 0
        while i < len(values) and not self.complete:
            self.add(values[i])
            i += 1
        if i == len(values):
            return
        maxlen = self._recent.maxlen or 0
        rest = [v if v in self.reference or v in self.known else OTHER for v in values[i:][-maxlen:]]
        overflow = len(self._recent) + len(rest) - maxlen
        if overflow > 0:
            removed = [self._recent.popleft() for _ in range(overflow)]
            self.recent_counts.subtract(removed)
            for value in set(removed):
                if self.recent_counts[value] <= 0:
                    del self.recent_counts[value]
        self._recent.extend(rest)
        self.recent_counts.update(rest)

    def categories(self) -> list[str]:
        """Every category of either window, the reference's first."""
        names = list(self.reference) + [k for k in self.known if k not in self.reference]
        if OTHER not in names:
            names.append(OTHER)
        return names

    def recent_shares(self, top: int) -> dict[str, float]:
        """The ``top`` most frequent recent values and their shares."""
        n = len(self._recent)
        return {k: c / n for k, c in self.recent_counts.most_common(top)} if n else {}
