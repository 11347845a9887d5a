"""``python -m query_frontend [flags]``: run a query frontend until SIGTERM or SIGINT."""

from __future__ import annotations

import sys

from clipper_service.process import configure_logging, run_until_signalled
from query_frontend.server import serve
from query_frontend.settings import QueryFrontendSettings


def main(argv: list[str] | None = None) -> int:
    settings = QueryFrontendSettings.from_args(argv)
    configure_logging("QUERYFRONTEND", settings.log_level)
    return run_until_signalled(lambda stop: serve(settings, stop))


if __name__ == "__main__":
    sys.exit(main())
