"""The management frontend's errors, each carrying the HTTP status it maps to.

:mod:`management_frontend.http` turns a :class:`ManagementError` into a
response in one place; anything else that escapes a handler is logged and
answered 500 with a generic body.
"""

from __future__ import annotations

from collections.abc import Sequence


class ManagementError(Exception):
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


class StoreError(Exception):
    """Redis answered a command with an error (not a connectivity problem).

    Not an HTTP error by itself: the service turns it into the original's
    ``Error ... Redis`` message for the operation that failed.
    """


def link_failure(status: str, details: Sequence[str], app: str) -> BadRequestError | None:
    """The original's message for a refused link that both link paths share, or None."""
    d = details
    match status:
        case "no_model":
            return BadRequestError(f"No model with name '{d[0]}' exists.")
        case "incompatible":
            return BadRequestError(
                f"Model with name '{d[0]}' has incompatible input_type '{d[1]}'. "
                f"Requested app to link to has input_type '{d[2]}'."
            )
        case "no_models":
            return BadRequestError(
                f"Please provide the name of the model that you want to link to the application '{app}'"
            )
        case "already_linked":
            return BadRequestError(f"The model with name '{d[0]}' is already linked to '{app}'")
    return None
