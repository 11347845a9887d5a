"""One real local cluster for the ``clipper`` command tests, started and stopped through the CLI itself.

The cluster is started by a ``clipper start --free-ports`` process (so no
fixed port), in a ``CLIPPER_HOME`` of the test module's own. A module uses
it with ``from tests.support.cli_cluster import cluster``.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import cli, run

CLUSTER = "cli-cmds"

MODELS = textwrap.dedent(
    """
    def total(inputs):
        return [str(sum(x)) for x in inputs]

    def v1(inputs):
        return ["one" for x in inputs]

    def v2(inputs):
        return ["two" for x in inputs]

    def v10(inputs):
        return ["ten" for x in inputs]

    def picky(inputs):
        if any(x[0] < 0 for x in inputs):
            raise ValueError("picky refuses negative inputs")
        return [str(x[0]) for x in inputs]
    """
)


@dataclass
class Cluster:
    home: Path
    directory: Path
    models: Path
    info: dict[str, Any]

    def __call__(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
        return run(capsys, *argv, "--cluster-name", CLUSTER)

    def ok(self, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
        code, out, err = self(capsys, *argv)
        assert code == 0, err
        return out

    def json(self, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
        return json.loads(self.ok(capsys, *argv, "--json"))

    def deploy(self, capsys: pytest.CaptureFixture[str], func: str, name: str, version: str, *extra: str) -> None:
        self.ok(capsys, "deploy", f"{self.models}:{func}", "--name", name, "--version", version,
                "--input-type", "doubles", *extra)  # fmt: skip

    def register(self, capsys: pytest.CaptureFixture[str], app: str) -> None:
        self.ok(capsys, "register-app", app, "--input-type", "doubles", "--default-output", "-1",
                "--slo-micros", "5000000")  # fmt: skip

    def predict(self, capsys: pytest.CaptureFixture[str], app: str, x: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.json(capsys, "predict", app, x)
        return answer

    def first_answer(self, capsys: pytest.CaptureFixture[str], app: str, x: str) -> tuple[dict[str, Any], int]:
        """The first answer that is not the default output, and how many queries that took.

        The query frontend follows Redis asynchronously, so a link made a
        moment ago may reach it a moment later (defaults meanwhile).
        """
        deadline = time.monotonic() + 15
        for sent in range(1, 10_000):
            answer = self.predict(capsys, app, x)
            if answer["default"] is False:
                return answer, sent
            assert time.monotonic() < deadline, answer
            time.sleep(0.05)
        raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("cli-home")
    models = tmp_path_factory.mktemp("cli-models") / "models.py"
    models.write_text(MODELS)
    mp = pytest.MonkeyPatch()
    mp.setenv("CLIPPER_HOME", str(home))
    mp.delenv("CLIPPER_CLUSTER_NAME", raising=False)
    try:
        started = cli("start", "--free-ports", "--no-prometheus", "--cluster-name", CLUSTER, "--json")
        assert started.returncode == 0, started.stderr
        assert started.stderr == ""
        info = json.loads(started.stdout)
        try:
            yield Cluster(home, Path(info["cluster_dir"]), models, info)
        finally:
            stopped = cli("stop", "--cluster-name", CLUSTER)
            assert stopped.returncode == 0, stopped.stderr
    finally:
        mp.undo()
