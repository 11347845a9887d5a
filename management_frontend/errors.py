"""The management frontend's errors, each carrying the HTTP status it maps to.

:mod:`management_frontend.http` turns a :class:`ManagementError` into a
response in one place; anything else that escapes a handler is logged and
answered 500 with a generic body.
"""

from __future__ import annotations

from clipper_protocol.errors import ClipperError


class ManagementError(ClipperError):
    """An error answered to the client: ``status`` with ``message`` as body."""

    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(ManagementError):
    """The request broke a rule (400); the message says which, in the original's words."""

    status = 400


class JsonRequestError(BadRequestError):
    """The body is not valid JSON or lacks/mistypes a field (400).

    Formatted like the original: ``Error parsing JSON: <detail>. Expected JSON
    schema: <schema>``.
    """

    def __init__(self, detail: str, schema: str) -> None:
        super().__init__(f"Error parsing JSON: {detail}. Expected JSON schema: {schema}")
        self.detail = detail
        self.schema = schema


class StoreUnavailableError(ManagementError):
    """Redis could not be reached (503); the request may be retried."""

    status = 503

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(
            f"Redis at {address} is unreachable: {reason}. Check that Redis is running."
        )
        self.address = address
        self.reason = reason


class StoreError(ClipperError):
    """Redis answered a command with an error (not a connectivity problem).

    Not an HTTP error by itself: the service turns it into the original's
    ``Error ... Redis`` message for the operation that failed.
    """

