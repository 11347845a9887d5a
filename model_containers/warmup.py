"""Running the model once on the deploy's warm-up batch, before the replica connects.

See :mod:`clipper_protocol.warmup` for why and for the file. A warm-up that
fails is logged as a warning and the replica serves anyway: the failure
says what queries would meet, and refusing to start would only turn it into
a deploy that times out.
"""

from __future__ import annotations

import logging
import os
import time

from clipper_protocol.input_types import InputType, unpack_inputs
from clipper_protocol.warmup import WARMUP_INPUTS_FILENAME, InvalidWarmupInputs, WarmupInputs, parse_warmup_file
from model_containers.model import ModelContainerBase, predict_batch

logger = logging.getLogger("clipper.container")


def read_warmup_file(model_path: str | None) -> WarmupInputs | None:
    """The warm-up batch in ``model_path`` (None when there is no file or it is unreadable: logged)."""
    if not model_path:
        return None
    path = os.path.join(model_path, WARMUP_INPUTS_FILENAME)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        logger.warning("cannot read %s (%s); serving without a warm-up", path, e)
        return None
    try:
        return parse_warmup_file(text)
    except InvalidWarmupInputs as e:
        logger.warning("%s; serving without a warm-up", e)
        return None


def warm_up(model: ModelContainerBase, input_type: InputType, batch: WarmupInputs) -> bool:
    """Run ``model`` on ``batch`` once; True when it answered every input.

    The batch's own input type must be the container's; the outputs are
    checked as a query's would be, then dropped.
    """
    if batch.input_type is not input_type:
        logger.warning("the warm-up inputs are %s but this container serves %s; serving without a warm-up",
                       batch.input_type.canonical_name, input_type.canonical_name)
        return False
    inputs = unpack_inputs(input_type, batch.packed())
    n = len(batch.inputs)
    start = time.perf_counter()
    try:
        predict_batch(model, input_type, inputs, n)
    except Exception as e:  # noqa: BLE001 - any failure of the user's model is reported, not fatal
        logger.warning("the warm-up batch of %d input(s) failed after %.0f ms with %s: %s; serving anyway, "
                       "but queries like these inputs will get the default output", n,
                       (time.perf_counter() - start) * 1000, type(e).__name__, e)
        return False
    logger.info("warm-up batch of %d input(s) answered in %.0f ms", n, (time.perf_counter() - start) * 1000)
    return True
