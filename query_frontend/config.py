"""The query frontend's in-memory view of the cluster configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from clipper_protocol.input_types import InputType, parse_input_type
from clipper_protocol.redis_schema import ApplicationRecord, ModelRecord


def json_or_string(raw: str) -> object:
    """An output or default output as the original embeds it: JSON if valid."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


@dataclass(slots=True)
class AppConfig:
    """An application as queries need it."""

    name: str
    input_type: InputType
    default_output: str
    default_value: object
    slo_micros: int
    policy: str
    linked_models: list[str] = field(default_factory=list)

    @property
    def slo_s(self) -> float:
        return self.slo_micros / 1e6

    @classmethod
    def from_record(cls, rec: ApplicationRecord, linked_models: list[str]) -> "AppConfig":
        return cls(
            name=rec.name,
            input_type=parse_input_type(rec.input_type),
            default_output=rec.default_output,
            default_value=json_or_string(rec.default_output),
            slo_micros=rec.latency_slo_micros,
            policy=rec.policy,
            linked_models=sorted(linked_models),
        )


@dataclass
class ClusterConfig:
    """Applications, links, model versions and current versions."""

    apps: dict[str, AppConfig] = field(default_factory=dict)
    links: dict[str, list[str]] = field(default_factory=dict)
    models: dict[tuple[str, str], ModelRecord] = field(default_factory=dict)
    current_versions: dict[str, str] = field(default_factory=dict)

    def has_version(self, model_name: str, version: str) -> bool:
        return (model_name, version) in self.models
