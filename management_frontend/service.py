"""The admin operations: the original's rules and messages, over the state store.

Mutations return the original's human-readable success text and raise
:class:`BadRequestError` with its error text; queries return JSON-ready
values. Redis being unreachable surfaces as ``StoreUnavailableError`` (503)
from the store; Redis rejecting a write becomes the original's
``Error ... Redis`` message for that operation.
"""

from __future__ import annotations

import logging
from typing import Any

from clipper_protocol import admin_api
from clipper_protocol.constants import DEFAULT_BATCH_SIZE, DEFAULT_USER_ID
from clipper_protocol.names import contains_forbidden_chars
from clipper_protocol.redis_schema import ApplicationRecord, ModelRecord
from management_frontend.errors import BadRequestError, StoreError
from management_frontend.protocol import (
    AddAppRequest,
    AddModelRequest,
    AppNameFieldRequest,
    AppNameRequest,
    ContainerRequest,
    GetStateRequest,
    ModelLinksRequest,
    VerboseRequest,
    VersionedModelRequest,
    application_json,
    container_json,
    model_json,
)
from management_frontend.scripts import ScriptOutcome, ScriptResult
from management_frontend.selection import SelectionOperations
from management_frontend.state import RedisStateStore, container_id_from_key, decode_selection_state

logger = logging.getLogger("clipper.management_frontend.service")


def _incompatible_version(model: str, app: str, app_type: str, new_type: str) -> BadRequestError:
    return BadRequestError(
        f"Model with name '{model}' is already linked to app '{app}' using input type "
        f"'{app_type}'. The input type you provided for a new version of the model, "
        f"'{new_type}', is not compatible."
    )


def _unexpected(outcome: ScriptOutcome, operation: str) -> RuntimeError:
    return RuntimeError(f"{operation}: unexpected script result {outcome}")


class ManagementService(SelectionOperations):
    """Business rules of the admin API (selection policies: :mod:`management_frontend.selection`)."""

    def __init__(self, store: RedisStateStore) -> None:
        self.store = store

    # -- applications -----------------------------------------------------------

    async def add_app(self, req: AddAppRequest) -> str:
        app = ApplicationRecord(
            name=req.name,
            input_type=req.parsed_input_type.canonical_name,
            default_output=req.default_output,
            latency_slo_micros=req.latency_slo_micros,
        )
        try:
            outcome = await self.store.add_application(app)
        except StoreError:
            logger.exception("adding application %r failed", req.name)
            raise BadRequestError(f"Error adding application '{req.name}' to Redis") from None
        if outcome.result is ScriptResult.EXISTS:
            raise BadRequestError(f"application '{req.name}' already exists")
        if outcome.result is not ScriptResult.OK:
            raise _unexpected(outcome, "add_app")
        logger.info("added application %r (%s)", req.name, app.input_type)
        return f"Successfully added application with name '{req.name}'"

    async def delete_app(self, req: AppNameRequest) -> str:
        """Delete an app.

        Deliberate fix: the original only deleted the app's hash, leaving its
        model links (DB 7) and selection state (DB 1) behind, so a later app of
        the same name silently inherited them. Here all three go, atomically,
        and a re-registered app starts clean.
        """
        try:
            outcome = await self.store.delete_application(req.name)
        except StoreError:
            logger.exception("deleting application %r failed", req.name)
            raise BadRequestError(f"Error deleting application '{req.name}' to Redis") from None
        if outcome.result is ScriptResult.MISSING:
            raise BadRequestError(f"Application '{req.name}' does not exist")
        if outcome.result is not ScriptResult.OK:
            raise _unexpected(outcome, "delete_app")
        logger.info("deleted application %r", req.name)
        return f"Successfully deleted application with name '{req.name}'"

    async def get_all_applications(self, req: VerboseRequest) -> list[Any]:
        if not req.verbose:
            return await self.store.list_application_names()
        return [application_json(app, links) for app, links in await self.store.list_applications()]

    async def get_application(self, req: AppNameRequest) -> dict[str, Any]:
        app = await self.store.get_application(req.name)
        if app is None:
            return {}
        return application_json(app, await self.store.get_linked_models(req.name))

    async def get_state(self, req: GetStateRequest) -> str:
        """The app's selection state: its default output, as raw text."""
        uid = req.uid
        if uid != DEFAULT_USER_ID:
            logger.info("get_state: uid %d replaced by %d (per-user state is not supported)", uid, DEFAULT_USER_ID)
            uid = DEFAULT_USER_ID
        raw = await self.store.get_selection_state(req.app_name, uid)
        if raw is not None:
            return decode_selection_state(raw)
        # The query frontend writes the state when it first sees the app; until
        # then the state it will write is the app's default output.
        app = await self.store.get_application(req.app_name)
        if app is None:
            raise BadRequestError(f"No application with name '{req.app_name}' exists.")
        return app.default_output

    # -- links ----------------------------------------------------------------

    async def add_model_links(self, req: ModelLinksRequest) -> str:
        """Link models: one under the default policy (the original's rules and
        messages), several under another selection policy."""
        app = req.app_name
        try:
            outcome = await self.store.add_model_link(app, req.model_names)
        except StoreError:
            logger.exception("linking %r to %r failed", req.model_names, app)
            raise BadRequestError(f"Error linking models to '{app}' in Redis") from None
        d = outcome.details
        match outcome.result:
            case ScriptResult.OK:
                logger.info("linked models %r to application %r", list(d), app)
                if len(d) == 1:
                    return f"Successfully linked model with name '{d[0]}' to application '{app}'"
                names = ", ".join(f"'{m}'" for m in d)
                return f"Successfully linked models with names {names} to application '{app}'"
            case ScriptResult.NO_APP:
                raise BadRequestError(f"No app with name '{app}' exists.")
            case ScriptResult.NO_MODEL:
                raise BadRequestError(f"No model with name '{d[0]}' exists.")
            case ScriptResult.INCOMPATIBLE:
                raise BadRequestError(
                    f"Model with name '{d[0]}' has incompatible input_type '{d[1]}'. "
                    f"Requested app to link to has input_type '{d[2]}'."
                )
            case ScriptResult.NO_MODELS:
                raise BadRequestError(
                    f"Please provide the name of the model that you want to link to the application '{app}'"
                )
            case ScriptResult.TOO_MANY:
                raise BadRequestError(
                    "Applications must be linked with at most one model. "
                    f"Attempted to add links to {d[0]} models."
                )
            case ScriptResult.ALREADY_LINKED:
                raise BadRequestError(f"The model with name '{d[0]}' is already linked to '{app}'")
            case ScriptResult.OTHER_LINKED:
                raise BadRequestError(f"A model with name {d[0]} is already linked to '{app}'.")
        raise _unexpected(outcome, "add_model_links")

    async def delete_model_links(self, req: ModelLinksRequest) -> str:
        app = req.app_name
        try:
            outcome = await self.store.remove_model_links(app, req.model_names)
        except StoreError:
            logger.exception("unlinking %r from %r failed", req.model_names, app)
            raise BadRequestError(f"Error deleting linked models from {app} in Redis") from None
        match outcome.result:
            case ScriptResult.OK:
                logger.info("unlinked models %r from application %r", req.model_names, app)
                return "Success!"
            case ScriptResult.NO_APP:
                raise BadRequestError(f"No app with name {app} exists.")
            case ScriptResult.NOT_LINKED:
                raise BadRequestError(
                    f"Cannot remove nonexistent link between app {app} and model {outcome.details[0]}"
                )
        raise _unexpected(outcome, "delete_model_links")

    async def get_linked_models(self, req: AppNameFieldRequest) -> list[str]:
        if await self.store.get_application(req.app_name) is None:
            raise BadRequestError(f"No application with name '{req.app_name}' exists.")
        return await self.store.get_linked_models(req.app_name)

    # -- models -------------------------------------------------------------------

    async def add_model(self, req: AddModelRequest) -> str:
        name, version = req.model_name, req.model_version
        if req.batch_size <= 0 and req.batch_size != DEFAULT_BATCH_SIZE:
            raise BadRequestError(
                "The batch size must be positive or DEFAULT_BATCH_SIZE, which is -1"
            )
        for what, value in (("model name", name), ("model version", version)):
            if contains_forbidden_chars(value):
                raise BadRequestError(f"Invalid {what} supplied: {value}. Contains one of: ',', ':'")
        for label in req.labels:
            if contains_forbidden_chars(label):
                raise BadRequestError(f"Invalid label supplied: {label}. Contains one of: ',', ':'")
        model = ModelRecord(
            model_name=name,
            model_version=version,
            input_type=req.parsed_input_type.canonical_name,
            labels=list(req.labels),
            container_name=req.container_name,
            model_data_path=req.model_data_path,
            batch_size=req.batch_size,
        )
        try:
            outcome = await self.store.add_model(model)
        except StoreError:
            logger.exception("adding model %s:%s failed", name, version)
            raise BadRequestError(f"Error adding model {name}:{version} to Redis") from None
        match outcome.result:
            case ScriptResult.OK:
                logger.info("added model %s:%s (%s), now the current version", name, version, model.input_type)
                return f"Successfully added model with name '{name}' and input type '{model.input_type}'"
            case ScriptResult.EXISTS:
                raise BadRequestError(admin_api.model_version_exists_message(name, version))
            case ScriptResult.CONFLICT:
                app, app_type = outcome.details
                raise _incompatible_version(name, app, app_type, model.input_type)
        raise _unexpected(outcome, "add_model")

    async def set_model_version(self, req: VersionedModelRequest) -> str:
        name, version = req.model_name, req.model_version
        try:
            outcome = await self.store.set_model_version(name, version)
        except StoreError:
            logger.exception("setting model %s to version %s failed", name, version)
            raise BadRequestError(
                f"Version '{version}' does not exist for model with name'{name}'"
            ) from None
        match outcome.result:
            case ScriptResult.OK:
                logger.info("model %r now at version %r", name, version)
                return f"Successfully set model with name '{name}' to version '{version}'"
            case ScriptResult.NO_MODEL:
                raise BadRequestError(f"Cannot set version for nonexistent model '{name}'")
            case ScriptResult.NO_VERSION:
                raise BadRequestError(
                    f"Cannot set non-existent version '{version}' for model with name '{name}'"
                )
            case ScriptResult.INVALID:
                # A deleted version that the query frontend has not removed yet.
                raise BadRequestError(
                    f"Version '{version}' does not exist for model with name'{name}'"
                )
            case ScriptResult.CONFLICT:
                app, app_type, model_type = outcome.details
                raise _incompatible_version(name, app, app_type, model_type)
        raise _unexpected(outcome, "set_model_version")

    async def delete_versioned_model(self, req: VersionedModelRequest) -> str:
        """Mark a version deleted by removing its ``valid`` field.

        The query frontend, seeing the ``hdel``, stops the version's replicas
        and removes the hash; the current version (DB 6) is left as it is.
        """
        name, version = req.model_name, req.model_version
        try:
            outcome = await self.store.delete_model_version(name, version)
        except StoreError:
            logger.exception("deleting model %s:%s failed", name, version)
            raise BadRequestError(
                f"Error deleting model with name '{name}' and version '{version}' from Redis"
            ) from None
        match outcome.result:
            case ScriptResult.OK:
                logger.info("deleted model %s:%s", name, version)
                return f"Successfully deleted model with name '{name}' and version '{version}'"
            case ScriptResult.MISSING:
                raise BadRequestError(f"model with name '{name}' and version '{version}' does not exist")
            case ScriptResult.INVALID:
                raise BadRequestError(
                    f"model with name '{name}' and version '{version}' is already marked as 'invalid'"
                )
        raise _unexpected(outcome, "delete_versioned_model")

    async def get_all_models(self, req: VerboseRequest) -> list[Any]:
        if not req.verbose:
            return await self.store.list_model_keys()
        models = await self.store.list_models()
        current = await self.store.get_current_versions([m.model_name for m in models])
        return [model_json(m, current.get(m.model_name) == m.model_version) for m in models]

    async def get_model(self, req: VersionedModelRequest) -> dict[str, Any]:
        model = await self.store.get_model(req.model_name, req.model_version)
        if model is None:
            return {}
        current = await self.store.get_current_versions([model.model_name])
        return model_json(model, current.get(model.model_name) == model.model_version)

    # -- containers (read only) ----------------------------------------------------

    async def get_all_containers(self, req: VerboseRequest) -> list[Any]:
        if not req.verbose:
            keys = await self.store.list_container_keys()
            return [cid for key in keys if (cid := container_id_from_key(key)) is not None]
        return [container_json(c) for c in await self.store.list_containers()]

    async def get_container(self, req: ContainerRequest) -> dict[str, Any]:
        container = await self.store.get_container(req.model_name, req.model_version, req.replica_id)
        return {} if container is None else container_json(container)
