"""User-defined metrics (``clipper_admin.metrics``) on a running container's metrics endpoint.

Containers run as threads against the raw-frames fake frontend; the
endpoint is the container's real HTTP server on an OS-picked port.
"""

from __future__ import annotations

import re
import struct
from typing import Any

import requests
from tests.model_containers.mc_fake_frontend import DOUBLES, ERROR_PREFIX, FakeFrontend

import clipper_admin.metrics as metrics
from clipper_protocol import user_metrics as api
from model_containers.model import ModelContainerBase
from tests.support.cluster import wait_for


class Instrumented(ModelContainerBase):
    """Echoes each input's first element, reporting a counter, a gauge and a histogram."""

    def predict_doubles(self, inputs: Any) -> list[str]:
        metrics.add_metric("umc_inputs", "Counter", "Inputs seen")
        metrics.add_metric("umc_batch_size", "Gauge", "Size of the last batch")
        metrics.add_metric("umc_first", "Histogram", "First element of each input", buckets=[1, 10])
        metrics.report_metric("umc_inputs", len(inputs))
        metrics.report_metric("umc_batch_size", len(inputs))
        for x in inputs:
            metrics.report_metric("umc_first", x[0])
        return [str(x[0]) for x in inputs]


class ReportsUnknown(ModelContainerBase):
    def predict_doubles(self, inputs: Any) -> list[str]:
        metrics.report_metric("umc_never_added", 1)
        return [str(x[0]) for x in inputs]


class CountsQuietly(ModelContainerBase):
    def predict_doubles(self, inputs: Any) -> list[str]:
        metrics.add_metric("umc_quiet", "Counter", "d")
        metrics.report_metric("umc_quiet", 1)
        return [str(x[0]) for x in inputs]


def _doubles(*xs: float) -> list[bytes]:
    return [struct.pack("<d", x) for x in xs]


def _sample(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match, f"{series} missing from:\n{text}"
    return float(match.group(1))


def test_reports_appear_on_the_replica_endpoint_with_the_model_labels(frontend: FakeFrontend,
                                                                       run_container: Any) -> None:
    service = run_container(Instrumented(), collect_metrics=True, metrics_port="auto", model_name="um-model",
                            model_version="7")
    identity, _ = frontend.register()
    frontend.predict(identity, 1, DOUBLES, _doubles(0.5, 5.0))
    assert frontend.recv_response().outputs == [b"0.5", b"5.0"]
    frontend.predict(identity, 2, DOUBLES, _doubles(50.0))
    assert frontend.recv_response().outputs == [b"50.0"]

    text = requests.get(f"http://127.0.0.1:{service.metrics.port}/metrics", timeout=10).text
    labels = 'model="um-model",version="7"'
    assert "# HELP umc_inputs_total Inputs seen" in text
    assert _sample(text, f"umc_inputs_total{{{labels}}}") == 3
    assert _sample(text, f"umc_batch_size{{{labels}}}") == 1
    assert _sample(text, f'umc_first_bucket{{le="1.0",{labels}}}') == 1
    assert _sample(text, f'umc_first_bucket{{le="10.0",{labels}}}') == 2
    assert _sample(text, f'umc_first_bucket{{le="+Inf",{labels}}}') == 3
    assert _sample(text, f"umc_first_count{{{labels}}}") == 3
    assert _sample(text, f"umc_first_sum{{{labels}}}") == 55.5
    # Next to the container's own metrics, which are unchanged.
    assert _sample(text, "clipper_mc_pred_total") == 2


def test_reporting_an_unknown_metric_fails_the_batch_saying_so(frontend: FakeFrontend, run_container: Any) -> None:
    run_container(ReportsUnknown(), collect_metrics=True)
    identity, _ = frontend.register()
    frontend.predict(identity, 1, DOUBLES, _doubles(1.0))
    (output,) = frontend.recv_response().outputs
    assert output.startswith(ERROR_PREFIX + b"ClipperException: umc_never_added has not been added")


def test_without_metrics_the_reports_go_nowhere(frontend: FakeFrontend, run_container: Any) -> None:
    service = run_container(CountsQuietly(), collect_metrics=False)
    identity, _ = frontend.register()
    frontend.predict(identity, 1, DOUBLES, _doubles(1.0))
    assert frontend.recv_response().outputs == [b"1.0"]
    assert api.current_sink() is not service.metrics.user
    assert service.metrics.user.values("umc_quiet") is None


def test_a_stopped_container_takes_no_more_reports(frontend: FakeFrontend, run_container: Any) -> None:
    metrics.add_metric("umc_quiet", "Counter", "d")
    service = run_container(CountsQuietly(), collect_metrics=True)
    assert api.current_sink() is service.metrics.user
    service.stop()
    wait_for(lambda: api.current_sink() is not service.metrics.user, timeout_s=20, what="the sink to go")
    metrics.report_metric("umc_quiet", 1)  # harmless, as outside any container
    assert service.metrics.user.values("umc_quiet") == (0.0, 0, 0.0)


def test_the_warm_up_batch_reports_nothing(frontend: FakeFrontend, run_container: Any) -> None:
    service = run_container(Instrumented(), collect_metrics=True, metrics_port="auto", warmup=[[2.0], [3.0]])
    # Defined by the warm-up's call, but none of its reports count: they are not traffic.
    assert service.metrics.user.values("umc_inputs") == (0.0, 0, 0.0)
    identity, _ = frontend.register()
    frontend.predict(identity, 1, DOUBLES, _doubles(4.0))
    assert frontend.recv_response().outputs == [b"4.0"]
    assert service.metrics.user.values("umc_inputs") == (1.0, 0, 0.0)
    assert service.metrics.user.values("umc_first") == (0.0, 1, 4.0)
