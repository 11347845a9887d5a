"""The admin REST API's contract: its endpoints and the JSON bodies they take and answer.

One definition serves both ends: the management frontend routes, parses and
documents (OpenAPI) from it, and the admin library builds its requests from
it. Every call is ``POST /admin/<endpoint>`` with a JSON object body; field
names and JSON types are the original's (``../shared/clipper-reference.md``
section 4). A body is built with its dataclass and :meth:`to_json`, and read
with :meth:`parse`, which refuses it in the original's words
(:mod:`clipper_protocol.json_body`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from clipper_protocol import api_docs
from clipper_protocol import selection_schema as ss
from clipper_protocol.input_types import InputType, InvalidInputType, parse_input_type
from clipper_protocol.json_body import INT32_MAX, FieldValueError, Json, JsonKind, JsonMessage, message, wire
from clipper_protocol.names import application_name_problem

ADMIN_PREFIX = "/admin/"
PING_PATH = "/admin/ping"
"""``GET``: ``PONG`` while the process runs (liveness; open even with a token)."""
OPENAPI_PATH = "/admin/openapi.json"
"""``GET``: the OpenAPI 3 document of this API."""
READY_PATH = "/ready"
"""``GET``: ``{"ready": true}``, or 503 with a ``reason``."""
HEALTHZ_PATH = "/healthz"
"""``GET``: ``ok`` while the process runs."""
DOCS_PATH = api_docs.DOCS_PATH
"""``GET``: the interactive API page (open even with a token)."""
DOCS_ASSET_PATH = api_docs.ASSET_PATH
"""``GET``: the page's files, and this API's OpenAPI document as ``/docs/openapi.json`` (open)."""


def admin_path(endpoint: str) -> str:
    """``/admin/<endpoint>``."""
    return ADMIN_PREFIX + endpoint


# --------------------------------------------------------------------------
# Value rules (the JSON types are checked by the reader)


def model_version_exists_message(name: str, version: str) -> str:
    """The refusal of ``add_model`` for a version already registered (the original's words)."""
    return f"model with name '{name}' and version '{version}' already exists"


def input_type_problem(value: str) -> str | None:
    try:
        parse_input_type(value)
    except InvalidInputType as e:
        return str(e)
    return None


def slo_micros_problem(value: object) -> str | None:
    """What is wrong with ``value`` as a latency objective, or None.

    (The original accepted any int32, negative ones included.)
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT32_MAX:
        return (
            f"{value!r} is not a valid latency objective: it must be a whole number of "
            f"microseconds from 1 to {INT32_MAX}"
        )
    return None


def _policy_problem(value: str) -> str | None:
    return None if value in ss.POLICIES else f"'{value}' is not one of {', '.join(ss.POLICIES)}"


_INPUT_TYPE_DOC = "integers, floats, doubles, bytes or strings (or the original's aliases, e.g. ints)"

# --------------------------------------------------------------------------
# Request bodies


@message
@dataclass(frozen=True, slots=True)
class AddAppRequest(JsonMessage):
    name: str = wire(JsonKind.STRING, check=application_name_problem,
                     description="lower-case alphanumerics and '-', starting and ending alphanumeric")
    input_type: str = wire(JsonKind.STRING, check=input_type_problem, description=_INPUT_TYPE_DOC)
    default_output: str = wire(JsonKind.STRING)
    latency_slo_micros: int = wire(JsonKind.INT, check=slo_micros_problem, description="positive")

    @property
    def parsed_input_type(self) -> InputType:
        return parse_input_type(self.input_type)


@message
@dataclass(frozen=True, slots=True)
class AppNameRequest(JsonMessage):
    """``delete_app`` and ``get_application``: ``{"name": ...}``."""

    name: str = wire(JsonKind.STRING)


@message
@dataclass(frozen=True, slots=True)
class AppNameFieldRequest(JsonMessage):
    """``get_linked_models`` and ``get_selection_policy``: ``{"app_name": ...}``."""

    app_name: str = wire(JsonKind.STRING)


GetSelectionPolicyRequest = AppNameFieldRequest


@message
@dataclass(frozen=True, slots=True)
class ModelLinksRequest(JsonMessage):
    """``add_model_links`` and ``delete_model_links``."""

    app_name: str = wire(JsonKind.STRING)
    model_names: list[str] = wire(JsonKind.STRING_LIST)


@message
@dataclass(frozen=True, slots=True)
class AddModelRequest(JsonMessage):
    model_name: str = wire(JsonKind.STRING)
    model_version: str = wire(JsonKind.STRING)
    labels: list[str] = wire(JsonKind.STRING_LIST)
    input_type: str = wire(JsonKind.STRING, check=input_type_problem, description=_INPUT_TYPE_DOC)
    container_name: str = wire(JsonKind.STRING)
    model_data_path: str = wire(JsonKind.STRING)
    batch_size: int = wire(JsonKind.INT, schema_text="int (positive, or -1 for adaptive batching)",
                           description="positive, or -1 for adaptive batching")

    @property
    def parsed_input_type(self) -> InputType:
        return parse_input_type(self.input_type)


@message
@dataclass(frozen=True, slots=True)
class VersionedModelRequest(JsonMessage):
    """``set_model_version``, ``delete_versioned_model`` and ``get_model``."""

    model_name: str = wire(JsonKind.STRING)
    model_version: str = wire(JsonKind.STRING)


@message
@dataclass(frozen=True, slots=True)
class VerboseRequest(JsonMessage):
    """``get_all_applications``, ``get_all_models``, ``get_all_containers``."""

    verbose: bool = wire(JsonKind.BOOL)


@message
@dataclass(frozen=True, slots=True)
class ContainerRequest(JsonMessage):
    model_name: str = wire(JsonKind.STRING)
    model_version: str = wire(JsonKind.STRING)
    replica_id: int = wire(JsonKind.INT)


@message
@dataclass(frozen=True, slots=True)
class GetStateRequest(JsonMessage):
    app_name: str = wire(JsonKind.STRING)
    uid: int = wire(JsonKind.INT)


@message
@dataclass(frozen=True, slots=True)
class SetSelectionPolicyRequest(JsonMessage):
    """``set_selection_policy`` (ours): ``params`` as :func:`selection_schema.parse_params` reads them."""

    app_name: str = wire(JsonKind.STRING)
    policy: str = wire(JsonKind.STRING, check=_policy_problem, schema_text=" | ".join(ss.POLICIES),
                       choices=ss.POLICIES)
    params: Any = wire(JsonKind.OBJECT, schema_text="object (optional; the policy's parameters)",
                       description="the policy's parameters (docs/model-selection.md)", default=None)

    @classmethod
    def check_fields(cls, values: Json) -> None:
        try:
            ss.parse_params(values["policy"], values.get("params"))
        except ss.SelectionParamsError as e:
            raise FieldValueError("params", str(e)) from None

    @property
    def selection_params(self) -> ss.SelectionParams:
        return ss.parse_params(self.policy, self.params)


# --------------------------------------------------------------------------
# Response objects (key order as the original writes them)


@dataclass(frozen=True, slots=True)
class ApplicationInfo(JsonMessage):
    input_type: str = wire(JsonKind.STRING)
    default_output: str = wire(JsonKind.STRING)
    latency_slo_micros: int = wire(JsonKind.INT)
    name: str = wire(JsonKind.STRING)
    linked_models: list[str] = wire(JsonKind.STRING_LIST)


@dataclass(frozen=True, slots=True)
class ModelInfo(JsonMessage):
    model_name: str = wire(JsonKind.STRING)
    model_version: str = wire(JsonKind.STRING)
    input_type: str = wire(JsonKind.STRING)
    labels: list[str] = wire(JsonKind.STRING_LIST)
    container_name: str = wire(JsonKind.STRING)
    model_data_path: str = wire(JsonKind.STRING)
    is_current_version: bool = wire(JsonKind.BOOL)


@dataclass(frozen=True, slots=True)
class ContainerInfo(JsonMessage):
    model_id: str = wire(JsonKind.STRING)
    model_name: str = wire(JsonKind.STRING)
    model_version: str = wire(JsonKind.STRING)
    model_replica_id: int = wire(JsonKind.INT)
    input_type: str = wire(JsonKind.STRING)


@dataclass(frozen=True, slots=True)
class SelectionPolicyInfo(JsonMessage):
    app_name: str = wire(JsonKind.STRING)
    policy: str = wire(JsonKind.STRING, choices=ss.POLICIES)
    params: Any = wire(JsonKind.OBJECT, description="the policy's parameters")
    linked_models: list[str] = wire(JsonKind.STRING_LIST)
    state: dict[str, float] = wire(JsonKind.OBJECT, description="learnt statistics of uid 0: name -> number")


# --------------------------------------------------------------------------
# Endpoints


class Answer(enum.Enum):
    """What a successful call answers (always with ``Content-Type: application/json``)."""

    MESSAGE = "message"
    """A plain-text message (the original's success text, or raw selection state)."""
    RECORD = "record"
    """One JSON object: the record, or ``{}`` when there is none."""
    LISTING = "listing"
    """A JSON array: names, or records when the request's ``verbose`` is true."""
    NAMES = "names"
    """A JSON array of names."""


R = TypeVar("R", bound=JsonMessage)


@dataclass(frozen=True)
class Endpoint(Generic[R]):
    """``POST /admin/<name>`` taking a ``request`` body."""

    name: str
    request: type[R]
    answer: Answer
    summary: str
    record: type[JsonMessage] | None = None
    """The record type a RECORD or LISTING answer holds."""

    @property
    def path(self) -> str:
        return admin_path(self.name)

    @property
    def answers_json(self) -> bool:
        return self.answer is not Answer.MESSAGE


ADD_APP = Endpoint("add_app", AddAppRequest, Answer.MESSAGE, "Register an application")
DELETE_APP = Endpoint("delete_app", AppNameRequest, Answer.MESSAGE,
                      "Delete an application, its links and its selection state")
ADD_MODEL_LINKS = Endpoint("add_model_links", ModelLinksRequest, Answer.MESSAGE,
                           "Link one model to an application (several under a selection policy)")
DELETE_MODEL_LINKS = Endpoint("delete_model_links", ModelLinksRequest, Answer.MESSAGE,
                              "Unlink models from an application")
ADD_MODEL = Endpoint("add_model", AddModelRequest, Answer.MESSAGE, "Register a model version and make it current")
SET_MODEL_VERSION = Endpoint("set_model_version", VersionedModelRequest, Answer.MESSAGE,
                             "Make a registered version the current one")
DELETE_VERSIONED_MODEL = Endpoint("delete_versioned_model", VersionedModelRequest, Answer.MESSAGE,
                                  "Mark a model version invalid")
GET_ALL_APPLICATIONS = Endpoint("get_all_applications", VerboseRequest, Answer.LISTING,
                                "List applications (names, or records when verbose)", ApplicationInfo)
GET_APPLICATION = Endpoint("get_application", AppNameRequest, Answer.RECORD,
                           "One application's record ({} if unknown)", ApplicationInfo)
GET_LINKED_MODELS = Endpoint("get_linked_models", AppNameFieldRequest, Answer.NAMES,
                             "Models linked to an application")
GET_ALL_MODELS = Endpoint("get_all_models", VerboseRequest, Answer.LISTING,
                          "List model versions (ids, or records when verbose)", ModelInfo)
GET_MODEL = Endpoint("get_model", VersionedModelRequest, Answer.RECORD,
                     "One model version's record ({} if unknown)", ModelInfo)
GET_ALL_CONTAINERS = Endpoint("get_all_containers", VerboseRequest, Answer.LISTING,
                              "List connected replicas (ids, or records when verbose)", ContainerInfo)
GET_CONTAINER = Endpoint("get_container", ContainerRequest, Answer.RECORD,
                         "One replica's record ({} if unknown)", ContainerInfo)
GET_STATE = Endpoint("get_state", GetStateRequest, Answer.MESSAGE,
                     "An application's default output, as stored selection state (raw text)")
SET_SELECTION_POLICY = Endpoint("set_selection_policy", SetSelectionPolicyRequest, Answer.MESSAGE,
                                "Set an application's model-selection policy and parameters")
GET_SELECTION_POLICY = Endpoint("get_selection_policy", GetSelectionPolicyRequest, Answer.RECORD,
                                "An application's selection policy, parameters and learned state",
                                SelectionPolicyInfo)

POST_ENDPOINTS: tuple[Endpoint[Any], ...] = (
    ADD_APP,
    DELETE_APP,
    ADD_MODEL_LINKS,
    DELETE_MODEL_LINKS,
    ADD_MODEL,
    SET_MODEL_VERSION,
    DELETE_VERSIONED_MODEL,
    GET_ALL_APPLICATIONS,
    GET_APPLICATION,
    GET_LINKED_MODELS,
    GET_ALL_MODELS,
    GET_MODEL,
    GET_ALL_CONTAINERS,
    GET_CONTAINER,
    GET_STATE,
    SET_SELECTION_POLICY,
    GET_SELECTION_POLICY,
)
"""Every ``POST /admin/<name>`` endpoint, in the original's order (ours last)."""

ENDPOINTS_BY_NAME: dict[str, Endpoint[Any]] = {e.name: e for e in POST_ENDPOINTS}
