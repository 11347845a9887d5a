"""The warm-up batch a deploy leaves in its model directory, read by the replica before it connects.

A model's first call is often much slower than the rest (a lazily loaded
estimator, imports done on first use, a JIT), and a query that meets it gets
the application's default output. So a deploy may ship a few example
inputs: ``warmup_inputs.json`` next to ``func.pkl``, and the container runs
the model once on them before it registers with the query frontend. A deploy
that waits until its replicas serve therefore returns only once they are
warm.

The file is JSON: ``{"input_type": "doubles", "inputs": [[0.0, 1.5], ...]}``,
each input written as a query's ``"input"`` (base64 for ``bytes``). Both ends
check every input with :func:`~clipper_protocol.input_types.pack_input`, so
the model sees exactly what a query with those inputs would give it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from clipper_protocol.errors import ClipperError
from clipper_protocol.input_types import InputType, InvalidInput, pack_input, parse_input_type

WARMUP_INPUTS_FILENAME = "warmup_inputs.json"
"""Name of the warm-up file inside a model directory."""

MAX_WARMUP_INPUTS = 1000
"""Most inputs a warm-up batch may hold: it is one batch, not a data set."""


class InvalidWarmupInputs(ClipperError, ValueError):
    """Warm-up inputs that do not fit the model's input type, or a malformed warm-up file."""


@dataclass(frozen=True)
class WarmupInputs:
    """A warm-up batch: the model's input type and its inputs, as JSON values."""

    input_type: InputType
    inputs: tuple[object, ...]

    def packed(self) -> list[bytes]:
        """Every input packed for the wire; :class:`InvalidWarmupInputs` names the first bad one."""
        if not self.inputs:
            raise InvalidWarmupInputs("warmup_inputs is empty; give at least one input, or none at all (None)")
        if len(self.inputs) > MAX_WARMUP_INPUTS:
            raise InvalidWarmupInputs(f"warmup_inputs holds {len(self.inputs)} inputs; "
                                      f"the limit is {MAX_WARMUP_INPUTS} (one batch is enough)")
        packed = []
        for i, value in enumerate(self.inputs):
            try:
                packed.append(pack_input(value, self.input_type, key=f"warmup_inputs[{i}]"))
            except InvalidInput as e:
                raise InvalidWarmupInputs(f"warmup_inputs[{i}] is not a valid {self.input_type.canonical_name} "
                                          f"input: {e.detail}") from None
        return packed

    def to_json(self) -> str:
        """The file's text (after :meth:`packed` has checked the inputs)."""
        self.packed()
        return json.dumps({"input_type": self.input_type.canonical_name, "inputs": list(self.inputs)})


def warmup_inputs(input_type: str | InputType, inputs: Sequence[object]) -> WarmupInputs:
    """A checked :class:`WarmupInputs`; raises :class:`InvalidWarmupInputs`."""
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence):
        raise InvalidWarmupInputs(f"warmup_inputs must be a list of inputs, not {type(inputs).__name__}")
    try:
        kind = input_type if isinstance(input_type, InputType) else parse_input_type(input_type)
    except ValueError as e:
        raise InvalidWarmupInputs(str(e)) from None
    batch = WarmupInputs(kind, tuple(inputs))
    batch.packed()
    return batch


def parse_warmup_file(text: str) -> WarmupInputs:
    """Read a warm-up file's text; raises :class:`InvalidWarmupInputs` naming what is wrong."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise InvalidWarmupInputs(f"{WARMUP_INPUTS_FILENAME} is not JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("input_type"), str) or not isinstance(
            doc.get("inputs"), list):
        raise InvalidWarmupInputs(f'{WARMUP_INPUTS_FILENAME} must be {{"input_type": "<type>", "inputs": [...]}}')
    return warmup_inputs(doc["input_type"], doc["inputs"])
