"""Deploy a Python function ("closure") as a Clipper model.

The function is cloudpickled into ``func.pkl``, packaged on top of the
closure container image for the caller's Python version, and deployed; the
container calls it with a list of inputs (numpy arrays for numeric input
types) and expects a list of as many outputs back, each sent as ``str(x)``.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import sys
from collections.abc import Callable
from typing import Any

from clipper_admin import images
from clipper_admin._image_build import ensure_base_image
from clipper_admin._base import validate_versioned_model_name
from clipper_admin.deployers.deployer_utils import new_application, save_python_function
from clipper_admin.exceptions import ClipperException
from clipper_admin.version import __registry__, __version__
from clipper_protocol.constants import DEFAULT_BATCH_SIZE

logger = logging.getLogger("clipper.admin.deployers")


def default_closure_image(major: int | None = None, minor: int | None = None) -> str:
    """``{registry}/python{major}{minor}-closure-container:{version}`` for this interpreter (or that Python)."""
    return f"{__registry__}/{images.closure_container_name(major, minor)}:{__version__}"


def check_closure_image(clipper_conn: Any, image: str) -> None:
    """Refuse a missing closure image ``image`` (pulled if it is not here), saying how to build it.

    Only for the Docker and Kubernetes managers, which build the model image
    on it (the local manager serves closures with this interpreter). Without
    a Docker engine the build reports it.
    """
    from clipper_admin.docker.docker_container_manager import DockerContainerManager
    from clipper_admin.kubernetes.kubernetes_container_manager import KubernetesContainerManager

    if not isinstance(getattr(clipper_conn, "cm", None), DockerContainerManager | KubernetesContainerManager):
        return
    try:
        import docker

        client = docker.from_env()
    except Exception:  # noqa: BLE001 - no SDK or no engine: the build says so in its own words
        return
    try:
        ensure_base_image(client, image, logger)
    finally:
        client.close()


def create_endpoint(
    clipper_conn: Any,
    name: str,
    input_type: str,
    func: Callable[[list[Any]], list[Any]],
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
    """Register an application, deploy ``func`` as a model and link the two.

    The application and the model are both called ``name``.

    Parameters
    ----------
    clipper_conn : :py:meth:`clipper_admin.ClipperConnection`
        A connected ClipperConnection.
    name : str
        Name of the application and the model (a DNS-1123 label).
    input_type : str
        One of "integers", "floats", "doubles", "bytes", "strings".
    func : function
        Takes a list of inputs, returns a list of as many outputs.
    default_output : str, optional
        Returned when the model does not answer within ``slo_micros``.
    version : Any, optional
        The model version (default 1).
    slo_micros : int, optional
        The application's latency objective (default 3 s).
    labels : list(str), optional
        Labels stored with the model.
    registry : str, optional
        Registry to push the model image to.
    base_image : str, optional
        Image to build on; "default" picks the closure image for this Python
        (3.10 to 3.13).
    num_replicas : int, optional
        Replicas to start (default 1).
    batch_size : int, optional
        Queries per batch; -1 (default) adapts it.
    pkgs_to_install : list(str), optional
        Packages to ``pip install`` in the model image (pip requirement
        strings; ``sklearn`` means ``scikit-learn``). They are fetched on
        this machine and installed in the image offline.
    warmup_inputs : list, optional
        Inputs the model answers once in every replica before it serves;
        see :func:`deploy_python_closure`.
    """
    with new_application(clipper_conn, name, input_type, default_output, slo_micros):
        deploy_python_closure(
            clipper_conn, name, version, input_type, func, base_image, labels, registry, num_replicas, batch_size,
            pkgs_to_install, warmup_inputs=warmup_inputs,
        )
    clipper_conn.link_model_to_app(name, name)


def deploy_python_closure(
    clipper_conn: Any,
    name: str,
    version: Any,
    input_type: str,
    func: Callable[[list[Any]], list[Any]],
    base_image: str = "default",
    labels: list[str] | None = None,
    registry: str | None = None,
    num_replicas: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pkgs_to_install: list[str] | None = None,
    warmup_inputs: list[Any] | None = None,
) -> None:
    """Deploy a Python function as a model.

    The function and everything it references are serialized with
    cloudpickle, including modules of your own project (files under the
    working directory or next to the main script), which travel by value.
    Installed packages do not: name them in ``pkgs_to_install``. Free
    variables are captured at deploy time.

    Parameters
    ----------
    clipper_conn : :py:meth:`clipper_admin.ClipperConnection`
        A connected ClipperConnection.
    name : str
        The model's name (a DNS-1123 label: lower-case alphanumerics and '-').
    version : Any
        The version (``str()``-converted), same rule as ``name``.
    input_type : str
        One of "integers", "floats", "doubles", "bytes", "strings".
    func : function
        Takes a list of inputs, returns a list of as many outputs; each
        output is sent back as ``str(output)``.
    base_image : str, optional
        Image to build on; "default" picks
        ``{registry}/python{major}{minor}-closure-container:{version}`` for
        the Python running this code (3.10 to 3.13: a cloudpickled function
        only loads in the Python version that pickled it). When it is
        missing, the error says how to build it.
    labels : list(str), optional
        Labels stored with the model.
    registry : str, optional
        Registry to push the model image to.
    num_replicas : int, optional
        Replicas to start (default 1).
    batch_size : int, optional
        Queries per batch; -1 (default) adapts it.
    pkgs_to_install : list(str), optional
        Packages to ``pip install`` in the model image (pip requirement
        strings; ``sklearn`` means ``scikit-learn``). They are fetched on
        this machine and installed in the image offline.
    warmup_inputs : list, optional
        Example inputs, each written as a query's JSON ``"input"``. Every
        replica runs ``func`` on them once before it connects, so a slow
        first call (a lazy model load, first-use imports) never meets a
        query: the deploy returns once the replicas are warm. A warm-up
        that fails is logged by the replica, which serves anyway.

    Raises
    ------
    :py:exc:`clipper.ClipperException`
        For an invalid name or version, a function that cannot be
        serialized, a missing closure image, or a failed build or deployment.

    Example
    -------
    Define a function that returns the sum of each input vector::

        from clipper_admin import ClipperConnection, DockerContainerManager
        from clipper_admin.deployers.python import deploy_python_closure

        clipper_conn = ClipperConnection(DockerContainerManager())
        clipper_conn.connect()

        def predict(inputs):
            return [str(sum(x)) for x in inputs]

        deploy_python_closure(clipper_conn, name="sum-model", version=1,
                              input_type="doubles", func=predict)
    """
    version = str(version)
    # Refuse before serializing or building anything.
    validate_versioned_model_name(name, version)
    if not callable(func):
        raise ClipperException(f"func must be callable, got {type(func).__name__}")
    if base_image == "default":
        major, minor = sys.version_info[:2]
        logger.info(f"Using Python {major}.{minor} base image")
        base_image = default_closure_image()
        check_closure_image(clipper_conn, base_image)
    try:
        serialization_dir = save_python_function(name, func)
    except Exception as e:
        raise ClipperException(
            f"Could not serialize the prediction function {getattr(func, '__qualname__', func)!r} "
            f"of model {name}:{version} with cloudpickle: {type(e).__name__}: {e}. "
            "Everything the function references must be picklable (open files, sockets, "
            "locks and database connections are not: create them inside the function)."
        ) from e
    try:
        # Windows paths use backslashes; the image build wants posix ones.
        serialization_dir = posixpath.join(*os.path.split(serialization_dir))
        logger.info("Python closure saved")
        clipper_conn.build_and_deploy_model(
            name, version, input_type, serialization_dir, base_image, labels, registry, num_replicas, batch_size,
            pkgs_to_install, warmup_inputs=warmup_inputs,
        )
    finally:
        shutil.rmtree(serialization_dir, ignore_errors=True)
