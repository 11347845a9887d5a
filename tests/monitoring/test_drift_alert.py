"""The shipped drift alert, end to end: a local cluster, Debian's Prometheus and Alertmanager.

A real local cluster (Redis, both frontends, a noop replica, its own
Prometheus with the shipped ``alert_rules.yaml``, every ``for`` set to 0 s
so an alert fires on the first evaluation above its threshold) sends its
alerts to a real ``prometheus-alertmanager``, which posts them to a webhook
served here. Scrapes and evaluations run every second; the query frontend
keeps reference and recent windows of 500 samples and reports drift only with a
full recent window (an unshifted feature's PSI then stays far under the rule's
0.25: no transient figure from a half-filled window).

Unshifted traffic (seeded Gaussians, 4 features): once Prometheus holds a
PSI for every feature and has evaluated the rules several times since, no
alert is pending or firing anywhere. Then one feature shifts by 3 standard
deviations: ``ClipperInputDrift`` for that feature, and only it, reaches
Alertmanager and the webhook.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from clipper_admin import ClipperConnection
from clipper_admin.local import LocalContainerManager
from clipper_admin.local import prometheus as local_prometheus
from clipper_admin.monitoring import alert_rules
from tests.support.ci import skip_or_fail
from tests.support.cluster import wait_for
from tests.support.ports import listening_ports

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

NOOP_IMAGE = "clipper/noop-container:develop"
APP = "drift-app"
WINDOW = 500
FEATURES = 4
SHIFTED = 1
EVALUATIONS_WHILE_QUIET = 4
WAIT_S = 60.0


class Webhook:
    """Alertmanager's receiver: records every notification it posts."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        received = self.notifications

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def alerts(self) -> list[dict[str, Any]]:
        return [a for n in list(self.notifications) for a in n["alerts"]]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    hook.thread.start()
    try:
        yield hook
    finally:
        hook.server.shutdown()
        hook.server.server_close()


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: Webhook) -> Iterator[str]:
    """A real Alertmanager on a port it bound itself (learnt from its sockets); its address."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        skip_or_fail("no prometheus-alertmanager binary on PATH (apt-get install prometheus-alertmanager)")
    config = {
        "route": {"receiver": "test", "group_by": ["alertname", "app", "feature"], "group_wait": "0s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "test", "webhook_configs": [{"url": webhook.url, "send_resolved": False}]}],
    }
    (tmp_path / "alertmanager.yml").write_text(json.dumps(config))
    log = open(tmp_path / "alertmanager.log", "wb")
    proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'alertmanager.yml'}",
                             f"--storage.path={tmp_path / 'alertmanager'}", "--web.listen-address=127.0.0.1:0",
                             "--cluster.listen-address="], stdout=log, stderr=subprocess.STDOUT)
    try:
        def ready() -> str | None:
            assert proc.poll() is None, (tmp_path / "alertmanager.log").read_text()[-2000:]
            for port in listening_ports(proc.pid):
                try:
                    if requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200:
                        return f"127.0.0.1:{port}"
                except requests.RequestException:
                    pass
            return None

        yield wait_for(ready, timeout_s=30, what="Alertmanager to be ready", interval_s=0.1)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture
def conn(tmp_path: Path, alertmanager: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClipperConnection]:
    if shutil.which("prometheus") is None:
        skip_or_fail("no prometheus binary on PATH (apt-get install prometheus)")
    rules = tmp_path / "rules.yaml"
    rules.write_text(json.dumps(alert_rules(for_duration="0s")))  # the shipped rules, firing at once
    monkeypatch.setenv(local_prometheus.RULES_ENV, str(rules))
    monkeypatch.setenv(local_prometheus.ALERTMANAGERS_ENV, alertmanager)
    for name, value in (("REFERENCE_SIZE", WINDOW), ("WINDOW_SIZE", WINDOW), ("MIN_WINDOW", WINDOW),
                        ("INTERVAL_S", 0.5)):
        monkeypatch.setenv(f"CLIPPER_QF_MONITORING_{name}", str(value))
    cm = LocalContainerManager(cluster_name="drift", cluster_dir=tmp_path / "cluster", clipper_query_port=0,
                               clipper_management_port=0, clipper_rpc_port=0, redis_port=0, prometheus_port=0)
    cm.prometheus_scrape_interval = "1s"
    connection = ClipperConnection(cm)
    connection.start_clipper()
    try:
        yield connection
    finally:
        connection.stop_all()


def prometheus_api(conn: ClipperConnection, path: str, **params: str) -> Any:
    r = requests.get(f"http://{conn.get_metric_addr()}/api/v1/{path}", params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def send(conn: ClipperConnection, rng: random.Random, n: int, shift: float = 0.0) -> None:
    url = f"http://{conn.get_query_addr()}/{APP}/predict"
    for _ in range(0, n, 100):
        batch = [[rng.gauss(0, 1) + (shift if j == SHIFTED else 0.0) for j in range(FEATURES)] for _ in range(100)]
        r = requests.post(url, json={"input_batch": batch}, timeout=30)
        assert r.status_code == 200 and not any(p["default"] for p in r.json()["batch_predictions"]), r.text


def drift_alerts(conn: ClipperConnection, alertmanager: str, webhook: Webhook) -> dict[str, list[dict[str, str]]]:
    """Every ClipperInputDrift alert's labels: in Prometheus (pending or firing), in Alertmanager, at the webhook."""
    def labels(alerts: list[dict[str, Any]]) -> list[dict[str, str]]:
        return [a["labels"] for a in alerts if a["labels"].get("alertname") == "ClipperInputDrift"]

    am = requests.get(f"http://{alertmanager}/api/v2/alerts", timeout=10)
    assert am.status_code == 200, am.text
    return {"prometheus": labels(prometheus_api(conn, "alerts")["alerts"]), "alertmanager": labels(am.json()),
            "webhook": labels(webhook.alerts())}


def last_evaluation(conn: ClipperConnection) -> float:
    """When Prometheus last evaluated the monitoring rules (Unix seconds; 0 before the first time)."""
    (group,) = [g for g in prometheus_api(conn, "rules")["groups"] if g["name"] == "clipper-monitoring"]
    stamp = group["lastEvaluation"]  # RFC 3339 with nanoseconds: 2026-12-02T14:30:01.123456789Z
    if stamp.startswith("0001-"):
        return 0.0
    seconds, fraction = re.fullmatch(r"(.+T\d\d:\d\d:\d\d)(\.\d+)?Z", stamp).groups()  # type: ignore[union-attr]
    return datetime.fromisoformat(seconds + "+00:00").timestamp() + float(fraction or 0)


def test_drift_alert_fires_on_shifted_inputs_only(conn: ClipperConnection, alertmanager: str, webhook: Webhook,
                                                  rng: random.Random) -> None:
    conn.register_application(APP, "doubles", "-1", 2_000_000)
    conn.deploy_model("noop", "1", "doubles", NOOP_IMAGE)
    conn.link_model_to_app(APP, "noop")
    url = f"http://{conn.get_query_addr()}/{APP}/predict"
    wait_for(lambda: requests.post(url, json={"input": [0.0] * FEATURES}, timeout=10).json().get("default") is False,
             timeout_s=30, what="the link to reach the query frontend", interval_s=0.1)
    rules = {r["name"] for g in prometheus_api(conn, "rules")["groups"] for r in g["rules"]}
    assert {"ClipperInputDrift", "ClipperDefaultRateUp"} <= rules  # the shipped rules are loaded

    send(conn, rng, WINDOW)  # the reference window
    send(conn, rng, WINDOW)  # unshifted traffic after it

    def psi() -> dict[str, float] | None:
        result = prometheus_api(conn, "query", query=f'clipper_input_drift_psi{{app="{APP}"}}')["result"]
        found = {r["metric"]["feature"]: float(r["value"][1]) for r in result}
        return found if len(found) == FEATURES else None

    quiet = wait_for(psi, timeout_s=WAIT_S, what="Prometheus to hold a PSI per feature", interval_s=0.25)
    assert max(quiet.values()) < 0.25, quiet
    seen = time.time()
    wait_for(lambda: last_evaluation(conn) > seen + EVALUATIONS_WHILE_QUIET, timeout_s=WAIT_S,
             what=f"{EVALUATIONS_WHILE_QUIET} more rule evaluations", interval_s=0.25)
    assert drift_alerts(conn, alertmanager, webhook) == {"prometheus": [], "alertmanager": [], "webhook": []}

    send(conn, rng, WINDOW, shift=3.0)  # the whole recent window shifts on one feature

    def fired() -> dict[str, list[dict[str, str]]] | None:
        alerts = drift_alerts(conn, alertmanager, webhook)
        return alerts if alerts["alertmanager"] and alerts["webhook"] else None

    alerts = wait_for(fired, timeout_s=WAIT_S, what="ClipperInputDrift to reach Alertmanager and its receiver",
                      interval_s=0.25)
    for where in ("alertmanager", "webhook"):
        assert {(a["app"], a["feature"], a["severity"]) for a in alerts[where]} == {(APP, str(SHIFTED), "warning")}
    assert psi() is not None and psi()[str(SHIFTED)] > 1.0  # type: ignore[index]
