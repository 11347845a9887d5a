"""``test_predict_function``: call a prediction function the way a container would.

The query is a predict request body (``{"input": x}`` or
``{"input_batch": [x, ...]}``); each input is converted as the model
container converts it, the function goes through a cloudpickle round trip,
and the reloaded function is called on the batch.
"""

from __future__ import annotations

import base64
import binascii
import logging
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

from clipper_admin.deployers.deployer_utils import serialize_object
from clipper_admin.exceptions import ClipperException
from clipper_protocol.input_types import InputType, InvalidInputType, exactly_representable, parse_input_type

logger = logging.getLogger("clipper.admin")

INVALID_KEY = "Invalid input type or JSON key"
INVALID_TYPE = "Invalid input type"
BAD_RELOAD = "Function does not properly serialize and reload"

_NUMERIC: dict[InputType, tuple[type, type]] = {
    InputType.INTEGERS: (np.int32, int),
    InputType.FLOATS: (np.float32, float),
    InputType.DOUBLES: (np.float64, float),
}


def _bytes_input(x: object) -> np.ndarray:
    # A bytes query carries base64 text in JSON; accept raw bytes too.
    if isinstance(x, str):
        x = base64.b64decode(x, validate=True)
    if not isinstance(x, (bytes, bytearray)):
        raise TypeError(f"bytes input must be bytes or base64 text, got {type(x).__name__}")
    return np.frombuffer(bytes(x), dtype=np.int8)


def to_numpy(query: dict[str, Any], input_type: str) -> list[Any] | str:
    """The batch a container would hand the function, or the original's error string."""
    if not query:
        return INVALID_KEY
    query_data = list(query.values())
    if next(iter(query)) == "input_batch":
        query_data = query_data[0]
    try:
        flattened = [item for sublist in query_data for item in sublist]
    except TypeError:
        return INVALID_KEY
    try:
        kind = parse_input_type(input_type)
    except InvalidInputType:
        return INVALID_TYPE
    try:
        if kind in _NUMERIC:
            convert, element_type = _NUMERIC[kind]
            if any(not _numeric_element(x, kind, element_type) for x in flattened):
                return INVALID_TYPE
            return [convert(x) for x in query_data]
        if kind is InputType.STRINGS:
            if any(type(x) is not str for x in flattened):
                return INVALID_TYPE
            return [np.str_(x) for x in query_data]
        return [_bytes_input(x) for x in query_data]
    except (TypeError, ValueError, OverflowError, binascii.Error):
        return INVALID_TYPE


def _numeric_element(x: object, kind: InputType, element_type: type) -> bool:
    # As the query frontend: integers it holds exactly are accepted for doubles and floats.
    if type(x) is element_type:
        return True
    return kind is not InputType.INTEGERS and type(x) is int and exactly_representable(x, kind)


def check_outputs(outputs: Any, num_inputs: int) -> list[str]:
    """What a model container would send for ``outputs``; ClipperException where it would fail the batch.

    The container sends ``str(p)`` for each output and needs exactly one per
    input; a batch whose function returns anything else is answered with
    the application's default output.
    """
    try:
        count = len(outputs)
        sent = [str(p) for p in outputs]
    except TypeError:
        raise ClipperException(
            f"The function returned {type(outputs).__name__}, not a list of outputs: a deployed model would answer "
            f"every query of the batch with the default output. Return a list of {num_inputs} output(s), one per input."
        ) from None
    if count != num_inputs:
        raise ClipperException(
            f"The function returned {count} output(s) for {num_inputs} input(s): a deployed model would answer every "
            "query of the batch with the default output. Return one output per input."
        )
    not_str = [p for p in outputs if not isinstance(p, str)]
    if not_str:
        logger.warning(f"{len(not_str)} of {count} output(s) are not str ({type(not_str[0]).__name__}): a deployed "
                       f"model sends str() of each, here {sent[:3]}{' ...' if count > 3 else ''}")
    return sent


def run_predict_function(query: dict[str, Any], func: Callable[[list[Any]], Any], input_type: str) -> Any:
    """Convert the query, round-trip ``func`` through cloudpickle, and call it."""
    numpy_data = to_numpy(query, input_type)
    if isinstance(numpy_data, str):
        return numpy_data
    try:
        reloaded_func = pickle.loads(serialize_object(func))
    except Exception as e:
        raise ClipperException(f"Could not serialize the prediction function with cloudpickle: {e}") from e
    if not reloaded_func:
        return BAD_RELOAD
    outputs = reloaded_func(numpy_data)
    check_outputs(outputs, len(numpy_data))
    return outputs
