"""Train the real-model benchmark's models once and save them where every server loads them.

    python -m bench.real_models_train

On scikit-learn's digits (all 1,797 rows, seeded): ``lr`` a
LogisticRegression and ``rf`` a 100-tree RandomForestClassifier (raw pixels,
joblib files); ``mlp`` bench/frameworks.py's 64 -> 32 -> 10 PyTorch MLP on
pixels / 16 (its state dict) and ``onnx`` that MLP exported by Clipper's own
ONNX exporter (dynamic batch). ``meta.json`` holds the check row (the row
every request body is built from) and each model's own prediction for it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from bench.real_models_common import ARTIFACTS, SCALE, build_mlp, classes, load, model_path

CHECK_ROW = 1
"""The digits row every body is made of (its first pixel, always 0, becomes the nonce)."""


def _train_mlp(x: np.ndarray, y: np.ndarray) -> Any:
    import torch

    torch.manual_seed(0)
    net = build_mlp()
    xt, yt = torch.from_numpy((x / 16).astype(np.float32)), torch.from_numpy(y)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()  # type: ignore[no-untyped-call]
        opt.step()
    return net.eval()


def train() -> dict[str, Any]:
    """Write every model file and meta.json; return the meta."""
    import joblib
    import sklearn
    import torch
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    from clipper_admin.deployers.onnx import export_onnx

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    d = load_digits()
    x, y = d.data.astype(np.float64), d.target.astype(np.int64)
    joblib.dump(LogisticRegression(max_iter=5000).fit(x, y), model_path("lr"))
    joblib.dump(RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1).fit(x, y), model_path("rf"))
    net = _train_mlp(x, y)
    torch.save(net.state_dict(), model_path("mlp"))
    export_onnx(torch, net, torch.zeros(1, 64), str(model_path("onnx")))
    import onnxruntime

    info: dict[str, Any] = {"check_row_index": CHECK_ROW, "rows": {}, "expected": {}, "train_accuracy": {},
                            "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__,
                                         "torch": torch.__version__, "onnxruntime": onnxruntime.__version__}}
    for model, scale in SCALE.items():
        rows = x * scale
        obj = load(model)  # from the files, as the servers will
        info["rows"][model] = rows[CHECK_ROW].tolist()
        info["expected"][model] = classes(model, obj, rows[CHECK_ROW:CHECK_ROW + 1])[0]
        info["train_accuracy"][model] = round(float(np.mean(np.asarray(classes(model, obj, rows)) == y)), 4)
    (ARTIFACTS / "meta.json").write_text(json.dumps(info, indent=1))
    return info


def main() -> int:
    info = train()
    print(json.dumps({k: info[k] for k in ("expected", "train_accuracy", "versions")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
