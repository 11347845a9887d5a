"""A model version's quality from feedback: accuracy and mean absolute error over three windows and time.

Each feedback pairs a label (``/update``) with the version's answer for the
same input. Both figures are kept: accuracy (the answer equals the label)
and the mean absolute error of numeric answers. ``kind`` says which one
measures the version: ``classifier`` when the labels and numeric answers of
the recent window are all integers with at most ``max_classes`` distinct
values, else ``regressor``; the setting ``monitoring_quality_kinds`` fixes
it per application.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from clipper_protocol import monitoring_api as mapi
from query_frontend.monitoring.limits import MonitoringLimits
from query_frontend.monitoring.outputs import as_number


@dataclass(slots=True)
class Tally:
    """Feedback counted: all of it, exact answers, numeric answers and their absolute errors."""

    n: int = 0
    correct: int = 0
    numeric: int = 0
    abs_error: float = 0.0
    start: float = 0.0

    def add(self, prediction: float | None, label: float) -> None:
        self.n += 1
        if prediction is not None:
            self.numeric += 1
            self.abs_error += abs(prediction - label)
            self.correct += prediction == label

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None

    @property
    def mae(self) -> float | None:
        return self.abs_error / self.numeric if self.numeric else None


class QualityMonitor:
    """The feedback of one model version for one application."""

    def __init__(self, limits: MonitoringLimits, kind: str | None = None) -> None:
        self.limits = limits
        self.fixed_kind = kind
        w = limits.feedback_window
        self._predictions = np.full(w, math.nan)  # NaN: the answer was not a number
        self._labels = np.full(w, math.nan)
        self._next = 0
        self.window = 0
        self.lifetime = Tally()
        self.reference = Tally()
        self.buckets: deque[Tally] = deque(maxlen=limits.buckets)

    def reset(self) -> None:
        """A new reference (the recent window and the lifetime figures go on)."""
        self.reference = Tally()

    def add(self, answer: object, label: float, now: float) -> None:
        prediction = as_number(answer)
        self.lifetime.add(prediction, label)
        if self.reference.n < self.limits.feedback_window:
            self.reference.add(prediction, label)
        start = now - now % self.limits.bucket_s
        if not self.buckets or self.buckets[-1].start != start:
            self.buckets.append(Tally(start=start))
        self.buckets[-1].add(prediction, label)
        self._predictions[self._next] = math.nan if prediction is None else prediction
        self._labels[self._next] = label
        self._next = (self._next + 1) % self._labels.size
        self.window = min(self._labels.size, self.window + 1)

    @property
    def kind(self) -> str | None:
        if self.fixed_kind is not None:
            return self.fixed_kind
        if not self.window:
            return None
        labels, predictions = self._labels[: self.window], self._predictions[: self.window]
        numeric = predictions[~np.isnan(predictions)]
        values = np.concatenate([labels, numeric])
        if np.all(values == np.round(values)) and np.unique(values).size <= self.limits.max_classes:
            return mapi.CLASSIFIER
        return mapi.REGRESSOR

    def recent(self) -> tuple[float | None, float | None]:
        """(accuracy, mean absolute error) of the last ``feedback_window`` feedbacks."""
        if not self.window:
            return None, None
        labels, predictions = self._labels[: self.window], self._predictions[: self.window]
        accuracy = float(np.mean(predictions == labels))
        numeric = ~np.isnan(predictions)
        mae = float(np.mean(np.abs(predictions[numeric] - labels[numeric]))) if numeric.any() else None
        return accuracy, mae

    def report(self, started_at: float, reason: str) -> mapi.Quality:
        accuracy, mae = self.recent()
        complete = self.reference.n >= self.limits.feedback_window
        ref = self.reference if complete else Tally()
        info = mapi.WindowInfo(self.reference.n, self.limits.feedback_window, complete, started_at, reason)
        buckets = [mapi.TimeBucket(b.start, b.n, b.accuracy, b.mae) for b in self.buckets]
        return mapi.Quality(
            self.kind, self.lifetime.n, self.lifetime.n - self.lifetime.numeric, info,
            mapi.Windows(accuracy, ref.accuracy, self.lifetime.accuracy),
            mapi.Windows(mae, ref.mae, self.lifetime.mae), buckets,
        )
