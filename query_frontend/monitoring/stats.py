"""The statistics monitoring reports: PSI, two-sample KS, summaries, kinds of strings.

Pure functions over numpy arrays (NaN-free: callers drop missing values);
none of them runs on the query path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from clipper_protocol.monitoring_api import Summary

Floats = npt.NDArray[np.float64]

PSI_BINS = 10
"""Bins of the numeric PSI inside the reference's range: its deciles (fewer when values repeat)."""
_SMOOTHING = 0.5
"""Added to every bin's count, so an empty bin gives a finite PSI (Laplace-style)."""


def bin_edges(reference_sorted: Floats, bins: int = PSI_BINS) -> Floats:
    """Upper bin edges: just under the reference's minimum, its deciles (values it holds), its maximum.

    A bin holds the values above the previous edge up to its own, the last
    one those above the maximum; the first and the last are empty in the
    reference, so values outside its range always count as a shift (a
    constant reference still has three bins). Repeated values collapse
    deciles: a 0/1 feature gets the bins below 0, 0, 1, above 1.
    """
    if reference_sorted.size == 0:
        return np.empty(0)
    low, high = reference_sorted[0], reference_sorted[-1]
    # The k-th decile is the smallest value with at least k/bins of the reference at or below it (integer
    # arithmetic: float quantile positions can land one value off).
    n = reference_sorted.size
    deciles = reference_sorted[[(k * n + bins - 1) // bins - 1 for k in range(1, bins)]]
    return np.unique(np.concatenate([[np.nextafter(low, -np.inf)], deciles, [high]]))


def bin_shares(values: Floats, edges: Floats) -> Floats:
    """Smoothed share of ``values`` in each of the ``len(edges) + 1`` bins (a value on an edge is in its bin)."""
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1)
    smoothed = counts + _SMOOTHING
    return np.asarray(smoothed / smoothed.sum(), dtype=np.float64)


def psi_from_shares(reference: Floats, recent: Floats) -> float:
    """Population stability index: sum of (recent - reference) * ln(recent / reference) over the bins."""
    return float(np.sum((recent - reference) * np.log(recent / reference)))


def psi(reference_sorted: Floats, recent: Floats, edges: Floats | None = None) -> float | None:
    """PSI of ``recent`` against the reference (sorted); None when either is empty."""
    if reference_sorted.size == 0 or recent.size == 0:
        return None
    if edges is None:
        edges = bin_edges(reference_sorted)
    return psi_from_shares(bin_shares(reference_sorted, edges), bin_shares(recent, edges))


def column_psi(reference_shares: Floats, edges: Floats, recent: Floats) -> float | None:
    """:func:`psi` with the reference's bins and shares computed beforehand; None when ``recent`` is empty."""
    if recent.size == 0:
        return None
    return psi_from_shares(reference_shares, bin_shares(recent, edges))


def categorical_psi(reference: Mapping[str, int], recent: Mapping[str, int], categories: Sequence[str]) -> float | None:
    """PSI over ``categories`` (which must cover both windows' values); None when either window is empty."""
    if not sum(reference.values()) or not sum(recent.values()):
        return None
    ref = np.array([reference.get(c, 0) for c in categories], dtype=np.float64) + _SMOOTHING
    cur = np.array([recent.get(c, 0) for c in categories], dtype=np.float64) + _SMOOTHING
    return psi_from_shares(ref / ref.sum(), cur / cur.sum())


def ks(reference_sorted: Floats, recent: Floats, recent_is_sorted: bool = False) -> float | None:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    if reference_sorted.size == 0 or recent.size == 0:
        return None
    recent_sorted = recent if recent_is_sorted else np.sort(recent)
    points = np.concatenate([reference_sorted, recent_sorted])
    cdf_ref = np.searchsorted(reference_sorted, points, side="right") / reference_sorted.size
    cdf_cur = np.searchsorted(recent_sorted, points, side="right") / recent_sorted.size
    return float(np.max(np.abs(cdf_ref - cdf_cur)))


def finite(value: float) -> float | None:
    """``value``, or None for NaN and infinities (JSON has neither)."""
    return value if math.isfinite(value) else None


def summary(values: Floats) -> Summary:
    """Count, mean, standard deviation, min, median and max of ``values``."""
    return summary_of_sorted(np.sort(values))


def summary_of_sorted(values: Floats) -> Summary:
    """:func:`summary` of values already sorted (min, median and max are then read off)."""
    n = values.size
    if n == 0:
        return Summary(0)
    with np.errstate(invalid="ignore", over="ignore"):  # an infinite value: its mean and spread are unknown
        mean, std = float(np.mean(values)), float(np.std(values))
        median = float((values[(n - 1) // 2] + values[n // 2]) / 2)
    return Summary(int(n), finite(mean), finite(std), finite(float(values[0])), finite(median),
                   finite(float(values[-1])))


def string_kind(prefix: bytes, length: int) -> str:
    """The kind of a strings or bytes input (``monitoring_api.STRING_KINDS``) from its first bytes."""
    if length == 0:
        return "empty"
    try:
        text = prefix.decode("utf-8")
    except UnicodeDecodeError as e:
        # A prefix may cut a multi-byte character at its end: that is still text.
        if length > len(prefix) and e.start >= len(prefix) - 3:
            text = prefix[: e.start].decode("utf-8", "replace")
        else:
            return "binary"
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        return "json"
    if length == len(prefix) and stripped:
        try:
            float(stripped)
            return "numeric"
        except ValueError:
            pass
    return "ascii" if text.isascii() else "unicode"
