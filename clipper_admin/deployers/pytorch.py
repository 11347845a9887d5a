"""Deploy a PyTorch model (a ``torch.nn.Module``) with a prediction function, as the original.

The model directory holds ``func.pkl`` (the cloudpickled ``func``),
``pytorch_weights.pkl`` (``torch.save(model.state_dict())``) and
``pytorch_model.pkl`` (the cloudpickled module). The PyTorch container
(``model_containers.pytorch_container``) loads the module and its weights
once per replica and calls ``func(model, inputs)`` on every batch, under
``torch.no_grad()``; each output is sent back as ``str(output)``.

The default base image is ``{registry}/pytorch{major}{minor}-container:{version}``
for the caller's Python (``pytorch311-container``; also tagged
``pytorch-container``). On Docker and Kubernetes the image's PyTorch
(label ``ai.clipper.pytorch_version``) must have the caller's major.minor;
the local cluster serves the model with this Python's ``torch``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from clipper_admin import images
from clipper_admin._base import validate_versioned_model_name
from clipper_admin.deployers.deployer_utils import (
    builds_docker_images,
    check_framework_image,
    deploy_with_saved_model,
    new_application,
    serialize_object,
)
from clipper_admin.exceptions import ClipperException
from clipper_protocol.constants import DEFAULT_BATCH_SIZE

logger = logging.getLogger("clipper.admin.deployers")

PYTORCH_WEIGHTS_RELATIVE_PATH = "pytorch_weights.pkl"
PYTORCH_MODEL_RELATIVE_PATH = "pytorch_model.pkl"

#: What to install when PyTorch is missing here (the CPU build of the images' version).
TORCH_INSTALL = "pip install torch==2.13.0"


def default_pytorch_image() -> str:
    """``{registry}/pytorch{major}{minor}-container:{version}`` for this interpreter."""
    return images.image(images.framework_container_name("pytorch"))


def import_torch(what: str) -> Any:
    """The ``torch`` module; ClipperException saying how to install it when it is missing."""
    try:
        import torch
    except ImportError as e:
        raise ClipperException(
            f"{what} needs PyTorch installed in this Python: {TORCH_INSTALL} "
            f"(the CPU build serves models; the same version as the pytorch image) ({e})"
        ) from e
    return torch


def require_module(torch: Any, pytorch_model: Any, argument: str = "pytorch_model") -> None:
    """Refuse anything but a ``torch.nn.Module``."""
    if not isinstance(pytorch_model, torch.nn.Module):
        raise ClipperException(
            f"{argument} must be a torch.nn.Module (a trained PyTorch model), got {type(pytorch_model).__name__}; "
            "for a plain Python function use clipper_admin.deployers.python.deploy_python_closure"
        )


def create_endpoint(
    clipper_conn: Any,
    name: str,
    input_type: str,
    func: Callable[[Any, Any], list[Any]],
    pytorch_model: Any,
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
    """Register an application, deploy a PyTorch model and link the two (both named ``name``).

    See :func:`deploy_pytorch_model` for the model parameters; ``default_output``
    and ``slo_micros`` are the application's.
    """
    with new_application(clipper_conn, name, input_type, default_output, slo_micros):
        deploy_pytorch_model(
            clipper_conn, name, version, input_type, func, pytorch_model, base_image, labels, registry, num_replicas,
            batch_size, pkgs_to_install, warmup_inputs=warmup_inputs,
        )  # fmt: skip
    clipper_conn.link_model_to_app(name, name)


def deploy_pytorch_model(
    clipper_conn: Any,
    name: str,
    version: Any,
    input_type: str,
    func: Callable[[Any, Any], list[Any]],
    pytorch_model: Any,
    base_image: str = "default",
    labels: list[str] | None = None,
    registry: str | None = None,
    num_replicas: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pkgs_to_install: list[str] | None = None,
    warmup_inputs: list[Any] | None = None,
) -> None:
    """Deploy a Python function with a PyTorch model; the container calls ``func(model, inputs)``.

    Parameters
    ----------
    clipper_conn : :py:meth:`clipper_admin.ClipperConnection`
        A connected ClipperConnection.
    name : str
        The model's name (a DNS-1123 label).
    version : Any
        The version (``str()``-converted), same rule as ``name``.
    input_type : str
        One of "integers", "floats", "doubles", "bytes", "strings".
    func : function
        ``func(model, inputs)`` returns a list of as many outputs as inputs.
        Numeric inputs arrive as a numpy array (one row per input when they
        have one length), strings as a list of ``str``.
    pytorch_model : torch.nn.Module
        The model; saved as its state dict plus the cloudpickled module.
    base_image : str, optional
        "default" picks ``{registry}/pytorch{major}{minor}-container:{version}``.
    labels, registry, num_replicas, batch_size, pkgs_to_install, warmup_inputs
        As for :func:`clipper_admin.deployers.python.deploy_python_closure`.

    Raises
    ------
    :py:exc:`clipper.ClipperException`
        Before anything is built: an invalid name or version, a ``func``
        that is not callable, ``pytorch_model`` not a ``torch.nn.Module``,
        PyTorch not installed here, or (Docker, Kubernetes) a base image
        with another PyTorch release. Later: a failed save, build or deploy.

    Example
    -------
    ::

        from torch import nn
        from clipper_admin.deployers.pytorch import deploy_pytorch_model

        model = nn.Linear(4, 1)

        def predict(model, inputs):
            return [str(y) for y in model(torch.from_numpy(inputs).float()).numpy()[:, 0]]

        deploy_pytorch_model(clipper_conn, name="example", version=1, input_type="doubles",
                             func=predict, pytorch_model=model)
    """
    version = str(version)
    validate_versioned_model_name(name, version)
    if not callable(func):
        raise ClipperException(f"func must be callable, got {type(func).__name__}")
    torch = import_torch("deploy_pytorch_model")
    require_module(torch, pytorch_model)
    if base_image == "default":
        base_image = default_pytorch_image()
        logger.info(f"Using PyTorch base image {base_image}")
    if builds_docker_images(clipper_conn):
        # A pickled nn.Module carries the internals of the PyTorch that pickled it.
        check_framework_image(base_image, images.PYTORCH_VERSION_LABEL, "PyTorch", str(torch.__version__), "torch",
                              "requirements-pytorch.txt")
    def save(model_dir: str) -> None:
        torch.save(pytorch_model.state_dict(), os.path.join(model_dir, PYTORCH_WEIGHTS_RELATIVE_PATH))
        with open(os.path.join(model_dir, PYTORCH_MODEL_RELATIVE_PATH), "wb") as f:
            f.write(serialize_object(pytorch_model))
        logger.info("Torch model saved")

    deploy_with_saved_model(
        clipper_conn, name, version, input_type, func, save, f"Could not save the PyTorch model of {name}:{version}",
        base_image, labels, registry, num_replicas, batch_size, pkgs_to_install, warmup_inputs=warmup_inputs,
    )  # fmt: skip
