"""``python -m model_containers.onnx_container``: serves an ONNX model with onnxruntime.

The original served ``model.onnx`` with Caffe2's ONNX backend
(``caffe2.python.onnx.backend.prepare(model, device="CPU")``) and called
``func(model, inputs)`` with that prepared backend. Caffe2 no longer exists;
here an onnxruntime ``InferenceSession`` serves the file, wrapped in
:class:`OnnxRuntimeBackendRep`, whose ``run(inputs)`` answers as the Caffe2
backend's did, so a function written for the original works unchanged::

    def predict(model, inputs):
        preds = model.run(np.array(inputs).astype(np.float32))
        return [str(p) for p in preds[0]]

``model.session`` is the ``InferenceSession`` itself, for functions written
against onnxruntime. ``onnx_backend="caffe2"`` (the original's only choice)
and ``"onnxruntime"`` are both served this way; the start-up log says so.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from model_containers.framework_container import Framework, FrameworkLoadError, run_framework_container

logger = logging.getLogger("clipper.container")

MODEL_RELATIVE_PATH = "model.onnx"
#: Written by the deployer: {"onnx_backend": ..., "opset": ...}; absent in the original's deploys.
METADATA_RELATIVE_PATH = "onnx_metadata.json"

# ONNX tensor element types → numpy dtypes, for casting inputs as the model declares them.
_ONNX_DTYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int8)": np.int8, "tensor(int16)": np.int16, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8, "tensor(uint16)": np.uint16, "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64, "tensor(bool)": np.bool_,
}  # fmt: skip


class OnnxRuntimeBackendRep:
    """An onnxruntime session with the Caffe2 ONNX backend's ``run``.

    ``run(inputs)`` takes one array (the model's first input), a sequence of
    arrays (the inputs in order) or a mapping of input names to arrays;
    each is cast to the element type the model declares. It returns the
    list of the model's outputs, in order.
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self.inputs = list(session.get_inputs())
        self.input_names = [i.name for i in self.inputs]
        self.output_names = [o.name for o in session.get_outputs()]

    def _cast(self, index: int, value: Any) -> Any:
        dtype = _ONNX_DTYPES.get(self.inputs[index].type)
        array = np.asarray(value)
        return array if dtype is None or array.dtype == dtype else array.astype(dtype)

    def run(self, inputs: Any, **kwargs: Any) -> list[Any]:
        if isinstance(inputs, Mapping):
            index = {n: i for i, n in enumerate(self.input_names)}
            feed = {n: self._cast(index[n], v) if n in index else v for n, v in inputs.items()}
        elif isinstance(inputs, np.ndarray) or not isinstance(inputs, Sequence):
            feed = {self.input_names[0]: self._cast(0, inputs)}
        else:
            if len(inputs) != len(self.input_names):
                raise ValueError(f"the model takes {len(self.input_names)} inputs {self.input_names}, got {len(inputs)}")
            feed = {n: self._cast(i, v) for i, (n, v) in enumerate(zip(self.input_names, inputs, strict=True))}
        outputs: list[Any] = self.session.run(None, feed)
        return outputs


def load_onnx_model(path: str) -> OnnxRuntimeBackendRep:
    """An onnxruntime session (CPU) for ``<path>/model.onnx``, wrapped as the Caffe2 backend."""
    import onnxruntime

    backend = "caffe2"
    meta_file = os.path.join(path, METADATA_RELATIVE_PATH)
    if os.path.isfile(meta_file):
        try:
            with open(meta_file) as f:
                backend = str(json.load(f).get("onnx_backend", backend))
        except (OSError, ValueError) as e:
            raise FrameworkLoadError(f"cannot read {meta_file}: {e}") from e
    if backend == "caffe2":
        logger.info("onnx_backend='caffe2' requested: Caffe2 no longer exists; onnxruntime %s serves "
                    "the model with the Caffe2 backend's run()", onnxruntime.__version__)
    else:
        logger.info("onnx_backend=%r: onnxruntime %s serves the model", backend, onnxruntime.__version__)
    options = onnxruntime.SessionOptions()
    session = onnxruntime.InferenceSession(os.path.join(path, MODEL_RELATIVE_PATH), sess_options=options,
                                           providers=["CPUExecutionProvider"])
    return OnnxRuntimeBackendRep(session)


def _onnxruntime_version() -> str:
    import onnxruntime

    return f"(onnxruntime {onnxruntime.__version__})"


ONNX = Framework("ONNX", load_onnx_model, files=(MODEL_RELATIVE_PATH,), version=_onnxruntime_version)


def main() -> int:
    return run_framework_container(ONNX)


if __name__ == "__main__":
    sys.exit(main())
