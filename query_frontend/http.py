"""REST handlers of the query frontend: parse, call the query path, render.

Routes are :mod:`clipper_protocol.query_api`'s: six fixed paths plus
``/<app>/predict`` and ``/<app>/update``, so a dict lookup and one split
replace a URL dispatcher and middleware chain on the hot path. Unknown
paths, wrong methods, oversized or compressed bodies and crashes all get
JSON errors (``{"error", "cause"}``); errors map to HTTP here and only here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from clipper_protocol import api_docs
from clipper_protocol import monitoring_api as mapi
from clipper_protocol import query_api as api
from clipper_protocol.input_types import DEFAULT_MAX_INPUT_ELEMENTS
from query_frontend import openapi, protocol
from query_frontend.config import AppConfig, ClusterConfig
from query_frontend.errors import Overloaded, RequestError
from query_frontend.http_reply import JSON
from query_frontend.http_server import error_response, json_response
from query_frontend.metrics import MetricsRegistry
from query_frontend.monitoring import Monitor
from query_frontend.queries import QueryProcessor

log = logging.getLogger("clipper.query_frontend.http")

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
AppHandler = Callable[[web.BaseRequest, AppConfig], Awaitable[web.StreamResponse]]
Readiness = Callable[[], tuple[bool, api.Ready]]


def too_large(cause: str) -> web.Response:
    """413, closing the connection: the unread rest of the body is not worth draining."""
    resp = error_response("Request too large", cause, 413)
    resp.force_close()
    return resp


class QueryHandlers:
    """The routes of the query REST API, dispatched without aiohttp's router."""

    def __init__(
        self,
        processor: QueryProcessor,
        config: ClusterConfig,
        metrics: MetricsRegistry,
        max_batch_inputs: int,
        readiness: Readiness,
        max_body_bytes: int = 16 * 1024 * 1024,
        max_input_elements: int = DEFAULT_MAX_INPUT_ELEMENTS,
        lookup_app: Callable[[str], Awaitable[AppConfig | None]] | None = None,
        monitor: Monitor | None = None,
    ) -> None:
        self.processor = processor
        self.monitor = monitor
        self.config = config
        self.lookup_app = lookup_app
        """Reads an application the configuration lacks (or that links no model) before a query is refused."""
        self.metrics = metrics
        self.max_batch_inputs = max_batch_inputs
        self.max_body_bytes = max_body_bytes
        self.max_input_elements = max_input_elements
        self.readiness = readiness
        self.draining = False
        """Set on shutdown: every response then closes its connection, so
        clients move to another frontend instead of reusing this one."""
        self._openapi = openapi.rendered()
        self._docs = api_docs.DocsPage("Clipper query frontend API", api.OPENAPI_PATH.removeprefix("/"))
        self.fixed_routes: dict[str, dict[str, Handler]] = {
            api.METRICS_PATH: {"GET": self.metrics_report},
            api.PROMETHEUS_PATH: {"GET": self.metrics_prometheus},
            api.READY_PATH: {"GET": self.ready},
            api.HEALTHZ_PATH: {"GET": self.healthz},
            api.OPENAPI_PATH: {"GET": self.openapi_document},
            api.DOCS_PATH: {"GET": self.docs_page},
        }
        self.asset_routes: dict[str, dict[str, Handler]] = {api.DOCS_ASSET_PATH: {"GET": self.docs_asset}}
        """Routes under ``/docs/``, answered after the fixed ones."""
        self.app_routes: dict[str, dict[str, AppHandler]] = {
            api.PREDICT: {"POST": self.predict},
            api.UPDATE: {"POST": self.update},
            mapi.MONITORING: {"GET": self.monitoring_report},
            f"{mapi.MONITORING}/{mapi.RESET}": {"POST": self.monitoring_reset},
        }

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Entry point of every request."""
        try:
            resp = await self._dispatch(request)
        except web.HTTPRequestEntityTooLarge:
            # A chunked body (no Content-Length) that grew past the limit;
            # aiohttp stopped buffering it there.
            resp = too_large(f"The request body is larger than {self.max_body_bytes} bytes (setting max_body_bytes)")
        except (HttpProcessingError, RequestPayloadError):
            # A malformed body framing (bad chunk sizes, truncated body).
            resp = error_response("Bad request", "The request body is malformed (invalid framing)", 400)
            resp.force_close()
        except ConnectionError:
            # The client went away while sending its body; nobody reads this.
            resp = error_response("Bad request", "The connection closed before the body arrived", 400)
            resp.force_close()
        except Exception:
            log.exception("Unexpected error answering %s %s", request.method, request.path)
            resp = error_response("Internal error", "An unexpected error occurred!", 500)
        if self.draining:
            resp.force_close()
        return resp

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        method = request.method
        parts = path.split("/")
        # "/<app>/predict" or "/<app>/predict/" (the original accepts both); "/<app>/monitoring/reset".
        if 3 <= len(parts) <= 4 and parts[0] == "" and parts[1]:
            methods = self.app_routes.get(parts[2] if len(parts) == 3 or not parts[3] else f"{parts[2]}/{parts[3]}")
            if methods is not None:
                app_handler = methods.get(method)
                if app_handler is None:
                    return _method_not_allowed(request, methods)
                app = self.config.apps.get(parts[1])
                if (app is None or not app.linked_models) and self.lookup_app is not None:
                    app = await self.lookup_app(parts[1])  # registered or linked a moment ago?
                if app is None and not self.config.loaded:
                    # Just started (or restarted) and Redis not read yet: the application may well exist.
                    resp = error_response(
                        "Service unavailable",
                        "The query frontend has not loaded its configuration from Redis yet; retry shortly",
                        503,
                    )
                    resp.headers["Retry-After"] = "1"
                    return resp
                if app is None:
                    return error_response(
                        "Application not found",
                        f"No application named '{_clip(parts[1])}' is registered with Clipper",
                        404,
                    )
                # Refused before a byte of the body is read.
                length = request.content_length
                if length is not None and length > self.max_body_bytes:
                    return too_large(
                        f"The request body ({length} bytes) is larger than {self.max_body_bytes} bytes "
                        "(setting max_body_bytes)"
                    )
                if "Content-Encoding" in request.headers:
                    refused = _refuse_compressed(request)
                    if refused is not None:
                        return refused
                return await app_handler(request, app)
        fixed = self.fixed_routes.get(path)
        if fixed is not None:
            handler = fixed.get(method)
            if handler is None and method == "HEAD":
                handler = fixed.get("GET")
            if handler is None:
                return _method_not_allowed(request, fixed)
            return await handler(request)
        if path.startswith(api_docs.ASSET_PREFIX):
            if method not in ("GET", "HEAD"):
                return _method_not_allowed(request, self.asset_routes[api.DOCS_ASSET_PATH])
            return await self.docs_asset(request)
        return error_response(
            "Not found",
            f"No route {_clip(path)}. Queries go to POST /<application>/predict; {api_docs.DOCS_POINTER}",
            404,
        )

    async def _chunked_body(self, request: web.BaseRequest) -> bytes:
        """A chunked request body, refused as soon as it passes ``max_body_bytes``.

        (A body with a Content-Length was checked before a byte was read.)
        The chunks are joined only once complete, so a body over the limit
        costs at most the limit in memory (aiohttp's own read grows one
        buffer, whose reallocations can briefly double it).
        """
        chunks: list[bytes] = []
        total = 0
        async for chunk in request.content.iter_any():
            total += len(chunk)
            if total > self.max_body_bytes:
                raise web.HTTPRequestEntityTooLarge(max_size=self.max_body_bytes, actual_size=total)
            chunks.append(chunk)
        return b"".join(chunks)

    async def predict(self, request: web.BaseRequest, app: AppConfig) -> web.Response:
        try:
            # Not through _body when the length is known: no extra coroutine per query.
            body = await request.read() if request.content_length is not None else await self._chunked_body(request)
            req = protocol.parse_predict(body, app.input_type, self.max_batch_inputs, self.max_input_elements)
            self.processor.check(app, req.version)
        except RequestError as e:
            return error_response(e.error, e.cause, e.status)
        try:
            if req.is_batch:
                results = await self.processor.predict_batch(app, req.inputs, req.version, req.uid)
            else:
                results = [await self.processor.predict(app, req.inputs[0], req.version, req.uid)]
        except Overloaded as e:
            resp = error_response("Service overloaded", e.cause, 503)
            resp.headers["Retry-After"] = str(e.retry_after_s)
            return resp
        return json_response(protocol.render_predict(results, req.is_batch))

    async def update(self, request: web.BaseRequest, app: AppConfig) -> web.Response:
        """Feedback: the app's selection policy learns from it (the default policy ignores it).

        Answers the original's ``Feedback received? 1``; ``? 0`` when the
        learned state could not be saved (Redis unreachable).
        """
        try:
            body = await request.read() if request.content_length is not None else await self._chunked_body(request)
            req = protocol.parse_update(body, app.input_type, self.max_input_elements)
            self.processor.check(app)
        except RequestError as e:
            return error_response(e.error, e.cause, e.status)
        saved = await self.processor.update(app, req.uid, req.input, req.label)
        return web.Response(text=api.FEEDBACK_RECEIVED.format(saved=int(saved)), content_type=JSON)

    async def metrics_report(self, request: web.BaseRequest) -> web.Response:
        accept = request.headers.get("Accept", "")
        if "text/plain" in accept or "openmetrics" in accept:
            return await self.metrics_prometheus(request)
        return json_response(orjson.dumps(self.metrics.json_document(), option=orjson.OPT_INDENT_2))

    async def monitoring_report(self, request: web.BaseRequest, app: AppConfig) -> web.Response:
        """``GET /<app>/monitoring``: the application's :class:`clipper_protocol.monitoring_api.AppMonitoring`."""
        report = self.monitor.report(app.name) if self.monitor is not None else None
        if report is None:
            return _monitoring_off(app.name)
        return json_response(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2))

    async def monitoring_reset(self, request: web.BaseRequest, app: AppConfig) -> web.Response:
        """``POST /<app>/monitoring/reset``: new reference windows for the application (the body is ignored)."""
        started = self.monitor.reset(app.name) if self.monitor is not None else None
        if started is None:
            return _monitoring_off(app.name)
        return json_response(orjson.dumps(mapi.ResetAnswer(app.name, True, started).to_json()))

    async def metrics_prometheus(self, request: web.BaseRequest) -> web.Response:
        return web.Response(
            text=self.metrics.prometheus_text(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def ready(self, request: web.BaseRequest) -> web.Response:
        """200 once the configuration is loaded (degraded apps listed), 503 before, when down or shutting down."""
        ok, body = self.readiness()
        return json_response(orjson.dumps(body.to_json()), 200 if ok else 503)

    async def openapi_document(self, request: web.BaseRequest) -> web.Response:
        return json_response(self._openapi)

    async def docs_page(self, request: web.BaseRequest) -> web.Response:
        return _reply(self._docs.page_reply(request.headers))

    async def docs_asset(self, request: web.BaseRequest) -> web.Response:
        reply = self._docs.asset_reply(request.path, request.headers)
        if reply is None:
            return error_response("Not found", f"No file {_clip(request.path)}; the API page is GET /docs", 404)
        return _reply(reply)

    async def healthz(self, request: web.BaseRequest) -> web.Response:
        return web.Response(text="ok")


def _monitoring_off(app: str) -> web.Response:
    return error_response("Not found", f"Monitoring is switched off on this query frontend (setting monitoring); "
                          f"nothing is recorded for {_clip(app)}", 404)


def _reply(reply: api_docs.Reply) -> web.Response:
    return web.Response(body=reply.body or None, status=reply.status, headers=reply.headers)


def _refuse_compressed(request: web.BaseRequest) -> web.Response | None:
    """A 400 for a compressed body (nothing here decompresses; ``identity`` is no compression)."""
    encoding = request.headers.get("Content-Encoding", "")
    if encoding.strip().lower() in ("", "identity"):
        return None
    resp = error_response("Bad request", "Compressed request bodies (Content-Encoding) are not accepted; "
                          "send the JSON body uncompressed", 400)
    resp.force_close()
    return resp


def _clip(text: str, limit: int = 100) -> str:
    """Bound what an error message repeats of the request line."""
    return text if len(text) <= limit else text[:limit] + "..."


def _method_not_allowed(request: web.BaseRequest, methods: Mapping[str, object]) -> web.Response:
    allowed = ", ".join(sorted(methods))
    resp = error_response(
        "Method not allowed",
        f"{_clip(request.method, 20)} is not allowed on {_clip(request.path)}; use {allowed}",
        405,
    )
    resp.headers["Allow"] = allowed
    return resp
