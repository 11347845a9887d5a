"""Serialization shared by the deployers: cloudpickle, plus the user's local modules.

A prediction function usually calls into modules of the user's own project
(``from features import featurize``). The model container does not have those
files, so modules defined under the working directory (or next to the main
script) are pickled *by value* along with the function; installed packages
and the standard library are still pickled by reference and must be present
in the container image (``pkgs_to_install``).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import posixpath
import shutil
import site
import sys
import sysconfig
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import cloudpickle

from clipper_admin.exceptions import ClipperException

logger = logging.getLogger("clipper.admin.deployers")

#: Name of the serialized function inside a model directory.
PREDICT_FUNC_FILENAME = "func.pkl"


def _resolved(paths: list[str]) -> list[Path]:
    out = []
    for p in paths:
        if p:
            with contextlib.suppress(OSError):
                out.append(Path(p).resolve())
    return out


def _installed_roots() -> list[Path]:
    """Directories whose modules are installed, never the user's own."""
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    paths += site.getsitepackages() + [site.getusersitepackages()]
    paths += [sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    return _resolved(paths)


def _project_roots() -> list[Path]:
    """Where the user's local modules live: the working dir and the main script's dir."""
    candidates = [os.getcwd()]
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file:
        candidates.append(os.path.dirname(main_file))
    installed = _installed_roots()
    # A filesystem root as "project" would sweep in everything on sys.path.
    return [
        r for r in _resolved(candidates)
        if r != Path(r.anchor) and not any(r.is_relative_to(i) for i in installed)
    ]


def local_modules() -> list[ModuleType]:
    """Imported modules whose source lies in the user's project, not in an installed package."""
    roots = _project_roots()
    if not roots:
        return []
    installed = _installed_roots()
    distributed = set(importlib.metadata.packages_distributions())
    stdlib = set(sys.stdlib_module_names)
    found = []
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        file = getattr(module, "__file__", None)
        if name == "__main__" or not file or top in distributed or top in stdlib:
            continue
        try:
            path = Path(file).resolve()
        except OSError:
            continue
        if any(path.is_relative_to(r) for r in roots) and not any(path.is_relative_to(i) for i in installed):
            found.append(module)
    return found


@contextlib.contextmanager
def _local_modules_by_value() -> Iterator[None]:
    """Register the project's modules with cloudpickle by value, and restore after."""
    already = set(cloudpickle.list_registry_pickle_by_value())
    added = []
    for module in local_modules():
        if module.__name__ not in already:
            cloudpickle.register_pickle_by_value(module)
            added.append(module)
    try:
        yield
    finally:
        for module in added:
            cloudpickle.unregister_pickle_by_value(module)


def serialize_object(obj: Any) -> bytes:
    """cloudpickle ``obj``, shipping the user's local modules by value.

    Uses cloudpickle's default protocol (the original pinned protocol 2 for
    Python 2 containers; every container here runs Python 3, and protocol 4+
    is needed for objects over 4 GiB).
    """
    with _local_modules_by_value():
        data: bytes = cloudpickle.dumps(obj, protocol=cloudpickle.DEFAULT_PROTOCOL)
    return data


def save_python_function(name: str, func: Any) -> str:
    """Write ``func`` cloudpickled to ``func.pkl`` in a new temp dir; return the dir.

    The directory comes from ``tempfile.mkdtemp(suffix='clipper')``; the
    caller deletes it once the model is built.
    """
    serialized = serialize_object(func)
    serialization_dir = os.path.abspath(tempfile.mkdtemp(suffix="clipper"))
    logger.info(f"Saving function to {serialization_dir}")
    with open(os.path.join(serialization_dir, PREDICT_FUNC_FILENAME), "wb") as f:
        f.write(serialized)
    logger.info("Serialized and supplied predict function")
    return serialization_dir


def deploy_with_saved_model(
    clipper_conn: Any,
    name: str,
    version: Any,
    input_type: str,
    func: Any,
    save_model: Callable[[str], None],
    failure: str,
    base_image: str,
    labels: list[str] | None,
    registry: str | None,
    num_replicas: int,
    batch_size: int,
    pkgs_to_install: list[str] | None,
    warmup_inputs: list[Any] | None = None,
) -> None:
    """The framework deployers' common steps, in order.

    ``func.pkl`` goes into a new temp dir, ``save_model(dir)`` writes the
    framework's files beside it, then the model is built and deployed; the
    directory is removed in any case. An error of ``save_model`` that is not
    already a ClipperException is raised as one, ``failure: <error>``.
    """
    try:
        serialization_dir = save_python_function(name, func)
    except Exception as e:
        raise ClipperException(
            f"Could not serialize the prediction function of model {name}:{version} with cloudpickle: "
            f"{type(e).__name__}: {e}"
        ) from e
    try:
        try:
            save_model(serialization_dir)
        except ClipperException:
            raise
        except Exception as e:
            raise ClipperException(f"{failure}: {type(e).__name__}: {e}") from e
        clipper_conn.build_and_deploy_model(
            name, version, input_type, posixpath.join(*os.path.split(serialization_dir)), base_image, labels,
            registry, num_replicas, batch_size, pkgs_to_install, warmup_inputs=warmup_inputs,
        )  # fmt: skip
    finally:
        shutil.rmtree(serialization_dir, ignore_errors=True)


@contextlib.contextmanager
def new_application(clipper_conn: Any, name: str, input_type: str, default_output: str,
                    slo_micros: int) -> Iterator[None]:
    """Register application ``name`` for ``create_endpoint``; delete it again if the deploy in the body fails.

    A failed ``create_endpoint`` (a missing package, a model that does not
    save) leaves no application behind, so it can simply be run again.
    """
    clipper_conn.register_application(name, input_type, default_output, slo_micros)
    try:
        yield
    except BaseException:
        try:
            clipper_conn.delete_application(name)
            logger.info(f"Deleted application {name} again: its model was not deployed")
        except Exception as e:  # noqa: BLE001 - the deploy's own error is the one to raise
            logger.warning(f"Could not delete application {name} after the failed deploy: {e}")
        raise


# ---------------------------------------------------------------- framework deployers' shared checks


def builds_docker_images(clipper_conn: Any) -> bool:
    """Whether ``clipper_conn``'s manager builds Docker images (Docker, Kubernetes), not local packages."""
    from clipper_admin.local.local_container_manager import LocalContainerManager

    return not isinstance(getattr(clipper_conn, "cm", None), LocalContainerManager)


def image_labels(image: str, pull: bool = True) -> dict[str, str] | None:
    """The labels of a Docker image, pulled if it is not here (and ``pull``); None when there is no engine or image.

    None leaves the verdict to the build, which says what is wrong with the
    base image in its own words.
    """
    try:
        import docker
        import docker.errors
    except ImportError:
        return None
    try:
        client = docker.from_env()
    except Exception:  # noqa: BLE001 - no engine: the build reports it
        return None
    try:
        try:
            found = client.images.get(image)
        except docker.errors.ImageNotFound:
            if not pull:
                return None
            logger.info(f"Base image {image} is not present locally; pulling it to read its labels")
            found = client.images.pull(image)
        labels: dict[str, str] = dict((found.attrs.get("Config") or {}).get("Labels") or {})
        return labels
    except Exception:  # noqa: BLE001 - not found or not pullable: the build reports it
        return None
    finally:
        client.close()


def check_framework_image(base_image: str, label: str, framework: str, client_version: str, install: str,
                          requirements: str) -> None:
    """Refuse a base image whose ``label`` (a framework version) has another major.minor than the client's.

    A model saved (or pickled) by one release may use ops, internals or a
    file layout another does not load. Images without labels (not ours) are
    not checked. ``install`` and ``requirements`` name the fix: the pip
    package to pin here, or the file the image is built from.
    """
    labels = image_labels(base_image)
    if labels is None:
        return
    image_version = labels.get(label)
    if image_version is None:
        logger.warning(f"Base image {base_image} has no {label} label; not checking its {framework} version")
        return
    if release(image_version)[:2] != release(client_version)[:2]:
        raise ClipperException(
            f"Base image {base_image} has {framework} {image_version}, but this client runs {framework} "
            f"{client_version}: a model saved by one {framework} release does not reliably load in another. "
            f"Install {install}=={image_version.split('+')[0]} here, or build the image with your version "
            f"(dockerfiles/{requirements}, then `make images`)."
        )


@contextlib.contextmanager
def quiet_framework_deprecations() -> Iterator[None]:
    """Hide the DeprecationWarnings frameworks raise from their own internals while saving a model.

    (Keras 3 on numpy 2 warns about ``np.array(tensor)`` on every save; the
    caller can do nothing about it.)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def release(version: str) -> tuple[int, ...]:
    """``(2, 13, 0)`` for ``"2.13.0+cpu"``: the numeric release, local and pre-release parts dropped."""
    parts = []
    for piece in version.split("+", 1)[0].split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)
