"""aiohttp's low-level server, answering what it cannot parse with our JSON errors.

The REST layer is aiohttp's low-level server with a dict dispatch
(:mod:`query_frontend.http`): no router or middleware on the hot path.
Request bodies are never decompressed (``auto_decompress=False``): a body
with a ``Content-Encoding`` is refused by the handlers with a 400 before
anything decodes it, so a malformed gzip or deflate body cannot raise inside
the parser.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, BadStatusLine, HttpProcessingError, InvalidHeader, LineTooLong
from aiohttp.web_protocol import RequestHandler

from query_frontend import protocol
from query_frontend.http_reply import JsonReply

log = logging.getLogger("clipper.query_frontend.http")



def json_response(body: bytes, status: int = 200) -> web.Response:
    return JsonReply(body, status)


def error_response(error: str, cause: str, status: int) -> web.Response:
    return json_response(protocol.render_error(error, cause), status)


def _http_error(status: int, exc: BaseException | None) -> tuple[str, str, int]:
    """Error name, message and status for a request aiohttp could not parse.

    aiohttp's own messages quote the offending bytes; these do not.
    """
    if isinstance(exc, LineTooLong):
        return "Header too large", "A request line or header line is longer than the limit (max_header_bytes)", 431
    if isinstance(exc, BadHttpMessage) and "Too many headers" in exc.message:
        return "Header too large", "The request has more header lines than the limit (max_headers)", 431
    if isinstance(exc, BadStatusLine):
        return "Bad request", "The request line is not a valid HTTP/1.x request line", 400
    if isinstance(exc, InvalidHeader):
        return "Bad request", "A request header is malformed", 400
    if isinstance(exc, HttpProcessingError):
        return "Bad request", "The request is not valid HTTP/1.x", 400
    if status >= 500:
        return "Internal error", "An unexpected error occurred!", status
    return "Bad request", "The request could not be processed", status


class JsonErrorRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering malformed HTTP with our JSON errors.

    aiohttp answers requests it cannot parse itself (before any handler
    runs) with a text body that quotes the bad bytes, and logs each with a
    traceback; malformed traffic is the client's problem, so it is logged at
    debug level and answered like every other error.
    """

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            # Part of a response is out: the connection can only be dropped.
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        error, cause, status = _http_error(status, exc)
        log.debug("Refused a malformed request (%d %s): %r", status, error, exc)
        resp = error_response(error, cause, status)
        resp.force_close()
        return resp


class QueryServer(web.Server):
    """aiohttp's low-level server with :class:`JsonErrorRequestHandler` connections."""

    def __call__(self) -> RequestHandler:
        # web.Server.__call__ builds a RequestHandler from these same two
        # attributes; only the class differs.
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


def build_server(handler: Any, max_body_bytes: int, keepalive_timeout_s: float, max_headers: int,
                 max_header_bytes: int) -> QueryServer:
    """The REST server for ``handler`` (``async (BaseRequest) -> StreamResponse``)."""
    loop = asyncio.get_running_loop()

    def make_request(message, payload, protocol, writer, task) -> web.BaseRequest:  # type: ignore[no-untyped-def]
        return web.BaseRequest(message, payload, protocol, writer, task, loop, client_max_size=max_body_bytes)

    # The runner does not forward handler options to a ready-made Server,
    # so access logging (off: one line per query costs ~40% throughput),
    # keep-alive, header limits and decompression are set here.
    return QueryServer(
        handler,
        request_factory=make_request,
        access_log=None,
        keepalive_timeout=keepalive_timeout_s,
        max_headers=max_headers,
        max_line_size=max_header_bytes,
        max_field_size=max_header_bytes,
        auto_decompress=False,
    )
