"""The process entry: one log format with full timestamps, log levels, signals."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clipper_service.process import parse_log_level

REPO_ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (?P<level>[A-Z]+) +\[(?P<component>\w+)\] (?P<rest>.*)$")


def _python(code: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]


def test_parse_log_level() -> None:
    assert parse_log_level(" debug ") == "DEBUG"
    assert parse_log_level("Warning") == "WARNING"
    with pytest.raises(ValueError, match="must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG, got 'loud'"):
        parse_log_level("loud")


def test_configure_logging_uses_the_common_format_and_level() -> None:
    proc = _python(
        "import logging\n"
        "from clipper_service.process import configure_logging\n"
        "configure_logging('QUERYFRONTEND', ' warning ')\n"
        "logging.getLogger('a.b').info('hidden')\n"
        "logging.getLogger('a.b').warning('shown %d', 1)\n"
        "configure_logging('OTHER', 'nonsense')\n"  # unknown level: INFO, handlers replaced
        "logging.getLogger('c').info('info now')\n"
    )
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = err.splitlines()
    assert len(lines) == 2, err
    first, second = (LINE.match(line) for line in lines)
    assert first and (first["level"], first["component"], first["rest"]) == ("WARNING", "QUERYFRONTEND", "a.b: shown 1")
    assert second and (second["level"], second["component"], second["rest"]) == ("INFO", "OTHER", "c: info now")


def test_run_until_signalled_returns_0_on_sigterm() -> None:
    proc = _python(
        "import asyncio, sys\n"
        "from clipper_service.process import run_until_signalled\n"
        "async def main(stop):\n"
        "    print('ready', flush=True)\n"
        "    await stop.wait()\n"
        "    print('stopped', flush=True)\n"
        "sys.exit(run_until_signalled(main))\n"
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.strip() == "stopped"
