"""The interactive API page (Swagger UI) both frontends serve at ``GET /docs``.

Swagger UI comes with the package (``assets/``: ``swagger-ui-dist``
:data:`SWAGGER_UI_VERSION` from npm, unmodified, with its licences), so the
page works where nothing outside the cluster can be reached. The page loads
the frontend's own OpenAPI document; the management frontend's declares its
bearer token, so Swagger UI's *Authorize* button sends it with *Try it out*.

Framework-free: :class:`DocsPage` answers a path and the request headers
with a :class:`Reply` (status, headers, body) that each frontend turns into
its aiohttp response. Assets are referenced with their content hash
(``?v=``) and cached for a year; the page and the document revalidate
(``no-cache`` with an ETag, 304 when unchanged). A client that accepts gzip
gets the compressed copy, made once per process.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

SWAGGER_UI_VERSION = "5.35.0"
"""The vendored ``swagger-ui-dist`` (``npm pack swagger-ui-dist@5.35.0``)."""

DOCS_PATH = "/docs"
"""``GET``: the interactive API page (HTML)."""
ASSET_PREFIX = "/docs/"
ASSET_PATH = "/docs/{asset}"
"""``GET``: the page's static files (scripts, styles, licences; the management frontend's OpenAPI document)."""
DOCS_POINTER = "interactive API documentation at GET /docs"
"""What a 404 says to point a lost user at the page."""

VENDORED = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE", "NOTICE",
            "swagger-ui-bundle.js.LICENSE.txt", "init.js")

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
}
_TEXT = "text/plain; charset=utf-8"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_COMPRESSIBLE_BYTES = 1024


def content_type(name: str) -> str:
    """The Content-Type of an asset file name (text for the licences)."""
    dot = name.rfind(".")
    return _TYPES.get(name[dot:], _TEXT) if dot >= 0 else _TEXT


@dataclass(frozen=True, slots=True)
class Reply:
    """What a frontend sends back: status, headers, body (empty for 304)."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


@dataclass(slots=True)
class Asset:
    """One file the page serves, with its ETag and (lazily) its gzip copy."""

    body: bytes
    content_type: str
    cache_control: str
    etag: str = ""
    _gzipped: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:20] + '"'

    @property
    def version(self) -> str:
        """A short content hash, put in the URLs that reference the asset."""
        return self.etag[1:13]

    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped

    def reply(self, request_headers: Mapping[str, str], extra: Mapping[str, str] | None = None) -> Reply:
        compress = len(self.body) >= _COMPRESSIBLE_BYTES and self.content_type != "image/png"
        use_gzip = compress and accepts_gzip(request_headers.get("Accept-Encoding", ""))
        etag = self.etag[:-1] + '-gz"' if use_gzip else self.etag
        headers = {"Cache-Control": self.cache_control, "ETag": etag, "X-Content-Type-Options": "nosniff"}
        if compress:
            headers["Vary"] = "Accept-Encoding"
        if extra:
            headers.update(extra)
        if etag_matches(request_headers.get("If-None-Match", ""), etag):
            return Reply(304, headers)
        headers["Content-Type"] = self.content_type
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
            return Reply(200, headers, self.gzipped())
        return Reply(200, headers, self.body)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (``gzip;q=0`` does not)."""
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip().lower()
            if not q.startswith("q="):
                return True
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
    return False


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, as RFC 9110 asks for GET)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


@functools.cache
def vendored_assets() -> dict[str, Asset]:
    """The package's files, read once per process."""
    root = resources.files(__name__).joinpath("assets")
    return {name: Asset(root.joinpath(name).read_bytes(), content_type(name), IMMUTABLE) for name in VENDORED}


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="docs/favicon-32x32.png?v={v_icon}">
<link rel="stylesheet" href="docs/swagger-ui.css?v={v_css}">
</head>
<body>
<noscript>This page needs JavaScript. The API is described by the OpenAPI document at {spec_url}.</noscript>
<div id="swagger-ui" data-spec-url="{spec_url}"></div>
<script src="docs/swagger-ui-bundle.js?v={v_js}"></script>
<script src="docs/init.js?v={v_init}"></script>
</body>
</html>
"""


class DocsPage:
    """The page for one frontend: its title, where its OpenAPI document is, extra files of its own.

    URLs in the page are relative to ``/docs`` (a reverse proxy may mount
    the frontend under a prefix); ``spec_url`` is too (``openapi.json`` is
    ``/openapi.json``, ``docs/openapi.json`` is ``/docs/openapi.json``).
    ``extra`` adds files under ``/docs/`` (name to body), revalidated on
    each load since they are not content-addressed.
    """

    def __init__(self, title: str, spec_url: str, extra: Mapping[str, bytes] | None = None) -> None:
        self.assets = dict(vendored_assets())
        for name, body in (extra or {}).items():
            self.assets[name] = Asset(body, content_type(name), REVALIDATE)
        a = self.assets
        text = _PAGE.format(title=html.escape(title), spec_url=html.escape(spec_url, quote=True),
                            v_icon=a["favicon-32x32.png"].version, v_css=a["swagger-ui.css"].version,
                            v_js=a["swagger-ui-bundle.js"].version, v_init=a["init.js"].version)
        self.page = Asset(text.encode("utf-8"), _TYPES[".html"], REVALIDATE)

    def page_reply(self, request_headers: Mapping[str, str]) -> Reply:
        """``GET /docs``."""
        return self.page.reply(request_headers, {"Content-Security-Policy": PAGE_CSP, "Referrer-Policy": "no-referrer",
                                                 "X-Frame-Options": "DENY"})

    def asset_reply(self, path: str, request_headers: Mapping[str, str]) -> Reply | None:
        """``GET /docs/<name>``; ``/docs/`` redirects to the page; None for an unknown name."""
        name = path.removeprefix(ASSET_PREFIX)
        if name == "":
            return Reply(308, {"Location": "../docs", "Cache-Control": REVALIDATE})
        asset = self.assets.get(name)
        return None if asset is None else asset.reply(request_headers)
