"""``python -m model_containers.pytorch_container``: serves a PyTorch model with its function.

The deployer (``clipper_admin.deployers.pytorch``) writes, as the original's:
``func.pkl`` (the function ``func(model, inputs)``), ``pytorch_model.pkl``
(the ``torch.nn.Module``, cloudpickled) and ``pytorch_weights.pkl`` (its
``state_dict()``, saved with ``torch.save``). The module is unpickled and
its weights loaded once, at start; every batch then runs
``func(model, inputs)`` under ``torch.no_grad()``, so ``model(x).numpy()``
works as ``model(x).data.numpy()`` does. The module's train/eval mode is the
one it was deployed in.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import cloudpickle

from model_containers.framework_container import Framework, FrameworkLoadError, run_framework_container

PYTORCH_WEIGHTS_RELATIVE_PATH = "pytorch_weights.pkl"
PYTORCH_MODEL_RELATIVE_PATH = "pytorch_model.pkl"


def load_pytorch_model(path: str) -> Any:
    """The cloudpickled module of ``path`` with the saved state dict loaded into it."""
    import torch

    with open(os.path.join(path, PYTORCH_MODEL_RELATIVE_PATH), "rb") as f:
        model = cloudpickle.load(f)
    if not isinstance(model, torch.nn.Module):
        raise FrameworkLoadError(f"{PYTORCH_MODEL_RELATIVE_PATH} holds a {type(model).__name__}, not a torch.nn.Module")
    # A state dict is tensors in (ordered) dicts: the safe loader reads it.
    state = torch.load(os.path.join(path, PYTORCH_WEIGHTS_RELATIVE_PATH), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model


def _no_grad() -> Any:
    import torch

    return torch.no_grad()


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


PYTORCH = Framework(
    "PyTorch",
    load_pytorch_model,
    files=(PYTORCH_MODEL_RELATIVE_PATH, PYTORCH_WEIGHTS_RELATIVE_PATH),
    predict_context=_no_grad,
    version=_torch_version,
)


def main() -> int:
    return run_framework_container(PYTORCH)


if __name__ == "__main__":
    sys.exit(main())
