"""``python -m model_containers.mxnet_container``: serves an MXNet model with its function.

The deployer (``clipper_admin.deployers.mxnet``) writes, as the original's:
``func.pkl`` (the function ``func(model, inputs)``), the checkpoint
``mxnet_model-symbol.json`` + ``mxnet_model-0000.params`` (epoch 0) and
``mxnet_model_metadata.json`` — ``{"data_shapes": [[name, shape], ...]}``,
plus our ``model_type`` (``"module"``, the original's only kind, or
``"hybrid_block"``) and ``label_names``. Metadata without them (the
original's) is read as a Module with the default label ``softmax_label``.

- A Module is rebuilt as the original did: ``mx.model.load_checkpoint``,
  ``mx.mod.Module(symbol)``, ``bind(data_shapes, for_training=False)``,
  ``set_params``. It stays bound to those shapes, batch size included.
- A Gluon ``HybridBlock`` comes back as ``mx.gluon.SymbolBlock.imports(...)``,
  callable on an NDArray of any batch size.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

from model_containers.framework_container import Framework, FrameworkLoadError, run_framework_container

MXNET_MODEL_PREFIX = "mxnet_model"
SYMBOL_FILE = f"{MXNET_MODEL_PREFIX}-symbol.json"
PARAMS_FILE = f"{MXNET_MODEL_PREFIX}-0000.params"
METADATA_FILE = "mxnet_model_metadata.json"
MODULE = "module"
HYBRID_BLOCK = "hybrid_block"
MODEL_TYPES = (MODULE, HYBRID_BLOCK)
#: ``mx.mod.Module``'s default label name, assumed for the original's metadata.
DEFAULT_LABEL_NAMES = ("softmax_label",)

Shapes = list[tuple[str, tuple[int, ...]]]


@contextlib.contextmanager
def quiet_mxnet() -> Iterator[None]:
    """Hide the warnings MXNet 1.9.1 raises from its own code (numpy and distutils deprecations,
    ``SymbolBlock.imports``' "Cannot decide type"); nothing a user can act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def import_mxnet() -> Any:
    """The ``mxnet`` module, imported quietly (ImportError when it is missing)."""
    # One "Subgraph backend MKLDNN is activated" line per bind otherwise.
    os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")
    with quiet_mxnet():
        import mxnet as mx
    return mx


def read_metadata(path: str) -> tuple[Shapes, str, list[str]]:
    """``(data_shapes, model_type, label_names)`` of ``mxnet_model_metadata.json``; FrameworkLoadError if malformed."""
    file = os.path.join(path, METADATA_FILE)
    try:
        with open(file) as f:
            meta = json.load(f)
        shapes = [(str(name), tuple(int(d) for d in shape)) for name, shape in meta["data_shapes"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise FrameworkLoadError(f"{file}: no valid data_shapes ([[name, [dims...]], ...]): "
                                 f"{type(e).__name__}: {e}") from e
    model_type = meta.get("model_type", MODULE)
    if model_type not in MODEL_TYPES:
        raise FrameworkLoadError(f"{file}: model_type {model_type!r} is not one of {', '.join(MODEL_TYPES)}")
    return shapes, model_type, [str(n) for n in meta.get("label_names", DEFAULT_LABEL_NAMES)]


def _label_shapes(symbol: Any, shapes: Shapes, labels: list[str]) -> Shapes | None:
    """The labels' shapes inferred from the data's (bind warns about labels it gets no shape for)."""
    if not labels:
        return None
    try:
        arg_shapes, _, _ = symbol.infer_shape(**dict(shapes))
    except Exception:  # noqa: BLE001 - not inferable: bind without them
        return None
    if arg_shapes is None:
        return None
    inferred = dict(zip(symbol.list_arguments(), arg_shapes))
    return [(n, tuple(inferred[n])) for n in labels]


def load_mxnet_model(path: str) -> Any:
    """The bound Module, or the SymbolBlock, of a model directory."""
    shapes, model_type, label_names = read_metadata(path)
    mx = import_mxnet()
    prefix = os.path.join(path, MXNET_MODEL_PREFIX)
    with quiet_mxnet():
        if model_type == HYBRID_BLOCK:
            return mx.gluon.SymbolBlock.imports(os.path.join(path, SYMBOL_FILE), [n for n, _ in shapes],
                                                os.path.join(path, PARAMS_FILE), ctx=mx.cpu())
        symbol, arg_params, aux_params = mx.model.load_checkpoint(prefix, 0)
        arguments = set(symbol.list_arguments())
        labels = [n for n in label_names if n in arguments]
        module = mx.mod.Module(symbol=symbol, data_names=[n for n, _ in shapes], label_names=labels,
                               context=mx.cpu())
        # Tuples, not JSON lists: Module.forward re-binds whenever a batch's shape differs from the bound one.
        module.bind(data_shapes=shapes, label_shapes=_label_shapes(symbol, shapes, labels), for_training=False)
        module.set_params(arg_params, aux_params)
    return module


def _mxnet_version() -> str:
    return str(import_mxnet().__version__)


MXNET = Framework("MXNet", load_mxnet_model, files=(SYMBOL_FILE, PARAMS_FILE, METADATA_FILE),
                  version=_mxnet_version)


def main() -> int:
    return run_framework_container(MXNET)


if __name__ == "__main__":
    sys.exit(main())
