"""Errors of the service skeleton."""

from __future__ import annotations

from clipper_protocol.errors import ClipperError


class SettingsError(ClipperError, ValueError):
    """A setting is missing or malformed; the message names where it came from."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem
