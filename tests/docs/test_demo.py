"""``make demo`` (examples/demo.py) runs where 1337 is taken: it says so and uses free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from clipper_admin import ClipperConnection, LocalContainerManager

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_demo_runs_when_the_query_port_is_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIPPER_HOME", str(tmp_path / "home"))  # the demo's cluster, and ours to stop
    env = dict(os.environ)
    holder = socket.socket()
    try:
        try:
            holder.bind(("0.0.0.0", 1337))
            holder.listen()
        except OSError:
            pass  # taken already: the case under test either way
        run = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py")], env=env, capture_output=True,
                             text=True, timeout=150)
    finally:
        holder.close()
        ClipperConnection(LocalContainerManager(cluster_name="demo")).stop_all(graceful=False)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "Port 1337 (query frontend REST API) is taken on this machine: using free ports instead." in run.stdout
    assert 'Prediction from sum-model: {"query_id": 0, "output": 6.6, "default": false}' in run.stdout
    assert "localhost:1337" not in run.stdout
