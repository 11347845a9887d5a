"""Settings of the management frontend, read once at start.

Each setting comes from its command-line flag, else from its environment
variable (prefix ``CLIPPER_MGMT_``), else from its default. Flags use the
original's spelling (``--redis_ip=HOST``); ``--redis-ip`` is accepted too.

The admin token is the exception: its variables are ``CLIPPER_ADMIN_TOKEN``
(the one the admin library reads too) and ``CLIPPER_ADMIN_TOKEN_FILE`` (a
file holding it, e.g. a mounted Kubernetes Secret). Prefer either to the
``--admin_token`` flag, which other users of the host can see in ``ps``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clipper_protocol.constants import MANAGEMENT_FRONTEND_PORT, REDIS_ADDRESS, REDIS_PORT

ENV_PREFIX = "CLIPPER_MGMT_"
ADMIN_TOKEN_ENV = "CLIPPER_ADMIN_TOKEN"
ADMIN_TOKEN_FILE_ENV = "CLIPPER_ADMIN_TOKEN_FILE"
# Settings whose variable does not follow ENV_PREFIX + NAME.
_ENV_NAMES = {"admin_token": ADMIN_TOKEN_ENV, "admin_token_file": ADMIN_TOKEN_FILE_ENV}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the management frontend can be configured with."""

    redis_ip: str = REDIS_ADDRESS
    """Host of the Redis that holds the cluster's state."""
    redis_port: int = REDIS_PORT
    """Port of that Redis."""
    host: str = "0.0.0.0"
    """Address the admin HTTP API binds to."""
    port: int = MANAGEMENT_FRONTEND_PORT
    """Port of the admin HTTP API (0 picks a free one, logged at start)."""
    max_body_bytes: int = 1024 * 1024
    """Largest request body accepted; larger ones get 413."""
    redis_timeout_s: float = 1.0
    """Connect and command timeout towards Redis. One retry is made, so an
    unreachable Redis is reported (503) within about twice this."""
    redis_max_connections: int = 16
    """Connections per Redis database pool; callers beyond wait up to
    ``redis_timeout_s`` for one, then get 503."""
    shutdown_timeout_s: float = 5.0
    """How long in-flight requests may run on after SIGTERM."""
    log_level: str = "INFO"
    """Level of the ``clipper`` loggers."""
    admin_token: str = field(default="", repr=False)
    """Bearer token every ``/admin/*`` call must carry (``Authorization:
    Bearer <token>`` or ``X-Clipper-Token``); empty (the default, as the
    original) leaves the API open. ``/admin/ping``, ``/ready`` and
    ``/healthz`` stay open either way."""
    redis_password: str = field(default="", repr=False)
    """Password of Redis (``AUTH``); empty for a Redis without one. Neither
    secret is in the settings' repr, so neither can reach a log line."""

    @property
    def redis_address(self) -> str:
        return f"{self.redis_ip}:{self.redis_port}"


_SECRET_FIELDS = frozenset({"admin_token", "redis_password"})
"""Never shown in ``--help`` defaults."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port (0-65535), got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"):
        raise argparse.ArgumentTypeError(
            f"must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG, got {text}"
        )
    return level


# flag name -> (type, help). Defaults come from Settings.
_FLAGS: dict[str, tuple[object, str]] = {
    "redis_ip": (str, "Redis host"),
    "redis_port": (_port, "Redis port"),
    "host": (str, "address to listen on"),
    "port": (_port, "port to listen on"),
    "max_body_bytes": (_positive_int, "largest accepted request body, in bytes"),
    "redis_timeout_s": (_positive_float, "Redis connect/command timeout, in seconds"),
    "redis_max_connections": (_positive_int, "connections per Redis database pool"),
    "shutdown_timeout_s": (_positive_float, "grace period for in-flight requests on shutdown"),
    "log_level": (_log_level, "log level (DEBUG, INFO, WARNING, ...)"),
    "admin_token": (str, "token required on /admin/* calls; empty leaves the admin API open"),
    "admin_token_file": (str, "file whose content (stripped) is the admin token"),
    "redis_password": (str, "Redis password (AUTH)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m management_frontend",
        description="Clipper management frontend: the admin REST API, backed by Redis.",
    )
    defaults = Settings()
    for name, (type_, help_) in _FLAGS.items():
        default = "" if name in _SECRET_FIELDS else getattr(defaults, name, "")
        parser.add_argument(
            f"--{name}",
            *([f"--{name.replace('_', '-')}"] if "_" in name else []),
            dest=name,
            type=type_,  # type: ignore[arg-type]
            default=None,
            help=f"{help_} (env {_env_name(name)}, default {default!r})",
        )
    return parser


def _env_name(name: str) -> str:
    return _ENV_NAMES.get(name, ENV_PREFIX + name.upper())


def _read_token_file(path: str, parser: argparse.ArgumentParser) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as e:
        parser.error(f"admin token file {path!r} cannot be read: {e.strerror or type(e).__name__}")
    except UnicodeDecodeError:
        parser.error(f"admin token file {path!r} is not UTF-8 text")
    if not token:
        parser.error(f"admin token file {path!r} is empty")
    return token


def load_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from ``argv`` (flags win), then ``environ``, then defaults.

    Exits with status 2 and a usage message on a bad flag or variable, as
    argparse does.
    """
    environ = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(argv)
    values: dict[str, object] = {}
    for name, (type_, _) in _FLAGS.items():
        value = getattr(args, name)
        if value is None:
            env_name = _env_name(name)
            raw = environ.get(env_name)
            if raw is None or raw == "":
                continue
            try:
                value = type_(raw)  # type: ignore[operator]
            except (ValueError, argparse.ArgumentTypeError) as e:
                parser.error(f"environment variable {env_name}={raw!r}: {e}")
        values[name] = value
    token_file = values.pop("admin_token_file", None)
    if token_file and not values.get("admin_token"):
        values["admin_token"] = _read_token_file(str(token_file), parser)
    return Settings(**values)  # type: ignore[arg-type]
