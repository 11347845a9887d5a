"""Build (and optionally push) a model image: the base image plus the model directory.

The build context is a tar of ``model_data_path``, a generated Dockerfile
and, when packages are to be installed, a wheelhouse built on this host::

    FROM <base_image>
    COPY .clipper-wheelhouse /tmp/clipper-wheelhouse                     (with packages)
    RUN ["python", "-m", "pip", "install", "--no-index", "--find-links", ...]   (with packages)
    COPY <model_data_path> /model/

Without packages this is the original's three-line Dockerfile. The original
ran ``apt-get install build-essential && pip install <pkgs>`` in the image;
that needs root and PyPI from inside the build, neither of which a model
image built on ours has (it runs as user ``clipper``; builds may be offline).

Before building, the base image is checked: it must exist (locally or by a
pull) and run the caller's Python ``major.minor``, since a cloudpickled
function only loads in the Python version that pickled it.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import secrets
import sys
import tarfile
import tempfile
import warnings
from collections import deque
from io import BytesIO
from pathlib import Path, PurePath
from typing import Any

from clipper_admin.decorators import retry
from clipper_admin.deployers.packages import build_wheelhouse, pip_requirements
from clipper_admin.exceptions import ClipperException
from clipper_admin import images
from clipper_admin.images import PYTHON_VERSION_LABEL

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]

#: Where the wheelhouse sits in the build context, and where the image gets it.
WHEELHOUSE_CONTEXT_DIR = ".clipper-wheelhouse"
WHEELHOUSE_IMAGE_DIR = "/tmp/clipper-wheelhouse"

# Our closure images' names carry their Python: clipper/python313-closure-container:<version>.
_CLOSURE_IMAGE = re.compile(r"(?:^|/)python(\d)(\d+)-closure-container(?::|$)")

_PYTHON_VERSION_CODE = "import sys; print('%d.%d' % sys.version_info[:2])"


def image_tag(cluster_identifier: str, name: str, version: str, container_registry: str | None) -> str:
    """``[<registry>/]<cluster_identifier>-<name>:<version>``."""
    image = f"{cluster_identifier}-{name}:{version}"
    return image if container_registry is None else f"{container_registry}/{image}"


def staging_tag(image: str) -> str:
    """A tag of its own for one build of ``image``: ``<repository>:build-<random>``.

    A model image is built under this tag and gets its version's tag only
    once that version is registered (:func:`publish_image`), so a build,
    whether it succeeds, fails or is refused, never moves the tag that a
    registered version's replicas are started from.
    """
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repository}:build-{secrets.token_hex(6)}"


def pip_install_instruction(pkgs: list[str]) -> str:
    """The RUN line installing ``pkgs`` from the image's wheelhouse, offline.

    Exec form, so specifiers such as ``numpy>=2`` are not shell redirections.
    ``python`` is the image's (the clipper venv is first on its PATH), so the
    packages land where the model container imports from.
    """
    cmd = ["python", "-m", "pip", "install", "--no-index", "--find-links", WHEELHOUSE_IMAGE_DIR,
           "--disable-pip-version-check", "--no-cache-dir", "--no-input", *pkgs]
    return "RUN " + json.dumps(cmd)


def dockerfile_text(base_image: str, model_data_path: str, pkgs_to_install: list[str] | None) -> str:
    """The Dockerfile of a model image (the original's three lines without packages)."""
    pkgs = pip_requirements(pkgs_to_install)
    if not pkgs:
        return f"FROM {base_image}\n\nCOPY {model_data_path} /model/\n"
    return (
        f"FROM {base_image}\n"
        f"COPY {WHEELHOUSE_CONTEXT_DIR} {WHEELHOUSE_IMAGE_DIR}\n"
        f"{pip_install_instruction(pkgs)}\n"
        f"COPY {model_data_path} /model/\n"
    )


def _context_path(model_data_path: str) -> str:
    # The directory goes into the context under its own path (tarfile drops a
    # leading "/"); a path climbing out with ".." cannot, so make it absolute.
    if ".." in PurePath(model_data_path).parts:
        return os.path.abspath(model_data_path)
    return model_data_path


def _world_readable(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # The model runs as the unprivileged user `clipper` while COPY makes files
    # root-owned with their modes kept: a 0700 temp dir would be unreadable.
    info.mode |= 0o755 if info.isdir() else 0o444
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def write_build_context(fileobj: Any, model_data_path: str, dockerfile: str, wheelhouse: str | None = None) -> None:
    """Write the tar build context (model directory, Dockerfile, wheelhouse) to ``fileobj``."""
    with tarfile.open(fileobj=fileobj, mode="w") as context_tar:
        context_tar.add(model_data_path, filter=_world_readable)
        if wheelhouse is not None:
            context_tar.add(wheelhouse, arcname=WHEELHOUSE_CONTEXT_DIR, filter=_world_readable)
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        info.mode = 0o644
        context_tar.addfile(info, BytesIO(data))


def build_docker_image(
    image: str,
    model_data_path: str,
    base_image: str,
    pkgs_to_install: list[str] | None,
    push: bool,
    logger: Logger,
    shown_as: str | None = None,
) -> None:
    """Build ``image`` with the Docker engine; push it when ``push``.

    ``shown_as`` names the image in build errors instead of ``image`` (a
    staging tag means nothing to the user; the version's tag does).

    Raises
    ------
    ClipperException
        If the model directory is missing, Docker is unreachable, the base
        image is missing or runs another Python, a package cannot be fetched,
        or the build or push fails.
    """
    if not os.path.isdir(model_data_path):
        raise ClipperException(f"Model data path {model_data_path} is not a directory")
    path = _context_path(model_data_path)
    pkgs = pip_requirements(pkgs_to_install)
    client = _docker_client()
    try:
        base = ensure_base_image(client, base_image, logger)
        python_version = _checked_python_version(client, base, base_image, need_python=bool(pkgs), logger=logger)
        with tempfile.TemporaryDirectory(suffix="clipper-build") as build_dir:
            wheelhouse = None
            if pkgs:
                wheelhouse = os.path.join(build_dir, "wheelhouse")
                build_wheelhouse(pkgs, Path(wheelhouse), python_version or _caller_python(),
                                 base.attrs.get("Architecture") or "amd64", logger)
            with open(os.path.join(build_dir, "context.tar"), "w+b") as context_file:
                write_build_context(context_file, path, dockerfile_text(base_image, path, pkgs), wheelhouse)
                context_file.seek(0)
                logger.info(f"Building model Docker image with model data from {model_data_path}")
                _build(client, context_file, image, logger, shown_as or image)
        if push:
            _push(client, image, logger)
    finally:
        client.close()


def publish_image(staged: str, image: str, push: bool, logger: Logger) -> None:
    """Give the image built as ``staged`` its final tag ``image`` (pushed when ``push``); drop ``staged``.

    Tagging is one atomic engine operation: ``image`` names the old image
    or the new one, never a half-built one. ``staged`` is only untagged
    here: the image keeps ``image``, and containers started from
    ``staged`` keep running.
    """
    import docker.errors

    repository, tag = image.rsplit(":", 1)
    client = _docker_client()
    try:
        try:
            client.images.get(staged).tag(repository, tag)
        except docker.errors.APIError as e:
            raise ClipperException(f"Could not tag model image {staged} as {image}: {e}") from e
        logger.info(f"Tagged model image {staged} as {image}")
        if push:
            _push(client, image, logger)
        _untag(client, staged, logger)
    finally:
        client.close()


def remove_image(staged: str, logger: Logger) -> None:
    """Remove the tag ``staged``, and its image when nothing else uses it; never raises.

    For clean-up after a failed or refused deploy: the image built for it
    goes, unless a tag or container still refers to it.
    """
    try:
        client = _docker_client()
    except ClipperException as e:
        logger.warning(f"Could not remove model image {staged}: {e}")
        return
    try:
        _untag(client, staged, logger)
    finally:
        client.close()


def _untag(client: Any, tag: str, logger: Logger) -> None:
    import docker.errors

    try:
        client.images.remove(tag, noprune=False)
        logger.info(f"Removed model image tag {tag}")
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as e:
        logger.warning(f"Could not remove model image tag {tag}: {e}")


def _caller_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def ensure_base_image(client: Any, base_image: str, logger: Logger) -> Any:
    """The base image, pulled if it is not here; a ClipperException saying what to do if neither works.

    For one of our closure images the message names the Python and the
    ``build_images.sh`` line that builds it.
    """
    import docker.errors

    try:
        return client.images.get(base_image)
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as e:
        raise ClipperException(f"Could not inspect base image {base_image}: {e}") from e
    logger.info(f"Base image {base_image} is not present locally; pulling it")
    try:
        return client.images.pull(base_image)
    except docker.errors.APIError as e:
        reason = getattr(e, "explanation", None) or str(e)
    closure = _CLOSURE_IMAGE.search(base_image)
    if closure is None:
        raise ClipperException(f"Base image {base_image} does not exist locally and could not be pulled ({reason}). "
                               "Build Clipper's images with `make images`, or pass base_image= an image that exists.")
    major, minor = int(closure.group(1)), int(closure.group(2))
    raise ClipperException(
        f"The closure image for Python {major}.{minor}, {base_image}, does not exist locally and could not be "
        f"pulled ({reason}). {images.closure_image_build_hint(major, minor)}"
    )


def _checked_python_version(client: Any, base: Any, base_image: str, need_python: bool, logger: Logger) -> str | None:
    """The base image's Python ``major.minor``; ClipperException if it is not the caller's.

    Read from the image label our images carry, else by running
    ``python -c`` in it. An image without Python (a non-Python model
    container) passes unless packages are to be pip-installed in it.
    """
    labels = (base.attrs.get("Config") or {}).get("Labels") or {}
    version = labels.get(PYTHON_VERSION_LABEL)
    if not version:
        version = _run_python_version(client, base_image)
    if version is None:
        if need_python:
            raise ClipperException(
                f"Base image {base_image} has no `python` to pip-install pkgs_to_install with"
            )
        logger.warning(f"Base image {base_image} has no `python`; not checking its Python version")
        return None
    if version != _caller_python():
        raise ClipperException(
            f"Base image {base_image} runs Python {version}, but this client runs Python {_caller_python()}: "
            "a function serialized with cloudpickle only loads in the Python version that pickled it. "
            f"Use the python{sys.version_info.major}{sys.version_info.minor}-closure-container image "
            "(the default), or deploy from a Python matching the image."
        )
    return version


def _run_python_version(client: Any, base_image: str) -> str | None:
    """``major.minor`` printed by ``python`` (else ``python3``) in the image; None if it has neither."""
    for executable in ("python", "python3"):
        version = _run_python(client, base_image, executable)
        if version is not None:
            return version
    return None


def _run_python(client: Any, base_image: str, executable: str) -> str | None:
    import docker.errors

    try:
        container = client.containers.create(
            base_image, entrypoint=[executable, "-c", _PYTHON_VERSION_CODE], network_disabled=True
        )
    except docker.errors.APIError as e:
        raise ClipperException(f"Could not run {executable} in base image {base_image}: {e}") from e
    try:
        try:
            container.start()
        except docker.errors.APIError as e:
            # "executable file not found in $PATH": no such interpreter in the image.
            if "not found" in str(e).lower() or "no such file" in str(e).lower():
                return None
            raise ClipperException(f"Could not run {executable} in base image {base_image}: {e}") from e
        status = container.wait(timeout=120)
        out: str = container.logs(stdout=True, stderr=False).decode(errors="replace").strip()
    finally:
        container.remove(force=True)
    if status.get("StatusCode") != 0 or not out:
        return None
    return out.splitlines()[-1]


def _build(client: Any, context_file: Any, image: str, logger: Logger, shown_as: str) -> None:
    """Run the build, logging its output as it streams; raise with the log tail on failure."""
    import docker.errors

    tail: deque[str] = deque(maxlen=20)
    try:
        # forcerm: a failed step's container goes too, not only those of a successful build.
        stream = client.api.build(
            fileobj=context_file, custom_context=True, tag=image, rm=True, forcerm=True, decode=True
        )
        for chunk in stream:
            if "stream" in chunk:
                line = chunk["stream"].rstrip()
                if line:  # log build steps only
                    tail.append(line)
                    logger.info(line)
            if "error" in chunk or "errorDetail" in chunk:
                error = chunk.get("error") or (chunk.get("errorDetail") or {}).get("message", "")
                raise ClipperException(
                    f"Building model image {shown_as} failed: {error.strip()}\n" + "\n".join(tail)
                )
    except docker.errors.APIError as e:
        raise ClipperException(f"Building model image {shown_as} failed: {e}") from e


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
    """Push ``image``, retrying transport errors as the original (5 tries, 3 s delay, ×2)."""
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
