"""Small real models trained in a second or two on scikit-learn's digits, and their prediction functions.

The functions live here, in the project, so the deployers ship them (and
this module) by value, as they would a user's own module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.frameworks.support import digits


def train_mlp(seed: int, epochs: int, hidden: int = 32) -> Any:
    """A torch MLP 64 -> hidden -> 10 trained full-batch with Adam on all digits."""
    import torch

    torch.manual_seed(seed)
    x, y = digits()
    xt, yt = torch.from_numpy((x / 16.0).astype(np.float32)), torch.from_numpy(y)
    model = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        optimizer.step()
    return model.eval()


def torch_classes(model: Any, rows: np.ndarray) -> list[int]:
    """The model's own predictions, computed here."""
    import torch

    with torch.no_grad():
        return [int(c) for c in model(torch.from_numpy((rows / 16.0).astype(np.float32))).argmax(dim=1)]


def predict_torch(model: Any, inputs: Any) -> list[str]:
    """``func`` of the PyTorch deployer: the class of each input."""
    import torch

    x = torch.from_numpy((np.asarray(inputs, dtype=np.float64) / 16.0).astype(np.float32))
    return [str(int(c)) for c in model(x).argmax(dim=1)]


def predict_torch_original_style(model: Any, inputs: Any) -> list[str]:
    """As the original's examples wrote it: ``.data.numpy()`` on the output."""
    import torch

    out = model(torch.from_numpy((np.asarray(inputs) / 16.0).astype(np.float32))).data.numpy()
    return [str(int(np.argmax(row))) for row in out]


def predict_or_raise(model: Any, inputs: Any) -> list[str]:
    """Raises for an input with a negative feature (a model that fails on some batches)."""
    if (np.asarray(inputs) < 0).any():
        raise ValueError("negative pixel intensity")
    return predict_torch(model, inputs)


def predict_onnx(model: Any, inputs: Any) -> list[str]:
    """``func`` of the ONNX deployer, written as for the original's Caffe2 backend: ``model.run(array)``."""
    preds = model.run((np.asarray(inputs) / 16.0).astype(np.float32))
    return [str(int(np.argmax(p))) for p in preds[0]]


def train_booster(seed: int, rounds: int) -> Any:
    """An XGBoost multi-class booster (10 classes) on the digits."""
    import xgboost as xgb

    x, y = digits()
    return xgb.train({"objective": "multi:softmax", "num_class": 10, "max_depth": 3, "seed": seed,
                      "nthread": 1}, xgb.DMatrix(x, label=y), num_boost_round=rounds)


def booster_classes(booster: Any, rows: np.ndarray) -> list[int]:
    import xgboost as xgb

    return [int(c) for c in booster.predict(xgb.DMatrix(rows))]


def xgboost_closure(booster: Any) -> Any:
    """A closure over ``booster``, deployed with ``pkgs_to_install=['xgboost']`` as users write it."""

    def predict(inputs: Any) -> list[str]:
        import xgboost as xgb

        return [str(int(c)) for c in booster.predict(xgb.DMatrix(np.asarray(inputs)))]

    return predict
