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

from management_frontend.errors import ManagementError, StoreUnavailableError
from management_frontend.openapi import openapi_document
from management_frontend.protocol import (
    AddAppRequest,
    AddModelRequest,
    AppNameFieldRequest,
    AppNameRequest,
    ContainerRequest,
    GetStateRequest,
    ModelLinksRequest,
    Request,
    VerboseRequest,
    VersionedModelRequest,
)
from management_frontend.selection import GetSelectionPolicyRequest, SetSelectionPolicyRequest
from management_frontend.service import ManagementService

logger = logging.getLogger("clipper.management_frontend.http")

SERVICE_KEY = web.AppKey("service", ManagementService)

_JSON_HEADERS = {"Content-Type": "application/json"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def text_response(text: str, status: int = 200) -> web.Response:
    return web.Response(body=text.encode("utf-8"), status=status, headers=_JSON_HEADERS)


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, headers=_JSON_HEADERS)


def _error_object(error: str, cause: str, status: int) -> web.Response:
    return json_response({"error": error, "cause": cause}, status=status)


# (path under /admin/, request type, service method, renders the result as JSON?)
_ADMIN_POST_ROUTES: list[tuple[str, type[Request], str, bool]] = [
    ("add_app", AddAppRequest, "add_app", False),
    ("delete_app", AppNameRequest, "delete_app", False),
    ("add_model_links", ModelLinksRequest, "add_model_links", False),
    ("delete_model_links", ModelLinksRequest, "delete_model_links", False),
    ("add_model", AddModelRequest, "add_model", False),
    ("set_model_version", VersionedModelRequest, "set_model_version", False),
    ("delete_versioned_model", VersionedModelRequest, "delete_versioned_model", False),
    ("get_all_applications", VerboseRequest, "get_all_applications", True),
    ("get_application", AppNameRequest, "get_application", True),
    ("get_linked_models", AppNameFieldRequest, "get_linked_models", True),
    ("get_all_models", VerboseRequest, "get_all_models", True),
    ("get_model", VersionedModelRequest, "get_model", True),
    ("get_all_containers", VerboseRequest, "get_all_containers", True),
    ("get_container", ContainerRequest, "get_container", True),
    # The state is the app's default output, sent raw rather than JSON-encoded.
    ("get_state", GetStateRequest, "get_state", False),
    # Model selection (management_frontend.selection).
    ("set_selection_policy", SetSelectionPolicyRequest, "set_selection_policy", False),
    ("get_selection_policy", GetSelectionPolicyRequest, "get_selection_policy", True),
]

ADMIN_PATHS: tuple[str, ...] = tuple(f"/admin/{p}" for p, *_ in _ADMIN_POST_ROUTES) + (
    "/admin/ping",
    "/admin/openapi.json",
)


def _admin_handler(request_type: type[Request], method: str, as_json: bool) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()  # raises 413 past client_max_size
        parsed = request_type.parse(body)
        operation = getattr(request.app[SERVICE_KEY], method)
        result = await operation(parsed)
        return json_response(result) if as_json else text_response(result)

    handle.__name__ = f"handle_{method}"
    return handle


async def handle_ping(request: web.Request) -> web.StreamResponse:
    """Liveness: answers while the process runs, whatever Redis does."""
    return text_response("PONG")


async def handle_healthz(request: web.Request) -> web.StreamResponse:
    """Liveness under the name Kubernetes users expect; same as ``/admin/ping``."""
    return text_response("ok")


async def handle_ready(request: web.Request) -> web.StreamResponse:
    """Readiness: ``{"ready": true}`` when Redis answers PING, else 503 with the reason.

    The reason starts with ``redis unreachable`` as the query frontend's does.
    """
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
            "GET /admin/ping and GET /admin/openapi.json.",
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
    for path, request_type, method, as_json in _ADMIN_POST_ROUTES:
        app.router.add_post(f"/admin/{path}", _admin_handler(request_type, method, as_json))
    app.router.add_get("/admin/ping", handle_ping)
    app.router.add_get("/admin/openapi.json", handle_openapi)
    app.router.add_get("/ready", handle_ready)
    app.router.add_get("/healthz", handle_healthz)
