"""State and helpers shared by the parts of :class:`ClipperConnection`.

The connection is one facade over a few mixins (cluster lifecycle,
applications, models, replicas); each mixin subclasses
:class:`_ConnectionBase`, which holds the container manager, the
``connected`` flag, the cluster-prefixed logger and the admin HTTP call.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, MutableMapping
from typing import Any, Concatenate, ParamSpec, TypeVar, cast, overload

import requests

from clipper_admin import _http
from clipper_admin.container_manager import ContainerManager
from clipper_admin.exceptions import ClipperException, UnconnectedException
from clipper_protocol.admin_api import Endpoint, admin_path
from clipper_protocol.json_body import JsonMessage
from clipper_protocol.names import DEPLOY_REGEX_STR, is_valid_deploy_name

logger = logging.getLogger("clipper.admin")

Req = TypeVar("Req", bound=JsonMessage)


class ClusterAdapter(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every message with ``[<cluster_name>] ``."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = self.extra or {}
        return f"[{extra.get('cluster_name', '')}] {msg}", kwargs


class _ConnectionBase:
    """What every part of the connection shares."""

    def __init__(self, container_manager: ContainerManager, admin_token: str | None = None,
                 admin_tls: _http.AdminTls = None) -> None:
        self.connected = False
        self.cm = container_manager
        self.logger = ClusterAdapter(logger, {"cluster_name": self.cm.cluster_identifier})
        self._admin_token = admin_token or None
        if admin_tls is not None and not isinstance(admin_tls, (bool, str)):
            raise ClipperException(f"admin_tls must be None, True or the path of a CA file, got {admin_tls!r}")
        self._admin_tls = admin_tls

    @property
    def admin_tls(self) -> _http.AdminTls:
        """How the management frontend is reached: None (HTTP), True or a CA path (HTTPS, verified).

        The first of: ``ClipperConnection(admin_tls=...)``, the container
        manager's ``admin_tls`` (the certificate of the frontend it started
        with ``admin_tls_cert``), ``$CLIPPER_ADMIN_TLS_CA``.
        """
        if self._admin_tls is not None:
            return self._admin_tls or None
        managed = getattr(self.cm, "admin_tls", None)
        if isinstance(managed, (bool, str)) and managed:
            return managed
        return _http.tls_from_env()

    @property
    def admin_token(self) -> str | None:
        """The token sent to the management frontend, or None.

        The first of: ``ClipperConnection(admin_token=...)``, the container
        manager's ``admin_token`` (the one it gave the frontend it started,
        or learnt on ``connect``), ``$CLIPPER_ADMIN_TOKEN``. Looked up on
        every call, as the manager may learn its token only on connect.
        """
        if self._admin_token:
            return self._admin_token
        managed = getattr(self.cm, "admin_token", None)
        if isinstance(managed, str) and managed:
            return managed
        return _http.token_from_env()

    @overload
    def _admin_post(self, endpoint: Endpoint[Req], body: Req) -> requests.Response: ...

    @overload
    def _admin_post(self, endpoint: str, body: dict[str, Any]) -> requests.Response: ...

    def _admin_post(self, endpoint: Endpoint[Any] | str, body: JsonMessage | dict[str, Any]) -> requests.Response:
        """POST ``body`` to the management frontend's ``endpoint``.

        ``endpoint`` is one of :mod:`clipper_protocol.admin_api`'s endpoints
        and ``body`` its request (an endpoint name and a dict are accepted too).
        """
        return self._send(endpoint, body)

    @overload
    def _admin_query(self, endpoint: Endpoint[Req], body: Req) -> Any: ...

    @overload
    def _admin_query(self, endpoint: str, body: dict[str, Any]) -> Any: ...

    def _admin_query(self, endpoint: Endpoint[Any] | str, body: JsonMessage | dict[str, Any]) -> Any:
        """Like :meth:`_admin_post`, returning the parsed JSON answer."""
        r = self._send(endpoint, body)
        return _http.response_json(r, admin_path(endpoint if isinstance(endpoint, str) else endpoint.name))

    def _send(self, endpoint: Endpoint[Any] | str, body: JsonMessage | dict[str, Any]) -> requests.Response:
        name = endpoint if isinstance(endpoint, str) else endpoint.name
        json_body = body.to_json() if isinstance(body, JsonMessage) else body
        return _http.admin_post(self.cm.get_admin_addr(), name, json_body, self.logger, self.admin_token,
                                self.admin_tls)


P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound=_ConnectionBase)


def requires_connection(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Raise UnconnectedException unless ``self.connected``, before anything else."""

    @functools.wraps(method)
    def checked(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        if not self.connected:
            raise UnconnectedException()
        return method(self, *args, **kwargs)

    return cast(Callable[Concatenate[S, P], R], checked)


def _invalid(value: object, what: str) -> ClipperException:
    return ClipperException(
        f"Invalid value: {value}: a model {what} must be a valid DNS-1123 "
        " subdomain. It must consist of lower case alphanumeric characters, "
        "'-' or '.', and must start and end with an alphanumeric character "
        f"(e.g. 'example.com', regex used for validation is '{DEPLOY_REGEX_STR}'"
    )


def validate_versioned_model_name(name: object, version: object) -> None:
    """Check a deployed model's name and (stringified) version, as the original.

    Raises
    ------
    ClipperException
        With the original's DNS-1123 message naming the bad value.
    """
    if not isinstance(name, str) or not is_valid_deploy_name(name):
        raise _invalid(name, "name")
    if not isinstance(version, str) or not is_valid_deploy_name(version):
        raise _invalid(version, "version")
