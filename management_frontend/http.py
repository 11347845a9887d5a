"""The admin REST API's handlers: parse the body, call the service, render.

Every response carries ``Content-Type: application/json``, as the original's
do, even when the body is a plain-text message. Errors are mapped to
responses here and nowhere else (:func:`error_middleware`):

- :class:`ManagementError`: its status, its message as the body (400 with
  the original's texts, 503 when Redis is unreachable);
- unknown path (404), wrong method (405), body over the limit (413): a JSON
  object ``{"error": ..., "cause": ...}`` (the original sent no response);
- anything else: logged with its traceback, answered 500 with a generic body.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from clipper_protocol import admin_api, api_docs
from clipper_protocol.admin_api import Endpoint
from clipper_service.supervisor import TaskSupervisor
from management_frontend.errors import ManagementError, StoreUnavailableError
from management_frontend.openapi import openapi_document
from management_frontend.protocol import parse_request
from management_frontend.service import ManagementService

logger = logging.getLogger("clipper.management_frontend.http")

SERVICE_KEY = web.AppKey("service", ManagementService)
SUPERVISOR_KEY = web.AppKey("supervisor", TaskSupervisor)
DOCS_KEY = web.AppKey("docs", api_docs.DocsPage)

_JSON_HEADERS = {"Content-Type": "application/json"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def text_response(text: str, status: int = 200) -> web.Response:
    return web.Response(body=text.encode("utf-8"), status=status, headers=_JSON_HEADERS)


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, headers=_JSON_HEADERS)


def _error_object(error: str, cause: str, status: int) -> web.Response:
    return json_response({"error": error, "cause": cause}, status=status)


ADMIN_PATHS: tuple[str, ...] = tuple(e.path for e in admin_api.POST_ENDPOINTS) + (
    admin_api.PING_PATH,
    admin_api.OPENAPI_PATH,
)


def _admin_handler(endpoint: Endpoint[Any]) -> Handler:
    """``POST /admin/<name>``: parse the body, call the service method of the same name, render."""
    if not callable(getattr(ManagementService, endpoint.name, None)):
        raise TypeError(f"ManagementService has no operation for {endpoint.path}")

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()  # raises 413 past client_max_size
        parsed = parse_request(endpoint.request, body)
        operation: Callable[[Any], Awaitable[Any]] = getattr(request.app[SERVICE_KEY], endpoint.name)
        result = await operation(parsed)
        return json_response(result) if endpoint.answers_json else text_response(result)

    handle.__name__ = f"handle_{endpoint.name}"
    return handle


async def handle_ping(request: web.Request) -> web.StreamResponse:
    """Liveness: answers while the process runs, whatever Redis does."""
    return text_response("PONG")


async def handle_healthz(request: web.Request) -> web.StreamResponse:
    """Liveness under the name Kubernetes users expect; same as ``/admin/ping``."""
    return text_response("ok")


async def handle_ready(request: web.Request) -> web.StreamResponse:
    """Readiness: ``{"ready": true}`` when Redis answers PING, else 503 with the reason.

    The reason starts with ``redis unreachable`` as the query frontend's does;
    a background loop that crashed and has not run again makes it 503 too,
    naming the loop and its error.
    """
    ok, reason = request.app[SUPERVISOR_KEY].readiness()
    if not ok:
        return json_response({"ready": False, "reason": reason}, status=503)
    try:
        await request.app[SERVICE_KEY].store.ping()
    except StoreUnavailableError as e:
        return json_response(
            {"ready": False, "reason": f"redis unreachable: {e.reason}", "redis": e.address}, status=503
        )
    return json_response({"ready": True})


async def handle_openapi(request: web.Request) -> web.StreamResponse:
    """The OpenAPI 3 description of this API."""
    return json_response(openapi_document())


def docs_page() -> api_docs.DocsPage:
    """The API page, with this API's OpenAPI document beside it (open, like the page: see docs/architecture.md)."""
    return api_docs.DocsPage("Clipper management frontend API", "docs/openapi.json",
                             {"openapi.json": orjson.dumps(openapi_document())})


def _docs_response(reply: api_docs.Reply) -> web.Response:
    return web.Response(body=reply.body or None, status=reply.status, headers=reply.headers)


async def handle_docs(request: web.Request) -> web.StreamResponse:
    """The interactive API page (Swagger UI); open even with a token, like its files."""
    return _docs_response(request.app[DOCS_KEY].page_reply(request.headers))


async def handle_docs_asset(request: web.Request) -> web.StreamResponse:
    reply = request.app[DOCS_KEY].asset_reply(request.path, request.headers)
    if reply is None:
        raise web.HTTPNotFound()
    return _docs_response(reply)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ManagementError as e:
        if e.status >= 500:
            logger.warning("%s %s: %s", request.method, request.path, e.message)
        else:
            logger.info("%s %s rejected: %s", request.method, request.path, e.message)
        return text_response(e.message, status=e.status)
    except web.HTTPNotFound:
        return _error_object(
            "Not found",
            f"No endpoint at {request.path}. The admin API serves POST /admin/<operation>, "
            f"GET /admin/ping and GET /admin/openapi.json; {api_docs.DOCS_POINTER}.",
            404,
        )
    except web.HTTPMethodNotAllowed as e:
        allowed = ", ".join(sorted(e.allowed_methods))
        return _error_object(
            "Method not allowed",
            f"{request.method} is not allowed on {request.path}; use {allowed}.",
            405,
        )
    except web.HTTPRequestEntityTooLarge as e:
        logger.warning("%s %s refused: %s", request.method, request.path, e.text)
        return _error_object("Request body too large", e.text or "", 413)
    except web.HTTPException as e:
        return _error_object(e.reason, e.text or e.reason, e.status)
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return _error_object(
            "Internal server error", "The management frontend failed unexpectedly; see its log.", 500
        )


def add_routes(app: web.Application) -> None:
    for endpoint in admin_api.POST_ENDPOINTS:
        app.router.add_post(endpoint.path, _admin_handler(endpoint))
    app.router.add_get(admin_api.PING_PATH, handle_ping)
    app.router.add_get(admin_api.OPENAPI_PATH, handle_openapi)
    app.router.add_get(admin_api.READY_PATH, handle_ready)
    app.router.add_get(admin_api.HEALTHZ_PATH, handle_healthz)
    app[DOCS_KEY] = docs_page()
    app.router.add_get(admin_api.DOCS_PATH, handle_docs)
    app.router.add_get(admin_api.DOCS_ASSET_PATH.replace("}", ":.*}"), handle_docs_asset)  # "/docs/" too
