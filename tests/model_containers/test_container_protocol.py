"""The container's frames, byte for byte, against a raw-struct fake frontend."""

from __future__ import annotations

import struct
import threading
from typing import Any

import numpy as np
import pytest
from tests.model_containers.mc_fake_frontend import (
    BYTES,
    CONTAINER_HEARTBEAT,
    DOUBLES,
    ERROR_PREFIX,
    FLOATS,
    INTS,
    STRINGS,
    U32,
    U64,
    FakeFrontend,
    is_heartbeat,
)

from model_containers.model import ModelContainerBase


class RecordingModel(ModelContainerBase):
    """Answers each input with a digest of it and records what it was given."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def _numeric(self, kind: str, inputs: Any) -> list[str]:
        with self.lock:
            self.batches.append((kind, inputs))
        return [f"{kind}:{float(np.sum(x)):g}" for x in inputs]

    def predict_ints(self, inputs: Any) -> list[str]:
        return self._numeric("ints", inputs)

    def predict_floats(self, inputs: Any) -> list[str]:
        return self._numeric("floats", inputs)

    def predict_doubles(self, inputs: Any) -> list[str]:
        return self._numeric("doubles", inputs)

    def predict_bytes(self, inputs: Any) -> list[str]:
        return self._numeric("bytes", inputs)

    def predict_strings(self, inputs: Any) -> list[str]:
        with self.lock:
            self.batches.append(("strings", inputs))
        return [s.upper() for s in inputs]


def test_heartbeats_have_the_original_layout_and_repeat(frontend: FakeFrontend, run_container: Any) -> None:
    run_container(RecordingModel())
    identity, frames = frontend.recv()
    assert frames == [b"", b"\x02\x00\x00\x00"]
    again, frames = frontend.recv()
    assert (again, frames) == (identity, CONTAINER_HEARTBEAT)


@pytest.mark.parametrize(
    ("alias", "code"),
    [("doubles", b"3"), ("ints", b"1"), ("f", b"2"), ("Bytes", b"0"), ("str", b"4")],
)
def test_metadata_request_gets_exact_new_container_frames(
    frontend: FakeFrontend, run_container: Any, alias: str, code: bytes
) -> None:
    run_container(RecordingModel(), model_name="my-model", model_version="v7", input_type=alias)
    identity, frames = frontend.register()
    assert frames == [b"", b"\x00\x00\x00\x00", b"my-model", b"v7", code, b"\x03\x00\x00\x00"]


def test_every_metadata_request_is_answered_and_keep_alive_is_not(
    frontend: FakeFrontend, run_container: Any
) -> None:
    run_container(RecordingModel())
    identity, first = frontend.register()
    frontend.send_heartbeat(identity, 0)
    frontend.send_heartbeat(identity, 1)  # a later re-ask (liveness probe)
    _, again, skipped = frontend.recv_until(lambda f: not is_heartbeat(f))
    assert again == first
    # The keep-alive sent first produced nothing but heartbeats.
    assert all(is_heartbeat(f) for _, _, f in skipped)


def _ints(*xs: int) -> bytes:
    return struct.pack(f"<{len(xs)}i", *xs)


def _floats(*xs: float) -> bytes:
    return struct.pack(f"<{len(xs)}f", *xs)


def _doubles(*xs: float) -> bytes:
    return struct.pack(f"<{len(xs)}d", *xs)


@pytest.mark.parametrize(
    ("alias", "code", "inputs", "outputs", "dtype", "shape"),
    [
        ("ints", INTS, [_ints(1, 2, 3), _ints(4, 5, -6)], [b"ints:6", b"ints:3"], np.int32, (2, 3)),
        ("floats", FLOATS, [_floats(1.5, 2.5), _floats(0.25, 0.5)], [b"floats:4", b"floats:0.75"], np.float32, (2, 2)),
        ("doubles", DOUBLES, [_doubles(0.1, 0.2, 0.3)], [b"doubles:0.6"], np.float64, (1, 3)),
        ("bytes", BYTES, [b"\x01\x02", b"\xff\x05", b"\x00\x00"], [b"bytes:3", b"bytes:4", b"bytes:0"], np.int8, (3, 2)),
    ],
)
def test_numeric_prediction_round_trip(
    frontend: FakeFrontend,
    run_container: Any,
    alias: str,
    code: int,
    inputs: list[bytes],
    outputs: list[bytes],
    dtype: type,
    shape: tuple[int, int],
) -> None:
    model = RecordingModel()
    run_container(model, input_type=alias)
    identity, _ = frontend.register()
    frontend.predict(identity, 0xDEADBEEF, code, inputs)
    got, frames, _ = frontend.recv_until(lambda f: not is_heartbeat(f))
    n = len(outputs)
    assert got == identity
    assert frames == [
        b"",
        b"\x01\x00\x00\x00",
        b"\xef\xbe\xad\xde",
        U64.pack(8 * (n + 1)),
        struct.pack(f"<{n + 1}Q", n, *(len(o) for o in outputs)),
        *outputs,
    ]
    (kind, batch), = model.batches
    assert kind == alias
    assert isinstance(batch, np.ndarray) and batch.dtype == dtype and batch.shape == shape


def test_strings_arrive_as_str(frontend: FakeFrontend, run_container: Any) -> None:
    model = RecordingModel()
    run_container(model, input_type="strings")
    identity, _ = frontend.register()
    frontend.predict(identity, 7, STRINGS, ["héllo".encode(), b"x", b"a longer one"])
    response = frontend.recv_response()
    assert response.msg_id_raw == U32.pack(7)
    assert response.outputs == ["HÉLLO".encode(), b"X", b"A LONGER ONE"]
    (_, batch), = model.batches
    assert batch == ["héllo", "x", "a longer one"]


def test_ragged_numeric_batch_arrives_as_a_list(frontend: FakeFrontend, run_container: Any) -> None:
    model = RecordingModel()
    run_container(model)
    identity, _ = frontend.register()
    frontend.predict(identity, 1, DOUBLES, [_doubles(1.0), _doubles(2.0, 3.0), _doubles(4.0, 5.0, 6.0)])
    assert frontend.recv_response().outputs == [b"doubles:1", b"doubles:5", b"doubles:15"]
    (_, batch), = model.batches
    assert isinstance(batch, list)
    assert [a.tolist() for a in batch] == [[1.0], [2.0, 3.0], [4.0, 5.0, 6.0]]
    assert all(a.dtype == np.float64 for a in batch)


def test_wrong_request_input_type_answers_errors_and_keeps_serving(
    frontend: FakeFrontend, run_container: Any
) -> None:
    model = RecordingModel()
    run_container(model, input_type="doubles")
    identity, _ = frontend.register()
    frontend.predict(identity, 3, STRINGS, [b"a", b"b"])
    response = frontend.recv_response()
    assert response.msg_id_raw == U32.pack(3)
    assert len(response.outputs) == 2
    for output in response.outputs:
        assert output.startswith(ERROR_PREFIX)
        assert b"strings" in output and b"doubles" in output
    assert model.batches == []
    frontend.predict(identity, 4, DOUBLES, [_doubles(2.5)])
    assert frontend.recv_response().outputs == [b"doubles:2.5"]
