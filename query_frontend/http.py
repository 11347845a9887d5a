"""REST handlers of the query frontend: parse, call the processor, render."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from query_frontend import protocol
from query_frontend.config import AppConfig, ClusterConfig
from query_frontend.errors import RequestError
from query_frontend.metrics import MetricsRegistry
from query_frontend.processor import QueryProcessor

log = logging.getLogger("clipper.query_frontend.http")

JSON = "application/json"


def json_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON)


def error_response(error: str, cause: str, status: int) -> web.Response:
    return json_response(protocol.render_error(error, cause), status)


class QueryHandlers:
    """The routes of the query REST API."""

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

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/metrics", self.metrics_report),
            web.get("/metrics/prometheus", self.metrics_prometheus),
            web.get("/ready", self.ready),
            web.get("/healthz", self.healthz),
            web.post("/{app}/predict", self.predict),
            web.post("/{app}/predict/", self.predict),
            web.post("/{app}/update", self.update),
            web.post("/{app}/update/", self.update),
        ]

    def _app(self, request: web.Request) -> AppConfig:
        name = request.match_info["app"]
        app = self.config.apps.get(name)
        if app is None:
            raise RequestError(
                f"No application named '{name}' is registered with Clipper", "Application not found", 404
            )
        return app

    async def predict(self, request: web.Request) -> web.Response:
        try:
            app = self._app(request)
            req = protocol.parse_predict(await request.read(), app.input_type, self.max_batch_inputs)
            self.processor.resolve_version(app, req.version)
        except RequestError as e:
            return error_response(e.error, e.cause, e.status)
        if req.is_batch:
            results = await self.processor.predict_batch(app, req.inputs, req.version)
        else:
            results = [await self.processor.predict(app, req.inputs[0], req.version)]
        return json_response(protocol.render_predict(results, req.is_batch))

    async def update(self, request: web.Request) -> web.Response:
        """Feedback. With the default-output policy it changes nothing, as in the original."""
        try:
            app = self._app(request)
            protocol.parse_update(await request.read(), app.input_type)
        except RequestError as e:
            return error_response(e.error, e.cause, e.status)
        return web.Response(text="Feedback received? 1", content_type=JSON)

    async def metrics_report(self, request: web.Request) -> web.Response:
        accept = request.headers.get("Accept", "")
        if "text/plain" in accept or "openmetrics" in accept:
            return await self.metrics_prometheus(request)
        return json_response(orjson.dumps(self.metrics.json_report(), option=orjson.OPT_INDENT_2))

    async def metrics_prometheus(self, request: web.Request) -> web.Response:
        return web.Response(
            text=self.metrics.prometheus_text(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def ready(self, request: web.Request) -> web.Response:
        ok, reason = self.readiness()
        body = {"ready": ok} if ok else {"ready": False, "reason": reason}
        return json_response(orjson.dumps(body), 200 if ok else 503)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Unknown paths, wrong methods, oversized bodies and crashes get JSON errors."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge as e:
        return error_response("Request too large", e.text or "The request body is too large", 413)
    except web.HTTPMethodNotAllowed as e:
        return error_response(
            "Method not allowed", f"{request.method} is not allowed on {request.path}; use {', '.join(sorted(e.allowed_methods))}", 405
        )
    except web.HTTPNotFound:
        return error_response(
            "Not found",
            f"No route {request.path}. Queries go to POST /<application>/predict",
            404,
        )
    except web.HTTPException:
        raise
    except Exception:
        log.exception("Unexpected error answering %s %s", request.method, request.path)
        return error_response("Internal error", "An unexpected error occurred!", 500)
