"""``python -m management_frontend --redis_ip=HOST --redis_port=PORT [--host H] [--port P]``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from clipper_service.process import configure_logging, run_until_signalled
from management_frontend.server import serve
from management_frontend.settings import load_settings


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings(argv)
    configure_logging("MGMTFRONTEND", settings.log_level)
    return run_until_signalled(lambda stop: serve(settings, stop))


if __name__ == "__main__":
    sys.exit(main())
