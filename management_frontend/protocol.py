"""The admin API's bodies as the management frontend reads and answers them.

The bodies themselves are defined once, in :mod:`clipper_protocol.admin_api`
(re-exported here); this module turns their reading errors into the
frontend's (:class:`JsonRequestError` in the original's words, or
:class:`BadRequestError` for a refused value) and builds the answer records
from the Redis records.
"""

from __future__ import annotations

from typing import TypeVar

from clipper_protocol.admin_api import (
    AddAppRequest,
    AddModelRequest,
    AppNameFieldRequest,
    AppNameRequest,
    ApplicationInfo,
    ContainerInfo,
    ContainerRequest,
    GetSelectionPolicyRequest,
    GetStateRequest,
    ModelInfo,
    ModelLinksRequest,
    SetSelectionPolicyRequest,
    VerboseRequest,
    VersionedModelRequest,
)
from clipper_protocol.json_body import (
    FieldValueError,
    JsonBodyError,
    JsonFieldError,
    JsonMessage,
    Json,
    get_bool,
    get_int,
    get_str,
    get_str_list,
)
from clipper_protocol.json_body import parse_json_object as _parse_json_object
from clipper_protocol.json_types import json_type_name
from clipper_protocol.redis_schema import ApplicationRecord, ContainerRecord, ModelRecord
from management_frontend.errors import BadRequestError, JsonRequestError

__all__ = [
    "AddAppRequest",
    "AddModelRequest",
    "AppNameFieldRequest",
    "AppNameRequest",
    "ContainerRequest",
    "GetSelectionPolicyRequest",
    "GetStateRequest",
    "JsonFieldError",
    "ModelLinksRequest",
    "SetSelectionPolicyRequest",
    "VerboseRequest",
    "VersionedModelRequest",
    "application_json",
    "container_json",
    "get_bool",
    "get_int",
    "get_str",
    "get_str_list",
    "json_type_name",
    "model_json",
    "parse_json_object",
    "parse_request",
]

M = TypeVar("M", bound=JsonMessage)


def parse_json_object(raw: bytes, schema: str) -> Json:
    """Decode a request body that must be one JSON object."""
    try:
        return _parse_json_object(raw, schema)
    except JsonBodyError as e:
        raise JsonRequestError(e.detail, e.schema) from None


def parse_request(request_type: type[M], raw: bytes) -> M:
    """Decode and validate a raw body into ``request_type``, with the frontend's errors."""
    try:
        return request_type.parse(raw)
    except JsonBodyError as e:
        raise JsonRequestError(e.detail, e.schema) from None
    except FieldValueError as e:
        raise BadRequestError(str(e)) from None


def application_json(app: ApplicationRecord, linked_models: list[str]) -> Json:
    return ApplicationInfo(
        input_type=app.input_type,
        default_output=app.default_output,
        latency_slo_micros=app.latency_slo_micros,
        name=app.name,
        linked_models=linked_models,
    ).to_json()


def model_json(model: ModelRecord, is_current_version: bool) -> Json:
    return ModelInfo(
        model_name=model.model_name,
        model_version=model.model_version,
        input_type=model.input_type,
        labels=model.labels,
        container_name=model.container_name,
        model_data_path=model.model_data_path,
        is_current_version=is_current_version,
    ).to_json()


def container_json(container: ContainerRecord) -> Json:
    return ContainerInfo(
        model_id=container.model_id,
        model_name=container.model_name,
        model_version=container.model_version,
        model_replica_id=container.model_replica_id,
        input_type=container.input_type,
    ).to_json()
