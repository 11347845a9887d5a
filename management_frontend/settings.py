"""Settings of the management frontend, read once at start (:mod:`clipper_service.settings`).

Each setting comes from its command-line flag, else from its environment
variable (prefix ``CLIPPER_MGMT_``), else from its default. Flags use the
original's spelling (``--redis_ip=HOST``); ``--redis-ip`` is accepted too.
A bad flag or variable exits with status 2 and the usage line.

The admin token is the exception: its variables are ``CLIPPER_ADMIN_TOKEN``
(the one the admin library reads too) and ``CLIPPER_ADMIN_TOKEN_FILE`` (a
file holding it, e.g. a mounted Kubernetes Secret). Prefer either to the
``--admin_token`` flag, which other users of the host can see in ``ps``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from clipper_protocol.constants import MANAGEMENT_FRONTEND_PORT, QUERY_FRONTEND_PORT, REDIS_ADDRESS, REDIS_PORT
from clipper_service import settings as cs
from clipper_service.process import parse_log_level

if TYPE_CHECKING:
    import ssl

ENV_PREFIX = "CLIPPER_MGMT_"
ADMIN_TOKEN_ENV = "CLIPPER_ADMIN_TOKEN"
ADMIN_TOKEN_FILE_ENV = "CLIPPER_ADMIN_TOKEN_FILE"
PROG = "python -m management_frontend"
DESCRIPTION = "Clipper management frontend: the admin REST API, backed by Redis."


def _url_problem(value: str) -> str | None:
    if value and not value.startswith(("http://", "https://")):
        return f"{value!r} is not an http:// or https:// URL"
    return None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the management frontend can be configured with."""

    redis_ip: str = cs.setting(REDIS_ADDRESS, help="Host of the Redis that holds the cluster's state.")
    redis_port: int = cs.setting(REDIS_PORT, help="Port of that Redis.", check=cs.port)
    host: str = cs.setting("0.0.0.0", help="Address the admin HTTP API binds to.")
    port: int = cs.setting(
        MANAGEMENT_FRONTEND_PORT, help="Port of the admin HTTP API (0 picks a free one, logged at start).",
        check=cs.port,
    )
    max_body_bytes: int = cs.setting(
        1024 * 1024, help="Largest request body accepted, in bytes; larger ones get 413.", check=cs.positive
    )
    redis_timeout_s: float = cs.setting(
        1.0,
        help="Connect and command timeout towards Redis, in seconds; with its one retry, an unreachable "
        "Redis is answered 503 within about twice this.",
        check=cs.positive,
    )
    redis_max_connections: int = cs.setting(
        16,
        help="Connections per Redis database pool; callers beyond it wait up to redis_timeout_s for one, "
        "then get 503.",
        check=cs.positive,
    )
    shutdown_timeout_s: float = cs.setting(
        5.0, help="Seconds in-flight requests may run on after SIGTERM.", check=cs.positive
    )
    log_level: str = cs.setting(
        "INFO", help="Level of the clipper loggers: DEBUG, INFO, WARNING, ERROR or CRITICAL.",
        parse=parse_log_level,
    )
    admin_token: str = cs.setting(
        "",
        help="Bearer token every /admin/* call but /admin/ping must carry (Authorization: Bearer or "
        "X-Clipper-Token); empty, as the original, leaves the admin API open.",
        env=ADMIN_TOKEN_ENV,
        secret=True,
    )
    admin_token_file: str = cs.setting(
        "",
        help="File whose content (stripped) is the admin token, e.g. a mounted Secret; used when "
        "admin_token is empty.",
        env=ADMIN_TOKEN_FILE_ENV,
    )
    redis_password: str = cs.setting(
        "", help="Password of Redis (AUTH); empty for a Redis without one.", secret=True
    )
    tls_cert: str = cs.setting(
        "", help="PEM certificate (chain) file: with tls_key, the admin API is served over HTTPS only; "
        "empty (the default, as the original) serves plain HTTP.",
    )
    tls_key: str = cs.setting("", help="PEM private key file of tls_cert.")
    query_frontend_url: str = cs.setting(
        f"http://127.0.0.1:{QUERY_FRONTEND_PORT}",
        help="Base URL of the query frontend whose GET /metrics the dashboard (GET /dashboard) shows; "
        "empty shows the Redis state only.",
        check=_url_problem,
    )

    @property
    def redis_address(self) -> str:
        return f"{self.redis_ip}:{self.redis_port}"


def _token_file_problem(path: str) -> tuple[str | None, str]:
    """(problem, token) of an admin token file: exactly one of them is empty."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as e:
        return f"admin token file {path!r} cannot be read: {e.strerror or type(e).__name__}", ""
    except UnicodeDecodeError:
        return f"admin token file {path!r} is not UTF-8 text", ""
    if not token:
        return f"admin token file {path!r} is empty", ""
    return None, token


def _tls_problem(cert: str, key: str) -> str | None:
    """Why ``tls_cert``/``tls_key`` cannot serve HTTPS (None when both are empty or both load)."""
    if not cert and not key:
        return None
    if not cert or not key:
        return "tls_cert and tls_key go together: set both (HTTPS) or neither (HTTP)"
    import ssl

    for name, path in (("tls_cert", cert), ("tls_key", key)):
        if not Path(path).is_file():
            return f"{name} {path!r} is not a file"
    try:
        tls_context(cert, key)
    except (OSError, ssl.SSLError) as e:
        return f"tls_cert {cert!r} with tls_key {key!r} cannot be loaded: {e}"
    return None


def tls_context(cert: str, key: str) -> "ssl.SSLContext":
    """The server side of HTTPS for ``cert`` and ``key`` (TLS 1.2 or later)."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def load_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``argv`` (flags win; ``sys.argv`` when None), then ``environ`` (``os.environ``
    when None), then defaults.

    Exits with status 2 and a usage message on a bad flag, variable or token file.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    settings = cs.load_settings(
        Settings, env_prefix=ENV_PREFIX, argv=args, environ=os.environ if environ is None else environ,
        prog=PROG, description=DESCRIPTION,
    )
    tls_problem = _tls_problem(settings.tls_cert, settings.tls_key)
    if tls_problem is not None:
        cs.build_parser(Settings, ENV_PREFIX, PROG, DESCRIPTION).error(tls_problem)
    if settings.admin_token_file and not settings.admin_token:
        problem, token = _token_file_problem(settings.admin_token_file)
        if problem is not None:
            cs.build_parser(Settings, ENV_PREFIX, PROG, DESCRIPTION).error(problem)
        settings = dataclasses.replace(settings, admin_token=token)
    return settings


def document() -> str:
    """The Markdown table of these settings (for docs/settings.md)."""
    return cs.document_settings(Settings, ENV_PREFIX, "Management frontend")
