"""Process entry shared by the ``python -m model_containers.*`` containers."""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

from model_containers.model import ModelContainerBase
from model_containers.rpc import RPCService

LOG_FORMAT = "[%(asctime)s][%(levelname)s] %(name)s: %(message)s"


def configure_logging() -> None:
    """Log to stderr, at ``CLIPPER_LOG_LEVEL`` (default INFO)."""
    level = os.environ.get("CLIPPER_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level if level in logging.getLevelNamesMapping() else "INFO",
                        format=LOG_FORMAT, stream=sys.stderr)


def serve(service: RPCService, model: ModelContainerBase) -> int:
    """Serve ``model`` in this (main) thread until SIGTERM or SIGINT; exit code."""

    def _stop(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("clipper.container").info("received signal %d; stopping", signum)
        service.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    service.start(model)
    return 0
