"""Registered models, their versions and replicas, as the management frontend records them."""

from __future__ import annotations

from typing import Any

from clipper_admin._base import _ConnectionBase, requires_connection
from clipper_admin.exceptions import ClipperException
from clipper_protocol import admin_api as api
from clipper_protocol.constants import CONTAINERLESS_MODEL_IMAGE, DEFAULT_BATCH_SIZE


class ReplicaName(str):
    """A replica's ``"<name>:<version>:<replica_id>"``, as the original returns it.

    Tutorials index it like the verbose dict (``replica["model_name"]``,
    ``replica["status"]``); string keys read the replica's details, while
    integer indexes, slices, comparison and JSON behave as for the string.
    """

    _info: dict[str, Any]

    def __new__(cls, value: str, info: dict[str, Any]) -> "ReplicaName":
        obj = super().__new__(cls, value)
        obj._info = info
        return obj

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> "ReplicaName":
        value = f"{info['model_name']}:{info['model_version']}:{info['model_replica_id']}"
        # Every replica the query frontend lists is connected to it.
        return cls(value, {**info, "status": "connected"})

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._info[key]
        return str.__getitem__(self, key)

    def __getnewargs__(self) -> tuple[str, dict[str, Any]]:  # type: ignore[override]
        return (str(self), self._info)


class _ModelRegistry(_ConnectionBase):
    @requires_connection
    def register_model(
        self,
        name: str,
        version: Any,
        input_type: str,
        image: str | None = None,
        labels: list[str] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Record a model version with Clipper without starting any replica.

        The new version becomes the model's current version. Use it for
        models whose replicas are started outside Clipper (a containerless
        model when ``image`` is None) and connect to the query frontend's RPC
        port themselves.

        Parameters
        ----------
        name : str
            The model's name.
        version : Any
            The version; converted with ``str()``.
        input_type : str
            One of "integers", "floats", "doubles", "bytes", "strings" (or an alias).
        image : str, optional
            The image its replicas run; None records it as ``NO_CONTAINER``.
        labels : list(str), optional
            Labels stored with the model.
        batch_size : int, optional
            Queries per batch sent to a replica; -1 (default) adapts it.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        version = str(version)
        self._admin_post(
            api.ADD_MODEL,
            api.AddModelRequest(
                model_name=name,
                model_version=version,
                labels=list(labels) if labels else [],
                input_type=input_type,
                container_name=image if image is not None else CONTAINERLESS_MODEL_IMAGE,
                model_data_path="DEPRECATED",
                batch_size=batch_size,
            ),
        )
        self.logger.info(f"Successfully registered model {name}:{version}")

    @requires_connection
    def get_all_models(self, verbose: bool = False) -> list[Any]:
        """All registered model versions.

        Parameters
        ----------
        verbose : bool, optional
            False (default): a list of ``"<name>:<version>"`` strings. True: a
            list of dicts with keys "model_name", "model_version",
            "input_type", "labels", "container_name", "model_data_path" and
            "is_current_version".

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        result: list[Any] = self._admin_query(api.GET_ALL_MODELS, api.VerboseRequest(verbose))
        return result

    @requires_connection
    def get_model_info(self, name: str, version: Any) -> dict[str, Any] | None:
        """Details of one model version (as a verbose :meth:`get_all_models` entry).

        Returns None, with a logged warning, if that version is not registered.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        version = str(version)
        info: dict[str, Any] = self._admin_query(api.GET_MODEL, api.VersionedModelRequest(name, version))
        if len(info) == 0:
            self.logger.warning(f"Model {name}:{version} is not registered with Clipper.")
            return None
        return info

    @requires_connection
    def get_current_model_version(self, name: str) -> str:
        """The version of ``name`` that queries are currently routed to.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
            ``No versions of model <name> registered with Clipper``.
        """
        for m in self.get_all_models(verbose=True):
            if m["model_name"] == name and m["is_current_version"]:
                return str(m["model_version"])
        raise ClipperException(f"No versions of model {name} registered with Clipper")

    @requires_connection
    def get_all_model_replicas(self, verbose: bool = False) -> list[Any]:
        """All model replicas connected to the query frontend.

        Parameters
        ----------
        verbose : bool, optional
            False (default): a list of ``"<name>:<version>:<replica_id>"``
            strings (:class:`ReplicaName`, which also answers
            ``replica["model_name"]`` and the other verbose keys, plus
            ``"status"``, as some tutorials use it).
            True: a list of dicts with keys "model_id", "model_name",
            "model_version", "model_replica_id" and "input_type".

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        replicas: list[dict[str, Any]] = self._admin_query(api.GET_ALL_CONTAINERS, api.VerboseRequest(True))
        if verbose:
            return replicas
        return [ReplicaName.from_info(r) for r in replicas]

    @requires_connection
    def get_model_replica_info(self, name: str, version: Any, replica_id: int) -> dict[str, Any] | None:
        """Details of one connected replica, or None (with a warning) if there is none.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        version = str(version)
        info: dict[str, Any] = self._admin_query(
            api.GET_CONTAINER, api.ContainerRequest(name, version, replica_id)
        )
        if len(info) == 0:
            self.logger.warning(f"No model replica with ID {replica_id} found for model {name}:{version}")
            return None
        return info

    @requires_connection
    def _unregister_versioned_models(self, model_versions_dict: dict[str, list[str]]) -> None:
        """Delete the given versions from the registry, one call each; the first failure raises."""
        for model_name, versions in model_versions_dict.items():
            for model_version in versions:
                self._admin_post(
                    api.DELETE_VERSIONED_MODEL, api.VersionedModelRequest(model_name, str(model_version))
                )
                self.logger.info(f"Model {model_name}:{model_version} was successfully deleted")


class _Replicas(_ModelRegistry):
    @requires_connection
    def get_num_replicas(self, name: str, version: Any = None) -> int:
        """Number of running replicas of a model version.

        Parameters
        ----------
        name : str
            The model.
        version : Any, optional
            The version (``str()``-converted); the current version when None.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        version = self.get_current_model_version(name) if version is None else str(version)
        return self.cm.get_num_replicas(name, version)

    @requires_connection
    def set_num_replicas(self, name: str, num_replicas: int, version: Any = None) -> None:
        """Start or stop replicas of a model version until ``num_replicas`` run.

        Parameters
        ----------
        name : str
            The model.
        num_replicas : int
            How many replicas should run.
        version : Any, optional
            The version (``str()``-converted); the current version when None.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
            If the version is not registered, or is a containerless model.
        """
        version = self.get_current_model_version(name) if version is None else str(version)
        model_data = self.get_model_info(name, version)
        if model_data is None:
            msg = f"Cannot add container for non-registered model {name}:{version}"
            self.logger.error(msg)
            raise ClipperException(msg)
        image = model_data["container_name"]
        if image == CONTAINERLESS_MODEL_IMAGE:
            msg = f"Cannot resize the replica set for containerless model {name}:{version}"
            self.logger.error(msg)
            raise ClipperException(msg)
        self.cm.set_num_replicas(name, version, model_data["input_type"], image, num_replicas)

    @requires_connection
    def set_model_version(self, name: str, version: Any, num_replicas: int | None = None) -> None:
        """Route queries for ``name`` to ``version``: roll forward or back.

        Parameters
        ----------
        name : str
            The model.
        version : Any
            A registered version (``str()``-converted).
        num_replicas : int, optional
            If given, also scale that version to this many replicas.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        version = str(version)
        self._admin_post(api.SET_MODEL_VERSION, api.VersionedModelRequest(name, version))
        self.logger.info(f"Model {name} is now at version {version}")
        if num_replicas is not None:
            self.set_num_replicas(name, num_replicas, version)
