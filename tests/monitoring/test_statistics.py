"""The statistics and windows of monitoring, without a frontend: PSI, KS, summaries, bounded windows, quality.

KS is checked against SciPy's ``ks_2samp``; PSI against values worked out
by hand. Random samples come from generators seeded by the ``rng``
fixture, with thresholds far from what such samples reach.
"""

from __future__ import annotations

import asyncio
import math
import random
import struct
from collections import Counter

import numpy as np
import pytest
import scipy.stats

from clipper_protocol import monitoring_api as mapi
from clipper_protocol.input_types import InputType
from query_frontend.cache import PredictionCache
from query_frontend.config import AppConfig, ClusterConfig
from query_frontend.monitoring import MonitoringLimits, Monitor, Recorder, parse_quality_kinds
from query_frontend.monitoring import stats
from query_frontend.monitoring.inputs import InputMonitor
from query_frontend.monitoring.monitor import STEP
from query_frontend.monitoring.quality import QualityMonitor
from query_frontend.monitoring.windows import OTHER, CategoricalWindows, NumericWindows
from query_frontend.results import QueryResult
from query_frontend.settings import QueryFrontendSettings


def normal(rng: random.Random, n: int, loc: float = 0.0) -> np.ndarray:  # type: ignore[type-arg]
    return np.random.default_rng(rng.randrange(2**32)).normal(loc, 1.0, n)


# ------------------------------------------------------------------ PSI


def test_psi_of_shares_by_hand() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)
    assert stats.psi_from_shares(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(expected)
    assert stats.psi_from_shares(np.array([0.2, 0.8]), np.array([0.2, 0.8])) == 0.0


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift(rng: random.Random) -> None:
    reference = np.sort(normal(rng, 2000))
    assert stats.psi(reference, normal(rng, 2000)) < 0.05  # type: ignore[operator]
    assert stats.psi(reference, normal(rng, 2000, loc=0.3)) > 0.05  # type: ignore[operator]
    assert stats.psi(reference, normal(rng, 2000, loc=2.0)) > 1.0  # type: ignore[operator]


def test_psi_bins_are_the_reference_deciles_and_its_range() -> None:
    reference = np.arange(100, dtype=np.float64)
    edges = stats.bin_edges(reference)
    assert edges[0] < 0.0 and edges[1:].tolist() == [9, 19, 29, 39, 49, 59, 69, 79, 89, 99]
    # Ten bins of ten in range; the bins below 0 and above 99 are empty (only smoothing in them).
    assert stats.bin_shares(reference, edges) == pytest.approx([0.5 / 106] + [10.5 / 106] * 10 + [0.5 / 106])
    binary = np.sort(np.array([0.0] * 50 + [1.0] * 50))
    edges = stats.bin_edges(binary)
    assert edges.size == 3 and edges[1:].tolist() == [0.0, 1.0]  # bins: below 0, 0, 1, above 1
    # 50/50 against 90/10, smoothed by half a count per bin.
    ref, cur = np.array([0.5, 50.5, 50.5, 0.5]) / 102, np.array([0.5, 90.5, 10.5, 0.5]) / 102
    expected = float(np.sum((cur - ref) * np.log(cur / ref)))
    assert stats.psi(binary, np.array([0.0] * 90 + [1.0] * 10)) == pytest.approx(expected)


def test_psi_sees_values_outside_a_constant_reference() -> None:
    constant = np.zeros(100)
    assert stats.psi(constant, np.zeros(100)) == pytest.approx(0.0)
    above, below = stats.psi(constant, np.full(100, 5.0)), stats.psi(constant, np.full(100, -5.0))
    assert above is not None and above > 2.0 and below == pytest.approx(above)


def test_psi_is_finite_when_a_bin_is_empty_and_none_without_data() -> None:
    reference = np.arange(100, dtype=np.float64)
    value = stats.psi(reference, np.full(50, 1000.0))  # every recent value in the top bin
    assert value is not None and math.isfinite(value) and value > 2.0
    assert stats.psi(np.empty(0), np.ones(3)) is None and stats.psi(reference, np.empty(0)) is None


def test_categorical_psi() -> None:
    same = stats.categorical_psi({"a": 50, "b": 50}, {"a": 50, "b": 50}, ["a", "b", OTHER])
    assert same == pytest.approx(0.0)
    moved = stats.categorical_psi({"a": 100}, {"b": 100}, ["a", "b"])
    ref, cur = np.array([100.5, 0.5]) / 101, np.array([0.5, 100.5]) / 101
    assert moved == pytest.approx(float(np.sum((cur - ref) * np.log(cur / ref))))
    assert stats.categorical_psi({}, {"a": 1}, ["a"]) is None and stats.categorical_psi({"a": 1}, {}, ["a"]) is None


# ------------------------------------------------------------------ KS and summaries


def test_ks_matches_scipy(rng: random.Random) -> None:
    for n, m, loc in ((500, 500, 0.0), (300, 700, 0.5), (50, 1000, 2.0)):
        a, b = normal(rng, n), normal(rng, m, loc)
        assert stats.ks(np.sort(a), b) == pytest.approx(scipy.stats.ks_2samp(a, b).statistic)
    ints_a = np.array([rng.randint(0, 5) for _ in range(400)], dtype=np.float64)  # many ties
    ints_b = np.array([rng.randint(1, 6) for _ in range(300)], dtype=np.float64)
    assert stats.ks(np.sort(ints_a), ints_b) == pytest.approx(scipy.stats.ks_2samp(ints_a, ints_b).statistic)
    assert stats.ks(np.sort(ints_a), ints_a) == 0.0
    assert stats.ks(np.empty(0), ints_a) is None


def test_summary() -> None:
    assert stats.summary(np.empty(0)) == mapi.Summary(0)
    s = stats.summary(np.array([1.0, 2.0, 3.0, 10.0]))
    assert (s.count, s.mean, s.min, s.p50, s.max) == (4, 4.0, 1.0, 2.5, 10.0)
    assert s.std == pytest.approx(float(np.std([1.0, 2.0, 3.0, 10.0])))
    assert stats.summary(np.array([math.inf])).mean is None  # JSON has no infinity


@pytest.mark.parametrize(("text", "kind"), [
    (b"", "empty"), (b"3.25", "numeric"), (b' {"a": 1}', "json"), (b"[1, 2]", "json"), (b"hello world", "ascii"),
    ("h\u00e9llo".encode(), "unicode"), (b"\xff\xfe\x00", "binary"),
])  # fmt: skip
def test_string_kind(text: bytes, kind: str) -> None:
    assert stats.string_kind(text[:64], len(text)) == kind


def test_string_kind_of_a_prefix() -> None:
    text = ("\u20ac" * 30).encode()  # 90 bytes of 3-byte characters: the 64-byte prefix cuts one
    assert stats.string_kind(text[:64], len(text)) == "unicode"
    long_number = b"1" * 100  # a prefix of digits cannot tell a number from text
    assert stats.string_kind(long_number[:64], 100) == "ascii"


# ------------------------------------------------------------------ windows


def test_numeric_windows_fill_the_reference_first_then_keep_the_last_rows() -> None:
    w = NumericWindows(2, reference_size=5, window_size=3)
    rows = np.array([[float(i), -float(i)] for i in range(12)])
    w.add(rows[:4])
    assert (w.ref_size, w.complete, w.recent_size) == (4, False, 0)
    w.add(rows[4:9])  # one more completes the reference, four go to the recent ring
    assert w.complete and w.recent_size == 3
    assert list(w.reference_sorted(0)) == [0, 1, 2, 3, 4] and list(w.reference_sorted(1)) == [-4, -3, -2, -1, 0]
    assert sorted(w.recent(0)) == [6, 7, 8]
    w.add(rows[9:])
    assert sorted(w.recent(0)) == [9, 10, 11] and list(w.reference_sorted(0)) == [0, 1, 2, 3, 4]
    w.reset()
    assert (w.ref_size, w.recent_size, w.complete) == (0, 0, False)
    assert w.reference_sorted(0).size == 0 and w.recent(0).size == 0


def test_numeric_windows_drop_missing_elements() -> None:
    w = NumericWindows(2, reference_size=3, window_size=3)
    w.add(np.array([[1.0, math.nan], [2.0, 5.0], [3.0, math.nan], [4.0, math.nan]]))
    assert list(w.reference_sorted(1)) == [5.0] and w.recent(1).size == 0 and list(w.recent(0)) == [4.0]


def test_numeric_windows_memory_is_fixed(rng: random.Random) -> None:
    w = NumericWindows(4, reference_size=100, window_size=50)
    w.add(np.ones((1, 4)))
    sizes = (w._ref.nbytes, w._recent.nbytes)
    assert sizes == (100 * 4 * 8, 50 * 4 * 8)
    for _ in range(200):
        w.add(np.array([normal(rng, 4) for _ in range(37)]))
    assert (w._ref.nbytes, w._recent.nbytes) == sizes and w.recent_size == 50


def test_categorical_windows_bound_their_categories() -> None:
    w = CategoricalWindows(reference_size=6, window_size=4, max_categories=3)
    for value in "aabcde":  # d and e come after three categories: they count as OTHER
        w.add(value)
    assert dict(w.reference) == {"a": 2, "b": 1, "c": 1, OTHER: 2} and w.complete
    for value in "abzzyy":  # z and y: not in the reference; the window keeps the last four
        w.add(value)
    assert w.recent_size == 4 and dict(w.recent_counts) == {OTHER: 4}
    assert w.categories() == ["a", "b", "c", OTHER]
    for value in "a" * 1000:
        w.add(value)
    assert dict(w.recent_counts) == {"a": 4} and w.recent_shares(5) == {"a": 1.0}
    assert len(w.reference) <= 4


def test_known_categories_are_never_other() -> None:
    w = CategoricalWindows(reference_size=2, window_size=10, max_categories=1, known=("x", "y"))
    for value in "zzxyq":
        w.add(value)
    assert dict(w.reference) == {"z": 2} and dict(w.recent_counts) == {"x": 1, "y": 1, OTHER: 1}


# ------------------------------------------------------------------ quality


def test_quality_windows_and_time_buckets() -> None:
    limits = MonitoringLimits(feedback_window=4, bucket_s=10.0, buckets=2)
    q = QualityMonitor(limits)
    assert q.kind is None and q.recent() == (None, None)
    # (answer, label, time): right, right, wrong, wrong | right, right, right, right
    for answer, label, at in (("1", 1.0, 0.0), ("0", 0.0, 1.0), ("1", 0.0, 2.0), ("0", 1.0, 3.0),
                              ("1", 1.0, 15.0), ("1", 1.0, 16.0), ("0", 0.0, 25.0), ("1", 1.0, 26.0)):
        q.add(answer, label, at)
    assert q.kind == mapi.CLASSIFIER
    report = q.report(0.0, "start")
    assert report.feedback == 8 and report.reference.complete
    assert report.accuracy == mapi.Windows(recent=1.0, reference=0.5, lifetime=0.75)
    assert report.mae == mapi.Windows(recent=0.0, reference=0.5, lifetime=0.25)
    # Only the last two 10-second slots are kept.
    assert [(b.start, b.feedback, b.accuracy) for b in report.buckets] == [(10.0, 2, 1.0), (20.0, 2, 1.0)]
    q.reset()
    after = q.report(30.0, "reset")
    assert after.reference.size == 0 and after.accuracy.reference is None and after.accuracy.recent == 1.0


def test_quality_kind_follows_the_labels_unless_fixed() -> None:
    regressor = QualityMonitor(MonitoringLimits(feedback_window=10))
    for x in (0.5, 1.7, 2.2):
        regressor.add(str(x + 0.1), x, 0.0)
    assert regressor.kind == mapi.REGRESSOR
    assert regressor.report(0.0, "start").mae.recent == pytest.approx(0.1)
    many_classes = QualityMonitor(MonitoringLimits(feedback_window=100, max_classes=3))
    for i in range(5):
        many_classes.add(str(i), float(i), 0.0)
    assert many_classes.kind == mapi.REGRESSOR  # integers, but more distinct values than max_classes
    fixed = QualityMonitor(MonitoringLimits(), kind=mapi.CLASSIFIER)
    fixed.add("0.5", 0.25, 0.0)
    assert fixed.kind == mapi.CLASSIFIER
    text = QualityMonitor(MonitoringLimits())
    text.add("cat", 1.0, 0.0)
    report = text.report(0.0, "start")
    assert report.non_numeric == 1 and report.accuracy.recent == 0.0 and report.mae.recent is None


# ------------------------------------------------------------------ inputs, the recorder and the monitor


def app_config(name: str = "app", input_type: InputType = InputType.DOUBLES) -> AppConfig:
    return AppConfig(name=name, input_type=input_type, default_output="-1", default_value="-1", slo_micros=100_000,
                     policy="DefaultOutputSelectionPolicy")


def doubles(*xs: float) -> bytes:
    return struct.pack(f"<{len(xs)}d", *xs)


def test_input_monitor_tracks_the_first_features_only() -> None:
    m = InputMonitor(InputType.DOUBLES, MonitoringLimits(max_features=2, reference_size=10, window_size=10))
    m.add([(doubles(1.0, 2.0), 3 * 8, None), (doubles(4.0), 8, "slo")])  # the first input had 3 elements
    assert m.features_seen == 3 and [f.feature for f in m.features()] == ["0", "1"]
    assert m.numbers.reference_sorted(1).tolist() == [2.0]
    assert m.default_rates().rate.lifetime == 0.5 and m.default_rates().lifetime_reasons == {"slo": 1}


def test_recorder_samples_one_query_in_n_and_its_queue_is_bounded() -> None:
    config = ClusterConfig(apps={"app": app_config()})
    limits = MonitoringLimits(sample_every=10, pending=25)
    recorder = Recorder(limits, config, PredictionCache(1 << 20), lambda: ())
    answer = QueryResult(0, "-1", True, reason="no_connected_models")
    for i in range(1000):
        recorder.observe(config.apps["app"], doubles(float(i)), None, answer)
    samples, feedbacks = recorder.drain()
    (sampler, batch) = samples["app"]
    assert len(batch) == 25 and feedbacks == []  # 100 sampled, the oldest 75 dropped
    assert [struct.unpack("<d", prefix)[0] for prefix, *_ in batch] == [float(i) for i in range(750, 1000, 10)]
    assert recorder.drain() == ({}, [])


def test_monitor_memory_is_bounded_by_the_windows() -> None:
    config = ClusterConfig(apps={"app": app_config()})
    limits = MonitoringLimits(reference_size=50, window_size=20, min_window=5, max_features=3, pending=100)
    recorder = Recorder(limits, config, PredictionCache(1 << 20), lambda: ())
    monitor = Monitor(limits, config, recorder)
    answered = QueryResult(0, "1", False)
    for i in range(20_000):
        recorder.observe(config.apps["app"], doubles(float(i % 7), 1.0, 2.0, 3.0, 4.0), None, answered)
        if i % 100 == 99:
            monitor.tick()
    state = monitor.apps["app"]
    assert state.inputs.numbers._ref.shape == (50, 3) and state.inputs.numbers._recent.shape == (20, 3)
    assert state.inputs.defaults.recent_size == 20 and sum(state.inputs.lifetime_reasons.values()) == 20_000
    assert len(recorder.samplers["app"].pending) == 0
    report = monitor.report("app")
    assert report is not None and report.sampled == 20_000 and report.features_seen == 5
    assert report.reference.complete and report.window == 20
    assert report.defaults.rate == mapi.Windows(0.0, 0.0, 0.0)
    mapi.AppMonitoring.from_json(report.to_json())
    assert monitor.report("nope") is None and monitor.reset("nope") is None


def test_an_application_gone_from_the_configuration_is_forgotten() -> None:
    config = ClusterConfig(apps={"app": app_config()})
    recorder = Recorder(MonitoringLimits(), config, PredictionCache(1 << 20), lambda: ())
    monitor = Monitor(MonitoringLimits(), config, recorder)
    recorder.observe(config.apps["app"], doubles(1.0), None, QueryResult(0, "1", False))
    assert monitor.report("app") is not None
    del config.apps["app"]
    monitor.tick()
    assert monitor.apps == {} and recorder.samplers == {}


def test_quality_kinds_setting() -> None:
    assert parse_quality_kinds(" a=classifier, b=regressor ,") == (("a", "classifier"), ("b", "regressor"))
    with pytest.raises(ValueError, match="expected APP=classifier or APP=regressor, got 'a=tree'"):
        parse_quality_kinds("a=tree")
    with pytest.raises(ValueError, match="monitoring_quality_kinds"):
        QueryFrontendSettings(monitoring_quality_kinds="nokind")
    with pytest.raises(ValueError, match="monitoring_reference_size"):
        QueryFrontendSettings(monitoring_reference_size=1)


def test_add_many_is_add_in_order(rng: random.Random) -> None:
    one, many = (CategoricalWindows(reference_size=30, window_size=25, max_categories=4, known=("k",))
                 for _ in range(2))
    values = [rng.choice("abcdefk") for _ in range(400)]
    for start in range(0, 400, 37):  # batches across the reference's end and longer than the window
        chunk = values[start:start + 37] if start < 200 else values[start:start + 80]
        for value in chunk:
            one.add(value)
        many.add_many(chunk)
    assert (dict(one.reference), one.ref_size) == (dict(many.reference), many.ref_size)
    assert list(one._recent) == list(many._recent) and +one.recent_counts == +many.recent_counts
    assert dict(many.recent_counts) == dict(Counter(many._recent))


async def test_background_tick_takes_samples_in_steps_and_drops_them_on_a_reset() -> None:
    config = ClusterConfig(apps={"app": app_config()})
    limits = MonitoringLimits(reference_size=10_000, pending=10_000)
    recorder = Recorder(limits, config, PredictionCache(1 << 20), lambda: ())
    monitor = Monitor(limits, config, recorder)
    monitor.tick()
    for i in range(2 * STEP + 1):
        recorder.observe(config.apps["app"], doubles(float(i)), None, QueryResult(0, "1", False))
    task = asyncio.ensure_future(monitor.tick_in_steps())
    await asyncio.sleep(0)  # the first step ran, then it yielded
    assert monitor.apps["app"].inputs.reference_size == STEP
    monitor.apps["app"].reset("reset")  # what POST /<app>/monitoring/reset does between two steps
    await task
    assert monitor.apps["app"].inputs.reference_size == 0  # the rest came before the reset


def test_figures_are_computed_again_only_after_a_change() -> None:
    config = ClusterConfig(apps={"app": app_config()})
    recorder = Recorder(MonitoringLimits(), config, PredictionCache(1 << 20), lambda: ())
    monitor = Monitor(MonitoringLimits(), config, recorder)
    recorder.observe(config.apps["app"], doubles(1.0), None, QueryResult(0, "1", False))
    first = monitor.report("app")
    assert monitor.report("app") is first  # nothing new: the same figures
    recorder.observe(config.apps["app"], doubles(2.0), None, QueryResult(0, "1", False))
    second = monitor.report("app")
    assert second is not first and second is not None and second.sampled == 2
    recorder.feedback(config.apps["app"], doubles(9.0), 1.0)  # matches nothing: counted as unmatched
    third = monitor.report("app")
    assert third is not None and third.feedback_unmatched == 1
