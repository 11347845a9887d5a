"""Building, deploying and stopping models: the ``ClipperConnection`` methods for them."""

from __future__ import annotations

import pprint
from collections.abc import Iterable
from typing import Any

from clipper_admin._base import requires_connection, validate_versioned_model_name
from clipper_admin._image_build import build_docker_image, image_tag
from clipper_admin._models import _Replicas
from clipper_protocol.constants import DEFAULT_BATCH_SIZE


def _names(model_names: str | Iterable[str]) -> set[str]:
    # The original tested `m in model_names`, which for a lone string is a
    # substring test; a lone name is taken here to mean [name].
    return {model_names} if isinstance(model_names, str) else set(model_names)


def _versions_by_model(models: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    by_model: dict[str, list[str]] = {}
    for m in models:
        by_model.setdefault(m["model_name"], []).append(m["model_version"])
    return by_model


class _Deployment(_Replicas):
    @requires_connection
    def build_and_deploy_model(
        self,
        name: str,
        version: Any,
        input_type: str,
        model_data_path: str,
        base_image: str,
        labels: list[str] | None = None,
        container_registry: str | None = None,
        num_replicas: int = 1,
        batch_size: int = DEFAULT_BATCH_SIZE,
        pkgs_to_install: list[str] | None = None,
    ) -> None:
        """Build a model image from ``model_data_path`` and deploy it.

        :meth:`build_model` followed by :meth:`deploy_model`; see those for
        the parameters.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        image = self.build_model(name, version, model_data_path, base_image, container_registry, pkgs_to_install)
        self.deploy_model(name, version, input_type, image, labels, num_replicas, batch_size)

    def build_model(
        self,
        name: str,
        version: Any,
        model_data_path: str,
        base_image: str,
        container_registry: str | None = None,
        pkgs_to_install: list[str] | None = None,
    ) -> str:
        """Package a model directory on top of a base image; needs no connection.

        The container manager may package the model its own way (the local
        manager keeps a copy of the directory for its model processes).
        Otherwise a Docker image ``<cluster_identifier>-<name>:<version>`` is
        built whose ``/model/`` holds the directory's content, prefixed with
        ``<container_registry>/`` and pushed there when a registry is given.

        Parameters
        ----------
        name : str
            The model's name: a DNS-1123 label (lower-case alphanumerics and
            '-', starting and ending alphanumeric).
        version : Any
            The version (``str()``-converted), same rule as ``name``.
        model_data_path : str
            Directory with everything the model needs; ``/model/`` in the image.
        base_image : str
            The image to build on, e.g. a closure container image.
        container_registry : str, optional
            Registry to tag the image for and push it to. Unlike the
            original, nothing is pushed without one.
        pkgs_to_install : list(str), optional
            Packages to ``pip install`` in the image.

        Returns
        -------
        str
            The image (tag) to deploy.

        Raises
        ------
        :py:exc:`clipper.ClipperException`
            For an invalid name or version, or a failed build or push.
        """
        version = str(version)
        validate_versioned_model_name(name, version)
        packaged = self.cm.build_model(name, version, model_data_path, base_image, container_registry, pkgs_to_install)
        if packaged is not None:
            return packaged
        image = image_tag(self.cm.cluster_identifier, name, version, container_registry)
        build_docker_image(
            image, model_data_path, base_image, pkgs_to_install, push=container_registry is not None, logger=self.logger
        )
        return image

    @requires_connection
    def deploy_model(
        self,
        name: str,
        version: Any,
        input_type: str,
        image: str,
        labels: list[str] | None = None,
        num_replicas: int = 1,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Start replicas of a model image and register the version with Clipper.

        The version becomes the model's current version, so applications
        linked to the model are served by it from now on.

        Parameters
        ----------
        name : str
            The model's name (DNS-1123 label, see :meth:`build_model`).
        version : Any
            The version (``str()``-converted), same rule.
        input_type : str
            One of "integers", "floats", "doubles", "bytes", "strings" (or an alias).
        image : str
            What the replicas run, e.g. the result of :meth:`build_model`.
        labels : list(str), optional
            Labels stored with the model.
        num_replicas : int, optional
            Replicas to start (default 1).
        batch_size : int, optional
            Queries per batch sent to a replica; -1 (default) adapts it.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        version = str(version)
        validate_versioned_model_name(name, version)
        self.cm.deploy_model(name=name, version=version, input_type=input_type, image=image, num_replicas=num_replicas)
        self.register_model(name, version, input_type, image=image, labels=labels, batch_size=batch_size)
        self.logger.info(f"Done deploying model {name}:{version}.")

    @requires_connection
    def stop_models(self, model_names: str | list[str]) -> None:
        """Stop every replica of every version of the given models and unregister them.

        Parameters
        ----------
        model_names : list(str)
            The models (a single name is accepted too).

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        wanted = _names(model_names)
        model_dict = _versions_by_model(m for m in self.get_all_models(verbose=True) if m["model_name"] in wanted)
        self._stop_and_unregister(model_dict)

    @requires_connection
    def stop_versioned_models(self, model_versions_dict: dict[str, list[Any]]) -> None:
        """Stop the replicas of the given model versions and unregister them.

        Parameters
        ----------
        model_versions_dict : dict(str, list(str))
            Model name to the versions to stop, e.g. ``{"m": ["1", "2"]}``.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        model_dict = {name: [str(v) for v in versions] for name, versions in model_versions_dict.items()}
        self._stop_and_unregister(model_dict)

    @requires_connection
    def stop_inactive_model_versions(self, model_names: str | list[str]) -> None:
        """Stop and unregister every version of the given models but the current one.

        Parameters
        ----------
        model_names : list(str)
            The models (a single name is accepted too).

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        wanted = _names(model_names)
        model_dict = _versions_by_model(
            m for m in self.get_all_models(verbose=True) if m["model_name"] in wanted and not m["is_current_version"]
        )
        self._stop_and_unregister(model_dict)

    @requires_connection
    def stop_all_model_containers(self) -> None:
        """Stop every model replica of the cluster and unregister every model.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        model_dict = _versions_by_model(self.get_all_models(verbose=True))
        self.cm.stop_all_model_containers()
        self._unregister_versioned_models(model_dict)
        self.logger.info("Stopped all Clipper model containers")

    def _stop_and_unregister(self, model_dict: dict[str, list[str]]) -> None:
        self.cm.stop_models(model_dict)
        self._unregister_versioned_models(model_dict)
        self.logger.info(
            "Stopped all containers for these models and versions:\n"
            f"{pprint.PrettyPrinter(indent=4).pformat(model_dict)}"
        )
