"""Helpers of the seed tests: run a sample script in a fresh Python, poll a prediction."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests


def run_script(workdir: Path, filename: str, code: str, timeout: float = 600) -> str:
    """Write ``code`` to ``workdir/filename``, run it in a fresh Python there; its stdout.

    Fails the test with the script's output when it exits non-zero.
    """
    path = workdir / filename
    path.write_text(code)
    proc = subprocess.run([sys.executable, str(path)], cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if proc.returncode != 0:
        pytest.fail(f"{filename} exited with {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
                    f"--- stderr\n{proc.stderr[-6000:]}")
    return proc.stdout


def run_failing_script(workdir: Path, filename: str, code: str, timeout: float = 120) -> str:
    """Like :func:`run_script` for a sample expected to fail; its stderr."""
    path = workdir / filename
    path.write_text(code)
    proc = subprocess.run([sys.executable, str(path)], cwd=workdir, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode != 0, f"{filename} was expected to fail:\n{proc.stdout}\n{proc.stderr}"
    return proc.stderr


def predict_until_served(app: str, payload: dict[str, Any], timeout: float = 90, want: Any = None) -> dict[str, Any]:
    """POST to ``app`` until the answer is not the default output (the replica may still be connecting).

    With ``want``, until the output is ``want`` (a new model version taking over).
    """
    deadline = time.monotonic() + timeout
    while True:
        r = requests.post(f"http://localhost:1337/{app}/predict", json=payload, timeout=10)
        body: dict[str, Any] = r.json()
        if r.status_code == 200 and body.get("default") is False and (want is None or body["output"] == want):
            return body
        assert time.monotonic() < deadline, f"{app} still answers {r.status_code} {body}"
        time.sleep(0.5)
