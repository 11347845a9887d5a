"""Helpers shared by the supervisor tests."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from clipper_service.supervisor import RestartPolicy

log = logging.getLogger("test.supervisor")
FAST = RestartPolicy(initial_backoff_s=0.05, max_backoff_s=0.2, stable_after_s=30.0)


def crash_records(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "test.supervisor" and f"{name} crashed" in r.getMessage()]


def assert_traceback_logged(caplog: pytest.LogCaptureFixture, name: str, message: str) -> None:
    records = crash_records(caplog, name)
    assert records, caplog.text
    record = records[0]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert str(record.exc_info[1]) == message
    assert "Traceback (most recent call last)" in caplog.text and message in caplog.text


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


async def async_wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)
