"""Building, deploying and stopping models: the ``ClipperConnection`` methods for them."""

from __future__ import annotations

import pprint
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from clipper_admin._base import requires_connection, validate_versioned_model_name
from clipper_admin._image_build import build_docker_image, image_tag, publish_image, remove_image, staging_tag
from clipper_admin._models import _Replicas
from clipper_admin._serving_wait import DEFAULT_SERVING_TIMEOUT_S, wait_until_serving
from clipper_admin._warmup import checked_warmup, with_warmup_file
from clipper_admin.exceptions import ClipperException
from clipper_protocol import admin_api
from clipper_protocol.constants import DEFAULT_BATCH_SIZE


@runtime_checkable
class DiscardsModels(Protocol):
    """A container manager that can undo a deploy its registration refused.

    ``discard_model`` stops the replicas of ``name:version`` started from
    ``image`` and removes ``image`` if the manager packaged it itself.
    """

    def discard_model(self, name: str, version: str, image: str) -> None: ...


@dataclass(frozen=True)
class _Build:
    """One build of a model version, not yet published under the version's name.

    ``staged`` is what this deploy's replicas start from; ``image`` is what
    the version is registered with. For a Docker image they differ until
    :meth:`_Deployment._publish` tags ``staged`` as ``image``; a container
    manager's own packaging (``docker=False``) is published as built, in a
    place of its own.
    """

    image: str
    staged: str
    docker: bool
    push: bool


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
        wait: bool = True,
        timeout_s: float = DEFAULT_SERVING_TIMEOUT_S,
        warmup_inputs: Sequence[Any] | None = None,
    ) -> None:
        """Build a model image from ``model_data_path`` and deploy it.

        :meth:`build_model` followed by :meth:`deploy_model`; see those for
        the parameters. A version that is already registered is refused
        before anything is built, with the management frontend's message
        (``model with name '<name>' and version '<version>' already
        exists``): a registered version's image never changes. The new
        build gets the version's name (the Docker tag
        ``<cluster_identifier>-<name>:<version>``) only once the version is
        registered; if the deploy or the registration fails, its replicas
        and its build are removed. With ``wait`` (the default) it returns
        once every replica serves, as :meth:`deploy_model` does.

        ``warmup_inputs`` (ours), a list of inputs written as a query's JSON
        ``"input"``, is a batch every replica runs its model on once before
        it connects, so the first queries do not meet a cold model (a lazy
        load, first-call imports): a deploy that waits returns once the
        replicas are warm. It is checked against ``input_type`` before
        anything is built and shipped as ``warmup_inputs.json`` in the model
        directory (a copy: ``model_data_path`` is not written to).

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        version = str(version)
        validate_versioned_model_name(name, version)
        # A version's image is immutable once registered: refuse before building.
        self._refuse_registered_version(name, version)
        warmup = checked_warmup(input_type, warmup_inputs)
        with with_warmup_file(model_data_path, warmup) as model_dir:
            build = self._build(name, version, model_dir, base_image, container_registry, pkgs_to_install,
                                push_staged=container_registry is not None)
        try:
            self.cm.deploy_model(name=name, version=version, input_type=input_type, image=build.staged,
                                 num_replicas=num_replicas)
            self.register_model(name, version, input_type, image=build.image, labels=labels, batch_size=batch_size)
        except BaseException:
            self._discard(name, version, build)
            raise
        try:
            self._publish(build)
        except ClipperException as e:
            raise ClipperException(
                f"Model {name}:{version} is registered and its replicas run {build.staged}, "
                f"but tagging that image as {build.image} failed: {e}"
            ) from e
        if wait:
            wait_until_serving(self, name, version, num_replicas, timeout_s)
        self.logger.info(f"Done deploying model {name}:{version}.")

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

        The image is built under a staging tag and tagged as the version only
        once built. On a connected connection a version that is already
        registered is refused first, as :meth:`build_and_deploy_model` does.

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
            For an invalid name or version, a registered version (when
            connected), or a failed build or push.
        """
        version = str(version)
        validate_versioned_model_name(name, version)
        if self.connected:
            self._refuse_registered_version(name, version)
        build = self._build(name, version, model_data_path, base_image, container_registry, pkgs_to_install,
                            push_staged=False)
        try:
            self._publish(build)
        except BaseException:
            self._discard_build(build)
            raise
        return build.image

    def _build(self, name: str, version: str, model_data_path: str, base_image: str, container_registry: str | None,
               pkgs_to_install: list[str] | None, push_staged: bool) -> _Build:  # fmt: skip
        """Build ``name:version`` somewhere new: nothing registered or published changes.

        The container manager's packaging, if it has one, puts every build in
        a place of its own. Otherwise a Docker image is built under a staging
        tag (pushed when ``push_staged``: replicas on other hosts pull it).
        """
        packaged = self.cm.build_model(name, version, model_data_path, base_image, container_registry, pkgs_to_install)
        if packaged is not None:
            return _Build(image=packaged, staged=packaged, docker=False, push=False)
        image = image_tag(self.cm.cluster_identifier, name, version, container_registry)
        build = _Build(image=image, staged=staging_tag(image), docker=True, push=container_registry is not None)
        try:
            build_docker_image(build.staged, model_data_path, base_image, pkgs_to_install, push=push_staged,
                               logger=self.logger, shown_as=image)
        except BaseException:
            if push_staged:
                self._discard_build(build)  # it may be built, with only the push failed
            raise
        return build

    def _publish(self, build: _Build) -> None:
        """Give a Docker build its version's tag (and push it); only ever after registration or for a free version."""
        if build.docker:
            publish_image(build.staged, build.image, build.push, self.logger)

    def _discard(self, name: str, version: str, build: _Build) -> None:
        """Undo a deploy that failed or was refused: its replicas and its build go, nothing else."""
        try:
            if isinstance(self.cm, DiscardsModels):
                self.cm.discard_model(name, version, build.staged)
        except Exception as e:  # noqa: BLE001 - the deploy's own error is the one to raise
            self.logger.warning(f"Could not remove what the failed deploy of {name}:{version} started: {e}")
        self._discard_build(build)

    def _discard_build(self, build: _Build) -> None:
        if build.docker:
            remove_image(build.staged, self.logger)

    def _refuse_registered_version(self, name: str, version: str) -> None:
        """Raise, with the management frontend's own refusal, if ``name:version`` is registered."""
        if self._admin_query(admin_api.GET_MODEL, admin_api.VersionedModelRequest(name, version)):
            # What /admin/add_model answers for it (see _http.error_status).
            msg = f"Received error status code: 400 and message: {admin_api.model_version_exists_message(name, version)}"
            self.logger.error(msg)
            raise ClipperException(msg)

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
        wait: bool = True,
        timeout_s: float = DEFAULT_SERVING_TIMEOUT_S,
    ) -> None:
        """Start replicas of a model image and register the version with Clipper.

        The version becomes the model's current version, so applications
        linked to the model are served by it from now on. A version that is
        already registered is refused before any replica starts, with the
        management frontend's message (``model with name '<name>' and
        version '<version>' already exists``); scale it with
        :meth:`set_num_replicas` instead.

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
        wait : bool, optional
            True (default): return only once every replica has loaded its
            model and connected to the query frontend(s), so a query right
            after the deploy is answered by the new version; progress is
            logged. False: return once the replicas are started (the
            original's behaviour).
        timeout_s : float, optional
            How long ``wait`` waits (300 s) before raising; the version stays
            registered then.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        version = str(version)
        validate_versioned_model_name(name, version)
        # Replicas of a registered version run its registered image only.
        self._refuse_registered_version(name, version)
        self.cm.deploy_model(name=name, version=version, input_type=input_type, image=image, num_replicas=num_replicas)
        self.register_model(name, version, input_type, image=image, labels=labels, batch_size=batch_size)
        if wait:
            wait_until_serving(self, name, version, num_replicas, timeout_s)
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
