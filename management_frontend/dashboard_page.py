"""The dashboard page (``GET /dashboard``) and its files (``GET /dashboard/<name>``).

Everything ships in the package (``dashboard_assets/``): the page's script
and styles, and uPlot :data:`UPLOT_VERSION` from npm, unmodified, with its
licence (``SOURCE.txt`` records the tarball and checksums), so the page
needs nothing outside the cluster. The page holds no cluster data and is
open like ``/docs``; its script polls ``/admin/dashboard_data``, which needs
the admin token when one is set (the page asks for it). Files are served as
the API page's are (:mod:`clipper_protocol.api_docs`): content-addressed
(``?v=``) and cached a year, the page revalidated, gzip when accepted.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Mapping
from importlib import resources

from clipper_protocol.api_docs import IMMUTABLE, PAGE_CSP, REVALIDATE, Asset, Reply, content_type
from clipper_protocol.dashboard_api import DASHBOARD_ASSET_PREFIX, DASHBOARD_DATA_PATH, SAMPLE_INTERVAL_S

UPLOT_VERSION = "1.6.32"
"""The vendored ``uplot`` (``npm pack uplot@1.6.32``, MIT)."""

FILES = ("uPlot.iife.min.js", "uPlot.min.css", "LICENSE", "SOURCE.txt", "dashboard.js", "dashboard.css")

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="dashboard/uPlot.min.css?v={v_uplot_css}">
<link rel="stylesheet" href="dashboard/dashboard.css?v={v_css}">
</head>
<body>
<noscript>This page needs JavaScript; its data is GET {data_url}.</noscript>
<header><h1>{title}</h1><span id="status" data-state="loading">loading</span></header>
<form id="token-form" hidden>
  <label for="token">This cluster needs its admin token (CLIPPER_ADMIN_TOKEN):</label>
  <input id="token" type="password" autocomplete="off"> <button type="submit">Show</button>
</form>
<main id="dashboard" data-url="{data_url_rel}" data-interval-ms="{interval_ms}" data-samples="0">
<section><h2>Applications</h2><div id="applications"></div></section>
<section><h2>Models and replicas</h2><div id="models"></div></section>
<section><h2>Traffic</h2><div class="charts" id="traffic-charts"></div></section>
<section><h2>Quality and drift</h2><div id="quality-note"></div><div class="charts" id="quality-charts"></div>
<div id="drift"></div></section>
</main>
<footer>Charts: <a href="dashboard/LICENSE">uPlot {uplot_version}</a> (MIT).</footer>
<script src="dashboard/uPlot.iife.min.js?v={v_uplot_js}"></script>
<script src="dashboard/dashboard.js?v={v_js}"></script>
</body>
</html>
"""


@functools.cache
def _files() -> dict[str, Asset]:
    root = resources.files(__package__ or "management_frontend").joinpath("dashboard_assets")
    return {name: Asset(root.joinpath(name).read_bytes(), content_type(name), IMMUTABLE) for name in FILES}


class DashboardPage:
    """The page and its files, built once per app."""

    def __init__(self, title: str = "Clipper dashboard") -> None:
        self.assets = _files()
        a = self.assets
        text = _PAGE.format(
            title=html.escape(title), data_url=DASHBOARD_DATA_PATH, data_url_rel=DASHBOARD_DATA_PATH.lstrip("/"),
            interval_ms=int(SAMPLE_INTERVAL_S * 1000), uplot_version=UPLOT_VERSION,
            v_uplot_css=a["uPlot.min.css"].version, v_css=a["dashboard.css"].version,
            v_uplot_js=a["uPlot.iife.min.js"].version, v_js=a["dashboard.js"].version)
        self.page = Asset(text.encode("utf-8"), "text/html; charset=utf-8", REVALIDATE)

    def page_reply(self, request_headers: Mapping[str, str]) -> Reply:
        """``GET /dashboard``."""
        return self.page.reply(request_headers, {"Content-Security-Policy": PAGE_CSP, "Referrer-Policy": "no-referrer",
                                                 "X-Frame-Options": "DENY"})

    def asset_reply(self, path: str, request_headers: Mapping[str, str]) -> Reply | None:
        """``GET /dashboard/<name>``; ``/dashboard/`` redirects to the page; None for an unknown name."""
        name = path.removeprefix(DASHBOARD_ASSET_PREFIX)
        if name == "":
            return Reply(308, {"Location": "../dashboard", "Cache-Control": REVALIDATE})
        asset = self.assets.get(name)
        return None if asset is None else asset.reply(request_headers)
