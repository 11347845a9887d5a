"""What every server of the real-model benchmark shares: files, loading, prediction, bodies.

Imported by Clipper's side (``bench.real_models_common``) and by every peer's
server from its own virtual environment (``real_models_common``, with
``bench/`` on ``PYTHONPATH``), so it needs only the standard library and
numpy at import time; scikit-learn, torch and onnxruntime are imported when
a model of theirs is loaded.

The models (``bench/real_models_train.py`` writes them once per run into
:data:`ARTIFACTS`): ``lr`` and ``rf`` take raw digits pixels (0..16), ``mlp``
and ``onnx`` the pixels divided by 16. Each answers the predicted class.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "results" / "real_models" / "artifacts"
BATCH_DIR = HERE / "results" / "real_models" / "batches"
MODELS = ("lr", "rf", "mlp", "onnx")
FILES = {"lr": "lr.joblib", "rf": "rf.joblib", "mlp": "mlp.pt", "onnx": "mlp.onnx"}
SCALE = {"lr": 1.0, "rf": 1.0, "mlp": 1 / 16, "onnx": 1 / 16}
"""Each model's input: the digits row times this."""
FLUSH_EVERY_S = 0.2

Predict = Callable[[np.ndarray], list[int]]


def model_path(model: str) -> Path:
    return ARTIFACTS / FILES[model]


def meta() -> dict[str, Any]:
    """What training wrote: the check row and expected class per model, versions."""
    result: dict[str, Any] = json.loads((ARTIFACTS / "meta.json").read_text())
    return result


def build_mlp() -> Any:
    """The architecture of bench/frameworks.py's ``_mlp``: 64 -> 32 -> ReLU -> 10."""
    import torch

    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))


def load(model: str) -> Any:
    """The model object from its file (an estimator, a torch module, an onnxruntime session)."""
    path = str(model_path(model))
    if model in ("lr", "rf"):
        import joblib

        return joblib.load(path)
    if model == "mlp":
        import torch

        net = build_mlp()
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return net.eval()
    if model == "onnx":
        import onnxruntime

        # Default session options, as Clipper's ONNX container makes them.
        return onnxruntime.InferenceSession(path, sess_options=onnxruntime.SessionOptions(),
                                            providers=["CPUExecutionProvider"])
    raise ValueError(model)


def torch_classes(net: Any, rows: np.ndarray) -> list[int]:
    """The MLP's classes for ``rows`` (already scaled), one intra-op thread as every server uses."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    with torch.inference_mode():
        return [int(c) for c in net(torch.from_numpy(np.asarray(rows, dtype=np.float32))).argmax(1)]


def classes(model: str, obj: Any, rows: np.ndarray) -> list[int]:
    """Predicted classes of ``rows`` (N x 64, scaled as the model expects)."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 64)
    if model in ("lr", "rf"):
        return [int(c) for c in obj.predict(rows)]
    if model == "mlp":
        return torch_classes(obj, rows)
    if model == "onnx":
        name = obj.get_inputs()[0].name
        return [int(c) for c in obj.run(None, {name: rows.astype(np.float32)})[0].argmax(1)]
    raise ValueError(model)


class BatchCounter:
    """Exact batch-size table, written as bench/batch_probe.py's files (read with its ``read_counts``)."""

    def __init__(self, tag: str, outdir: Path | str) -> None:
        self.tag, self.outdir = tag, str(outdir)
        self.counts: dict[int, int] = {}
        self.last = 0.0

    def add(self, n: int) -> None:
        self.counts[n] = self.counts.get(n, 0) + 1
        now = time.monotonic()
        if now - self.last > FLUSH_EVERY_S:
            self.last = now
            os.makedirs(self.outdir, exist_ok=True)
            path = os.path.join(self.outdir, f"{self.tag}-{os.getpid()}.json")
            with open(path + ".tmp", "w") as f:
                json.dump(self.counts, f)
            os.replace(path + ".tmp", path)


def peer_batch_dir() -> Path:
    """A peer's batch tables go under its venv's name (the server knows it from ``sys.prefix``)."""
    return BATCH_DIR / Path(sys.prefix).name


def predictor(model: str, counter: BatchCounter | None = None) -> Predict:
    """Load ``model`` and return a batch predict function that counts its batches."""
    obj = load(model)
    count = counter or BatchCounter(model, peer_batch_dir())

    def predict(rows: np.ndarray) -> list[int]:
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 64)
        count.add(len(rows))
        return classes(model, obj, rows)

    return predict


def row_text(row: list[float]) -> str:
    """The 63 doubles after the nonce, as JSON numbers."""
    return ",".join(repr(float(v)) for v in row[1:])


def template(style: str, row: list[float], name: str = "") -> str:
    """A request body with NONCE as the first element, in one of the servers' formats."""
    rest = row_text(row)
    if style == "plain":  # Clipper, LitServe, Ray Serve, TorchServe
        return '{"input":[NONCE,' + rest + "]}"
    if style == "nested":  # BentoML's batchable ndarray argument
        return '{"input":[[NONCE,' + rest + "]]}"
    if style == "v1":  # KServe's v1 protocol
        return '{"instances":[[NONCE,' + rest + "]]}"
    if style == "v2":  # Open Inference Protocol (MLServer, Triton)
        return '{"inputs":[{"name":"x","shape":[1,64],"datatype":"FP64","data":[NONCE,' + rest + "]}]}"
    raise ValueError(style)


def extract_class(reply: Any) -> int | None:
    """The predicted class in any of the servers' replies (the first number found)."""
    if isinstance(reply, bool):
        return None
    if isinstance(reply, (int, float)):
        return int(reply)
    if isinstance(reply, str):
        try:
            return int(float(reply))
        except ValueError:
            try:
                return extract_class(json.loads(reply))
            except ValueError:
                return None
    if isinstance(reply, list):
        return extract_class(reply[0]) if reply else None
    if isinstance(reply, dict):
        for key in ("output", "outputs", "predictions", "data", "predict"):
            if key in reply:
                return extract_class(reply[key])
    return None
