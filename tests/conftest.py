"""Fixtures shared by every test: real servers on free ports."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clipper_admin.local.redis_server import free_port, redis_server_command, wait_for_port


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
        self.proc = subprocess.Popen(
            redis_server_command(self.port, self.data_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.host, self.port, 10, self.proc)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def redis_instance(tmp_path: Path) -> Iterator[RedisInstance]:
    """A fresh redis-server on a free port, persisting to a temp dir."""
    port = free_port()
    data_dir = tmp_path / "redis"
    data_dir.mkdir()
    inst = RedisInstance("127.0.0.1", port, data_dir, proc=None)  # type: ignore[arg-type]
    inst.start()
    try:
        yield inst
    finally:
        inst.stop()
