"""The registration secret (ours; off by default): which containers are admitted.

With a secret, the frontend's metadata request carries a per-connection
nonce (derived from the ROUTER identity with a per-process random key, so
nothing is stored per challenge) and a container must answer with
``clipper_protocol.rpc.registration_proof`` over it, claiming a model
version the management frontend registered. A container without a valid
proof is ignored for good (a ROUTER cannot close a peer's socket); one
claiming an unregistered version is asked again on its next heartbeat.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Callable

from clipper_protocol import rpc as wire
from query_frontend.replicas import remember

log = logging.getLogger("clipper.query_frontend.rpc")

_REQUEST_METADATA = wire.encode_frontend_heartbeat(wire.HeartbeatType.REQUEST_CONTAINER_METADATA)


class Admission:
    """Decides whether a new-container message is admitted."""

    def __init__(self, rpc_secret: str, is_registered: Callable[[str, str], bool] | None) -> None:
        self._secret = rpc_secret.encode()
        self._is_registered = is_registered
        self._nonce_key = os.urandom(32)
        self._rejected: dict[bytes, None] = {}
        self._logged: dict[tuple[str, str, str], None] = {}

    def rejected(self, identity: bytes) -> bool:
        """Whether this connection failed its proof (it is never answered again)."""
        return identity in self._rejected

    def metadata_request(self, identity: bytes) -> list[bytes]:
        """The heartbeat asking a new connection to announce itself (with a nonce when a secret is set)."""
        if not self._secret:
            return _REQUEST_METADATA
        return wire.encode_frontend_heartbeat(wire.HeartbeatType.REQUEST_CONTAINER_METADATA, self._nonce(identity))

    def admit(self, identity: bytes, msg: wire.NewContainer) -> bool:
        """Check a container's proof and claim (always True without a secret)."""
        if not self._secret:
            return True
        if not wire.check_registration_proof(self._secret, self._nonce(identity), msg):
            # A wrong or missing proof will not improve: ignore this
            # connection for good (a ROUTER cannot close a peer's socket).
            remember(self._rejected, identity)
            self._log_rejection(msg, "it did not prove it knows the RPC secret")
            return False
        if self._is_registered is not None and not self._is_registered(msg.model_name, msg.model_version):
            # Not blacklisted: the version may be registered a moment later
            # (deployers start replicas first); its next heartbeat re-asks.
            self._log_rejection(msg, "the management frontend has not registered that model version")
            return False
        return True

    def _nonce(self, identity: bytes) -> bytes:
        return hmac.new(self._nonce_key, identity, hashlib.sha256).digest()[:16]

    def _log_rejection(self, msg: wire.NewContainer, reason: str) -> None:
        key = (msg.model_name, msg.model_version, reason)
        level = logging.DEBUG if key in self._logged else logging.WARNING
        remember(self._logged, key)
        log.log(level, "Refusing a container claiming %s:%s: %s", msg.model_name, msg.model_version, reason)
