"""The model interface of a container, as original container authors know it.

A model subclasses :class:`ModelContainerBase` and implements the ``predict_*``
method for the container's input type. Each takes the whole batch and returns
a ``list`` of ``str``, one per input, in order.
"""

from __future__ import annotations

from typing import Any

from clipper_protocol.input_types import InputType
from model_containers.errors import PredictionError

__all__ = ["ModelContainerBase", "PredictionError", "check_outputs", "predict_batch"]

class ModelContainerBase:
    """Base class of the models a container serves.

    Numeric batches (and ``bytes``, as int8) arrive as one 2-D numpy array of
    shape ``(N, L)`` when all inputs have the same length, else as a list of
    1-D arrays; string batches arrive as a list of ``str``.
    """

    def predict_ints(self, inputs: Any) -> list[str]:
        raise NotImplementedError("this model does not accept integers inputs")

    def predict_floats(self, inputs: Any) -> list[str]:
        raise NotImplementedError("this model does not accept floats inputs")

    def predict_doubles(self, inputs: Any) -> list[str]:
        raise NotImplementedError("this model does not accept doubles inputs")

    def predict_bytes(self, inputs: Any) -> list[str]:
        raise NotImplementedError("this model does not accept bytes inputs")

    def predict_strings(self, inputs: Any) -> list[str]:
        raise NotImplementedError("this model does not accept strings inputs")


_PREDICT_METHODS: dict[InputType, str] = {
    InputType.INTEGERS: "predict_ints",
    InputType.FLOATS: "predict_floats",
    InputType.DOUBLES: "predict_doubles",
    InputType.BYTES: "predict_bytes",
    InputType.STRINGS: "predict_strings",
}


def check_outputs(outputs: object, expected: int) -> list[str]:
    """Return ``outputs`` if it is a list of ``expected`` strs.

    Raises :class:`PredictionError` with the original's messages otherwise.
    """
    if not isinstance(outputs, list):
        raise PredictionError(f"Model did not return a list (got {type(outputs).__name__})")
    if len(outputs) != expected:
        raise PredictionError(
            f"Expected model to return {expected} outputs, found {len(outputs)} outputs"
        )
    for output in outputs:
        if not isinstance(output, str):
            raise PredictionError(f"Model must return a list of strs. Found {type(output).__name__}")
    return outputs


def predict_batch(model: ModelContainerBase, input_type: InputType, inputs: Any, n: int) -> list[bytes]:
    """Run the model method for ``input_type`` on a batch of ``n`` inputs.

    Returns the UTF-8 outputs; raises whatever the model raises, or
    :class:`PredictionError` when its outputs break the contract.
    """
    outputs = getattr(model, _PREDICT_METHODS[input_type])(inputs)
    return [o.encode("utf-8", errors="replace") for o in check_outputs(outputs, n)]
