"""``python -m management_frontend --redis_ip=HOST --redis_port=PORT [--host H] [--port P]``."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from management_frontend.server import serve
from management_frontend.settings import load_settings

LOG_FORMAT = "%(asctime)s %(levelname)-8s [%(name)s] %(message)s"


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings(argv)
    logging.basicConfig(format=LOG_FORMAT, level=settings.log_level.upper(), stream=sys.stderr)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
