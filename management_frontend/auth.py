"""Bearer-token authentication of the admin API.

Off unless ``Settings.admin_token`` is set (the original had no
authentication, and its clients send no token). When on, every ``/admin/*``
route, reads included, needs ``Authorization: Bearer <token>`` or
``X-Clipper-Token: <token>``; the health routes stay open so probes work
without the secret. Tokens are compared in constant time, and neither the
expected nor the presented token is ever logged or echoed.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from clipper_protocol.admin_api import ADMIN_PREFIX, HEALTHZ_PATH, PING_PATH, READY_PATH

logger = logging.getLogger("clipper.management_frontend.auth")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Paths answered without a token: liveness and readiness probes.
OPEN_PATHS = frozenset({PING_PATH, READY_PATH, HEALTHZ_PATH})
TOKEN_HEADER = "X-Clipper-Token"
_HINT = (
    "Send 'Authorization: Bearer <token>' or 'X-Clipper-Token: <token>'; the admin library "
    "sends the token from the CLIPPER_ADMIN_TOKEN environment variable."
)


def presented_token(request: web.Request) -> str | None:
    """The token the request carries, or None; ``Authorization`` wins."""
    auth = request.headers.get("Authorization")
    if auth is not None:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return ""  # present but not a bearer token: rejected as malformed
    header = request.headers.get(TOKEN_HEADER)
    return None if header is None else header.strip()


def token_matches(expected: str, presented: str) -> bool:
    """Constant-time comparison (on bytes, so any text compares safely)."""
    return hmac.compare_digest(expected.encode("utf-8"), presented.encode("utf-8", "surrogateescape"))


def _unauthorized(error: str, cause: str) -> web.Response:
    return web.Response(
        body=orjson.dumps({"error": error, "cause": cause}),
        status=401,
        headers={"Content-Type": "application/json", "WWW-Authenticate": 'Bearer realm="clipper-admin"'},
    )


def token_middleware(expected: str) -> Middleware:
    """A middleware requiring ``expected`` on every ``/admin/*`` path but the open ones."""

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(ADMIN_PREFIX) or request.path in OPEN_PATHS:
            return await handler(request)
        presented = presented_token(request)
        if presented is None:
            logger.warning("%s %s refused: no admin token", request.method, request.path)
            return _unauthorized("Missing admin token", f"This management frontend requires a token. {_HINT}")
        if not presented or not token_matches(expected, presented):
            logger.warning("%s %s refused: wrong or malformed admin token", request.method, request.path)
            return _unauthorized("Invalid admin token", f"The admin token sent is wrong or malformed. {_HINT}")
        return await handler(request)

    return require_token
