"""Model selection in Redis: policy names, their parameters and their learned state.

Shared by the management frontend (which writes an application's policy and
parameters) and the query frontend (which reads them, learns from feedback
and writes the learned state). Layout:

======  =============================  ======  =====================================
DB      key / field                    type    content
======  =============================  ======  =====================================
5       ``<app>`` field ``policy``     hash    policy name (the original's field)
5       ``<app>`` field                hash    the policy's parameters, a JSON object
        ``selection_params``                   (:class:`SelectionParams`)
1       ``<app>:<uid>:0``              string  the original's ``{"y_hat": ...}``, untouched
1       ``<app>:<uid>:<policy>``       hash    learned state: ``<stat>:<model>`` → float
======  =============================  ======  =====================================

The learned state is a flat hash of floats that only ever changes by
increments (``HINCRBYFLOAT``): pulls and reward sums for epsilon-greedy,
log-weights for Exp3 and Exp4. Increments commute, so feedback handled by
several query frontends at once adds up exactly, with no lock. A missing
field reads as 0.0, which is every policy's initial value.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from clipper_protocol.constants import DEFAULT_SELECTION_POLICY
from clipper_protocol.errors import ClipperError
from clipper_protocol.names import contains_forbidden_chars

DEFAULT_POLICY = DEFAULT_SELECTION_POLICY
AB_SPLIT_POLICY = "ABSplitPolicy"
EPSILON_GREEDY_POLICY = "EpsilonGreedyPolicy"
EXP3_POLICY = "Exp3Policy"
EXP4_POLICY = "Exp4Policy"
CASCADE_POLICY = "CascadePolicy"

POLICIES: tuple[str, ...] = (
    DEFAULT_POLICY, AB_SPLIT_POLICY, EPSILON_GREEDY_POLICY, EXP3_POLICY, EXP4_POLICY, CASCADE_POLICY,
)

PARAMS_FIELD = "selection_params"
"""DB 5 app-hash field holding the policy's parameters as JSON."""

COMBINE_MODES = ("auto", "mean", "vote")

# Which parameters each policy takes; anything else is refused by name.
_ALLOWED: dict[str, frozenset[str]] = {
    DEFAULT_POLICY: frozenset(),
    AB_SPLIT_POLICY: frozenset({"weights", "seed"}),
    EPSILON_GREEDY_POLICY: frozenset({"epsilon", "loss_scale", "personalize", "seed"}),
    EXP3_POLICY: frozenset({"gamma", "loss_scale", "personalize", "seed"}),
    EXP4_POLICY: frozenset({"eta", "loss_scale", "combine", "personalize"}),
    CASCADE_POLICY: frozenset({"stages"}),
}

CONFIDENCE = "confidence"
CASCADE_OUTPUT = "output"
"""A cascade stage's model answers the JSON object ``{"output": <answer>, "confidence": <number>}``."""

_STAGE_KEYS = frozenset({"model", "threshold", "latency_ms"})


class SelectionParamsError(ClipperError, ValueError):
    """A policy name or parameter is invalid; the message names it."""


@dataclass(frozen=True)
class CascadeStage:
    """One stage of a cascade: a target, the confidence that ends the cascade there, a latency hint.

    ``threshold`` is None only for the last stage, which always answers.
    ``latency_ms`` is the stage's expected latency while the query frontend
    has not measured the model yet (None: assume it fits).
    """

    model: str
    threshold: float | None = None
    latency_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class SelectionParams:
    """Every policy's parameters; each policy reads the ones it takes.

    ``weights`` (A/B split): target → relative weight; a target is a linked
    model's name (its current version) or ``<model>:<version>``. Empty means
    an even split over the linked models. ``loss_scale``: the reward of an
    answer ``y`` for label ``l`` is ``max(0, 1 - |y - l| / loss_scale)``, so
    with the default 1.0 a classifier earns 1 when right and 0 when wrong.
    ``personalize``: keep one learned state per feedback ``uid`` instead of
    one per application. ``seed``: seeds the policy's random draws.
    ``stages`` (cascade): the targets to ask in order, each with the
    confidence that stops the cascade there.
    """

    weights: dict[str, float] = field(default_factory=dict)
    epsilon: float = 0.1
    gamma: float = 0.1
    eta: float = 0.5
    loss_scale: float = 1.0
    combine: str = "auto"
    personalize: bool = False
    seed: int | None = None
    stages: tuple[CascadeStage, ...] = ()
    """CascadePolicy: the stages in the order they are asked (cheapest first)."""

    def to_json(self) -> dict[str, Any]:
        """Only the fields that differ from the defaults."""
        default = SelectionParams()
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if getattr(self, f.name) != getattr(default, f.name)}
        if "stages" in out:
            out["stages"] = [stage.to_json() for stage in self.stages]
        return out


def _number(
    params: dict[str, Any], key: str, low: float, high: float, *, open_low: bool = False, where: str = "params"
) -> float:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SelectionParamsError(f"{where}.{key} must be a number, got {value!r}")
    if value < low or value > high or (open_low and value == low):
        bracket = "(" if open_low else "["
        raise SelectionParamsError(f"{where}.{key} must be in {bracket}{low}, {high}], got {value!r}")
    return float(value)


def parse_target(target: str) -> tuple[str, str | None]:
    """``"model"`` → (model, None); ``"model:version"`` → (model, version)."""
    model, sep, version = target.partition(":")
    return model, (version if sep else None)


def _weights(value: object) -> dict[str, float]:
    if not isinstance(value, dict):
        raise SelectionParamsError(f"params.weights must be an object of target -> weight, got {value!r}")
    weights: dict[str, float] = {}
    for target, w in value.items():
        model, version = parse_target(target)
        if not model or (version is not None and (not version or contains_forbidden_chars(version))):
            raise SelectionParamsError(
                f"params.weights key {target!r} must be a model name or '<model>:<version>'"
            )
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise SelectionParamsError(f"params.weights[{target!r}] must be a number >= 0, got {w!r}")
        weights[target] = float(w)
    if weights and sum(weights.values()) <= 0:
        raise SelectionParamsError("params.weights must give at least one target a positive weight")
    return weights


def _target_problem(target: object) -> str | None:
    if not isinstance(target, str):
        return f"must be a string, got {target!r}"
    model, version = parse_target(target)
    if not model or (version is not None and (not version or contains_forbidden_chars(version))):
        return f"{target!r} must be a model name or '<model>:<version>'"
    return None


def _stages(value: object) -> tuple[CascadeStage, ...]:
    if not isinstance(value, list) or not value:
        raise SelectionParamsError(
            f"params.stages must be a non-empty list of {{\"model\", \"threshold\"}} objects, got {value!r}"
        )
    stages: list[CascadeStage] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(value):
        where = f"params.stages[{i}]"
        if not isinstance(raw, dict):
            raise SelectionParamsError(f"{where} must be an object with model and threshold, got {raw!r}")
        unknown = sorted(set(raw) - _STAGE_KEYS)
        if unknown:
            raise SelectionParamsError(f"{where}.{unknown[0]} is not a stage field (model, threshold, latency_ms)")
        if "model" not in raw:
            raise SelectionParamsError(f"{where}.model is missing")
        problem = _target_problem(raw["model"])
        if problem is not None:
            raise SelectionParamsError(f"{where}.model {problem}")
        target: str = raw["model"]
        if target in seen:
            raise SelectionParamsError(f"{where}.model {target!r} is already stage {seen[target]}")
        seen[target] = i
        last = i == len(value) - 1
        threshold = None
        if last and "threshold" in raw:
            raise SelectionParamsError(f"{where}.threshold must be left out: the last stage always answers")
        if not last:
            if "threshold" not in raw:
                raise SelectionParamsError(f"{where}.threshold is missing (a confidence from 0 to 1)")
            threshold = _number(raw, "threshold", 0.0, 1.0, where=where)
        latency_ms = _number(raw, "latency_ms", 0.0, 1e9, where=where) if "latency_ms" in raw else None
        stages.append(CascadeStage(target, threshold, latency_ms))
    return tuple(stages)


def parse_params(policy: str, raw: object) -> SelectionParams:
    """Validate ``raw`` (a JSON object or None) as ``policy``'s parameters."""
    if policy not in _ALLOWED:
        raise SelectionParamsError(f"policy {policy!r} is not one of {', '.join(POLICIES)}")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SelectionParamsError(f"params must be a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _ALLOWED[policy])
    if unknown:
        allowed = ", ".join(sorted(_ALLOWED[policy])) or "none"
        raise SelectionParamsError(f"params.{unknown[0]} is not a parameter of {policy} (it takes: {allowed})")
    kw: dict[str, Any] = {}
    if "weights" in raw:
        kw["weights"] = _weights(raw["weights"])
    if "epsilon" in raw:
        kw["epsilon"] = _number(raw, "epsilon", 0.0, 1.0)
    if "gamma" in raw:
        kw["gamma"] = _number(raw, "gamma", 0.0, 1.0, open_low=True)
    if "eta" in raw:
        kw["eta"] = _number(raw, "eta", 0.0, 100.0, open_low=True)
    if "loss_scale" in raw:
        kw["loss_scale"] = _number(raw, "loss_scale", 0.0, 1e12, open_low=True)
    if "combine" in raw:
        if raw["combine"] not in COMBINE_MODES:
            raise SelectionParamsError(f"params.combine must be one of {', '.join(COMBINE_MODES)}")
        kw["combine"] = raw["combine"]
    if "personalize" in raw:
        if not isinstance(raw["personalize"], bool):
            raise SelectionParamsError("params.personalize must be true or false")
        kw["personalize"] = raw["personalize"]
    if "seed" in raw:
        seed = raw["seed"]
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise SelectionParamsError(f"params.seed must be an integer or null, got {seed!r}")
        kw["seed"] = seed
    if "stages" in raw:
        kw["stages"] = _stages(raw["stages"])
    elif policy == CASCADE_POLICY:
        raise SelectionParamsError("params.stages is required: the models to ask in order, cheapest first")
    return SelectionParams(**kw)


def state_key(app_name: str, uid: int, policy: str) -> str:
    """DB 1 key of a policy's learned state (the original's ``<app>:<uid>:0`` shape)."""
    return f"{app_name}:{uid}:{policy}"


def state_key_pattern(app_name: str, policy: str) -> str:
    """``SCAN``/``KEYS`` pattern of every user's state of ``policy`` for an app."""
    escaped = "".join("\\" + c if c in "*?[]\\" else c for c in app_name)
    return f"{escaped}:*:{policy}"


def parse_state_key(key: str) -> tuple[str, int, str] | None:
    """(app, uid, policy) of a learned-state key, or None for any other DB 1 key."""
    parts = key.rsplit(":", 2)
    if len(parts) != 3 or parts[2] not in POLICIES or parts[2] == DEFAULT_POLICY:
        return None
    try:
        return parts[0], int(parts[1]), parts[2]
    except ValueError:
        return None


def stat_field(stat: str, model: str) -> str:
    """Field of a learned-state hash: ``<stat>:<model>``, e.g. ``logw:forest``."""
    return f"{stat}:{model}"
