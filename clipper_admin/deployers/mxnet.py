"""Deploy an MXNet model with a prediction function, as the original's ``deployers.mxnet``.

The model directory holds ``func.pkl``, the checkpoint ``mxnet_model-symbol.json``
+ ``mxnet_model-0000.params`` (epoch 0) and ``mxnet_model_metadata.json``: the
original's ``{"data_shapes": ...}`` plus ``model_type`` and ``label_names``.
``mxnet_model`` is a trained ``mx.mod.Module`` (``save_checkpoint``, as the
original) or a hybridized Gluon ``HybridBlock`` (``export``, the same files);
``model_containers.mxnet_container`` hands ``func`` the Module bound for
inference to ``mxnet_data_shapes``, or a ``mx.gluon.SymbolBlock``.

MXNet is retired upstream (1.9.1, 2022) and needs ``numpy<1.24``: the client
runs in a virtualenv of its own (the project's ``mxnet`` extra). The
default base image is ``{registry}/mxnet{major}{minor}-container:{version}``
(also tagged ``mxnet-container``); on Docker and Kubernetes its label
``ai.clipper.mxnet_version`` must have the caller's major.minor.
"""

from __future__ import annotations

import contextlib
import json
import logging
import operator
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from clipper_admin import images
from clipper_admin._base import validate_versioned_model_name
from clipper_admin.deployers.deployer_utils import (
    builds_docker_images,
    check_framework_image,
    deploy_with_saved_model,
    new_application,
)
from clipper_admin.exceptions import ClipperException
from clipper_protocol.constants import DEFAULT_BATCH_SIZE

logger = logging.getLogger("clipper.admin.deployers")

MXNET_MODEL_RELATIVE_PATH = "mxnet_model"
METADATA_FILE = "mxnet_model_metadata.json"
#: What to install when MXNet is missing here: its last release and the numpy it runs on.
MXNET_INSTALL = "pip install mxnet==1.9.1 'numpy<1.24'"


def default_mxnet_image() -> str:
    """``{registry}/mxnet{major}{minor}-container:{version}`` for this interpreter."""
    return images.image(images.framework_container_name("mxnet"))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # MXNet 1.9.1 warns about numpy and distutils deprecations in its own code.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def import_mxnet(what: str) -> Any:
    """The ``mxnet`` module; ClipperException saying how to install it when it is missing."""
    try:
        with _quiet():
            import mxnet as mx
    except ImportError as e:
        raise ClipperException(
            f"{what} needs MXNet installed in this Python: {MXNET_INSTALL} (or the project's extra: "
            "pip install '.[mxnet]' in a clone), in a virtualenv of its own: MXNet 1.9.1 runs only on "
            f"numpy<1.24, which TensorFlow, pandas and scikit-learn do not ({e})"
        ) from e
    return mx


def normalize_data_shapes(mxnet_data_shapes: Any) -> list[list[Any]]:
    """``[[name, [dims...]], ...]`` from ``provide_data`` (``DataDesc`` s), ``(name, shape)`` pairs,
    or one shape (a list of ints, the input ``data``, as the original's docstring wrote it).

    Raises ClipperException for anything else.
    """
    usage = ("mxnet_data_shapes must be a list of (name, shape) pairs such as [('data', (1, 64))] "
             "(a data iterator's provide_data) or one shape such as [1, 64]")
    if isinstance(mxnet_data_shapes, (list, tuple)) and mxnet_data_shapes and all(
            isinstance(d, int) and not isinstance(d, bool) for d in mxnet_data_shapes):
        mxnet_data_shapes = [("data", mxnet_data_shapes)]
    if not isinstance(mxnet_data_shapes, (list, tuple)) or not mxnet_data_shapes:
        raise ClipperException(f"{usage}, got {mxnet_data_shapes!r}")
    out: list[list[Any]] = []
    for entry in mxnet_data_shapes:
        try:
            name, shape = entry
            dims = [operator.index(d) for d in shape if not isinstance(d, bool)]
        except (TypeError, ValueError):
            raise ClipperException(f"{usage}, got the entry {entry!r}") from None
        if not isinstance(name, str) or not name or not dims or len(dims) != len(shape) or min(dims) < 1:
            raise ClipperException(f"{usage}: names are non-empty strings, shapes positive ints; got {entry!r}")
        out.append([name, dims])
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ClipperException(f"mxnet_data_shapes names an input twice: {names}")
    return out


def _check_model(mx: Any, model: Any, names: list[str]) -> str:
    """``"module"`` or ``"hybrid_block"``; ClipperException for anything that cannot be saved for serving."""
    if isinstance(model, mx.mod.Module):
        if not (model.binded and model.params_initialized):
            raise ClipperException("mxnet_model is a Module without parameters: fit it (or bind and "
                                   "init_params) before deploying")
        if sorted(model.data_names) != sorted(names):
            raise ClipperException(f"mxnet_data_shapes names the inputs {names}, but the Module's data_names "
                                   f"are {list(model.data_names)}")
        return "module"
    if isinstance(model, mx.gluon.HybridBlock):
        # export() needs the graph a hybridized block traces on its first call.
        if not getattr(model, "_cached_graph", None):
            raise ClipperException("mxnet_model is a Gluon HybridBlock that was not hybridized and run: call "
                                   "block.hybridize() and block(x) on one batch before deploying")
        return "hybrid_block"
    raise ClipperException(
        f"mxnet_model must be an MXNet Module (mx.mod.Module) or a Gluon HybridBlock, got {type(model).__name__}; "
        "for a plain Python function use clipper_admin.deployers.python.deploy_python_closure"
    )


def _block_inputs(mx: Any, prefix: str) -> list[str]:
    """The inputs of an exported block: the symbol's inputs that are not parameters."""
    params = {k.split(":", 1)[-1] for k in mx.nd.load(f"{prefix}-0000.params")}
    return [n for n in mx.sym.load(f"{prefix}-symbol.json").list_inputs() if n not in params]


def create_endpoint(
    clipper_conn: Any,
    name: str,
    input_type: str,
    func: Callable[[Any, Any], list[Any]],
    mxnet_model: Any,
    mxnet_data_shapes: Any,
    default_output: str = "None",
    version: Any = 1,
    slo_micros: int = 3000000,
    labels: list[str] | None = None,
    registry: str | None = None,
    base_image: str = "default",
    num_replicas: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pkgs_to_install: list[str] | None = None,
    warmup_inputs: list[Any] | None = None,
) -> None:
    """Register an application, deploy an MXNet model and link the two (both named ``name``).

    See :func:`deploy_mxnet_model` for the model parameters; ``default_output``
    and ``slo_micros`` are the application's.
    """
    with new_application(clipper_conn, name, input_type, default_output, slo_micros):
        deploy_mxnet_model(
            clipper_conn, name, version, input_type, func, mxnet_model, mxnet_data_shapes, base_image, labels,
            registry, num_replicas, batch_size, pkgs_to_install, warmup_inputs=warmup_inputs,
        )  # fmt: skip
    clipper_conn.link_model_to_app(name, name)


def deploy_mxnet_model(
    clipper_conn: Any,
    name: str,
    version: Any,
    input_type: str,
    func: Callable[[Any, Any], list[Any]],
    mxnet_model: Any,
    mxnet_data_shapes: Any,
    base_image: str = "default",
    labels: list[str] | None = None,
    registry: str | None = None,
    num_replicas: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pkgs_to_install: list[str] | None = None,
    warmup_inputs: list[Any] | None = None,
) -> None:
    """Deploy a Python function with an MXNet model; the container calls ``func(model, inputs)``.

    Parameters
    ----------
    clipper_conn, name, version, input_type
        As for :func:`clipper_admin.deployers.python.deploy_python_closure`.
    func : function
        ``func(model, inputs)`` returns a list of as many outputs as inputs;
        ``inputs`` is a numpy array (one row per input) or a list of ``str``;
        ``model`` the bound ``mx.mod.Module`` or the ``mx.gluon.SymbolBlock``.
    mxnet_model : mx.mod.Module or mx.gluon.HybridBlock
        A trained Module, or a hybridized block that has run once.
    mxnet_data_shapes : list
        The inputs' names and shapes, e.g. ``data_iter.provide_data`` or
        ``[("data", (1, 64))]``; the Module is bound to them.
    base_image : str, optional
        "default" picks ``{registry}/mxnet{major}{minor}-container:{version}``.
    labels, registry, num_replicas, batch_size, pkgs_to_install, warmup_inputs
        As for :func:`clipper_admin.deployers.python.deploy_python_closure`.

    Note
    ----
    A Module is bound to one batch shape and Clipper sends batches of any
    size up to ``batch_size``: bind it to batch 1 and deploy with
    ``batch_size=1``, or let ``func`` pad, e.g.
    ``model.predict(mx.io.NDArrayIter(inputs, batch_size=model.data_shapes[0].shape[0],
    last_batch_handle="pad"))`` (``predict`` drops the padding). A SymbolBlock
    takes any batch size.

    Raises
    ------
    :py:exc:`clipper.ClipperException`
        Before anything is built: an invalid name or version, a ``func``
        that is not callable, a model that is not a trained Module or a
        hybridized HybridBlock, malformed ``mxnet_data_shapes`` (or names
        the model does not have), MXNet not installed here, or (Docker,
        Kubernetes) a base image with another MXNet release. Later: a failed
        save, build or deploy.
    """
    version = str(version)
    validate_versioned_model_name(name, version)
    if not callable(func):
        raise ClipperException(f"func must be callable, got {type(func).__name__}")
    mx = import_mxnet("deploy_mxnet_model")
    shapes = normalize_data_shapes(mxnet_data_shapes)
    names = [n for n, _ in shapes]
    model_type = _check_model(mx, mxnet_model, names)
    if base_image == "default":
        base_image = default_mxnet_image()
        logger.info(f"Using MXNet base image {base_image}")
    if builds_docker_images(clipper_conn):
        check_framework_image(base_image, images.MXNET_VERSION_LABEL, "MXNet", str(mx.__version__), "mxnet",
                              requirements="requirements-mxnet.txt")

    def save(model_dir: str) -> None:
        prefix = os.path.join(model_dir, MXNET_MODEL_RELATIVE_PATH)
        label_names: list[str] = []
        with _quiet():
            if model_type == "module":
                mxnet_model.save_checkpoint(prefix=prefix, epoch=0)
                arguments = set(mxnet_model.symbol.list_arguments())
                label_names = [n for n in mxnet_model.label_names or () if n in arguments]
            else:
                mxnet_model.export(prefix, epoch=0)
                inputs = _block_inputs(mx, prefix)
                if sorted(inputs) != sorted(names):
                    raise ClipperException(f"mxnet_data_shapes names the inputs {names}, but the exported block's "
                                           f"inputs are {inputs}")
        with open(os.path.join(model_dir, METADATA_FILE), "w") as f:
            json.dump({"data_shapes": shapes, "model_type": model_type, "label_names": label_names}, f)
        logger.info("MXNet model saved")

    deploy_with_saved_model(
        clipper_conn, name, version, input_type, func, save, f"Could not save the MXNet model of {name}:{version}",
        base_image, labels, registry, num_replicas, batch_size, pkgs_to_install, warmup_inputs=warmup_inputs,
    )  # fmt: skip
