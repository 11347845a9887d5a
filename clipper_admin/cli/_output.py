"""Output of the CLI: aligned tables, JSON, and what the library's logging shows."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from clipper_admin.cli._errors import DEFAULT_CLUSTER, shell_message

_CLUSTER_PREFIX = re.compile(r"\[([^\]\s]+)\] ")


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Plain-text columns, two spaces apart; numeric columns right-aligned."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [any(_is_number(r[i]) for r in cells) and all(_is_number(r[i]) or r[i] in ("", "-") for r in cells)
               for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers)), *(line(r) for r in cells)])


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], empty: str | None = None) -> None:
    if not rows and empty is not None:
        print(empty)
    else:
        print(table(headers, rows))


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record comes (pytest swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


# Warnings the library logs right before raising the same error, which the CLI prints itself.
_RAISED_NEXT = ("Error starting Clipper: ",)


class _WarningsOnly(logging.Filter):
    """Warnings as one line each. The library logs its errors before raising them,
    and the CLI prints the raised error itself, so ERROR records would repeat it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return False
        text, cluster = record.getMessage(), DEFAULT_CLUSTER
        prefixed = _CLUSTER_PREFIX.match(text)  # ClusterAdapter's "[<cluster>] "
        if prefixed:
            cluster, text = prefixed.group(1), text[prefixed.end():]
        if text.startswith(_RAISED_NEXT):
            return False
        record.msg, record.args = shell_message(Exception(text), cluster)[0], None
        return True


@contextmanager
def cli_logging(verbosity: int, quiet: bool) -> Iterator[None]:
    """Route every log record through one handler for the duration of a command.

    Default: library warnings only, as ``clipper: warning: ...`` lines.
    ``-v``: INFO and up with timestamps (``-vv``: DEBUG). ``-q``: nothing.
    The root logger's handlers and level are restored afterwards.
    """
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    handler = _StderrHandler()
    if verbosity > 0:
        level = logging.DEBUG if verbosity > 1 else logging.INFO
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(message)s", "%H:%M:%S"))
    else:
        level = logging.CRITICAL + 1 if quiet else logging.WARNING
        handler.setFormatter(logging.Formatter("clipper: warning: %(message)s"))
        handler.addFilter(_WarningsOnly())
    for h in saved_handlers:
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        for h in saved_handlers:
            root.addHandler(h)
        root.setLevel(saved_level)
