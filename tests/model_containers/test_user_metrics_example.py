"""``examples/user_defined_metric``: the example runs and prints the series it reported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LABELS = 'model="word-stats",version="1"'


@pytest.mark.timeout(180)
def test_the_example_reads_its_metrics_back(tmp_path: Path) -> None:
    env = {**os.environ, "CLIPPER_HOME": str(tmp_path / "home")}
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "user_defined_metric" / "user_defined_metric.py")],
                         env=env, capture_output=True, text=True, timeout=150, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    out = run.stdout
    assert "'the last input has six words' -> 6" in out
    assert f"  example_characters_total{{{LABELS}}} 70.0" in out
    assert f"  example_last_words{{{LABELS}}} 6.0" in out
    assert f'  example_words_bucket{{le="5.0",{LABELS}}} 3.0' in out
    assert f"  example_words_sum{{{LABELS}}} 14.0" in out
    if shutil.which("prometheus") is not None:
        assert "In Prometheus: {'__name__': 'example_characters_total'" in out and out.rstrip().endswith("70")
