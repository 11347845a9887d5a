"""The admin library's HTTP calls: management frontend POSTs, query frontend GETs.

Every admin call is ``POST http://{admin_addr}/admin/<endpoint>`` with a JSON
body. A non-200 answer becomes the original's ClipperException
``Received error status code: {code} and message: {msg}``; a frontend that
cannot be reached becomes a ClipperException saying so and what to do.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from clipper_admin.exceptions import ClipperException

# (connect, read) seconds. The original waited forever; a management call
# touches only Redis, so a minute without an answer means something is wrong.
ADMIN_TIMEOUT_S = (10.0, 60.0)

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


def _unreachable(what: str, addr: str, error: Exception) -> ClipperException:
    return ClipperException(
        f"Could not reach the Clipper {what} at {addr} ({type(error).__name__}: {error}). "
        "Is the cluster running? Start one with ClipperConnection.start_clipper() "
        "or attach to a running one with ClipperConnection.connect()."
    )


def error_status(response: requests.Response) -> str:
    """The original's message for a non-200 answer."""
    return f"Received error status code: {response.status_code} and message: {response.text}"


def admin_post(admin_addr: str, endpoint: str, body: dict[str, Any], logger: Logger) -> requests.Response:
    """POST ``body`` as JSON to ``/admin/<endpoint>``; return the 200 response.

    Raises
    ------
    ClipperException
        On a non-200 status, an unreachable frontend, or no answer in time.
    """
    url = f"http://{admin_addr}/admin/{endpoint}"
    try:
        r = requests.post(url, json=body, timeout=ADMIN_TIMEOUT_S)
    except requests.ConnectionError as e:
        raise _unreachable("management frontend", admin_addr, e) from e
    except requests.Timeout as e:
        raise ClipperException(
            f"The Clipper management frontend at {admin_addr} did not answer "
            f"/admin/{endpoint} within {ADMIN_TIMEOUT_S[1]:.0f} s"
        ) from e
    logger.debug(r.text)
    if r.status_code != requests.codes.ok:
        msg = error_status(r)
        logger.error(msg)
        raise ClipperException(msg)
    return r


def response_json(response: requests.Response, what: str) -> Any:
    """``response.json()``; a body that is not JSON becomes a ClipperException."""
    try:
        return response.json()
    except ValueError as e:
        raise ClipperException(f"Expected JSON from {what} but got: {response.text[:200]!r}") from e


def query_frontend_get(query_addr: str, path: str, timeout_s: float = 10.0) -> requests.Response:
    """GET ``http://{query_addr}{path}``; unreachable frontends become ClipperException."""
    try:
        return requests.get(f"http://{query_addr}{path}", timeout=timeout_s)
    except requests.ConnectionError as e:
        raise _unreachable("query frontend", query_addr, e) from e
    except requests.Timeout as e:
        raise ClipperException(
            f"The Clipper query frontend at {query_addr} did not answer {path} within {timeout_s:.0f} s"
        ) from e
