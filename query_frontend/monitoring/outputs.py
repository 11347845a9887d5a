"""A model version's answers: their distribution in the reference and recent windows, and its drift.

Answers that are all numbers (``"0.7"``, ``1``) are compared as numbers
(PSI over the reference's deciles, and KS); otherwise as categories (PSI
over the reference's most frequent values, the rest counted as one).
Default outputs are not answers: they are in the application's default rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import orjson

from clipper_protocol import monitoring_api as mapi
from query_frontend.monitoring import stats
from query_frontend.monitoring.limits import MonitoringLimits
from query_frontend.monitoring.windows import CategoricalWindows, NumericWindows

TOP_CATEGORIES = 10
"""Categorical answers reported in ``OutputDrift.top``."""
_CATEGORY_CHARS = 64


def as_number(value: object) -> float | None:
    """An answer as a number (a JSON number or a string holding one), else None."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def category(value: object) -> str:
    """An answer as a (bounded) category label."""
    text = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return text[:_CATEGORY_CHARS]


class OutputMonitor:
    """The answers of one model version to one application."""

    def __init__(self, limits: MonitoringLimits) -> None:
        self.limits = limits
        self.numbers = NumericWindows(1, limits.reference_size, limits.window_size)
        self.labels = CategoricalWindows(limits.reference_size, limits.window_size, limits.max_categories)
        self.answers = 0
        self._reference_non_numeric = 0

    def reset(self) -> None:
        self.numbers.reset()
        self.labels.reset()
        self._reference_non_numeric = 0

    def add(self, values: Sequence[object]) -> None:
        rows = np.full((len(values), 1), math.nan)
        to_reference = self.labels.capacity - self.labels.ref_size  # these many go to the reference
        for i, value in enumerate(values):
            number = as_number(value)
            if number is not None:
                rows[i, 0] = number
            elif i < to_reference:
                self._reference_non_numeric += 1
        self.labels.add_many([category(value) for value in values])
        self.answers += len(values)
        self.numbers.add(rows)

    @property
    def kind(self) -> str | None:
        if self.labels.ref_size == 0:
            return None
        return mapi.NUMERIC if self._reference_non_numeric == 0 else mapi.CATEGORICAL

    def info(self) -> tuple[int, int]:
        """(samples in the reference, its capacity)."""
        return self.labels.ref_size, self.labels.capacity

    def report(self) -> mapi.OutputDrift:
        kind = self.kind
        ready = self.labels.complete and self.labels.recent_size >= self.limits.min_window
        if kind == mapi.NUMERIC:
            ref, recent = self.numbers.reference_column(0), np.sort(self.numbers.recent(0))
            return mapi.OutputDrift(kind, stats.column_psi(ref.shares, ref.edges, recent) if ready else None,
                                    stats.ks(ref.sorted, recent, recent_is_sorted=True) if ready else None,
                                    ref.summary, stats.summary_of_sorted(recent))
        psi = None
        if ready:
            psi = stats.categorical_psi(self.labels.reference, self.labels.recent_counts, self.labels.categories())
        return mapi.OutputDrift(kind, psi, top=self.labels.recent_shares(TOP_CATEGORIES))
