"""``python -m query_frontend [flags]``: run a query frontend until SIGTERM or SIGINT.

With ``--workers N`` (N > 1) this process is a supervisor of N worker
processes sharing the REST port (see :mod:`query_frontend.workers`).
"""

from __future__ import annotations

import sys

from clipper_service.process import configure_logging, run_until_signalled
from query_frontend.server import serve
from query_frontend.settings import QueryFrontendSettings


def main(argv: list[str] | None = None) -> int:
    settings = QueryFrontendSettings.from_args(argv)
    if settings.workers > 1:
        from query_frontend.workers import run_supervisor

        return run_supervisor(settings)
    configure_logging("QUERYFRONTEND", settings.log_level)
    return run_until_signalled(lambda stop: serve(settings, stop))


if __name__ == "__main__":
    sys.exit(main())
