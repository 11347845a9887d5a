"""Deploy a PyTorch model exported to ONNX, as the original's (experimental) ONNX deployer.

The model is exported with ``torch.onnx.export`` to ``model.onnx`` next to
``func.pkl``; the ONNX container (``model_containers.onnx_container``) loads
it once per replica and calls ``func(model, inputs)`` on every batch. The
original served the file with Caffe2, which no longer exists: onnxruntime
serves it here, and ``model.run(inputs)`` answers as the Caffe2 backend's
did (a list of the model's outputs), so functions written for the original
work unchanged; ``model.session`` is the onnxruntime ``InferenceSession``.

The export takes ``inputs`` as the sample input, as the original; the first
dimension of every input of rank two or more (and of every output) is
exported as a dynamic batch dimension, so a batch of any size runs.

Default base image: ``{registry}/caffe2-onnx-container:{version}`` for
``onnx_backend="caffe2"`` (the original's), ``{registry}/onnx-container:{version}``
for ``"onnxruntime"``; they are one image. On Docker and Kubernetes, a model
whose ONNX opset is newer than the image's onnxruntime supports (label
``ai.clipper.onnx_max_opset``) is refused before the build.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable
from typing import Any

from clipper_admin import images
from clipper_admin._base import validate_versioned_model_name
from clipper_admin.deployers.deployer_utils import (
    builds_docker_images,
    deploy_with_saved_model,
    image_labels,
    new_application,
)
from clipper_admin.deployers.pytorch import import_torch, require_module
from clipper_admin.exceptions import ClipperException
from clipper_protocol.constants import DEFAULT_BATCH_SIZE

logger = logging.getLogger("clipper.admin.deployers")

MODEL_RELATIVE_PATH = "model.onnx"
METADATA_RELATIVE_PATH = "onnx_metadata.json"

#: Accepted values of ``onnx_backend``; both are served by onnxruntime.
ONNX_BACKENDS = ("caffe2", "onnxruntime")


def default_onnx_image(onnx_backend: str) -> str:
    name = images.CAFFE2_ONNX_CONTAINER if onnx_backend == "caffe2" else images.ONNX_CONTAINER
    return images.image(name)


def _input_tuple(inputs: Any) -> tuple[Any, ...]:
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def export_onnx(torch: Any, pytorch_model: Any, inputs: Any, path: str) -> None:
    """``torch.onnx.export`` (the TorchScript exporter, which needs no extra package) with a dynamic batch."""
    args = _input_tuple(inputs)
    input_names = [f"input_{i}" if len(args) > 1 else "input" for i in range(len(args))]
    dynamic_axes: dict[str, dict[int, str]] = {
        n: {0: "batch"} for n, a in zip(input_names, args, strict=True) if getattr(a, "dim", lambda: 0)() >= 2
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer warnings
        if dynamic_axes:
            with torch.no_grad():
                sample = pytorch_model(*args)
            outputs = _input_tuple(sample)
            output_names = [f"output_{i}" if len(outputs) > 1 else "output" for i in range(len(outputs))]
            dynamic_axes.update({n: {0: "batch"} for n, o in zip(output_names, outputs, strict=True)
                                 if getattr(o, "dim", lambda: 0)() >= 1})
            try:
                torch.onnx.export(pytorch_model, args, path, export_params=True, dynamo=False,
                                  input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes)
                return
            except Exception as e:  # noqa: BLE001 - a model whose batch cannot vary: export it as sampled
                logger.info(f"Exporting with a dynamic batch dimension failed ({e}); exporting fixed shapes")
        torch.onnx.export(pytorch_model, args, path, export_params=True, dynamo=False, input_names=input_names)


def model_opset(path: str) -> int | None:
    """The default-domain opset of an ONNX file (None without the ``onnx`` package)."""
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load(path, load_external_data=False)
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return None


def check_onnx_image(base_image: str, opset: int | None) -> None:
    """Refuse a base image whose onnxruntime cannot run opset ``opset``; images without the label pass."""
    if opset is None:
        return
    labels = image_labels(base_image)
    if labels is None:
        return
    supported = labels.get(images.ONNX_MAX_OPSET_LABEL)
    if supported is None or not supported.isdigit():
        logger.warning(f"Base image {base_image} has no {images.ONNX_MAX_OPSET_LABEL} label; not checking its opset")
        return
    if opset > int(supported):
        runtime = labels.get(images.ONNXRUNTIME_VERSION_LABEL, "its onnxruntime")
        raise ClipperException(
            f"The exported model uses ONNX opset {opset}, but base image {base_image} (onnxruntime {runtime}) "
            f"runs opsets up to {supported}. Use a PyTorch that exports opset {supported} or older here, or build "
            "the onnx image with a newer onnxruntime (dockerfiles/requirements-onnx.txt, then `make images`)."
        )


def create_pytorch_endpoint(
    clipper_conn: Any,
    name: str,
    input_type: str,
    inputs: Any,
    func: Callable[[Any, Any], list[Any]],
    pytorch_model: Any,
    default_output: str = "None",
    version: Any = 1,
    slo_micros: int = 3000000,
    labels: list[str] | None = None,
    registry: str | None = None,
    base_image: str | None = None,
    num_replicas: int = 1,
    onnx_backend: str = "caffe2",
    batch_size: int = DEFAULT_BATCH_SIZE,
    pkgs_to_install: list[str] | None = None,
    warmup_inputs: list[Any] | None = None,
) -> None:
    """Register an application, deploy a PyTorch model as ONNX and link the two (both named ``name``).

    See :func:`deploy_pytorch_model` for the model parameters; ``default_output``
    and ``slo_micros`` are the application's.
    """
    with new_application(clipper_conn, name, input_type, default_output, slo_micros):
        deploy_pytorch_model(
            clipper_conn, name, version, input_type, inputs, func, pytorch_model, base_image, labels, registry,
            num_replicas, onnx_backend, batch_size, pkgs_to_install, warmup_inputs=warmup_inputs,
        )  # fmt: skip
    clipper_conn.link_model_to_app(name, name)


def deploy_pytorch_model(
    clipper_conn: Any,
    name: str,
    version: Any,
    input_type: str,
    inputs: Any,
    func: Callable[[Any, Any], list[Any]],
    pytorch_model: Any,
    base_image: str | None = None,
    labels: list[str] | None = None,
    registry: str | None = None,
    num_replicas: int = 1,
    onnx_backend: str = "caffe2",
    batch_size: int = DEFAULT_BATCH_SIZE,
    pkgs_to_install: list[str] | None = None,
    warmup_inputs: list[Any] | None = None,
) -> None:
    """Export a PyTorch model to ONNX and deploy it; the container calls ``func(model, inputs)``.

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
    inputs : torch.Tensor or tuple of them
        A sample input of ``pytorch_model``, for the export.
    func : function
        ``func(model, inputs)`` returns a list of as many outputs as inputs;
        ``model.run(array)`` returns the model's outputs (a list).
    pytorch_model : torch.nn.Module
        The model to export.
    base_image : str, optional
        None picks the ONNX image for ``onnx_backend``.
    onnx_backend : str, optional
        "caffe2" (the original's, default) or "onnxruntime"; onnxruntime
        serves both.
    labels, registry, num_replicas, batch_size, pkgs_to_install, warmup_inputs
        As for :func:`clipper_admin.deployers.python.deploy_python_closure`.

    Raises
    ------
    :py:exc:`clipper.ClipperException`
        Before anything is built: an invalid name, version or backend, a
        ``func`` that is not callable, ``pytorch_model`` not a
        ``torch.nn.Module``, PyTorch not installed here, a failed export, or
        (Docker, Kubernetes) an opset the image's onnxruntime does not run.
        Unlike the original, a failed export is raised, not only logged.
    """
    version = str(version)
    validate_versioned_model_name(name, version)
    if not callable(func):
        raise ClipperException(f"func must be callable, got {type(func).__name__}")
    if onnx_backend not in ONNX_BACKENDS:
        raise ClipperException(
            f"{onnx_backend} ONNX backend is not supported: use onnx_backend='caffe2' (the original's) or "
            "'onnxruntime'; onnxruntime serves both"
        )
    torch = import_torch("The ONNX deployer")
    require_module(torch, pytorch_model)
    if base_image is None:
        base_image = default_onnx_image(onnx_backend)
        logger.info(f"Using ONNX base image {base_image}")
    def save(model_dir: str) -> None:
        model_path = os.path.join(model_dir, MODEL_RELATIVE_PATH)
        export_onnx(torch, pytorch_model, inputs, model_path)
        opset = model_opset(model_path)
        with open(os.path.join(model_dir, METADATA_RELATIVE_PATH), "w") as f:
            json.dump({"onnx_backend": onnx_backend, "opset": opset, "torch_version": str(torch.__version__)}, f)
        logger.info(f"Torch model has been serialized to ONNX format (opset {opset})")
        if builds_docker_images(clipper_conn):
            check_onnx_image(base_image, opset)

    deploy_with_saved_model(
        clipper_conn, name, version, input_type, func, save, f"Error serializing PyTorch model {name}:{version} to ONNX",
        base_image, labels, registry, num_replicas, batch_size, pkgs_to_install, warmup_inputs=warmup_inputs,
    )  # fmt: skip
