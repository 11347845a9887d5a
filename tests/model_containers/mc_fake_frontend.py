"""A fake query frontend written straight against the RPC v3 frames.

Deliberately built with raw ``struct`` and no ``clipper_protocol`` codec: it
pins the wire format byte for byte, so a codec change that breaks
compatibility with the original's frontend fails these tests.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import zmq

U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")

CONTAINER_HEARTBEAT = [b"", b"\x02\x00\x00\x00"]
ERROR_PREFIX = b"\x00clipper-error\x00"

# RPC data-type codes
BYTES, INTS, FLOATS, DOUBLES, STRINGS = 0, 1, 2, 3, 4


@dataclass
class Response:
    """A prediction response, checked frame by frame while parsing."""

    identity: bytes
    msg_id_raw: bytes
    outputs: list[bytes]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_heartbeat(frames: Sequence[bytes]) -> bool:
    return list(frames) == CONTAINER_HEARTBEAT


class FakeFrontend:
    """A ZeroMQ ROUTER on 127.0.0.1, driven step by step by a test."""

    def __init__(self, port: int = 0) -> None:
        self.ctx = zmq.Context()
        self.port = port
        self.sock: zmq.Socket | None = None
        self.bind()

    def bind(self) -> None:
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        if self.port == 0:
            self.port = sock.bind_to_random_port("tcp://127.0.0.1")
        else:
            # The previous socket's port is released asynchronously.
            deadline = time.monotonic() + 10
            while True:
                try:
                    sock.bind(f"tcp://127.0.0.1:{self.port}")
                    break
                except zmq.ZMQError:
                    if time.monotonic() > deadline:
                        sock.close()
                        raise
                    time.sleep(0.05)
        self.sock = sock

    def restart(self) -> None:
        """Close the ROUTER and bind a fresh one on the same port (a frontend restart)."""
        assert self.sock is not None
        self.sock.close()
        self.sock = None
        self.bind()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.ctx.term()

    # -- raw frames --------------------------------------------------------

    def recv(self, timeout: float = 10.0) -> tuple[bytes, list[bytes]]:
        """Next message as (identity, frames after the identity)."""
        assert self.sock is not None
        if not self.sock.poll(int(timeout * 1000)):
            raise AssertionError(f"no message from the container within {timeout} s")
        identity, *frames = self.sock.recv_multipart()
        return identity, frames

    def recv_until(
        self, match: Callable[[list[bytes]], bool], timeout: float = 10.0
    ) -> tuple[bytes, list[bytes], list[tuple[float, bytes, list[bytes]]]]:
        """First message matching ``match``, plus (time, identity, frames) of those skipped."""
        deadline = time.monotonic() + timeout
        skipped: list[tuple[float, bytes, list[bytes]]] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching message within {timeout} s; got {skipped[-5:]}")
            identity, frames = self.recv(left)
            if match(frames):
                return identity, frames, skipped
            skipped.append((time.monotonic(), identity, frames))

    def send(self, identity: bytes, frames: Sequence[bytes]) -> None:
        assert self.sock is not None
        self.sock.send_multipart([identity, *frames])

    # -- messages ----------------------------------------------------------

    def send_heartbeat(self, identity: bytes, heartbeat_type: int) -> None:
        self.send(identity, [b"", U32.pack(3), U32.pack(2), U32.pack(heartbeat_type)])

    def wait_heartbeat(self, timeout: float = 10.0) -> bytes:
        identity, _, _ = self.recv_until(is_heartbeat, timeout)
        return identity

    def register(self, timeout: float = 10.0) -> tuple[bytes, list[bytes]]:
        """Answer a heartbeat with type 1; return (identity, new-container frames)."""
        identity = self.wait_heartbeat(timeout)
        self.send_heartbeat(identity, 1)
        got, frames, _ = self.recv_until(lambda f: f[1:2] == [U32.pack(0)], timeout)
        assert got == identity
        return identity, frames

    def predict(self, identity: bytes, msg_id: int, data_type: int, inputs: Sequence[bytes]) -> None:
        n = len(inputs)
        header = struct.pack(f"<QQ{n}Q", data_type, n, *(len(x) for x in inputs))
        self.send(
            identity,
            [b"", U32.pack(3), U32.pack(1), U32.pack(msg_id), U32.pack(0), U64.pack(8 * (2 + n)), header, *inputs],
        )

    def recv_response(self, timeout: float = 10.0) -> Response:
        """Next prediction response (heartbeats skipped), its layout asserted."""
        identity, frames, _ = self.recv_until(lambda f: not is_heartbeat(f), timeout)
        return parse_response(identity, frames)


def parse_response(identity: bytes, frames: list[bytes]) -> Response:
    assert frames[0] == b"", "delimiter frame"
    assert frames[1] == U32.pack(1), f"message type frame {frames[1]!r}"
    assert len(frames[2]) == 4, "message id is 4 raw bytes"
    (n,) = U64.unpack(frames[4][:8])
    assert frames[3] == U64.pack(8 * (n + 1)), "u64 output-header length 8*(N+1)"
    assert len(frames[4]) == 8 * (n + 1)
    lengths = struct.unpack(f"<{n}Q", frames[4][8:])
    outputs = frames[5:]
    assert len(outputs) == n
    assert [len(o) for o in outputs] == list(lengths)
    return Response(identity, frames[2], outputs)
