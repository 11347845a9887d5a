"""The registration-secret extension, container side, against raw frames."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from tests.model_containers.mc_fake_frontend import U32, FakeFrontend

from clipper_protocol import rpc as wire
from clipper_protocol.input_types import InputType
from model_containers.model import ModelContainerBase


class Echo(ModelContainerBase):
    def predict_doubles(self, inputs: Any) -> list[str]:
        return ["x"] * len(inputs)


def _expected_proof(secret: bytes, nonce: bytes, name: bytes, version: bytes, code: bytes) -> bytes:
    # Written from the spec in clipper_protocol/rpc.py, not with its helper.
    message = b"\0".join([b"clipper-rpc-register-v1", nonce, name, version, code])
    return hmac.new(secret, message, hashlib.sha256).digest()


def _ask_metadata(frontend: FakeFrontend, nonce: bytes | None) -> list[bytes]:
    identity = frontend.wait_heartbeat()
    frames = [b"", U32.pack(3), U32.pack(2), U32.pack(1)] + ([nonce] if nonce is not None else [])
    frontend.send(identity, frames)
    _, announced, _ = frontend.recv_until(lambda f: f[1:2] == [U32.pack(0)])
    return announced


def test_container_with_secret_answers_the_nonce_with_a_proof(frontend: FakeFrontend, run_container: Any) -> None:
    run_container(Echo(), rpc_secret="topsecret")
    nonce = b"n" * 16
    frames = _ask_metadata(frontend, nonce)
    assert len(frames) == 7
    assert frames[6] == _expected_proof(b"topsecret", nonce, b"m", b"1", b"3")
    assert b"topsecret" not in b"".join(frames)
    msg = wire.decode_container_message(frames)
    assert isinstance(msg, wire.NewContainer)
    assert wire.check_registration_proof(b"topsecret", nonce, msg)
    assert not wire.check_registration_proof(b"other", nonce, msg)
    assert not wire.check_registration_proof(b"topsecret", b"m" * 16, msg)


def test_container_without_secret_sends_the_original_message(frontend: FakeFrontend, run_container: Any) -> None:
    run_container(Echo())
    frames = _ask_metadata(frontend, b"n" * 16)  # a nonce it does not need is ignored
    assert frames == [b"", U32.pack(0), b"m", b"1", b"3", U32.pack(3)]


def test_frames_round_trip() -> None:
    hb = wire.encode_frontend_heartbeat(wire.HeartbeatType.REQUEST_CONTAINER_METADATA, b"abc")
    assert wire.decode_frontend_message(hb) == wire.FrontendHeartbeat(
        wire.HeartbeatType.REQUEST_CONTAINER_METADATA, b"abc")
    plain = wire.encode_frontend_heartbeat(wire.HeartbeatType.KEEP_ALIVE)
    assert len(plain) == 4 and wire.decode_frontend_message(plain).nonce == b""  # type: ignore[union-attr]
    msg = wire.NewContainer("m", "1", InputType.DOUBLES, proof=b"p" * 32)
    assert wire.decode_container_message(wire.encode_new_container(msg)) == msg
