"""The query frontend's in-memory view of the cluster configuration."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import orjson

from clipper_protocol.input_types import InputType, parse_input_type
from clipper_protocol.redis_schema import ApplicationRecord, ModelRecord
from clipper_protocol.selection_schema import SelectionParamsError, parse_params
from query_frontend.selection import SelectionPolicy, make_policy
from query_frontend.selection.store import SelectionStore

log = logging.getLogger("clipper.query_frontend.config")


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
    # None for the default policy: queries then take the original's fast path.
    selector: SelectionPolicy | None = None  # type: ignore[type-arg]
    # Set when the policy or its parameters in Redis are unusable: queries get a 400.
    selection_error: str | None = None
    selection_params: str = ""

    @property
    def slo_s(self) -> float:
        return self.slo_micros / 1e6

    @classmethod
    def from_record(
        cls, rec: ApplicationRecord, linked_models: list[str], selection_params: str | None = None
    ) -> "AppConfig":
        """``selection_params``: the app hash's ``selection_params`` JSON, if any."""
        models = sorted(linked_models)
        selector, error = _selector(rec, models, selection_params)
        return cls(
            name=rec.name,
            input_type=parse_input_type(rec.input_type),
            default_output=rec.default_output,
            default_value=json_or_string(rec.default_output),
            slo_micros=rec.latency_slo_micros,
            policy=rec.policy,
            linked_models=models,
            selector=selector,
            selection_error=error,
            selection_params=selection_params or "",
        )

    def keep_selector_of(self, old: "AppConfig | None") -> "AppConfig":
        """Reuse ``old``'s policy object when nothing it depends on changed.

        Config is re-read on every resync; keeping the object keeps its random
        stream going (a seeded A/B split would otherwise replay its first draws).
        """
        if (old is not None and old.selector is not None and old.policy == self.policy
                and old.selection_params == self.selection_params and old.linked_models == self.linked_models):
            self.selector = old.selector
        return self


def _selector(
    rec: ApplicationRecord, models: list[str], raw_params: str | None
) -> tuple[SelectionPolicy | None, str | None]:  # type: ignore[type-arg]
    try:
        params = parse_params(rec.policy, orjson.loads(raw_params) if raw_params else None)
        return make_policy(rec.policy, params, models), None
    except (SelectionParamsError, orjson.JSONDecodeError) as e:
        log.warning("Application %s has an unusable selection policy %r: %s", rec.name, rec.policy, e)
        # The original's message for a policy it does not know.
        return None, f"{rec.policy} is an invalid selection_policy."


@dataclass
class ClusterConfig:
    """Applications, links, model versions and current versions."""

    apps: dict[str, AppConfig] = field(default_factory=dict)
    links: dict[str, list[str]] = field(default_factory=dict)
    models: dict[tuple[str, str], ModelRecord] = field(default_factory=dict)
    current_versions: dict[str, str] = field(default_factory=dict)
    # Learned selection states; the frontend attaches their Redis persistence, the follower refreshes them.
    selection: SelectionStore = field(default_factory=SelectionStore)
    #: Whether a whole snapshot was ever read from Redis: before, an unknown application may exist.
    loaded: bool = False

    def has_version(self, model_name: str, version: str) -> bool:
        return (model_name, version) in self.models
