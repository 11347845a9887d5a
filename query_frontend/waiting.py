"""Waiting for model outputs, never past a query's deadline.

Deadlines are ``time.monotonic()`` seconds; the event loop's clock is
monotonic too, so a deadline becomes a loop timer directly.
"""

from __future__ import annotations

import asyncio
import time

from query_frontend.cache import ModelOutput
from query_frontend.errors import QueryFailed


async def wait_until(future: asyncio.Future[ModelOutput], deadline: float) -> ModelOutput:
    """The future's result, or QueryFailed (SLO) if it is not ready by ``deadline``."""
    if not future.done():
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def wake(_: object = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        future.add_done_callback(wake)
        timer = loop.call_at(loop.time() + (deadline - time.monotonic()), wake)
        try:
            await waiter
        finally:
            timer.cancel()
            future.remove_done_callback(wake)
        if not future.done():
            raise QueryFailed()
    return future.result()


async def wait_all_until(futures: list[asyncio.Future[ModelOutput]], deadline: float) -> None:
    """Return when every future is done or at ``deadline``, whichever comes first."""
    remaining = sum(1 for f in futures if not f.done())
    if remaining == 0:
        return
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def one_done(_: object) -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0 and not waiter.done():
            waiter.set_result(None)

    def timeout() -> None:
        if not waiter.done():
            waiter.set_result(None)

    undone = [f for f in futures if not f.done()]
    for f in undone:
        f.add_done_callback(one_done)
    timer = loop.call_at(loop.time() + (deadline - time.monotonic()), timeout)
    try:
        await waiter
    finally:
        timer.cancel()
        for f in undone:
            f.remove_done_callback(one_done)
