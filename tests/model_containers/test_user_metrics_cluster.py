"""User-defined metrics end to end: a closure deployed on a real local cluster, read back from its replica and
from the cluster's Prometheus (a real ``prometheus`` binary, 1 s scrapes; skipped without one locally, failed
under ``CI=true``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import clipper_admin.metrics as metrics
from clipper_admin import ClipperConnection
from clipper_admin.deployers import python as python_deployer
from clipper_admin.local import LocalContainerManager
from tests.support.ci import skip_or_fail
from tests.support.cluster import wait_for

pytestmark = pytest.mark.timeout(240)

APP = "um-app"
LABELS = f'model="{APP}",version="1"'


def scored(xs: list[Any]) -> list[str]:
    metrics.add_metric("um_cluster_inputs", "Counter", "Inputs answered")
    metrics.add_metric("um_cluster_batch_size", "Gauge", "Size of the last batch")
    metrics.add_metric("um_cluster_first", "Histogram", "First feature of each input", buckets=[1, 10, 100])
    metrics.report_metric("um_cluster_inputs", len(xs))
    metrics.report_metric("um_cluster_batch_size", len(xs))
    for x in xs:
        metrics.report_metric("um_cluster_first", x[0])
    return [str(x[0]) for x in xs]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[ClipperConnection, LocalContainerManager]]:
    if shutil.which("prometheus") is None:
        skip_or_fail("no prometheus binary on PATH (apt-get install prometheus)")
    cm = LocalContainerManager(
        cluster_name="user-metrics", clipper_query_port=0, clipper_management_port=0, clipper_rpc_port=0,
        redis_port=0, prometheus_port=0, cluster_dir=tmp_path / "cluster",
    )  # fmt: skip
    cm.prometheus_scrape_interval = "1s"
    conn = ClipperConnection(cm)
    conn.start_clipper()
    try:
        yield conn, cm
    finally:
        conn.stop_all(graceful=False)


def _sample(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match, f"{series} missing from:\n{text}"
    return float(match.group(1))


def test_a_deployed_closure_reports_to_its_replica_and_prometheus(
    cluster: tuple[ClipperConnection, LocalContainerManager],
) -> None:
    conn, cm = cluster
    # batch_size=1: one input per call, so the gauge's last value is known.
    python_deployer.create_endpoint(conn, APP, "doubles", scored, default_output="none", batch_size=1)
    for x in (0.5, 5.0, 50.0, 500.0):
        answer = requests.post(f"http://{conn.get_query_addr()}/{APP}/predict", json={"input": [x, 1.0]},
                               timeout=30).json()
        assert answer["default"] is False and answer["output"] == x, answer

    (replica,) = [s for s in cm.process_status() if s.role == "model"]
    assert replica.metrics is not None
    text = requests.get(f"http://{replica.metrics}/metrics", timeout=10).text
    assert _sample(text, f"um_cluster_inputs_total{{{LABELS}}}") == 4
    assert _sample(text, f"um_cluster_batch_size{{{LABELS}}}") == 1
    for le, n in (("1.0", 1), ("10.0", 2), ("100.0", 3), ("+Inf", 4)):
        assert _sample(text, f'um_cluster_first_bucket{{le="{le}",{LABELS}}}') == n
    assert _sample(text, f"um_cluster_first_sum{{{LABELS}}}") == 555.5
    assert _sample(text, "clipper_mc_pred_total") >= 4

    def scraped() -> list[dict[str, Any]] | None:
        r = requests.get(f"http://{cm.get_metric_addr()}/api/v1/query",
                         params={"query": f'um_cluster_inputs_total{{model="{APP}"}}'}, timeout=10)
        result: list[dict[str, Any]] = r.json()["data"]["result"]
        return result if result and result[0]["value"][1] == "4" else None

    (series,) = wait_for(scraped, timeout_s=30, what="Prometheus to scrape the user metric", interval_s=0.5)
    # Prometheus adds the replica: its job is the replica's name, its instance the metrics address.
    assert series["metric"]["version"] == "1"
    assert series["metric"]["job"] == replica.name
    assert series["metric"]["instance"] == replica.metrics
