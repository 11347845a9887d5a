"""Settings of a model container, read once when it starts.

Each setting comes from a keyword argument of ``RPCService.start`` (tests and
embedding), else from its environment variable (the original's names, plus a
few of ours), else from its default. Missing required values and malformed
ones raise :class:`ContainerConfigError` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clipper_protocol.constants import METRIC_PORT, RPC_SERVICE_PORT
from clipper_protocol.input_types import InputType, InvalidInputType, parse_input_type

DEFAULT_READY_FILE = "/model_is_ready.check"


class ContainerConfigError(ValueError):
    """A container setting that is missing or malformed."""


@dataclass(frozen=True, slots=True)
class ContainerSettings:
    """Everything a model container can be configured with."""

    model_name: str
    """Name of the model served (``CLIPPER_MODEL_NAME``, required)."""
    model_version: str
    """Version of the model served (``CLIPPER_MODEL_VERSION``, required)."""
    host: str = "127.0.0.1"
    """Query frontend host (``CLIPPER_IP``), resolved with ``gethostbyname``."""
    port: int = RPC_SERVICE_PORT
    """Query frontend RPC port (``CLIPPER_PORT``)."""
    input_type: InputType = InputType.DOUBLES
    """Input type the model accepts (``CLIPPER_INPUT_TYPE``, any alias)."""
    heartbeat_interval_ms: int = 1000
    """Time between two heartbeats (``CLIPPER_HEARTBEAT_INTERVAL_MS``)."""
    activity_timeout_ms: int = 30000
    """Silence from a frontend that was heard from, after which the container
    opens a new session (``CLIPPER_ACTIVITY_TIMEOUT_MS``; the original's 30 s)."""
    metrics_port: int = METRIC_PORT
    """Port of the Prometheus metrics server (``CLIPPER_METRICS_PORT``; 0: off)."""
    ready_file: str = DEFAULT_READY_FILE
    """File written with ``READY`` once serving (``CLIPPER_READY_FILE``);
    Docker's HEALTHCHECK and the Kubernetes readiness probe test it."""
    rpc_secret: str = field(default="", repr=False)
    """Registration secret of a frontend that requires one
    (``CLIPPER_RPC_SECRET``); empty: announce without a proof, as the original."""


# field -> environment variable
ENV_VARS: dict[str, str] = {
    "model_name": "CLIPPER_MODEL_NAME",
    "model_version": "CLIPPER_MODEL_VERSION",
    "host": "CLIPPER_IP",
    "port": "CLIPPER_PORT",
    "input_type": "CLIPPER_INPUT_TYPE",
    "heartbeat_interval_ms": "CLIPPER_HEARTBEAT_INTERVAL_MS",
    "activity_timeout_ms": "CLIPPER_ACTIVITY_TIMEOUT_MS",
    "metrics_port": "CLIPPER_METRICS_PORT",
    "ready_file": "CLIPPER_READY_FILE",
    "rpc_secret": "CLIPPER_RPC_SECRET",
}


def parse_container_input_type(value: str | InputType) -> InputType:
    """Input type for a container setting: any alias, case and blanks ignored."""
    if isinstance(value, InputType):
        return value
    try:
        return parse_input_type(str(value).strip().lower())
    except InvalidInputType as e:
        raise ContainerConfigError(f"CLIPPER_INPUT_TYPE: {e}") from None


def _int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ContainerConfigError(f"{name}: expected an integer, got {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ContainerConfigError(f"{name}: must be {bound}, got {number}")
    return number


def resolve_settings(
    env: Mapping[str, str] | None = None, **overrides: Any
) -> ContainerSettings:
    """Build settings from ``overrides`` (None values ignored), then ``env``.

    Pass ``env=None`` to ignore the environment (``read_config=False``);
    pass ``os.environ`` to read it.
    """
    unknown = set(overrides) - set(ENV_VARS)
    if unknown:
        raise TypeError(f"unknown container settings: {', '.join(sorted(unknown))}")
    raw: dict[str, object] = {}
    for name, var in ENV_VARS.items():
        if overrides.get(name) is not None:
            raw[name] = overrides[name]
        elif env is not None and env.get(var, "").strip():
            raw[name] = env[var].strip()
    for name in ("model_name", "model_version"):
        if not str(raw.get(name, "")).strip():
            raise ContainerConfigError(f"{ENV_VARS[name]} environment variable must be set")
    values: dict[str, Any] = {
        "model_name": str(raw["model_name"]),
        "model_version": str(raw["model_version"]),
    }
    if "host" in raw:
        values["host"] = str(raw["host"])
    if "port" in raw:
        values["port"] = _int(ENV_VARS["port"], raw["port"], 1, 65535)
    if "input_type" in raw:
        values["input_type"] = parse_container_input_type(raw["input_type"])  # type: ignore[arg-type]
    if "heartbeat_interval_ms" in raw:
        values["heartbeat_interval_ms"] = _int(ENV_VARS["heartbeat_interval_ms"], raw["heartbeat_interval_ms"], 1)
    if "activity_timeout_ms" in raw:
        values["activity_timeout_ms"] = _int(ENV_VARS["activity_timeout_ms"], raw["activity_timeout_ms"], 1)
    if "metrics_port" in raw:
        values["metrics_port"] = _int(ENV_VARS["metrics_port"], raw["metrics_port"], 0, 65535)
    if "ready_file" in raw:
        values["ready_file"] = str(raw["ready_file"])
    if "rpc_secret" in raw:
        values["rpc_secret"] = str(raw["rpc_secret"])
    return ContainerSettings(**values)


def model_path_from_env(env: Mapping[str, str] = os.environ) -> str:
    """``CLIPPER_MODEL_PATH``, where the deployer's serialized files lie."""
    path = env.get("CLIPPER_MODEL_PATH", "").strip()
    if not path:
        raise ContainerConfigError("CLIPPER_MODEL_PATH environment variable must be set")
    return path
