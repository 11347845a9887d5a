"""Process entry shared by the ``python -m model_containers.*`` containers."""

from __future__ import annotations

import logging
import signal
from types import FrameType

from clipper_service import process
from model_containers.model import ModelContainerBase
from model_containers.rpc import RPCService
from model_containers.settings import log_level_from_env

COMPONENT = "MODELCONTAINER"
LOG_FORMAT = process.LOG_FORMAT.format(component=COMPONENT)


def configure_logging(level: str | None = None) -> None:
    """Log to stderr in the common format, at ``level`` or ``CLIPPER_LOG_LEVEL`` (default INFO).

    A malformed ``CLIPPER_LOG_LEVEL`` logs at INFO, with a warning naming it.
    """
    error = None
    if level is None:
        level, error = log_level_from_env()
    process.configure_logging(COMPONENT, level)
    if error is not None:
        logging.getLogger("clipper.container").warning("%s; logging at INFO", error)


def serve(service: RPCService, model: ModelContainerBase) -> int:
    """Serve ``model`` in this (main) thread until SIGTERM or SIGINT; exit code."""

    def _stop(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("clipper.container").info("received signal %d; stopping", signum)
        service.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    service.start(model)
    return 0
