"""Row 9 of reliability-tests.md: body and header limits.

Against a frontend with ``max_body_bytes`` = LIMITS_MAX_BODY_BYTES:
1) a Content-Length of limit + 1 gets 413 before any body byte is sent;
2) a chunked body growing past the limit gets 413 while the client is still
   sending, with the frontend's RSS growing less than twice the limit;
3) 200 header lines get 431 (the ``max_headers`` setting);
4) JSON nested 10 000 levels deep and a 10 M-element array (within the byte
   limit) get 400 with a clear message and no recursion error logged.
The frontend serves normally afterwards.
"""

from __future__ import annotations

import json
import select
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.load import params as p
from tests.reliability.qf_tools import Sampler, qf_cluster, qf_process, rss_mib
from tests.support.cluster import Cluster

pytestmark = [pytest.mark.fault]

LIMIT = p.LIMITS_MAX_BODY_BYTES


@pytest.fixture
def limited(redis_instance: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with qf_cluster(redis_instance.port, tmp_path, monkeypatch, max_body_bytes=LIMIT) as cluster:
        cluster.setup_app()
        cluster.start_replica("echo", gated=False)
        cluster.wait_connected(1)
        yield cluster


def _head(path: str, port: int, extra: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"{extra}\r\n").encode()


def _read_response(sock: socket.socket, timeout_s: float = 5.0) -> tuple[int, dict]:
    sock.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(head.split(b" ", 2)[1]), json.loads(body)


def _alive(cluster: Cluster) -> None:
    assert requests.get(f"{cluster.query_url}/healthz", timeout=5).status_code == 200
    assert cluster.predict({"input": [1.0]})["default"] is False


def test_content_length_over_the_limit_is_refused_before_the_body(limited: Cluster) -> None:
    with socket.create_connection(("127.0.0.1", limited.query_port)) as sock:
        started = time.monotonic()
        sock.sendall(_head("/a/predict", limited.query_port, f"Content-Length: {LIMIT + 1}\r\n"))
        status, body = _read_response(sock)
        took = time.monotonic() - started
    assert status == 413 and body["error"] == "Request too large", body
    assert str(LIMIT) in body["cause"] and "max_body_bytes" in body["cause"]
    _alive(limited)
    print(f"\nFIGURES row=9 case=content_length status={status} answered_ms={took * 1000:.1f} body_bytes_sent=0")


def test_chunked_body_over_the_limit_is_cut_off(limited: Cluster) -> None:
    proc = qf_process(limited)
    rss_before = rss_mib(proc)
    chunk = b"1" * (1 << 20)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    with Sampler(lambda: rss_mib(proc), 0.005) as sampler, \
            socket.create_connection(("127.0.0.1", limited.query_port)) as sock:
        sock.sendall(_head("/a/predict", limited.query_port, "Transfer-Encoding: chunked\r\n")
                     + b'b\r\n{"input": "\r\n')
        sock.settimeout(5)
        try:
            # Send until the answer is readable (or three times the limit).
            while sent < 3 * LIMIT and not select.select([sock], [], [], 0)[0]:
                sock.sendall(frame)
                sent += len(chunk)
        except OSError:
            pass  # the frontend closed the connection: its answer is in our buffer
        status, body = _read_response(sock)
    assert status == 413 and body["error"] == "Request too large", body
    assert sent < 2 * LIMIT, f"the 413 came after {sent / 2**20:.0f} MiB were sent"
    growth = max(sampler.samples, default=rss_before) - rss_before
    assert growth < 2 * LIMIT / 2**20, f"RSS grew {growth:.1f} MiB for a {LIMIT / 2**20:.0f} MiB limit"
    _alive(limited)
    print(f"\nFIGURES row=9 case=chunked status={status} sent_mib={sent / 2**20:.0f} "
          f"limit_mib={LIMIT / 2**20:.0f} rss_growth_mib={growth:.1f}")


def test_too_many_headers_get_431(limited: Cluster) -> None:
    headers = "".join(f"X-Filler-{i}: {i}\r\n" for i in range(p.LIMITS_HEADER_COUNT))
    with socket.create_connection(("127.0.0.1", limited.query_port)) as sock:
        sock.sendall(_head("/a/predict", limited.query_port, headers + "Content-Length: 2\r\n") + b"{}")
        status, body = _read_response(sock)
    assert status == 431 and "max_headers" in body["cause"], body
    _alive(limited)
    print(f"\nFIGURES row=9 case=headers count={p.LIMITS_HEADER_COUNT} status={status}")


@pytest.mark.parametrize("case", ["nested", "huge_array"])
def test_pathological_json_gets_400(limited: Cluster, case: str) -> None:
    if case == "nested":
        body = b'{"input": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    else:
        body = b'{"input": [' + b"0," * (10_000_000 - 1) + b"0]}"
    assert len(body) <= LIMIT
    started = time.monotonic()
    r = requests.post(limited.predict_url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
    took = time.monotonic() - started
    assert r.status_code == 400, r.text
    doc = r.json()
    assert set(doc) == {"error", "cause"}
    if case == "nested":
        assert "Error parsing JSON" in doc["cause"] and "depth" in doc["cause"]
    else:
        assert "10000000 elements" in doc["cause"] and "max_input_elements" in doc["cause"]
    _alive(limited)
    log = limited.qf_log.read_text(errors="replace")
    assert "RecursionError" not in log and "Traceback" not in log
    print(f"\nFIGURES row=9 case={case} status=400 answered_ms={took * 1000:.0f} body_mib={len(body) / 2**20:.1f}")
