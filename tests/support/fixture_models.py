"""Fixture models served by the project's real container runtime.

``python -m tests.support.fixture_models`` runs ``model_containers``'
``RPCService`` (configured by the usual ``CLIPPER_*`` variables) with a
:class:`FixtureModel` configured by these:

- ``FIXTURE_FAULT``: ``echo`` (default), ``slow``, ``hang``, ``crash`` or
  ``garbage`` -- what the model does while its fault is active;
- ``FIXTURE_GATE_FILE``: the fault is active only while this file exists
  (a deterministic switch a test flips); without it, always active;
- ``FIXTURE_DELAY_MS``: how long ``slow`` takes per batch;
- ``FIXTURE_STATE_DIR``: where the model writes ``state.json`` (counters,
  below) after each batch and whenever a fault fires;
- ``FIXTURE_LATE_AFTER_MS``: an input ``[seq, send wall time, ...]`` that
  reaches the model later than its send time plus this counts as *late*;
- ``FIXTURE_TAG``: returned in every output (default: the model version).

Outputs are JSON ``{"tag": TAG, "seq": first input value}``. Faults:
``slow`` sleeps then echoes; ``hang`` never returns while the gate file
exists (the container's I/O thread keeps heartbeating); ``crash`` ends the
process with exit code :data:`CRASH_EXIT_CODE`; ``garbage`` returns outputs
that break the container contract (wrong count, not strings).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from model_containers.entry import configure_logging, serve
from model_containers.model import ModelContainerBase
from model_containers.rpc import RPCService

FAULTS = ("echo", "slow", "hang", "crash", "garbage")
CRASH_EXIT_CODE = 17
STATE_FILE = "state.json"


@dataclass
class FixtureState:
    """What a fixture model has seen, as written to ``state.json``."""

    pid: int = 0
    batches: int = 0
    received: int = 0
    late: int = 0
    """Inputs received later than their send time plus the late threshold."""
    max_batch: int = 0
    first_wall: float | None = None
    """Wall-clock time the first input reached the model."""
    last_wall: float | None = None
    """Wall-clock time the latest input reached the model."""
    fired: dict[str, int] = field(default_factory=dict)
    """Batches on which each fault fired."""


def read_state(state_dir: Path) -> FixtureState:
    """The state a fixture model last wrote (an empty one before its first write)."""
    try:
        raw = json.loads((state_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        return FixtureState()
    return FixtureState(**raw)


class FixtureModel(ModelContainerBase):
    """Echo, or a fault while the gate is open; counts what it receives."""

    def __init__(self, fault: str = "echo", gate_file: str | None = None, delay_s: float = 0.0,
                 state_dir: str | None = None, late_after_s: float | None = None, tag: str = "") -> None:
        if fault not in FAULTS:
            raise ValueError(f"FIXTURE_FAULT: expected one of {', '.join(FAULTS)}, got {fault!r}")
        self.fault = fault
        self.gate_file = gate_file
        self.delay_s = delay_s
        self.state_dir = Path(state_dir) if state_dir else None
        self.late_after_s = late_after_s
        self.tag = tag
        self.state = FixtureState(pid=os.getpid())
        self._lock = threading.Lock()
        self._save()

    @classmethod
    def from_env(cls) -> "FixtureModel":
        env = os.environ
        late = env.get("FIXTURE_LATE_AFTER_MS")
        return cls(
            fault=env.get("FIXTURE_FAULT", "echo"),
            gate_file=env.get("FIXTURE_GATE_FILE") or None,
            delay_s=float(env.get("FIXTURE_DELAY_MS", "0")) / 1000,
            state_dir=env.get("FIXTURE_STATE_DIR") or None,
            late_after_s=float(late) / 1000 if late else None,
            tag=env.get("FIXTURE_TAG") or env.get("CLIPPER_MODEL_VERSION", ""),
        )

    def _active(self) -> bool:
        return self.gate_file is None or os.path.exists(self.gate_file)

    def _save(self) -> None:
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_dir / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(asdict(self.state)))
        tmp.replace(self.state_dir / STATE_FILE)  # atomic: readers never see half a file

    def _record(self, inputs: Any) -> None:
        now = time.time()
        st = self.state
        n = len(inputs)
        st.batches += 1
        st.received += n
        st.max_batch = max(st.max_batch, n)
        st.first_wall = now if st.first_wall is None else st.first_wall
        st.last_wall = now
        if self.late_after_s is not None:
            st.late += sum(1 for x in inputs if len(x) > 1 and now > float(x[1]) + self.late_after_s)

    def _fire(self, fault: str) -> None:
        self.state.fired[fault] = self.state.fired.get(fault, 0) + 1
        self._save()

    def predict_doubles(self, inputs: Any) -> list[str]:
        with self._lock:
            self._record(inputs)
            fault = self.fault if self._active() else "echo"
            if fault != "echo":
                self._fire(fault)
            else:
                self._save()
        if fault == "slow":
            time.sleep(self.delay_s)
        elif fault == "hang":
            while self.gate_file is None or os.path.exists(self.gate_file):
                time.sleep(0.01)
        elif fault == "crash":
            os._exit(CRASH_EXIT_CODE)
        elif fault == "garbage":
            return [None] * (len(inputs) + 1)  # type: ignore[list-item]
        return [json.dumps({"tag": self.tag, "seq": float(x[0])}) for x in inputs]


def main() -> int:
    configure_logging()
    model = FixtureModel.from_env()
    return serve(RPCService(collect_metrics=False), model)


if __name__ == "__main__":
    sys.exit(main())
