"""The container's Prometheus endpoint (``clipper_mc_*``)."""

from __future__ import annotations

import logging
import re
import socket
import struct
import time
from typing import Any

import pytest
import requests

from model_containers.model import ModelContainerBase
from model_containers.settings import resolve_settings
from tests.model_containers.mc_fake_frontend import DOUBLES, FakeFrontend

HISTOGRAMS = ("end_to_end_latency_ms", "recv_time_ms", "parse_time_ms", "handle_time_ms")
BUCKETS = ("5.0", "10.0", "20.0", "35.0", "50.0", "75.0", "100.0", "150.0", "200.0", "250.0",
           "300.0", "400.0", "500.0", "+Inf")


class SleepyEcho(ModelContainerBase):
    def predict_doubles(self, inputs: Any) -> list[str]:
        time.sleep(0.03)  # lands the handle time in the 35 ms bucket
        return [str(x[0]) for x in inputs]


def _sample(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match, f"{series} missing from:\n{text}"
    return float(match.group(1))


def test_metrics_endpoint_counts_batches(
    frontend: FakeFrontend, run_container: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="clipper.container")
    service = run_container(SleepyEcho(), collect_metrics=True, metrics_port="auto")
    port = service.metrics.port
    assert isinstance(port, int) and port > 0
    assert f"Metrics on port {port}" in caplog.text
    url = f"http://127.0.0.1:{port}/metrics"
    before = requests.get(url, timeout=10).text
    assert _sample(before, "clipper_mc_pred_total") == 0

    identity, _ = frontend.register()
    for msg_id in range(2):
        frontend.predict(identity, msg_id, DOUBLES, [struct.pack("<d", 1.0)])
        assert frontend.recv_response().outputs == [b"1.0"]

    # End-to-end latency is recorded just after the response is sent.
    deadline = time.monotonic() + 10
    while True:
        text = requests.get(url, timeout=10).text
        if _sample(text, "clipper_mc_end_to_end_latency_ms_count") == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert _sample(text, "clipper_mc_pred_total") == 2
    for name in HISTOGRAMS:
        assert _sample(text, f"clipper_mc_{name}_count") == 2
        assert _sample(text, f"clipper_mc_{name}_sum") >= 0
        for bucket in BUCKETS:
            assert f'clipper_mc_{name}_bucket{{le="{bucket}"}}' in text
    assert _sample(text, 'clipper_mc_handle_time_ms_bucket{le="20.0"}') == 0
    assert _sample(text, 'clipper_mc_handle_time_ms_bucket{le="+Inf"}') == 2
    assert _sample(text, "clipper_mc_handle_time_ms_sum") >= 60


def test_metrics_server_off_with_port_0(frontend: FakeFrontend, run_container: Any) -> None:
    service = run_container(SleepyEcho(), collect_metrics=True, metrics_port=0)
    identity, _ = frontend.register()
    frontend.predict(identity, 1, DOUBLES, [struct.pack("<d", 2.0)])
    assert frontend.recv_response().outputs == [b"2.0"]
    # Still counted, just not served.
    assert service.metrics.registry.get_sample_value("clipper_mc_pred_total") == 1
    assert service.metrics.port is None


def test_metrics_port_setting_accepts_auto() -> None:
    base = {"CLIPPER_MODEL_NAME": "m", "CLIPPER_MODEL_VERSION": "1"}
    assert resolve_settings(base).metrics_port == 1390
    assert resolve_settings({**base, "CLIPPER_METRICS_PORT": "0"}).metrics_port == 0
    assert resolve_settings({**base, "CLIPPER_METRICS_PORT": " AUTO "}).metrics_port == "auto"


def test_busy_metrics_port_does_not_stop_the_container(frontend: FakeFrontend, run_container: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        service = run_container(SleepyEcho(), collect_metrics=True, metrics_port=taken.getsockname()[1])
        assert service.metrics.port is None
        identity, _ = frontend.register()
        frontend.predict(identity, 1, DOUBLES, [struct.pack("<d", 3.0)])
        assert frontend.recv_response().outputs == [b"3.0"]
