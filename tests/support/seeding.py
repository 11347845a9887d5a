"""One seed for every random test input, replayable from the environment.

``CLIPPER_TEST_SEED`` (an integer; default 0, so every run draws the same
inputs) is the session's seed; ``CLIPPER_TEST_SEED=random`` draws one and
the session header prints it. Each test derives its own seed from it and its
id (:func:`seed_for`), so a test replays alone exactly as it ran in the
whole suite. Hypothesis tests take theirs with :func:`hypothesis_seed`.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def _session_seed() -> int:
    raw = os.environ.get("CLIPPER_TEST_SEED", "0").strip()
    if raw.lower() == "random":
        return random.SystemRandom().randrange(2**32)
    return int(raw)


SESSION_SEED = _session_seed()


def seed_for(key: str) -> int:
    """The seed of one test (its node id, or any other stable key) in this session."""
    digest = hashlib.sha256(f"{SESSION_SEED}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def hypothesis_seed(key: str) -> Callable[[F], F]:
    """``@hypothesis.seed`` for the ``@given`` test named ``key``: its examples follow the session seed."""
    from hypothesis import seed

    decorator: Callable[[F], F] = seed(seed_for(key))
    return decorator
