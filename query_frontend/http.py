"""REST handlers of the query frontend: parse, call the processor, render."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import orjson
from aiohttp import web

from query_frontend import protocol
from query_frontend.config import AppConfig, ClusterConfig
from query_frontend.errors import Overloaded, RequestError
from query_frontend.metrics import MetricsRegistry
from query_frontend.processor import QueryProcessor

log = logging.getLogger("clipper.query_frontend.http")

JSON = "application/json"

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
AppHandler = Callable[[web.BaseRequest, AppConfig], Awaitable[web.StreamResponse]]


def json_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON)


def error_response(error: str, cause: str, status: int) -> web.Response:
    return json_response(protocol.render_error(error, cause), status)


class QueryHandlers:
    """The routes of the query REST API, dispatched without aiohttp's router.

    The API is six fixed paths plus ``/<app>/predict`` and ``/<app>/update``,
    so a dict lookup and one split replace the URL dispatcher and middleware
    chain on the hot path. Unknown paths, wrong methods, oversized bodies and
    crashes all get JSON errors.
    """

    def __init__(
        self,
        processor: QueryProcessor,
        config: ClusterConfig,
        metrics: MetricsRegistry,
        max_batch_inputs: int,
        readiness: Callable[[], tuple[bool, str | None]],
    ) -> None:
        self.processor = processor
        self.config = config
        self.metrics = metrics
        self.max_batch_inputs = max_batch_inputs
        self.readiness = readiness
        self.fixed_routes: dict[str, dict[str, Handler]] = {
            "/metrics": {"GET": self.metrics_report},
            "/metrics/prometheus": {"GET": self.metrics_prometheus},
            "/ready": {"GET": self.ready},
            "/healthz": {"GET": self.healthz},
        }
        self.app_routes: dict[str, dict[str, AppHandler]] = {
            "predict": {"POST": self.predict},
            "update": {"POST": self.update},
        }

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Entry point of every request."""
        try:
            return await self._dispatch(request)
        except web.HTTPRequestEntityTooLarge as e:
            return error_response("Request too large", e.text or "The request body is too large", 413)
        except Exception:
            log.exception("Unexpected error answering %s %s", request.method, request.path)
            return error_response("Internal error", "An unexpected error occurred!", 500)

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        method = request.method
        parts = path.split("/")
        # "/<app>/predict" or "/<app>/predict/" (the original accepts both).
        if 3 <= len(parts) <= 4 and parts[0] == "" and parts[1] and (len(parts) == 3 or parts[3] == ""):
            methods = self.app_routes.get(parts[2])
            if methods is not None:
                app_handler = methods.get(method)
                if app_handler is None:
                    return _method_not_allowed(request, methods)
                app = self.config.apps.get(parts[1])
                if app is None:
                    return error_response(
                        "Application not found",
                        f"No application named '{parts[1]}' is registered with Clipper",
                        404,
                    )
                return await app_handler(request, app)
        fixed = self.fixed_routes.get(path)
        if fixed is not None:
            handler = fixed.get(method)
            if handler is None and method == "HEAD":
                handler = fixed.get("GET")
            if handler is None:
                return _method_not_allowed(request, fixed)
            return await handler(request)
        return error_response(
            "Not found", f"No route {path}. Queries go to POST /<application>/predict", 404
        )

    async def predict(self, request: web.BaseRequest, app: AppConfig) -> web.Response:
        try:
            req = protocol.parse_predict(await request.read(), app.input_type, self.max_batch_inputs)
            self.processor.resolve_version(app, req.version)
        except RequestError as e:
            return error_response(e.error, e.cause, e.status)
        try:
            if req.is_batch:
                results = await self.processor.predict_batch(app, req.inputs, req.version)
            else:
                results = [await self.processor.predict(app, req.inputs[0], req.version)]
        except Overloaded as e:
            resp = error_response("Service overloaded", e.cause, 503)
            resp.headers["Retry-After"] = str(e.retry_after_s)
            return resp
        return json_response(protocol.render_predict(results, req.is_batch))

    async def update(self, request: web.BaseRequest, app: AppConfig) -> web.Response:
        """Feedback. With the default-output policy it changes nothing, as in the original."""
        try:
            protocol.parse_update(await request.read(), app.input_type)
        except RequestError as e:
            return error_response(e.error, e.cause, e.status)
        return web.Response(text="Feedback received? 1", content_type=JSON)

    async def metrics_report(self, request: web.BaseRequest) -> web.Response:
        accept = request.headers.get("Accept", "")
        if "text/plain" in accept or "openmetrics" in accept:
            return await self.metrics_prometheus(request)
        return json_response(orjson.dumps(self.metrics.json_report(), option=orjson.OPT_INDENT_2))

    async def metrics_prometheus(self, request: web.BaseRequest) -> web.Response:
        return web.Response(
            text=self.metrics.prometheus_text(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def ready(self, request: web.BaseRequest) -> web.Response:
        ok, reason = self.readiness()
        body = {"ready": ok} if ok else {"ready": False, "reason": reason}
        return json_response(orjson.dumps(body), 200 if ok else 503)

    async def healthz(self, request: web.BaseRequest) -> web.Response:
        return web.Response(text="ok")


def _method_not_allowed(request: web.BaseRequest, methods: Mapping[str, object]) -> web.Response:
    allowed = ", ".join(sorted(methods))
    resp = error_response(
        "Method not allowed", f"{request.method} is not allowed on {request.path}; use {allowed}", 405
    )
    resp.headers["Allow"] = allowed
    return resp
