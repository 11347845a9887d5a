"""Input types and the one input-element codec.

The canonical name is what Redis stores and the admin API returns; the code is
what travels in RPC frames; the dtype is how a packed input is laid out.

:func:`pack_input` turns one input as a REST body carries it (a JSON value)
into the bytes an RPC frame carries, as strictly as the original: ``doubles``
and ``floats`` take arrays of numbers written with a fraction or exponent,
``integers`` takes int32 integers, ``strings`` a JSON string and ``bytes`` a
base64 string. :func:`unpack_inputs` turns the frames of a batch into what a
model function receives. Both ends use these two functions only.
"""

from __future__ import annotations

import array
import base64
import binascii
import enum
import sys
from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from clipper_protocol.errors import ClipperError
from clipper_protocol.json_types import json_type_name


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
    def dtype(self) -> np.dtype[Any] | None:
        """numpy dtype of one element on the wire; None for strings."""
        return _DTYPES[self]


_DTYPES: dict[InputType, np.dtype[Any] | None] = {
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


class InvalidInputType(ClipperError, ValueError):
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


# --------------------------------------------------------------------------
# The input-element codec

DEFAULT_MAX_INPUT_ELEMENTS = 1_000_000
"""Most elements one array input may hold unless the caller says otherwise."""


class InvalidInput(ClipperError, ValueError):
    """An input that does not fit its type; ``detail`` says why, in the original's words.

    The message names the key and the problem but never quotes the value:
    error bodies must not echo request bytes back.
    """

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class InputTooLarge(InvalidInput):
    """An array input with more elements than allowed."""


_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_BIG_ENDIAN = sys.byteorder == "big"
assert array.array("i").itemsize == 4, "int32 inputs need a 4-byte C int"


def pack_input(
    value: object, input_type: InputType, key: str = "input", max_elements: int = DEFAULT_MAX_INPUT_ELEMENTS
) -> bytes:
    """Validate one JSON input for ``input_type`` and pack it for the wire.

    ``key`` is the JSON key it came under (for messages). Raises
    :class:`InvalidInput` (or :class:`InputTooLarge`).
    """
    if input_type is InputType.STRINGS:
        if type(value) is not str:
            raise InvalidInput(f"Type mismatch! JSON key {key} expected type Stringbut found type "
                               f"{json_type_name(value)}")
        return value.encode()
    if input_type is InputType.BYTES:
        if type(value) is not str:
            raise InvalidInput(f"Type mismatch! JSON key {key} expected type String (base64)but found type "
                               f"{json_type_name(value)}")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"JSON key {key} is not valid base64") from None
    if type(value) is not list:
        raise InvalidInput(f"Type mismatch! JSON key {key} expected type Arraybut found type {json_type_name(value)}")
    if not value:
        raise InvalidInput(f"JSON key {key} is an empty array; an input needs at least one element")
    if len(value) > max_elements:
        raise InputTooLarge(f"JSON key {key} holds an array of {len(value)} elements; the limit is {max_elements} "
                            "(setting max_input_elements)")
    if input_type is InputType.INTEGERS:
        for x in value:
            if type(x) is not int:
                raise InvalidInput(f"Array input of type {json_type_name(x)} is not of type int: an integers "
                                   "application takes whole numbers written without a decimal point (3, not 3.0)")
            if not _INT32_MIN <= x <= _INT32_MAX:
                raise InvalidInput(f"An integer in JSON key {key} does not fit a 32-bit int")
        return _packed("i", value)
    target = "double" if input_type is InputType.DOUBLES else "float"
    integers = False
    for x in value:
        if type(x) is float:
            continue
        if type(x) is not int:
            raise InvalidInput(f"Array input of type {json_type_name(x)} is not of type {target}")
        # Deliberate difference: the original refused [1, 2] for doubles. An integer the type
        # holds exactly is that number; one it would round is refused.
        if not exactly_representable(x, input_type):
            shown = str(x) if x.bit_length() < 64 else f"of {x.bit_length()} bits"
            raise InvalidInput(f"The integer {shown} in JSON key {key} is not exactly representable as a {target}; "
                               "send it as a number with a decimal point")
        integers = True
    if integers:
        value = [float(x) for x in value]
    if input_type is InputType.FLOATS:
        if any(abs(x) > _FLOAT32_MAX for x in value):
            raise InvalidInput("Array input is out of the range of a 32-bit float")
        return _packed("f", value)
    return _packed("d", value)


def exactly_representable(x: int, input_type: InputType) -> bool:
    """Whether the double (or, for ``FLOATS``, 32-bit float) nearest to ``x`` is ``x`` itself."""
    try:
        as_double = float(x)
    except OverflowError:
        return False
    if input_type is InputType.FLOATS:
        return abs(as_double) <= _FLOAT32_MAX and int(np.float32(as_double)) == x
    return int(as_double) == x


def _packed(typecode: str, values: list[Any]) -> bytes:
    """Little-endian machine values; array.array beats numpy on short vectors."""
    arr = array.array(typecode, values)
    if _BIG_ENDIAN:
        arr.byteswap()
    return arr.tobytes()


Frame = Union[bytes, memoryview, bytearray]


def unpack_inputs(input_type: InputType, inputs: Sequence[Frame]) -> object:
    """Turn packed inputs into what a model function receives.

    Numeric and bytes inputs become numpy arrays: one 2-D array of shape
    ``(N, L)`` when every input has the same length, else a list of 1-D arrays.
    Strings become a list of ``str`` (the original handed Python 3 models
    ``bytes``; ``str`` is what functions written for Python 3 expect).
    """
    if input_type is InputType.STRINGS:
        return [bytes(x).decode("utf-8", errors="replace") for x in inputs]
    dtype = input_type.dtype
    assert dtype is not None
    if not inputs:
        return np.empty((0, 0), dtype=dtype)
    first = len(inputs[0])
    if all(len(x) == first for x in inputs) and first % dtype.itemsize == 0:
        flat = np.frombuffer(b"".join(inputs), dtype=dtype)
        return flat.reshape(len(inputs), first // dtype.itemsize)
    return [np.frombuffer(x, dtype=dtype) for x in inputs]
