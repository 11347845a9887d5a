"""Compressed request bodies are refused with a 400, never decompressed.

aiohttp used to decompress a body sent with ``Content-Encoding`` inside its
parser; a malformed gzip or deflate body then raised there, the frontend
answered 500 and logged a traceback (seen by the raw-HTTP fuzz test). The
frontend does not accept compressed bodies at all: it answers 400 before
reading the body, without logging an error.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import zlib

import pytest

from tests.query_frontend.conftest import RunningFrontend

BODY = b'{"input": [1.0]}'
CASES = [
    (b"gzip", BODY),  # not gzip at all
    (b"gzip", gzip.compress(BODY)[:-6]),  # truncated
    (b"deflate", BODY),
    (b"deflate", zlib.compress(BODY)),  # well-formed, still not accepted
    (b"br", b"\x00\x01garbage"),
    (b"zstd", b"\x28\xb5\x2f\xfdgarbage"),
    (b"gzip, deflate", BODY),
    (b"x-unknown", BODY),
]


def _exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        out = b""
        while b"\r\n\r\n" not in out or not out.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
        return out


@pytest.mark.parametrize(("encoding", "body"), CASES)
async def test_compressed_bodies_get_a_400_without_a_traceback(
    qf: RunningFrontend, cluster_state, caplog: pytest.LogCaptureFixture, encoding: bytes, body: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    cluster_state.add_app("app", slo_micros=1_000_000)
    await qf.wait_app("app")
    request = (b"POST /app/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: "
               + encoding + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    out = await asyncio.to_thread(_exchange, qf.query_port, request)
    head, _, text = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), out[:300]
    assert b"application/json" in head and b"Content-Encoding" in text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text
    # The frontend still answers.
    status, _ = await qf.predict("app", {"input": [1.0]})
    assert status == 200
