"""Build (and optionally push) a model image: the base image plus the model directory.

The build context is a tar of ``model_data_path`` and a generated Dockerfile::

    FROM <base_image>
    RUN apt-get -y install build-essential && pip install <pkgs>   (or an empty line)
    COPY <model_data_path> /model/
"""

from __future__ import annotations

import gc
import logging
import os
import tarfile
import tempfile
import warnings
from io import BytesIO
from pathlib import PurePath
from typing import Any

from clipper_admin.decorators import retry
from clipper_admin.exceptions import ClipperException

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


def image_tag(cluster_identifier: str, name: str, version: str, container_registry: str | None) -> str:
    """``[<registry>/]<cluster_identifier>-<name>:<version>``."""
    image = f"{cluster_identifier}-{name}:{version}"
    return image if container_registry is None else f"{container_registry}/{image}"


def dockerfile_text(base_image: str, model_data_path: str, pkgs_to_install: list[str] | None) -> str:
    """The three-line Dockerfile of a model image."""
    run_cmd = ""
    if pkgs_to_install:
        run_cmd = " ".join(["RUN", "apt-get", "-y", "install", "build-essential", "&&", "pip", "install", *pkgs_to_install])
    return f"FROM {base_image}\n{run_cmd}\nCOPY {model_data_path} /model/\n"


def _context_path(model_data_path: str) -> str:
    # The directory goes into the context under its own path (tarfile drops a
    # leading "/"); a path climbing out with ".." cannot, so make it absolute.
    if ".." in PurePath(model_data_path).parts:
        return os.path.abspath(model_data_path)
    return model_data_path


def write_build_context(fileobj: Any, model_data_path: str, dockerfile: str) -> None:
    """Write the tar build context (model directory + Dockerfile) to ``fileobj``."""
    with tarfile.open(fileobj=fileobj, mode="w") as context_tar:
        context_tar.add(model_data_path)
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        context_tar.addfile(info, BytesIO(data))


def build_docker_image(
    image: str,
    model_data_path: str,
    base_image: str,
    pkgs_to_install: list[str] | None,
    push: bool,
    logger: Logger,
) -> None:
    """Build ``image`` with the Docker engine; push it when ``push``.

    Raises
    ------
    ClipperException
        If the model directory is missing, Docker is unreachable, or the build
        or push fails.
    """
    import docker  # only this path needs the Docker SDK; keep `import clipper_admin` light
    import docker.errors

    if not os.path.isdir(model_data_path):
        raise ClipperException(f"Model data path {model_data_path} is not a directory")
    path = _context_path(model_data_path)
    client = _docker_client()
    try:
        with tempfile.NamedTemporaryFile(mode="w+b", suffix="tar") as context_file:
            write_build_context(context_file, path, dockerfile_text(base_image, path, pkgs_to_install))
            context_file.seek(0)
            logger.info(f"Building model Docker image with model data from {model_data_path}")
            try:
                _, build_logs = client.images.build(fileobj=context_file, custom_context=True, tag=image)
            except docker.errors.BuildError as e:
                for line in e.build_log:
                    if "stream" in line and line["stream"] != "\n":
                        logger.error(line["stream"].rstrip())
                raise ClipperException(f"Building model image {image} failed: {e.msg}") from e
            except docker.errors.APIError as e:
                raise ClipperException(f"Building model image {image} failed: {e}") from e
            for b in build_logs:
                if "stream" in b and b["stream"] != "\n":  # log build steps only
                    logger.info(b["stream"].rstrip())
        if push:
            _push(client, image, logger)
    finally:
        client.close()


def _docker_client() -> Any:
    import docker
    import docker.errors

    try:
        return docker.from_env()
    except docker.errors.DockerException as e:
        message = str(e)
    # The SDK does not close the socket of a failed connection attempt; it sits
    # in a reference cycle with the traceback. Collect it here, quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    raise ClipperException(f"Unable to Connect to Docker. Please Check if Docker is running. ({message})")


def _push(client: Any, image: str, logger: Logger) -> None:
    import docker.errors
    import requests
    import urllib3.exceptions

    logger.info(f"Pushing model Docker image to {image}")

    @retry((docker.errors.APIError, urllib3.exceptions.TimeoutError, requests.Timeout), tries=5, logger=logger)
    def push_once() -> None:
        for line in client.images.push(repository=image, stream=True, decode=True):
            logger.debug(line)
            # The engine reports push failures in the stream, not as an HTTP error.
            if isinstance(line, dict) and "error" in line:
                raise ClipperException(f"Pushing model image {image} failed: {line['error']}")

    push_once()
