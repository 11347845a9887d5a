"""Input types: canonical names, the aliases the original accepts, wire codes.

The canonical name is what Redis stores and the admin API returns; the code is
what travels in RPC frames; the dtype is how a packed input is laid out.
"""

from __future__ import annotations

import enum

import numpy as np


class InputType(enum.IntEnum):
    """Input type, valued by its RPC wire code."""

    BYTES = 0
    INTEGERS = 1
    FLOATS = 2
    DOUBLES = 3
    STRINGS = 4

    @property
    def canonical_name(self) -> str:
        return self.name.lower()

    @property
    def dtype(self) -> np.dtype | None:
        """numpy dtype of one element on the wire; None for strings."""
        return _DTYPES[self]


_DTYPES: dict[InputType, np.dtype | None] = {
    InputType.BYTES: np.dtype(np.int8),
    InputType.INTEGERS: np.dtype("<i4"),
    InputType.FLOATS: np.dtype("<f4"),
    InputType.DOUBLES: np.dtype("<f8"),
    InputType.STRINGS: None,
}

# Case-sensitive, as in the original server.
_ALIASES: dict[str, InputType] = {}
for _type, _names in {
    InputType.BYTES: ("bytes", "byte", "b"),
    InputType.INTEGERS: ("integers", "ints", "integer", "int", "i"),
    InputType.FLOATS: ("floats", "float", "f"),
    InputType.DOUBLES: ("doubles", "double", "d"),
    InputType.STRINGS: ("strings", "string", "str", "strs", "s"),
}.items():
    for _name in _names:
        _ALIASES[_name] = _type

ACCEPTED_INPUT_TYPE_NAMES: tuple[str, ...] = tuple(_ALIASES)


class InvalidInputType(ValueError):
    """An input-type string that is none of the accepted names."""

    def __init__(self, value: object) -> None:
        self.value = value
        super().__init__(
            f"{value} is not a valid input string; expected one of "
            "bytes, integers, floats, doubles, strings (or an alias such as "
            "ints, double, str)"
        )


def parse_input_type(value: str) -> InputType:
    """Return the input type named by ``value`` (any accepted alias).

    Raises :class:`InvalidInputType` for anything else.
    """
    try:
        return _ALIASES[value]
    except (KeyError, TypeError):
        raise InvalidInputType(value) from None


def canonical_input_type(value: str) -> str:
    """Canonical name (``doubles``, ...) for any accepted alias."""
    return parse_input_type(value).canonical_name


def input_type_from_code(code: int) -> InputType:
    """Input type for an RPC wire code; ValueError if unknown."""
    return InputType(code)
