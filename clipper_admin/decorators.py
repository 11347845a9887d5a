"""The original's ``retry`` decorator: retry a call on given exceptions with backoff."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_logger = logging.getLogger("clipper.admin")


def retry(
    ExceptionToCheck: type[BaseException] | tuple[type[BaseException], ...],
    tries: int = 4,
    delay: float = 3,
    backoff: float = 2,
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Retry the decorated function when it raises ``ExceptionToCheck``.

    Parameters
    ----------
    ExceptionToCheck : exception type or tuple of types
        What to retry on; anything else propagates at once.
    tries : int
        Attempts in all; the last one is unguarded, so its exception propagates.
    delay : float
        Seconds to wait after the first failure.
    backoff : float
        Factor the delay is multiplied by after each failure.
    logger : logging.Logger, optional
        Where ``"{e}, Retrying in {d} seconds..."`` warnings go
        (the ``clipper.admin`` logger when None).
    """
    log = logger if logger is not None else _logger

    def deco_retry(f: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(f)
        def f_retry(*args: P.args, **kwargs: P.kwargs) -> R:
            mtries, mdelay = tries, delay
            while mtries > 1:
                try:
                    return f(*args, **kwargs)
                except ExceptionToCheck as e:
                    log.warning("%s, Retrying in %d seconds...", e, mdelay)
                    time.sleep(mdelay)
                    mtries -= 1
                    mdelay *= backoff
            return f(*args, **kwargs)

        return f_retry

    return deco_retry
