"""The admin library's HTTP calls: management frontend POSTs, query frontend GETs.

Every admin call is ``POST http://{admin_addr}/admin/<endpoint>`` with a JSON
body. A non-200 answer becomes the original's ClipperException
``Received error status code: {code} and message: {msg}``; a frontend that
cannot be reached becomes a ClipperException saying so and what to do.

A management frontend started with an admin token wants it on every
``/admin/*`` call: :func:`admin_post` sends it as ``Authorization: Bearer``
when one is given, and turns a 401 into a ClipperException telling the user
to set ``CLIPPER_ADMIN_TOKEN``. The token itself never reaches a log line
or a message.

A management frontend serving HTTPS (its ``--tls_cert``/``--tls_key``) is
called at ``https://`` with its certificate verified: ``tls`` True checks it
against the system's CAs, a path against that CA bundle (a self-signed
certificate is its own); a certificate that does not verify is an error,
never a warning.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import requests

from clipper_admin.exceptions import ClipperException
from clipper_protocol.admin_api import admin_path

# (connect, read) seconds. The original waited forever; a management call
# touches only Redis, so a minute without an answer means something is wrong.
ADMIN_TIMEOUT_S = (10.0, 60.0)

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]

#: Environment variable holding the admin token (read by the frontend too).
ADMIN_TOKEN_ENV = "CLIPPER_ADMIN_TOKEN"


#: Environment variable naming the CA bundle that verifies an HTTPS management frontend.
ADMIN_TLS_CA_ENV = "CLIPPER_ADMIN_TLS_CA"

#: How the admin API is reached: None (HTTP), True (HTTPS, system CAs) or a CA bundle path (HTTPS).
AdminTls = bool | str | None


def tls_from_env() -> str | None:
    """``$CLIPPER_ADMIN_TLS_CA``, stripped; None when unset or empty."""
    path = os.environ.get(ADMIN_TLS_CA_ENV, "").strip()
    return path or None


def admin_url(admin_addr: str, path: str, tls: AdminTls = None) -> str:
    return f"{'https' if tls else 'http'}://{admin_addr}{path}"


def verify_arg(tls: AdminTls) -> bool | str:
    """``requests``' ``verify`` for ``tls``: a CA bundle path, or True (the system's CAs)."""
    return tls if isinstance(tls, str) else True


def token_from_env() -> str | None:
    """``$CLIPPER_ADMIN_TOKEN``, stripped; None when unset or empty."""
    token = os.environ.get(ADMIN_TOKEN_ENV, "").strip()
    return token or None


def auth_headers(token: str | None) -> dict[str, str]:
    """The header carrying ``token``; none without one."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def _unauthorized(admin_addr: str, endpoint: str, sent_token: bool) -> ClipperException:
    if sent_token:
        what = "rejected the admin token this connection sent"
    else:
        what = "requires an admin token and none was sent"
    return ClipperException(
        f"The Clipper management frontend at {admin_addr} {what} (HTTP 401 on {admin_path(endpoint)}). "
        f"Set the {ADMIN_TOKEN_ENV} environment variable to the cluster's admin token, or pass "
        "admin_token= to ClipperConnection or to the container manager."
    )


def tls_failure(admin_addr: str, tls: AdminTls, error: Exception) -> ClipperException:
    """An HTTPS call to the management frontend that failed its TLS handshake or certificate check."""
    against = f"the CA bundle {tls}" if isinstance(tls, str) else "the system's CAs"
    return ClipperException(
        f"The TLS connection to the Clipper management frontend at {admin_addr} failed, checked against "
        f"{against} ({type(error).__name__}: {error}). Pass admin_tls=<the CA file that signed its "
        f"certificate (for a self-signed one, the certificate itself)> to ClipperConnection, or set "
        f"{ADMIN_TLS_CA_ENV}; a frontend without --tls_cert is reached with admin_tls=None."
    )


def _unreachable(what: str, addr: str, error: Exception) -> ClipperException:
    return ClipperException(
        f"Could not reach the Clipper {what} at {addr} ({type(error).__name__}: {error}). "
        "Is the cluster running? Start one with ClipperConnection.start_clipper() "
        "or attach to a running one with ClipperConnection.connect()."
    )


def error_status(response: requests.Response) -> str:
    """The original's message for a non-200 answer."""
    return f"Received error status code: {response.status_code} and message: {response.text}"


def admin_post(
    admin_addr: str, endpoint: str, body: dict[str, Any], logger: Logger, token: str | None = None,
    tls: AdminTls = None,
) -> requests.Response:
    """POST ``body`` as JSON to ``/admin/<endpoint>``; return the 200 response.

    ``endpoint`` is the name of one of :mod:`clipper_protocol.admin_api`'s
    endpoints, ``body`` the JSON of its request (``Request.to_json()``).

    ``token``, when given, goes in an ``Authorization: Bearer`` header;
    ``tls`` (see the module docstring) makes the call HTTPS.

    Raises
    ------
    ClipperException
        On a non-200 status (401: says to set ``CLIPPER_ADMIN_TOKEN``), an
        unreachable frontend, or no answer in time.
    """
    url = admin_url(admin_addr, admin_path(endpoint), tls)
    try:
        r = requests.post(url, json=body, headers=auth_headers(token), timeout=ADMIN_TIMEOUT_S,
                          verify=verify_arg(tls))
    except requests.exceptions.SSLError as e:
        raise tls_failure(admin_addr, tls, e) from e
    except requests.ConnectionError as e:
        raise _unreachable("management frontend", admin_addr, e) from e
    except requests.Timeout as e:
        raise ClipperException(
            f"The Clipper management frontend at {admin_addr} did not answer "
            f"{admin_path(endpoint)} within {ADMIN_TIMEOUT_S[1]:.0f} s"
        ) from e
    logger.debug(r.text)
    if r.status_code == requests.codes.unauthorized:
        err = _unauthorized(admin_addr, endpoint, bool(token))
        logger.error(err.msg)
        raise err
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
