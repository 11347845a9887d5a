"""What a missing piece of the environment means: a local skip, a CI failure."""

from __future__ import annotations

import os

import pytest


def skip_or_fail(reason: str) -> None:
    """Skip locally; fail under ``CI=true``, where a missing engine or image is a broken set-up."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)
