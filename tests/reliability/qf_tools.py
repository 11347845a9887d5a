"""Helpers for the query-frontend reliability tests (rows 5, 7-12, 16, 20).

A :class:`~tests.support.cluster.Cluster` whose query frontend runs with
extra settings (passed as ``CLIPPER_QF_*`` variables, which the frontend
reads at start-up), the frontend process's resources (RSS, fds) and its
Prometheus gauges.
"""

from __future__ import annotations

import re
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from tests.support.cluster import Cluster
from tests.support.frame_container import FrameContainer


@contextmanager
def qf_cluster(redis_port: int, work_dir: Path, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> Iterator[Cluster]:
    """A running cluster whose query frontend has ``settings`` on top of the usual ones."""
    with monkeypatch.context() as m:
        for name, value in settings.items():
            m.setenv(f"CLIPPER_QF_{name.upper()}", str(value))
        cluster = Cluster(work_dir, redis_port)
        try:
            cluster.start()
        except BaseException:
            cluster.stop()
            raise
    try:
        yield cluster
    finally:
        cluster.stop()


def qf_process(cluster: Cluster) -> psutil.Process:
    assert cluster.qf is not None
    return psutil.Process(cluster.qf.pid)


def rss_mib(proc: psutil.Process) -> float:
    return proc.memory_info().rss / 2**20


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def gauges(cluster: Cluster) -> dict[str, float]:
    """The frontend's Prometheus samples, keyed ``name`` or ``name{labels}``."""
    text = requests.get(f"{cluster.query_url}/metrics/prometheus", timeout=5).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def queue_label(model: str = "m", version: str = "1") -> str:
    return f'{{model="{model}",version="{version}"}}'


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return 0.0
    return s[min(len(s) - 1, max(0, int(q * len(s) + 0.999999) - 1))]


class Sampler:
    """Samples a callable every ``interval_s`` in a thread (resources during load)."""

    def __init__(self, sample: Any, interval_s: float = 0.1) -> None:
        self.samples: list[Any] = []
        self._sample = sample
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self._sample())
            except (requests.RequestException, psutil.Error):
                pass
            self._stop.wait(self._interval_s)


class CpuAccount:
    """CPU seconds each process on the machine used during a block: names what else was
    running when a latency bound is missed on a shared 2-core machine."""

    def __init__(self) -> None:
        self._start: dict[int, tuple[str, float]] = {}
        self.used: list[tuple[float, int, str]] = []
        self.seconds = 0.0

    @staticmethod
    def _snapshot() -> dict[int, tuple[str, float]]:
        out: dict[int, tuple[str, float]] = {}
        for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
            times = proc.info["cpu_times"]
            if times is not None:
                cmd = " ".join(proc.info["cmdline"] or [proc.info["name"] or "?"])
                out[proc.pid] = (cmd[:120], times.user + times.system)
        return out

    def __enter__(self) -> "CpuAccount":
        self._start = self._snapshot()
        self._t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self._t0
        end = self._snapshot()
        self.used = sorted(((cpu - self._start.get(pid, ("", 0.0))[1], pid, cmd)
                            for pid, (cmd, cpu) in end.items()), reverse=True)

    def top(self, n: int = 6) -> str:
        """The ``n`` busiest processes, as CPU seconds over the block's wall seconds."""
        return "; ".join(f"{cpu:.1f}s pid {pid} {cmd}" for cpu, pid, cmd in self.used[:n] if cpu > 0.05) + \
            f" (over {self.seconds:.1f}s wall, 2 cores)"


class ConcurrencyProbe(FrameContainer):
    """A container that answers each batch ``delay_s`` later without blocking
    its socket, and records how many batches it held at once.

    FrameContainer handles one message at a time (a second batch would wait
    unseen in the socket); this one keeps reading while it "computes", so a
    frontend that sent a second batch before the first was answered shows up
    as ``max_outstanding > 1``.
    """

    def __init__(self, port: int, model_name: str, model_version: str, delay_s: float = 0.005) -> None:
        super().__init__(port, model_name, model_version, delay_s=delay_s)
        self.outstanding = 0
        self.max_outstanding = 0
        self.inputs_received = 0
        self._due: list[tuple[float, list[bytes]]] = []

    def _run(self) -> None:
        import zmq

        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"tcp://127.0.0.1:{self.port}")
        heartbeat = [b"", struct.pack("<I", 2)]
        sock.send_multipart(heartbeat)
        last_hb = time.monotonic()
        try:
            while not self._stop.is_set():
                if sock.poll(1):
                    frames = sock.recv_multipart()
                    (msg_type,) = struct.unpack("<I", frames[2])
                    if msg_type == 1:
                        self._accept(frames)
                    else:
                        self._handle(sock, frames)
                now = time.monotonic()
                while self._due and self._due[0][0] <= now:
                    _, reply = self._due.pop(0)
                    self.outstanding -= 1
                    sock.send_multipart(reply)
                if now - last_hb > self.heartbeat_s:
                    sock.send_multipart(heartbeat)
                    last_hb = now
        finally:
            sock.close(0)
            ctx.term()

    def _accept(self, frames: list[bytes]) -> None:
        msg_id_raw = frames[3]
        inputs = frames[7:]
        self.inputs_received += len(inputs)
        self.batches.append(inputs)
        self.outstanding += 1
        self.max_outstanding = max(self.max_outstanding, self.outstanding)
        outputs = [b"1"] * len(inputs)
        header = struct.pack(f"<{len(outputs) + 1}Q", len(outputs), *[len(o) for o in outputs])
        reply = [b"", struct.pack("<I", 1), msg_id_raw, struct.pack("<Q", len(header)), header, *outputs]
        self._due.append((time.monotonic() + self.delay_s, reply))
