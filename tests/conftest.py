"""Fixtures shared by every test: real servers on ports they bound themselves.

Also, for the whole session:

* ``CLIPPER_HOME`` points into the session's temporary directory, so no test
  sees (or stops) a local cluster the user runs, such as ``make demo``'s;
* random inputs are seeded: ``CLIPPER_TEST_SEED`` (default 0, printed in the
  header and with every failure) seeds the ``rng`` fixture (per test id) and
  the Hypothesis tests (``tests.support.seeding``). Replay a failure with the
  printed ``CLIPPER_TEST_SEED=N``; ``CLIPPER_TEST_SEED=random`` draws a new
  seed (and prints it).
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import seeding
from tests.support.ports import start_redis, start_redis_on, stop


def pytest_report_header(config: pytest.Config) -> str:
    return f"random seed: CLIPPER_TEST_SEED={seeding.SESSION_SEED}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.failed:  # type: ignore[attr-defined]
        report.sections.append(("random seed", f"replay with CLIPPER_TEST_SEED={seeding.SESSION_SEED} "  # type: ignore[attr-defined]
                                               f"pytest '{item.nodeid}'"))
    return report


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """This test's random inputs: a generator seeded from the session seed and the test's id.

    (The module-level ``random`` is left alone: product code run in-process
    draws container names from it, which must differ between sessions.)
    """
    return random.Random(seeding.seed_for(request.node.nodeid))


@pytest.fixture(autouse=True, scope="session")
def _private_clipper_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Local clusters the tests start live under the session's temp dir, never ``~/.clipper``."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CLIPPER_HOME", str(tmp_path_factory.mktemp("clipper-home")))
    try:
        yield
    finally:
        mp.undo()


@dataclass
class RedisInstance:
    """A real redis-server started for a test."""

    host: str
    port: int
    data_dir: Path
    proc: subprocess.Popen

    def restart(self) -> None:
        """Stop (persisting the AOF) and start again on the same port."""
        self.stop()
        self.start()

    def start(self) -> None:
        """Start again on this instance's port (clients keep their address)."""
        self.proc = start_redis_on(self.port, self.data_dir)

    def stop(self) -> None:
        stop(self.proc)


@pytest.fixture
def redis_instance(tmp_path: Path) -> Iterator[RedisInstance]:
    """A fresh redis-server on a free port, persisting to a temp dir."""
    data_dir = tmp_path / "redis"
    data_dir.mkdir()
    proc, port = start_redis(data_dir)
    inst = RedisInstance("127.0.0.1", port, data_dir, proc)
    try:
        yield inst
    finally:
        inst.stop()
