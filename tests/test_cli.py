"""The ``clipper`` command line against a real local cluster.

The cluster is started by a ``clipper start`` process that exits; the other
commands then run in this process (``main(argv)``) and in fresh processes.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clipper_admin.cli import main

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def clipper_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("CLIPPER_HOME", str(home))
    monkeypatch.delenv("CLIPPER_CLUSTER_NAME", raising=False)
    root = logging.getLogger()
    level = root.level
    try:
        yield home
    finally:
        root.setLevel(level)  # main() sets the root level; leave other tests theirs


def cli(*argv: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``clipper ARGV`` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "clipper_admin.cli", *argv], capture_output=True, text=True, timeout=timeout
    )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``clipper ARGV`` in this process: (exit status, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


MODEL_FILE = textwrap.dedent(
    """
    def _total(x):
        return float(sum(x))

    def predict(inputs):
        return [str(_total(x) * 10) for x in inputs]
    """
)


def test_full_workflow(clipper_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = cli("start", "--free-ports", "--cluster-name", "demo")
    assert started.returncode == 0, started.stderr
    assert "Clipper cluster demo is running" in started.stdout
    assert "query frontend:      http://localhost:" in started.stdout
    assert started.stderr == ""  # the library's INFO lines show with -v only
    try:
        status = cli("status", "--cluster-name", "demo")
        assert status.returncode == 0, status.stderr
        rows = [line.split() for line in status.stdout.splitlines() if line.endswith(".log")]
        assert {"redis", "management_frontend", "query_frontend"} <= {r[0] for r in rows}
        assert all(r[2] == "alive" for r in rows)
        pids = [int(r[1]) for r in rows]

        code, out, _ = run(capsys, "register-app", "hello", "--input-type", "doubles", "--default-output", "-1",
                           "--slo-micros", "2000000", "--cluster-name", "demo")  # fmt: skip
        assert code == 0 and "Registered application hello" in out

        model_file = tmp_path / "my_model.py"
        model_file.write_text(MODEL_FILE)
        code, out, err = run(capsys, "deploy", f"{model_file}:predict", "--name", "sum", "--version", "1",
                             "--input-type", "doubles", "--app", "hello", "--cluster-name", "demo")  # fmt: skip
        assert code == 0, err
        assert "Deployed sum:1 and linked it to application hello" in out

        deadline = time.monotonic() + 30
        while True:
            code, out, err = run(capsys, "predict", "hello", "[1.0, 2.5]", "--cluster-name", "demo")
            assert code == 0, err
            answer = json.loads(out)
            if answer["default"] is False:
                break
            assert time.monotonic() < deadline, answer
            time.sleep(0.2)
        assert answer["output"] == 35.0

        code, out, _ = run(capsys, "apps", "--cluster-name", "demo", "--json")
        (app,) = json.loads(out)
        assert app["name"] == "hello" and app["linked_models"] == ["sum"]
        code, out, _ = run(capsys, "models", "--cluster-name", "demo", "--json")
        assert [(m["model_name"], m["model_version"]) for m in json.loads(out)] == [("sum", "1")]
        code, out, _ = run(capsys, "replicas", "--cluster-name", "demo", "--json")
        assert [r["model_id"] for r in json.loads(out)] == ["sum:1"]

        # A second app linked by name to the same model.
        run(capsys, "register-app", "hello2", "--input-type", "doubles", "--default-output", "-1",
            "--slo-micros", "2000000", "--cluster-name", "demo")  # fmt: skip
        code, out, err = run(capsys, "link", "hello2", "sum", "--cluster-name", "demo")
        assert code == 0, err
        deadline = time.monotonic() + 30  # the link reaches the query frontend asynchronously
        while True:
            code, out, _ = run(capsys, "predict", "hello2", "[[1.0], [2.0]]", "--batch", "--cluster-name", "demo")
            assert code == 0
            batch = json.loads(out)["batch_predictions"]
            if not any(p["default"] for p in batch):
                break
            assert time.monotonic() < deadline, batch
            time.sleep(0.2)
        assert [p["output"] for p in batch] == [10.0, 20.0]

        code, out, _ = run(capsys, "logs", str(tmp_path / "logs"), "--cluster-name", "demo")
        assert code == 0
        names = {Path(p).name for p in out.split()}
        assert {"redis.log", "management_frontend.log", "query_frontend.log", "sum_1-1.log"} <= names
        assert all(Path(p).exists() for p in out.split())
    finally:
        stopped = cli("stop", "--cluster-name", "demo")
    assert stopped.returncode == 0, stopped.stderr
    assert "Stopped cluster demo" in stopped.stdout
    assert all(pid_gone(p) for p in pids)
    code, out, _ = run(capsys, "status", "--cluster-name", "demo")
    assert code == 1 and "Cluster demo is not running" in out


def test_errors_are_one_line_without_traceback(clipper_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "apps")
    assert code == 1
    assert err == "clipper: error: no cluster named default-cluster is running: start one with `clipper start`\n"

    code, _, err = run(capsys, "apps", "--cluster-name", "other")
    assert err == (
        "clipper: error: no cluster named other is running: start one with `clipper start --cluster-name other`\n"
    )

    code, _, err = run(capsys, "predict", "app", "{not json")
    assert code == 1 and err.startswith("clipper: error: JSON_INPUT is not valid JSON") and err.count("\n") == 1

    deploy = ["--name", "m", "--version", "1", "--input-type", "doubles"]
    code, _, err = run(capsys, "deploy", "missing.py:predict", *deploy)
    assert code == 1 and err == "clipper: error: no such file: missing.py\n"

    code, _, err = run(capsys, "deploy", "no-function-given", *deploy)
    assert code == 1 and err == "clipper: error: expected FILE.py:FUNCTION, got 'no-function-given'\n"

    code, _, err = run(capsys, "start", "--free-ports", "--query-port", "5000")
    assert code == 1 and err == "clipper: error: --free-ports cannot be combined with explicit port options\n"

    code, out, _ = run(capsys, "stop")
    assert code == 0 and "Cluster default-cluster was not running" in out


def test_busy_port_suggests_the_flags(clipper_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(capsys, "start", "--query-port", str(port), "--management-port", "0", "--rpc-port", "0",
                           "--redis-port", "0")  # fmt: skip
    assert code == 1
    assert err.count("\n") == 1
    assert (
        f"clipper: error: port {port} for the query frontend REST API is already in use. Pick another one with "
        "--query-port <port>, or let Clipper choose free ports with --free-ports." in err
    )
    assert "Traceback" not in err
