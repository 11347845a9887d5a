"""A model container written straight against Clipper's RPC frames.

It uses raw ``struct`` packing, not ``clipper_protocol``, so tests built on it
pin the wire format byte for byte. Its behaviour is chosen per test: a
function from the batch (a list of raw input bytes) to a list of outputs, or
``None`` to send no answer at all (a hung model).

With ``secret`` it answers a frontend's nonce the way the registration-secret
extension specifies, computing the proof here from the written spec:
HMAC-SHA256(secret, "clipper-rpc-register-v1" NUL nonce NUL name NUL version
NUL input-type code), appended as the new-container message's last frame.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import threading
import time
from typing import Callable

import zmq

Behaviour = Callable[[list[bytes]], "list[bytes] | None"]


def sum_doubles(inputs: list[bytes]) -> list[bytes]:
    out = []
    for raw in inputs:
        values = struct.unpack(f"<{len(raw) // 8}d", raw)
        out.append(repr(sum(values)).encode())
    return out


class FrameContainer:
    """A DEALER in a thread: heartbeats, announces itself, answers batches."""

    def __init__(
        self,
        port: int,
        model_name: str,
        model_version: str,
        input_type_code: int = 3,
        behaviour: Behaviour = sum_doubles,
        delay_s: float = 0.0,
        heartbeat_s: float = 0.2,
        secret: bytes | None = None,
    ) -> None:
        self.port = port
        self.model_name = model_name
        self.model_version = model_version
        self.input_type_code = input_type_code
        self.behaviour = behaviour
        self.delay_s = delay_s
        self.heartbeat_s = heartbeat_s
        self.secret = secret
        self.announcements = 0
        self.batches: list[list[bytes]] = []
        self.received_frames: list[list[bytes]] = []
        self.registered = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "FrameContainer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"tcp://127.0.0.1:{self.port}")
        sock.send_multipart([b"", struct.pack("<I", 2)])
        last_hb = time.monotonic()
        try:
            while not self._stop.is_set():
                if sock.poll(50):
                    self._handle(sock, sock.recv_multipart())
                if time.monotonic() - last_hb > self.heartbeat_s:
                    sock.send_multipart([b"", struct.pack("<I", 2)])
                    last_hb = time.monotonic()
        finally:
            sock.close(0)
            ctx.term()

    def _handle(self, sock: zmq.Socket, frames: list[bytes]) -> None:
        self.received_frames.append(frames)
        assert frames[0] == b""
        (rpc_version,) = struct.unpack("<I", frames[1])
        assert rpc_version == 3
        (msg_type,) = struct.unpack("<I", frames[2])
        if msg_type == 2:  # heartbeat
            (hb_type,) = struct.unpack("<I", frames[3])
            if hb_type == 1:
                announcement = [
                    b"",
                    struct.pack("<I", 0),
                    self.model_name.encode(),
                    self.model_version.encode(),
                    str(self.input_type_code).encode(),
                    struct.pack("<I", 3),
                ]
                if self.secret is not None:
                    nonce = frames[4] if len(frames) > 4 else b""
                    message = b"\0".join([b"clipper-rpc-register-v1", nonce, *announcement[2:5]])
                    announcement.append(hmac.new(self.secret, message, hashlib.sha256).digest())
                sock.send_multipart(announcement)
                self.announcements += 1
                self.registered.set()
            return
        assert msg_type == 1
        msg_id_raw = frames[3]
        (request_type,) = struct.unpack("<I", frames[4])
        assert request_type == 0
        (header_len,) = struct.unpack("<Q", frames[5])
        header = struct.unpack(f"<{header_len // 8}Q", frames[6])
        data_type, n = header[0], header[1]
        assert data_type == self.input_type_code
        sizes = header[2:]
        inputs = frames[7:]
        assert len(inputs) == n == len(sizes)
        assert [len(x) for x in inputs] == list(sizes)
        self.batches.append(inputs)
        if self.delay_s:
            time.sleep(self.delay_s)
        outputs = self.behaviour(inputs)
        if outputs is None:
            return
        out_header = struct.pack(f"<{len(outputs) + 1}Q", len(outputs), *[len(o) for o in outputs])
        sock.send_multipart([
            b"",
            struct.pack("<I", 1),
            msg_id_raw,
            struct.pack("<Q", len(out_header)),
            out_header,
            *outputs,
        ])
