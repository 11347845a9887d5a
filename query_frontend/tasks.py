"""Stopping background tasks for good."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


async def cancel_and_wait(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait until every one has finished.

    Cancellation is repeated until it sticks: a library that turns a
    cancellation into its own error (redis-py's timeouts can, on Python 3.11)
    would otherwise leave a loop running and its owner waiting forever.
    """
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
