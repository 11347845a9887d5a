"""Clipper's Redis layout: database numbers, key names and record shapes.

Kept identical to the original so that an original query frontend, an
original management frontend and ours can share one Redis.

======  ==========================  ========  ==================================
DB      key                         type      content
======  ==========================  ========  ==================================
1       ``<app>:<uid>:0``           string    selection state ``{"y_hat": ...}``
2       ``<model>:<version>``       hash      :class:`ModelRecord`
3       ``<model>,<version>,<id>``  hash      :class:`ContainerRecord`
5       ``<app>``                   hash      :class:`ApplicationRecord`
6       ``CURRENT_MODEL_VERSION:<m>`` string  the model's current version
7       ``<app>``                   set       names of the linked models
======  ==========================  ========  ==================================
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field

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


def model_key(name: str, version: str) -> str:
    return f"{name}:{version}"


def model_versions_pattern(name: str) -> str:
    """``KEYS`` pattern matching every version of ``name`` in DB 2."""
    return f"{_escape_glob(name)}:*"


def container_key(name: str, version: str, replica_id: int) -> str:
    return f"{name},{version},{replica_id}"


def container_pattern(name: str, version: str) -> str:
    return f"{_escape_glob(name)},{_escape_glob(version)},*"


def current_version_key(model_name: str) -> str:
    return CURRENT_MODEL_VERSION_PREFIX + model_name


def state_key(app_name: str, uid: int = 0) -> str:
    return f"{app_name}:{uid}:0"


def _escape_glob(value: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in value)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode_hash(raw: dict) -> dict[str, str]:
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
            "input_type": self.input_type,
            "policy": self.policy,
            "default_output": self.default_output,
            "latency_slo_micros": str(self.latency_slo_micros),
        }

    @classmethod
    def from_hash(cls, name: str, raw: dict) -> "ApplicationRecord":
        h = _decode_hash(raw)
        return cls(
            name=name,
            input_type=h["input_type"],
            default_output=h.get("default_output", ""),
            latency_slo_micros=int(h["latency_slo_micros"]),
            policy=h.get("policy", DEFAULT_SELECTION_POLICY),
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
            "input_type": self.input_type,
            "labels": ",".join(self.labels),
            "container_name": self.container_name,
            "model_data_path": self.model_data_path,
            "batch_size": str(self.batch_size),
        }
        if self.valid:
            h["valid"] = ""
        return h

    @classmethod
    def from_hash(cls, raw: dict) -> "ModelRecord":
        h = _decode_hash(raw)
        return cls(
            model_name=h["model_name"],
            model_version=h["model_version"],
            input_type=h["input_type"],
            # The original stores labels comma-joined, so [] reads back as [""].
            labels=h.get("labels", "").split(","),
            container_name=h.get("container_name", CONTAINERLESS_MODEL_IMAGE),
            model_data_path=h.get("model_data_path", ""),
            batch_size=int(h.get("batch_size", "-1") or -1),
            valid="valid" in h,
        )


@dataclass(slots=True)
class ContainerRecord:
    """A connected model replica (DB 3 hash), written by the query frontend."""

    model_name: str
    model_version: str
    model_replica_id: int
    zmq_connection_id: int
    input_type: str
    batch_size: int = 1

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
        }

    @classmethod
    def from_hash(cls, raw: dict) -> "ContainerRecord":
        h = _decode_hash(raw)
        return cls(
            model_name=h["model_name"],
            model_version=h["model_version"],
            model_replica_id=int(h["model_replica_id"]),
            zmq_connection_id=int(h.get("zmq_connection_id", "0")),
            input_type=h["input_type"],
            batch_size=int(h.get("batch_size", "1")),
        )


def selection_state_value(default_output: str) -> str:
    """Value of the DB 1 selection-state key of the default-output policy."""
    return json.dumps({"y_hat": default_output})
