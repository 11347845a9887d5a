"""``python -m query_frontend``: run a query frontend until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from query_frontend.server import serve
from query_frontend.settings import QueryFrontendSettings


def main(argv: list[str] | None = None) -> int:
    settings = QueryFrontendSettings.from_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="[%(asctime)s.%(msecs)03d][%(levelname)s] [QUERYFRONTEND] %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
