"""The root of every error the Clipper packages raise on purpose.

Each package has its own errors module whose classes derive from
:class:`ClipperError`, so a caller can catch anything Clipper raised
deliberately with one ``except`` and still tell the packages apart.
"""

from __future__ import annotations


class ClipperError(Exception):
    """An error a Clipper component raised deliberately; the message says what to do."""
