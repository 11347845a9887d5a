"""``GET /docs``: Swagger UI on the query frontend's OpenAPI document, from package data only.

The HTTP tests check what a browser and a cache rely on (types, cache and
security headers, ETags, gzip); the browser tests render the page in a real
headless chromium against a real frontend and look for the operations in
the rendered DOM, keeping a screenshot under the test's tmp dir.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import tomllib
from pathlib import Path

from clipper_protocol import api_docs
from tests.query_frontend import browser
from tests.query_frontend.conftest import RunningFrontend

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "clipper_protocol" / "api_docs" / "assets"


def test_vendored_files_are_swagger_ui_dist_unmodified() -> None:
    """Each vendored file has the sha256 SOURCE.txt recorded from the npm tarball."""
    source = (ASSETS / "SOURCE.txt").read_text()
    assert f"swagger-ui-dist {api_docs.SWAGGER_UI_VERSION}" in source
    recorded = dict(reversed(line.split("  ", 1)) for line in source.splitlines() if "  " in line)
    assert set(recorded) == set(api_docs.VENDORED) - {"init.js"}
    for name, digest in recorded.items():
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == digest, name


def test_the_wheel_carries_the_assets() -> None:
    """pyproject's package data matches every asset file (``pip wheel`` then ships them)."""
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = data["clipper_protocol"]
    for name in (*api_docs.VENDORED, "SOURCE.txt"):
        assert any(fnmatch.fnmatch(f"api_docs/assets/{name}", p) for p in patterns), name
    assert set(api_docs.vendored_assets()) == set(api_docs.VENDORED)


def test_accept_encoding_and_etags() -> None:
    assert api_docs.accepts_gzip("gzip, deflate, br")
    assert api_docs.accepts_gzip("br;q=1.0, gzip;q=0.8")
    assert not api_docs.accepts_gzip("gzip;q=0")
    assert not api_docs.accepts_gzip("br, identity")
    assert api_docs.etag_matches('W/"abc", "def"', '"abc"')
    assert not api_docs.etag_matches('"abc"', '"abd"')


async def test_page_and_assets_are_served_with_types_and_cache_headers(qf: RunningFrontend) -> None:
    async with qf.session.get(f"{qf.url}/docs") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
        assert resp.headers["Cache-Control"] == "no-cache"
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        page = await resp.text()
        etag = resp.headers["ETag"]
    assert 'data-spec-url="openapi.json"' in page and "http" not in page.replace("http-equiv", "")
    async with qf.session.get(f"{qf.url}/docs", headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304 and await resp.read() == b""

    bundle = (ASSETS / "swagger-ui-bundle.js").read_bytes()
    async with qf.session.get(f"{qf.url}/docs/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"},
                              auto_decompress=False) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert resp.headers["Content-Encoding"] == "gzip" and resp.headers["Vary"] == "Accept-Encoding"
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert gzip.decompress(await resp.read()) == bundle
    async with qf.session.get(f"{qf.url}/docs/swagger-ui-bundle.js",
                              headers={"Accept-Encoding": "identity"}) as resp:
        assert "Content-Encoding" not in resp.headers and await resp.read() == bundle
    for name, ctype in (("swagger-ui.css", "text/css; charset=utf-8"), ("favicon-32x32.png", "image/png"),
                        ("LICENSE", "text/plain; charset=utf-8"), ("init.js", "text/javascript; charset=utf-8")):
        async with qf.session.get(f"{qf.url}/docs/{name}") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == ctype, name
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
        async with qf.session.head(f"{qf.url}/docs/{name}") as resp:
            assert resp.status == 200 and await resp.read() == b""


async def test_wrong_docs_requests_and_the_404_at_root(qf: RunningFrontend) -> None:
    async with qf.session.get(f"{qf.url}/docs/nothing.js") as resp:
        assert resp.status == 404 and (await resp.json())["error"] == "Not found"
    async with qf.session.post(f"{qf.url}/docs/init.js") as resp:
        assert resp.status == 405 and resp.headers["Allow"] == "GET"
    async with qf.session.get(f"{qf.url}/docs/", allow_redirects=False) as resp:
        assert resp.status == 308 and resp.headers["Location"] == "../docs"
    async with qf.session.get(f"{qf.url}/") as resp:
        assert resp.status == 404
        assert "GET /docs" in (await resp.json())["cause"]


async def test_the_page_renders_every_operation_in_a_browser(qf: RunningFrontend, tmp_path: Path) -> None:
    url = f"{qf.url}/docs"
    dom, console = await browser.dump_dom(url, tmp_path)
    for path in ("/{app}/predict", "/{app}/update", "/metrics/prometheus", "/ready", "/openapi.json"):
        assert f'data-path="{path}"' in dom, path
    assert "Clipper query frontend" in dom
    assert console == [], console  # no script error, no Content-Security-Policy violation
    shot = tmp_path / "query-frontend-docs.png"
    await browser.screenshot(url, shot, tmp_path)
