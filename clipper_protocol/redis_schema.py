"""Clipper's Redis layout: database numbers, key names and record shapes.

Kept identical to the original so that an original query frontend, an
original management frontend and ours can share one Redis.

======  ==========================  ========  ==================================
DB      key                         type      content
======  ==========================  ========  ==================================
1       ``<app>:<uid>:0``           string    selection state ``{"y_hat": ...}``
2       ``<model>:<version>``       hash      :class:`ModelRecord`
3       ``<model>,<version>,<id>``  hash      :class:`ContainerRecord`
4       ``query_frontend:<id>``     string    a query frontend's liveness (TTL; ours)
4       ``replica_ids:<m>,<v>``     string    replica-id counter (INCR; ours)
5       ``<app>``                   hash      :class:`ApplicationRecord`
6       ``CURRENT_MODEL_VERSION:<m>`` string  the model's current version
7       ``<app>``                   set       names of the linked models
======  ==========================  ========  ==================================
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clipper_protocol.constants import CONTAINERLESS_MODEL_IMAGE, DEFAULT_SELECTION_POLICY


class RedisDB(enum.IntEnum):
    STATE = 1
    MODELS = 2
    CONTAINERS = 3
    RESOURCES = 4
    APPLICATIONS = 5
    METADATA = 6
    APP_MODEL_LINKS = 7


CURRENT_MODEL_VERSION_PREFIX = "CURRENT_MODEL_VERSION:"

# Hash fields that the management frontend's Lua scripts read or write
# (passed to them as arguments, never spelt inside the Lua).
APP_INPUT_TYPE_FIELD = "input_type"
"""DB 5 application hash: the canonical input type."""
APP_POLICY_FIELD = "policy"
"""DB 5 application hash: the selection policy's name."""
MODEL_INPUT_TYPE_FIELD = "input_type"
"""DB 2 model hash: the canonical input type."""
MODEL_VALID_FIELD = "valid"
"""DB 2 model hash: present (empty) while the version is valid; removed to delete it."""


def model_key(name: str, version: str) -> str:
    return f"{name}:{version}"


def model_versions_pattern(name: str) -> str:
    """``KEYS`` pattern matching every version of ``name`` in DB 2."""
    return f"{_escape_glob(name)}:*"


def container_key(name: str, version: str, replica_id: int) -> str:
    return f"{name},{version},{replica_id}"


def container_pattern(name: str, version: str) -> str:
    return f"{_escape_glob(name)},{_escape_glob(version)},*"


# DB 4 (unused by the original): the query frontends' replica bookkeeping.
# Replica ids are claimed with INCR on a counter per model version, so they
# are unique across the frontends sharing a Redis; each frontend keeps a
# liveness key with a TTL, and the records (DB 3) of a frontend whose key
# expired are deleted by the others.
QUERY_FRONTEND_PREFIX = "query_frontend:"
REPLICA_ID_COUNTER_PREFIX = "replica_ids:"


def frontend_liveness_key(frontend_id: str) -> str:
    """DB 4 string with a TTL: present while the query frontend ``frontend_id`` runs; its value is the
    frontend's RPC endpoint ``<host>:<port>``."""
    return QUERY_FRONTEND_PREFIX + frontend_id


def replica_id_counter_key(name: str, version: str) -> str:
    """DB 4 counter: INCR gives the next replica id of a model version (minus one: ids start at 0)."""
    return f"{REPLICA_ID_COUNTER_PREFIX}{name},{version}"


def current_version_key(model_name: str) -> str:
    return CURRENT_MODEL_VERSION_PREFIX + model_name


def state_key(app_name: str, uid: int = 0) -> str:
    return f"{app_name}:{uid}:0"


def _escape_glob(value: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in value)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode_hash(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}


@dataclass(slots=True)
class ApplicationRecord:
    """An application (DB 5 hash)."""

    name: str
    input_type: str
    default_output: str
    latency_slo_micros: int
    policy: str = DEFAULT_SELECTION_POLICY

    def to_hash(self) -> dict[str, str]:
        return {
            APP_INPUT_TYPE_FIELD: self.input_type,
            APP_POLICY_FIELD: self.policy,
            "default_output": self.default_output,
            "latency_slo_micros": str(self.latency_slo_micros),
        }

    @classmethod
    def from_hash(cls, name: str, raw: Mapping[Any, Any]) -> "ApplicationRecord":
        h = _decode_hash(raw)
        return cls(
            name=name,
            input_type=h[APP_INPUT_TYPE_FIELD],
            default_output=h.get("default_output", ""),
            latency_slo_micros=int(h["latency_slo_micros"]),
            policy=h.get(APP_POLICY_FIELD, DEFAULT_SELECTION_POLICY),
        )


@dataclass(slots=True)
class ModelRecord:
    """One version of a model (DB 2 hash). ``valid`` is the presence of a field."""

    model_name: str
    model_version: str
    input_type: str
    labels: list[str] = field(default_factory=list)
    container_name: str = CONTAINERLESS_MODEL_IMAGE
    model_data_path: str = "DEPRECATED"
    batch_size: int = -1
    valid: bool = True

    def to_hash(self) -> dict[str, str]:
        h = {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "load": "0.000000",
            MODEL_INPUT_TYPE_FIELD: self.input_type,
            "labels": ",".join(self.labels),
            "container_name": self.container_name,
            "model_data_path": self.model_data_path,
            "batch_size": str(self.batch_size),
        }
        if self.valid:
            h[MODEL_VALID_FIELD] = ""
        return h

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> "ModelRecord":
        h = _decode_hash(raw)
        return cls(
            model_name=h["model_name"],
            model_version=h["model_version"],
            input_type=h[MODEL_INPUT_TYPE_FIELD],
            # The original stores labels comma-joined, so [] reads back as [""].
            labels=h.get("labels", "").split(","),
            container_name=h.get("container_name", CONTAINERLESS_MODEL_IMAGE),
            model_data_path=h.get("model_data_path", ""),
            batch_size=int(h.get("batch_size", "-1") or -1),
            valid=MODEL_VALID_FIELD in h,
        )


FRONTEND_ID_FIELD = "query_frontend_id"
"""DB 3 record hash (ours, after the original's seven fields): the id of the frontend that wrote it."""


@dataclass(slots=True)
class ContainerRecord:
    """A connected model replica (DB 3 hash), written by the query frontend."""

    model_name: str
    model_version: str
    model_replica_id: int
    zmq_connection_id: int
    input_type: str
    batch_size: int = 1
    query_frontend_id: str = ""
    """Ours: the frontend that wrote the record (empty in records of the original's)."""

    @property
    def model_id(self) -> str:
        return model_key(self.model_name, self.model_version)

    def to_hash(self) -> dict[str, str]:
        return {
            "model_id": self.model_id,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "model_replica_id": str(self.model_replica_id),
            "zmq_connection_id": str(self.zmq_connection_id),
            "batch_size": str(self.batch_size),
            "input_type": self.input_type,
            **({FRONTEND_ID_FIELD: self.query_frontend_id} if self.query_frontend_id else {}),
        }

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> "ContainerRecord":
        h = _decode_hash(raw)
        return cls(
            model_name=h["model_name"],
            model_version=h["model_version"],
            model_replica_id=int(h["model_replica_id"]),
            zmq_connection_id=int(h.get("zmq_connection_id", "0")),
            input_type=h["input_type"],
            batch_size=int(h.get("batch_size", "1")),
            query_frontend_id=h.get(FRONTEND_ID_FIELD, ""),
        )


def selection_state_value(default_output: str) -> str:
    """Value of the DB 1 selection-state key of the default-output policy."""
    return json.dumps({"y_hat": default_output})
