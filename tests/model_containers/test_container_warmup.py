"""The warm-up batch: a replica runs its model once on the deploy's inputs before it connects."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
from tests.model_containers.mc_fake_frontend import FakeFrontend

from clipper_protocol.input_types import InputType
from clipper_protocol.warmup import (
    MAX_WARMUP_INPUTS,
    WARMUP_INPUTS_FILENAME,
    InvalidWarmupInputs,
    parse_warmup_file,
    warmup_inputs,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ the file format


def test_a_batch_round_trips_through_the_file() -> None:
    batch = warmup_inputs("doubles", [[1.0, 2.5], [0, 3]])
    again = parse_warmup_file(batch.to_json())
    assert again.input_type is InputType.DOUBLES
    assert again.inputs == ([1.0, 2.5], [0, 3])
    assert len(again.packed()) == 2


def test_bytes_inputs_are_base64_as_in_a_query() -> None:
    encoded = base64.b64encode(b"\x01\x02\x03").decode()
    assert warmup_inputs("bytes", [encoded]).packed() == [b"\x01\x02\x03"]


@pytest.mark.parametrize(("input_type", "inputs", "message"), [
    ("doubles", [[1.0], ["x"]], r"warmup_inputs\[1\] is not a valid doubles input"),
    ("strings", [3], r"warmup_inputs\[0\] is not a valid strings input"),
    ("doubles", "[1.0]", "must be a list of inputs, not str"),
    ("tensors", [[1.0]], "tensors is not a valid input string"),
    ("doubles", [], "warmup_inputs is empty"),
    ("doubles", [[0.0]] * (MAX_WARMUP_INPUTS + 1), f"the limit is {MAX_WARMUP_INPUTS}"),
])  # fmt: skip
def test_bad_inputs_are_refused_naming_the_problem(input_type: str, inputs: Any, message: str) -> None:
    with pytest.raises(InvalidWarmupInputs, match=message):
        warmup_inputs(input_type, inputs)


@pytest.mark.parametrize(("text", "message"), [
    ("not json", "is not JSON"),
    ('{"inputs": [[1.0]]}', "must be"),
    ('{"input_type": "doubles", "inputs": {"a": 1}}', "must be"),
])  # fmt: skip
def test_a_malformed_file_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidWarmupInputs, match=message):
        parse_warmup_file(text)


# ------------------------------------------------------------------ the container, as a real process


def _closure_dir(tmp_path: Path, calls: Path, fail_first: bool = False) -> Path:
    """A closure model that appends each batch's sums to ``calls`` (and may fail its first call)."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()

    def predict(inputs: Any) -> list[str]:
        with open(calls, "a", encoding="utf-8") as f:
            f.write(json.dumps([float(x.sum()) for x in inputs]) + "\n")
        if fail_first and len(calls.read_text().splitlines()) == 1:
            raise RuntimeError("first call fails")
        return [str(float(x.sum())) for x in inputs]

    (model_dir / "func.pkl").write_bytes(cloudpickle.dumps(predict))
    return model_dir


def _spawn(frontend: FakeFrontend, model_dir: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPPER_")}
    env.update(CLIPPER_MODEL_NAME="warm", CLIPPER_MODEL_VERSION="1", CLIPPER_IP="localhost",
               CLIPPER_PORT=str(frontend.port), CLIPPER_METRICS_PORT="0", CLIPPER_MODEL_PATH=str(model_dir),
               CLIPPER_INPUT_TYPE="doubles")
    with open(tmp_path / "stderr.log", "wb") as err:
        return subprocess.Popen([sys.executable, "-m", "model_containers.python_closure_container"], env=env,
                                cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=err)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def test_the_replica_answers_the_warmup_batch_before_it_registers(frontend: FakeFrontend, tmp_path: Path) -> None:
    calls = tmp_path / "calls.jsonl"
    model_dir = _closure_dir(tmp_path, calls)
    (model_dir / WARMUP_INPUTS_FILENAME).write_text(warmup_inputs("doubles", [[1.0, 2.0], [4, 4]]).to_json())
    proc = _spawn(frontend, model_dir, tmp_path)
    try:
        frontend.register(timeout=30)
        # Registration comes after the warm-up: the model has already run once, on exactly those inputs.
        assert calls.read_text().splitlines() == ["[3.0, 8.0]"]
    finally:
        _stop(proc)
    assert "warm-up batch of 2 input(s) answered in" in (tmp_path / "stderr.log").read_text()


@pytest.mark.parametrize("problem", ["model fails", "bad file"])
def test_a_failed_warmup_is_logged_and_the_replica_serves_anyway(frontend: FakeFrontend, tmp_path: Path,
                                                                  problem: str) -> None:
    calls = tmp_path / "calls.jsonl"
    model_dir = _closure_dir(tmp_path, calls, fail_first=True)
    text = warmup_inputs("doubles", [[1.0]]).to_json() if problem == "model fails" else '{"input_type": 1}'
    (model_dir / WARMUP_INPUTS_FILENAME).write_text(text)
    proc = _spawn(frontend, model_dir, tmp_path)
    try:
        frontend.register(timeout=30)
    finally:
        _stop(proc)
    log = (tmp_path / "stderr.log").read_text()
    if problem == "model fails":
        assert "the warm-up batch of 1 input(s) failed" in log and "RuntimeError: first call fails" in log
    else:
        assert "warmup_inputs.json must be" in log and "serving without a warm-up" in log
