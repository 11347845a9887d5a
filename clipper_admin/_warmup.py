"""The client's side of warm-up batches: check the inputs, put ``warmup_inputs.json`` in the model directory.

See :mod:`clipper_protocol.warmup`. The inputs are checked here, before
anything is built, with the same rules a query's inputs meet.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence

from clipper_admin.exceptions import ClipperException
from clipper_protocol.warmup import WARMUP_INPUTS_FILENAME, InvalidWarmupInputs, WarmupInputs, warmup_inputs


def checked_warmup(input_type: str, inputs: Sequence[object] | None) -> WarmupInputs | None:
    """``inputs`` as a warm-up batch (None or an empty list: none); ClipperException naming the first bad input."""
    if inputs is None or (isinstance(inputs, Sequence) and not isinstance(inputs, (str, bytes)) and not inputs):
        return None
    try:
        return warmup_inputs(input_type, inputs)
    except InvalidWarmupInputs as e:
        raise ClipperException(f"{e} (warmup_inputs are given as a query's JSON \"input\" values)") from None


def write_warmup_file(model_dir: str, batch: WarmupInputs | None) -> None:
    """Write ``batch`` into ``model_dir`` (a directory of the deploy's own); nothing for None."""
    if batch is not None:
        with open(os.path.join(model_dir, WARMUP_INPUTS_FILENAME), "w", encoding="utf-8") as f:
            f.write(batch.to_json())


@contextlib.contextmanager
def with_warmup_file(model_data_path: str, batch: WarmupInputs | None) -> Iterator[str]:
    """``model_data_path``, or for a batch a temporary copy of it holding the warm-up file.

    The user's directory is never written to. The copy hard-links the files
    where it can (no data is copied on one file system) and is removed after.
    """
    if batch is None:
        yield model_data_path
        return
    if not os.path.isdir(model_data_path):
        raise ClipperException(f"model_data_path {model_data_path} is not a directory")
    staging = tempfile.mkdtemp(suffix="clipper-warmup")
    try:
        copy = os.path.join(staging, os.path.basename(os.path.normpath(model_data_path)) or "model")
        shutil.copytree(model_data_path, copy, copy_function=_link_or_copy)
        target = os.path.join(copy, WARMUP_INPUTS_FILENAME)
        if os.path.lexists(target):
            os.unlink(target)  # a hard link to the user's own file: replace, never write through
        write_warmup_file(copy, batch)
        yield copy
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst
