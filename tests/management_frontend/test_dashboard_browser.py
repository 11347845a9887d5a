"""The dashboard in a real chromium against a running local cluster under load.

A local cluster (``LocalContainerManager``: Redis, both frontends, a noop
replica, with an admin token) serves an application while a background
thread sends queries and feedback. The page, given the token in its URL
fragment, must draw every chart with real points: the test reads the
counts and last values each chart writes on its element (``data-values``,
``data-last``). A screenshot is kept in ``build/test-artifacts/`` (and
written to ``docs/img/dashboard.png`` when that is missing or
``CLIPPER_UPDATE_SCREENSHOTS=1``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from clipper_admin import ClipperConnection
from clipper_admin.local import LocalContainerManager
from tests.query_frontend import browser
from tests.support.cluster import wait_for

pytestmark = pytest.mark.timeout(240)

TOKEN = "dashboard-browser-token-42"
APP = "shop"
NOOP_IMAGE = "clipper/noop-container:develop"
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "build" / "test-artifacts"
DOCS_IMAGE = REPO / "docs" / "img" / "dashboard.png"
MONITORING = {"INTERVAL_S": 0.5, "REFERENCE_SIZE": 20, "WINDOW_SIZE": 40, "MIN_WINDOW": 10,
              "FEEDBACK_WINDOW": 50}


@pytest.fixture
def conn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClipperConnection]:
    monkeypatch.setenv("CLIPPER_ADMIN_TOKEN", TOKEN)
    for name, value in MONITORING.items():
        monkeypatch.setenv(f"CLIPPER_QF_MONITORING_{name}", str(value))
    cm = LocalContainerManager(cluster_name="dashboard", cluster_dir=tmp_path / "cluster", clipper_query_port=0,
                               clipper_management_port=0, clipper_rpc_port=0, redis_port=0, prometheus_port=None,
                               admin_token=TOKEN)
    connection = ClipperConnection(cm)
    connection.start_clipper()
    try:
        yield connection
    finally:
        connection.stop_all()


def _load(query_addr: str, stop: threading.Event, errors: list[str]) -> None:
    """Queries: every other one a repeated input (cache hits, with feedback), the others new (batches)."""
    with requests.Session() as http:
        i = 0
        while not stop.is_set():
            x = [float(i % 9), 0.0 if i % 2 == 0 else i / 1000]
            try:
                r = http.post(f"http://{query_addr}/{APP}/predict", json={"input": x}, timeout=10)
                if r.status_code != 200:
                    errors.append(f"predict {r.status_code}: {r.text}")
                if i % 2 == 0:
                    http.post(f"http://{query_addr}/{APP}/update", json={"input": x, "label": float(i % 4 == 0)},
                              timeout=10)
            except requests.RequestException as e:
                errors.append(repr(e))
            i += 1
            stop.wait(0.01)


_CHARTS = """(() => {
    const got = {};
    for (const el of document.querySelectorAll("[data-chart]")) {
        got[el.dataset.chart] = {values: Number(el.dataset.values), last: el.dataset.last};
    }
    return got;
})()"""


def _charts_with_data() -> str:
    """A JS expression: the charts' figures once every one shows real points, else null."""
    return f"""(() => {{
        const got = {_CHARTS};
        const v = k => (got[k] || {{values: 0}}).values;
        const last = k => Number((got[k] || {{}}).last || 0);
        const ready = v("throughput") >= 5 && last("throughput") > 0 && v("latency") >= 5 && last("latency") > 0
            && v("default-rate") >= 5 && v("default-reasons") >= 5 && v("batch-size") >= 3
            && last("batch-size") >= 1 && v("cache-hit-rate") >= 3 && v("accuracy") >= 1 && v("drift") >= 1;
        return ready ? got : null;
    }})()"""


async def test_dashboard_plots_live_figures_of_a_loaded_cluster(conn: ClipperConnection, tmp_path: Path) -> None:
    conn.register_application(APP, "doubles", "-1", 2_000_000)
    conn.deploy_model("noop", "1", "doubles", NOOP_IMAGE)
    conn.link_model_to_app(APP, "noop")
    query_addr = conn.get_query_addr()
    wait_for(lambda: requests.post(f"http://{query_addr}/{APP}/predict", json={"input": [0.0, 0.0]},
                                   timeout=10).json().get("default") is False,
             timeout_s=30, what="the link to reach the query frontend", interval_s=0.1)
    url = f"http://{conn.cm.get_admin_addr()}/dashboard"

    # Without the token the page loads but shows no data: it asks for the token.
    dom, console = await browser.dump_dom(url, tmp_path)
    assert 'data-state="token"' in dom and '<form id="token-form">' in dom, dom[-3000:]
    assert APP not in dom.split("<main", 1)[1]

    stop, errors = threading.Event(), []
    load = threading.Thread(target=_load, args=(query_addr, stop, errors), daemon=True)
    try:
        async with browser.Browser(tmp_path) as b:
            await b.goto(f"{url}#token={TOKEN}")
            note = "document.getElementById('quality-note')?.textContent"
            assert (await b.wait_for(note)).startswith("No feedback yet")
            load.start()
            try:
                charts: dict[str, Any] = await b.wait_for(_charts_with_data(), timeout=90)
            except AssertionError:
                seen = await b.js(_CHARTS)
                raise AssertionError(f"charts without enough data: {seen}; load errors {errors[-3:]}") from None
            assert await b.js("location.hash") == ""  # the token left the address bar
            assert await b.js("document.getElementById('status').dataset.state") == "ok"
            apps = await b.js("document.getElementById('apps-table').textContent")
            assert APP in apps and "noop (v1)" in apps
            models = await b.js("document.getElementById('models-table').textContent")
            assert "connected" in models and "no replica" not in models
            feedback = await b.wait_for("Number(document.getElementById('quality-note').dataset.feedback)", 60)
            assert feedback > 0
            assert await b.js("document.getElementById('quality-note').textContent") == ""
            assert await b.js("document.querySelectorAll('#drift-table tbody tr').length") >= 2
            # A few more seconds of history, for a screenshot worth looking at.
            await b.wait_for("Number(document.querySelector('[data-chart=throughput]').dataset.values) >= 15", 60)
            shot = tmp_path / "dashboard.png"
            await b.png(shot)
        assert b.console == [], b.console
    finally:
        stop.set()
        if load.is_alive():
            load.join(30)
    assert errors == []
    assert 0 <= float(charts["cache-hit-rate"]["last"]) <= 100
    assert shot.stat().st_size > 20_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "dashboard.png")
    if not DOCS_IMAGE.exists() or os.environ.get("CLIPPER_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGE)
    print(json.dumps(charts))
