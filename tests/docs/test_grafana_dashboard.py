"""examples/monitoring/grafana-dashboard.json asks only for metrics we export, in valid PromQL.

Every PromQL expression of the dashboard (panel targets and the variables'
``label_values`` queries) is parsed for metric names, each of which must be
on the Prometheus page of a live query frontend (a real process, with
traffic) or the model container exporter's (its real registry). promtool
checks the expressions' syntax, with Grafana's variables filled in.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import generate_latest

from model_containers.metrics import ContainerMetrics
from tests.support.ci import skip_or_fail
from tests.support.cluster import Cluster, wait_for

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "examples" / "monitoring" / "grafana-dashboard.json"

# PromQL words that are not metric names: functions, aggregations, keywords.
_NOT_METRICS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
                "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                "and", "or", "unless", "offset", "inf", "nan"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = _GROUPING.sub("", text)
    return {m.group(1) for m in _IDENT.finditer(text) if m.group(2) is None and m.group(1).lower() not in _NOT_METRICS}


def test_metric_names_are_found_in_promql() -> None:
    expr = ('histogram_quantile(0.99, sum by (app, le) (rate(x_bucket{app=~"$app", a="sum(b)"}[$__rate_interval])))'
            ' / on (app) group_left y + count(z) > bool 1e6')
    assert metric_names(expr) == {"x_bucket", "y", "z"}


def _dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


def _panels(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in doc["panels"]:
        yield panel
        yield from panel.get("panels", [])


def expressions(doc: dict[str, Any]) -> list[str]:
    """Every PromQL expression: the panels' targets, and the metrics of the variables' label_values()."""
    exprs = [t["expr"] for p in _panels(doc) for t in p.get("targets", [])]
    for var in doc["templating"]["list"]:
        if var["type"] == "query":
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["query"]["query"])
            assert m is not None, var
            exprs.append(m.group(1))
    return exprs


def _declared(page: str) -> set[str]:
    """Names a Prometheus text page emits: each sample's, and each declared family's (histograms expanded)."""
    names = {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", page, re.M)}
    for m in re.finditer(r"^# TYPE (\S+) (\w+)", page, re.M):
        names.add(m.group(1))
        if m.group(2) == "histogram":
            names |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
    return names


@pytest.fixture
def frontend_page(tmp_path: Path, redis_instance: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The Prometheus page of a real query frontend that answered queries and feedback."""
    monkeypatch.setenv("CLIPPER_QF_MONITORING_INTERVAL_S", "0.2")
    with Cluster(tmp_path, redis_instance.port).running() as c:
        c.start_replica(gated=False)
        c.setup_app()
        c.wait_connected(1)
        for i in range(20):
            c.predict({"input": [float(i % 3)]})
            requests.post(f"{c.query_url}/a/update", json={"input": [float(i % 3)], "label": 1.0}, timeout=5)

        def page() -> str | None:
            text = requests.get(f"{c.query_url}/metrics/prometheus", timeout=5).text
            return text if "clipper_model_feedback_total{" in text else None

        return str(wait_for(page, 30, "feedback on the Prometheus page", interval_s=0.2))


def test_dashboard_reads_only_exported_metrics(frontend_page: str) -> None:
    container = ContainerMetrics(enabled=True)
    try:
        exported = _declared(frontend_page) | _declared(generate_latest(container.registry).decode())
    finally:
        container.close()
    used = {name for e in expressions(_dashboard()) for name in metric_names(e)}
    assert len(used) >= 20  # the parse found the dashboard's metrics
    assert used - exported == set(), f"not exported: {sorted(used - exported)}"
    assert {"clipper_query_latency_seconds_bucket", "clipper_model_accuracy", "clipper_input_drift_psi",
            "clipper_mc_pred_total"} <= used


def test_dashboard_is_well_formed() -> None:
    doc = _dashboard()
    panels = list(_panels(doc))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)) and doc["uid"] and doc["schemaVersion"] >= 36
    variables = {v["name"] for v in doc["templating"]["list"]}
    assert variables == {"datasource", "app", "model"}
    for p in panels:
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"] and p["description"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            for used in re.findall(r"\$(\w+)", t["expr"]):
                assert used in variables or used.startswith("__"), (p["title"], used)


def test_expressions_are_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        skip_or_fail("promtool is not installed (apt-get install prometheus)")
    assert promtool is not None
    filled = [e.replace("$__rate_interval", "1m").replace("$app", ".*").replace("$model", ".*")
              for e in expressions(_dashboard())]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": e} for i, e in enumerate(filled)]}]}
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(filled)} rules found" in done.stdout
