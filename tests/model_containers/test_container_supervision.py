"""The container's loops under supervision: crashes, restarts, readiness, ordered shutdown."""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from tests.model_containers.mc_fake_frontend import DOUBLES, ERROR_PREFIX, U32, FakeFrontend

from clipper_service.supervisor import RestartPolicy
from model_containers.io_loop import ContainerIOLoop
from model_containers.rpc import IO_LOOP, MODEL_WORKER, RPCService
from model_containers.model import ModelContainerBase
from model_containers.worker import BatchWorker

SLOW_RESTART = RestartPolicy(initial_backoff_s=0.6, max_backoff_s=0.6)
"""Long enough a backoff to see the container not ready while a loop is down."""


def _doubles(*xs: float) -> bytes:
    return struct.pack(f"<{len(xs)}d", *xs)


class Echo(ModelContainerBase):
    def predict_doubles(self, inputs: Any) -> list[str]:
        return [str(x[0]) for x in inputs]


class Gated(ModelContainerBase):
    """Blocks each batch until ``release`` is set; ``started`` tells a batch is in hand."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def predict_doubles(self, inputs: Any) -> list[str]:
        self.started.set()
        assert self.release.wait(10)
        return [f"done {x[0]}" for x in inputs]


def _crash_once(monkeypatch: pytest.MonkeyPatch, cls: type, name: str, message: str) -> list[int]:
    """Make ``cls.name`` raise RuntimeError(message) on its first call only; returns the call count."""
    original = getattr(cls, name)
    calls = [0]

    def patched(self: Any, *args: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError(message)
        return original(self, *args)

    monkeypatch.setattr(cls, name, patched)
    return calls


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _traceback_of(caplog: pytest.LogCaptureFixture, message: str) -> str:
    for record in caplog.records:
        if record.exc_info and message in str(record.exc_info[1]):
            return caplog.text
    raise AssertionError(f"no log record with the traceback of {message!r}:\n{caplog.text}")


def test_a_crashed_io_loop_is_logged_restarted_and_the_container_keeps_serving(
    frontend: FakeFrontend, run_container: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = _crash_once(monkeypatch, ContainerIOLoop, "_dispatch", "injected I/O loop crash")
    with caplog.at_level(logging.INFO, logger="clipper.container"):
        service: RPCService = run_container(Echo(), restart_policy=SLOW_RESTART)
        assert service.settings is not None
        ready_file = service.settings.ready_file
        assert os.path.exists(ready_file) and service.readiness() == (True, None)

        first, _ = frontend.register()
        frontend.predict(first, 1, DOUBLES, [_doubles(1.0)])
        # Down: the crash is logged with its traceback, the container says it is not ready.
        _wait(lambda: not service.readiness()[0])
        ready, reason = service.readiness()
        assert reason is not None and IO_LOOP in reason and "injected I/O loop crash" in reason
        _wait(lambda: not os.path.exists(ready_file))
        text = _traceback_of(caplog, "injected I/O loop crash")
        assert "Traceback (most recent call last)" in text and "in patched" in text

        # Back: a new session (new identity) registers and is served.
        second, frames = frontend.register(timeout=15)
        assert second != first
        assert frames == [b"", b"\x00\x00\x00\x00", b"m", b"1", b"3", b"\x03\x00\x00\x00"]
        frontend.predict(second, 2, DOUBLES, [_doubles(2.0), _doubles(3.0)])
        response = frontend.recv_response()
        assert (response.msg_id_raw, response.outputs) == (U32.pack(2), [b"2.0", b"3.0"])
        _wait(lambda: os.path.exists(ready_file))
    assert service.readiness() == (True, None)
    assert service.supervisor is not None and service.supervisor.crash_count(IO_LOOP) == 1
    assert calls[0] == 2
    assert "restarted" in caplog.text and "every loop runs again; ready" in caplog.text


def test_a_crashed_worker_answers_its_batch_with_an_error_and_comes_back(
    frontend: FakeFrontend, run_container: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _crash_once(monkeypatch, BatchWorker, "_handle", "injected worker crash")
    with caplog.at_level(logging.ERROR, logger="clipper.container"):
        service: RPCService = run_container(Echo())
        identity, _ = frontend.register()
        frontend.predict(identity, 1, DOUBLES, [_doubles(1.0), _doubles(2.0)])
        # The batch in hand is answered (with error outputs) once the worker is back...
        response = frontend.recv_response()
        assert response.msg_id_raw == U32.pack(1)
        assert response.outputs == [
            ERROR_PREFIX + b"model worker crashed: RuntimeError: injected worker crash"
        ] * 2
        _traceback_of(caplog, "injected worker crash")
        # ... and it serves the next one on the same session.
        frontend.predict(identity, 2, DOUBLES, [_doubles(5.0)])
        response = frontend.recv_response()
        assert (response.identity, response.outputs) == (identity, [b"5.0"])
    assert service.supervisor is not None and service.supervisor.crash_count(MODEL_WORKER) == 1
    _wait(lambda: service.readiness() == (True, None))


def test_stop_finishes_the_batch_in_hand_and_refuses_new_ones(frontend: FakeFrontend, run_container: Any) -> None:
    model = Gated()
    service: RPCService = run_container(model)
    assert service.settings is not None
    identity, _ = frontend.register()
    frontend.predict(identity, 1, DOUBLES, [_doubles(1.0)])
    assert model.started.wait(10)

    service.stop()
    _wait(lambda: not os.path.exists(service.settings.ready_file))  # type: ignore[union-attr]
    frontend.predict(identity, 2, DOUBLES, [_doubles(2.0), _doubles(3.0)])
    refused = frontend.recv_response()
    assert refused.msg_id_raw == U32.pack(2)
    assert refused.outputs == [ERROR_PREFIX + b"container shutting down"] * 2

    model.release.set()
    answered = frontend.recv_response()
    assert (answered.msg_id_raw, answered.outputs) == (U32.pack(1), [b"done 1.0"])
    _wait(lambda: service.supervisor is not None and not service.supervisor.running(IO_LOOP))
