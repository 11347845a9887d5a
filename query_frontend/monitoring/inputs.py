"""An application's inputs and default outputs: reference and recent windows, drift per feature.

Numeric inputs (doubles, floats, integers) are tracked element by element,
the first ``max_features`` of each input. Strings and bytes are tracked by
their length and their kind (``monitoring_api.STRING_KINDS``). The default
rate uses the same samples: each sampled query is one input and one
answer, default or not.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from clipper_protocol import monitoring_api as mapi
from clipper_protocol.input_types import InputType
from query_frontend.errors import DEFAULT_REASONS
from query_frontend.monitoring import stats
from query_frontend.monitoring.limits import MonitoringLimits
from query_frontend.monitoring.stats import Floats
from query_frontend.monitoring.windows import CategoricalWindows, NumericWindows

_DTYPES: dict[InputType, np.dtype[Any]] = {
    InputType.DOUBLES: np.dtype("<f8"), InputType.FLOATS: np.dtype("<f4"), InputType.INTEGERS: np.dtype("<i4"),
}
ANSWERED = "answered"
"""The default-rate category of a query the model answered."""

InputSample = tuple[bytes, int, "str | None"]
"""A sampled query: the first bytes of its packed input, the input's length in bytes, its default reason."""


def prefix_bytes(input_type: InputType, max_features: int) -> int:
    """How many bytes of a packed input a sample keeps: ``max_features`` elements, or 64 bytes of text."""
    dtype = _DTYPES.get(input_type)
    return max_features * dtype.itemsize if dtype is not None else 64


class InputMonitor:
    """Inputs and default outputs of one application."""

    def __init__(self, input_type: InputType, limits: MonitoringLimits) -> None:
        self.input_type = input_type
        self.limits = limits
        self.dtype = _DTYPES.get(input_type)
        features = limits.max_features if self.dtype is not None else 1
        self.numbers = NumericWindows(features, limits.reference_size, limits.window_size)
        self.kinds = None if self.dtype is not None else CategoricalWindows(
            limits.reference_size, limits.window_size, len(mapi.STRING_KINDS), mapi.STRING_KINDS)
        self.defaults = CategoricalWindows(limits.reference_size, limits.window_size, len(DEFAULT_REASONS) + 1,
                                           (ANSWERED, *DEFAULT_REASONS))
        self.features_seen = 0
        self.sampled = 0
        self.lifetime_reasons: Counter[str] = Counter()

    def reset(self) -> None:
        self.numbers.reset()
        self.defaults.reset()
        if self.kinds is not None:
            self.kinds.reset()

    def add(self, samples: Sequence[InputSample]) -> None:
        if not samples:
            return
        features = self.numbers.features
        rows: Floats | None = None
        if self.dtype is not None:
            itemsize = self.dtype.itemsize
            self.features_seen = max(self.features_seen, max(length for _, length, _ in samples) // itemsize)
            if all(len(prefix) == features * itemsize for prefix, _, _ in samples):
                # The usual case (inputs of at least max_features elements): one conversion for the lot.
                joined = np.frombuffer(b"".join(prefix for prefix, _, _ in samples), dtype=self.dtype)
                rows = joined.reshape(len(samples), features).astype(np.float64)
        if rows is None:
            rows = np.full((len(samples), features), math.nan)
            for i, (prefix, length, _) in enumerate(samples):
                if self.dtype is not None:
                    n = min(len(prefix) // self.dtype.itemsize, features)
                    rows[i, :n] = np.frombuffer(prefix, dtype=self.dtype, count=n)
                else:
                    rows[i, 0] = length
            if self.kinds is not None:
                self.kinds.add_many([stats.string_kind(prefix, length) for prefix, length, _ in samples])
        outcomes = [reason or ANSWERED for _, _, reason in samples]
        self.defaults.add_many(outcomes)
        self.lifetime_reasons.update(outcomes)
        if self.dtype is None:
            self.features_seen = 1
        self.sampled += len(samples)
        self.numbers.add(rows)

    @property
    def reference_size(self) -> int:
        return self.numbers.ref_size

    def _drift_ready(self) -> bool:
        return self.numbers.complete and self.numbers.recent_size >= self.limits.min_window

    def features(self) -> list[mapi.FeatureDrift]:
        """The drift of each tracked feature (PSI and KS once the reference is complete and the window holds
        ``min_window`` samples)."""
        ready = self._drift_ready()
        out = []
        names = [mapi.LENGTH_FEATURE] if self.dtype is None else [str(j) for j in range(self.features_seen)]
        for j, name in enumerate(names[: self.numbers.features]):
            ref, recent = self.numbers.reference_column(j), np.sort(self.numbers.recent(j))
            out.append(mapi.FeatureDrift(name, stats.column_psi(ref.shares, ref.edges, recent) if ready else None,
                                         stats.ks(ref.sorted, recent, recent_is_sorted=True) if ready else None,
                                         ref.summary, stats.summary_of_sorted(recent)))
        if self.kinds is not None:
            psi = stats.categorical_psi(self.kinds.reference, self.kinds.recent_counts, self.kinds.categories())
            out.append(mapi.FeatureDrift(mapi.TYPE_MIX_FEATURE, psi if ready else None))
        return out

    def type_mix(self) -> dict[str, mapi.Windows] | None:
        if self.kinds is None:
            return None
        k = self.kinds
        return {kind: mapi.Windows(_share(k.recent_counts[kind], k.recent_size), _share(k.reference[kind], k.ref_size))
                for kind in mapi.STRING_KINDS}

    def default_rates(self) -> mapi.DefaultRates:
        d = self.defaults
        lifetime_n = sum(self.lifetime_reasons.values())
        rate = mapi.Windows(
            _share(d.recent_size - d.recent_counts[ANSWERED], d.recent_size),
            _share(d.ref_size - d.reference[ANSWERED], d.ref_size),
            _share(lifetime_n - self.lifetime_reasons[ANSWERED], lifetime_n),
        )
        recent = {r: c / d.recent_size for r, c in d.recent_counts.items() if r != ANSWERED} if d.recent_size else {}
        lifetime = {r: c for r, c in self.lifetime_reasons.items() if r != ANSWERED}
        return mapi.DefaultRates(rate, recent, lifetime)


def _share(count: int, total: int) -> float | None:
    return count / total if total else None
