"""Exceptions raised by the admin library, as the original names them.

Both derive from :class:`clipper_protocol.errors.ClipperError`, the root of
every error the Clipper packages raise on purpose (itself an ``Exception``,
so code written for the original catches them as before).
"""

from __future__ import annotations

from clipper_protocol.errors import ClipperError


class ClipperException(ClipperError):
    """A Clipper operation failed; ``msg`` (and ``str(e)``) says why."""

    def __init__(self, msg: str, *args: object) -> None:
        self.msg = msg
        super().__init__(msg, *args)

    def __str__(self) -> str:
        return str(self.msg)


class UnconnectedException(ClipperException):
    """A method that needs a cluster was called before connecting to one."""

    def __init__(self, *args: object) -> None:
        self.message = (
            "No connection to Clipper cluster. Call ClipperConnection.connect to "
            "connect to an existing cluster or ClipperConnnection.start_clipper to "
            "create a new one"
        )
        super().__init__(self.message, *args)
