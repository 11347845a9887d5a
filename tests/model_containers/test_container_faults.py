"""Faults: failing models, slow models, frontend restarts, silence, config errors."""

from __future__ import annotations

import logging
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.model_containers.mc_fake_frontend import DOUBLES, ERROR_PREFIX, U32, FakeFrontend, is_heartbeat

from model_containers.model import ModelContainerBase
from model_containers.rpc import RPCService


def _doubles(*xs: float) -> bytes:
    return struct.pack(f"<{len(xs)}d", *xs)


class FlakyModel(ModelContainerBase):
    """Raises when a batch contains a negative number; else echoes the first element."""

    def predict_doubles(self, inputs: Any) -> list[str]:
        if any(x[0] < 0 for x in inputs):
            raise ValueError("negative input")
        return [str(x[0]) for x in inputs]


class BadOutputModel(ModelContainerBase):
    def __init__(self, make: Any) -> None:
        self.make = make

    def predict_doubles(self, inputs: Any) -> list[str]:
        return self.make(inputs)


class SlowModel(ModelContainerBase):
    """Sleeps ``delay`` per batch; records how many batches ran at once."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.running = 0
        self.max_running = 0
        self.order: list[float] = []
        self.lock = threading.Lock()

    def predict_doubles(self, inputs: Any) -> list[str]:
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        time.sleep(self.delay)
        with self.lock:
            self.running -= 1
            self.order.append(float(inputs[0][0]))
        return ["done"] * len(inputs)


def test_raising_model_answers_errors_and_keeps_serving(
    frontend: FakeFrontend, run_container: Any, caplog: pytest.LogCaptureFixture
) -> None:
    run_container(FlakyModel())
    identity, _ = frontend.register()
    with caplog.at_level(logging.ERROR, logger="clipper.container"):
        frontend.predict(identity, 1, DOUBLES, [_doubles(1.0), _doubles(-1.0)])
        response = frontend.recv_response()
    assert response.msg_id_raw == U32.pack(1)
    assert response.outputs == [ERROR_PREFIX + b"ValueError: negative input"] * 2
    assert "negative input" in caplog.text
    frontend.predict(identity, 2, DOUBLES, [_doubles(2.0), _doubles(3.0)])
    response = frontend.recv_response()
    assert (response.msg_id_raw, response.outputs) == (U32.pack(2), [b"2.0", b"3.0"])


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda inputs: ["only one"], b"Expected model to return 3 outputs, found 1 outputs"),
        (lambda inputs: ("a", "b", "c"), b"Model did not return a list"),
        (lambda inputs: [1.0, 2.0, 3.0], b"Model must return a list of strs. Found float"),
    ],
    ids=["wrong-count", "not-a-list", "not-str"],
)
def test_bad_outputs_become_error_outputs(
    frontend: FakeFrontend, run_container: Any, make: Any, reason: bytes
) -> None:
    run_container(BadOutputModel(make))
    identity, _ = frontend.register()
    frontend.predict(identity, 5, DOUBLES, [_doubles(1.0)] * 3)
    outputs = frontend.recv_response().outputs
    assert len(outputs) == 3
    for output in outputs:
        assert output.startswith(ERROR_PREFIX + b"PredictionError: " + reason)
    # Still alive: answers metadata requests.
    frontend.send_heartbeat(identity, 1)
    frontend.recv_until(lambda f: f[1:2] == [U32.pack(0)])


def test_heartbeats_continue_while_the_model_is_busy(frontend: FakeFrontend, run_container: Any) -> None:
    run_container(SlowModel(1.5), heartbeat_interval_ms=200)
    identity, _ = frontend.register()
    sent = time.monotonic()
    frontend.predict(identity, 9, DOUBLES, [_doubles(1.0)])
    _, frames, skipped = frontend.recv_until(lambda f: not is_heartbeat(f), timeout=15)
    assert frames[2] == U32.pack(9)
    beats = [t for t, ident, f in skipped if ident == identity and is_heartbeat(f)]
    # 1.5 s busy at 200 ms: about 7; allow for a loaded machine.
    assert len(beats) >= 4, f"only {len(beats)} heartbeats in {time.monotonic() - sent:.2f} s"


def test_a_second_batch_is_queued_and_batches_run_one_at_a_time(
    frontend: FakeFrontend, run_container: Any
) -> None:
    model = SlowModel(0.3)
    run_container(model)
    identity, _ = frontend.register()
    frontend.predict(identity, 1, DOUBLES, [_doubles(1.0)])
    frontend.predict(identity, 2, DOUBLES, [_doubles(2.0)])
    first = frontend.recv_response()
    second = frontend.recv_response()
    assert [first.msg_id_raw, second.msg_id_raw] == [U32.pack(1), U32.pack(2)]
    assert second.outputs == [b"done"]
    assert model.order == [1.0, 2.0]
    assert model.max_running == 1


def test_frontend_restart_on_the_same_port_leads_to_reregistration(
    frontend: FakeFrontend, run_container: Any
) -> None:
    run_container(FlakyModel(), model_name="re", model_version="2")
    old_identity, _ = frontend.register()
    frontend.restart()
    identity, frames = frontend.register(timeout=15)
    assert frames == [b"", b"\x00\x00\x00\x00", b"re", b"2", b"3", b"\x03\x00\x00\x00"]
    frontend.predict(identity, 11, DOUBLES, [_doubles(4.0)])
    response = frontend.recv_response()
    assert (response.identity, response.outputs) == (identity, [b"4.0"])


def test_silent_frontend_leads_to_a_new_session(frontend: FakeFrontend, run_container: Any) -> None:
    run_container(FlakyModel(), activity_timeout_ms=600)
    first, _ = frontend.register()
    # From now on the frontend says nothing: after 600 ms the container must
    # drop its socket and come back with a new identity.
    deadline = time.monotonic() + 10
    while True:
        identity = frontend.wait_heartbeat(timeout=max(0.1, deadline - time.monotonic()))
        if identity != first:
            break
    second, _ = frontend.register()
    assert second == identity
    frontend.predict(second, 1, DOUBLES, [_doubles(6.0)])
    assert frontend.recv_response().outputs == [b"6.0"]


def test_a_container_that_is_answered_keeps_its_session(frontend: FakeFrontend, run_container: Any) -> None:
    run_container(FlakyModel(), activity_timeout_ms=600)
    identity, _ = frontend.register()
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        ident = frontend.wait_heartbeat()
        assert ident == identity
        frontend.send_heartbeat(ident, 0)


def test_stop_ends_the_loop_and_removes_the_ready_file(frontend: FakeFrontend, tmp_path: Path) -> None:
    ready = tmp_path / "ready.check"
    service = RPCService(collect_metrics=False, read_config=False)
    thread = threading.Thread(
        target=service.start,
        args=(FlakyModel(),),
        kwargs={"model_name": "m", "model_version": "1", "port": frontend.port, "metrics_port": 0,
                "ready_file": str(ready)},
    )
    thread.start()
    try:
        assert service.serving.wait(10)
        assert ready.read_text() == "READY"
        frontend.wait_heartbeat()
    finally:
        service.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert not ready.exists()


def test_ready_file_that_cannot_be_written_is_not_fatal(frontend: FakeFrontend, run_container: Any, tmp_path: Path) -> None:
    run_container(FlakyModel(), ready_file=str(tmp_path / "missing-dir" / "ready"))
    frontend.register()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CLIPPER_MODEL_VERSION": "1"}, "CLIPPER_MODEL_NAME environment variable must be set"),
        ({"CLIPPER_MODEL_NAME": "m"}, "CLIPPER_MODEL_VERSION environment variable must be set"),
        ({"CLIPPER_MODEL_NAME": "m", "CLIPPER_MODEL_VERSION": "1", "CLIPPER_PORT": "x"},
         "CLIPPER_PORT: expected an integer, got 'x'"),
        ({"CLIPPER_MODEL_NAME": "m", "CLIPPER_MODEL_VERSION": "1", "CLIPPER_INPUT_TYPE": "tensor"},
         "CLIPPER_INPUT_TYPE: tensor is not a valid input string"),
        ({"CLIPPER_MODEL_NAME": "m", "CLIPPER_MODEL_VERSION": "1", "CLIPPER_METRICS_PORT": "70000"},
         "CLIPPER_METRICS_PORT: must be between 0 and 65535, got 70000"),
    ],
)
def test_bad_environment_exits_1_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, env: dict[str, str], message: str
) -> None:
    for var in ("CLIPPER_MODEL_NAME", "CLIPPER_MODEL_VERSION", "CLIPPER_PORT", "CLIPPER_INPUT_TYPE",
                "CLIPPER_METRICS_PORT"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    with caplog.at_level(logging.ERROR, logger="clipper.container"), pytest.raises(SystemExit) as exc:
        RPCService(collect_metrics=False).start(FlakyModel())
    assert exc.value.code == 1
    assert message in caplog.text


def test_long_failure_reasons_are_truncated(frontend: FakeFrontend, run_container: Any) -> None:
    def explode(inputs: Any) -> list[str]:
        raise RuntimeError("x" * 100_000)

    run_container(BadOutputModel(explode))
    identity, _ = frontend.register()
    frontend.predict(identity, 1, DOUBLES, [_doubles(1.0)] * 2)
    outputs = frontend.recv_response().outputs
    assert len(outputs) == 2
    for output in outputs:
        assert output.startswith(ERROR_PREFIX + b"RuntimeError: xxx")
        assert output.endswith(b"...") and len(output) <= len(ERROR_PREFIX) + 1000
