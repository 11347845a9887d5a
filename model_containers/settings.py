"""Settings of a model container, read once when it starts.

Declared with :mod:`clipper_service.settings` and read from the environment
only (the original's variable names, plus a few of ours): each setting comes
from a keyword argument of ``RPCService.start`` (tests and embedding), else
from its environment variable, else from its default. Missing required values
and malformed ones raise :class:`ContainerConfigError` naming the variable.
``document()`` renders the table of every variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from clipper_protocol.constants import METRIC_PORT, RPC_SERVICE_PORT
from clipper_protocol.input_types import InputType, InvalidInputType, parse_input_type
from clipper_service.errors import SettingsError
from clipper_service.process import parse_log_level
from clipper_service.settings import Check, document_settings, load_settings, setting, setting_fields
from model_containers.errors import ContainerConfigError
from model_containers.metrics import AUTO_PORT, MetricsPort

__all__ = [
    "DEFAULT_READY_FILE",
    "ENV_VARS",
    "ContainerConfigError",
    "ContainerSettings",
    "ProcessSettings",
    "PySparkSettings",
    "document",
    "log_level_from_env",
    "model_path_from_env",
    "parse_container_input_type",
    "pyspark_settings_from_env",
    "resolve_settings",
]

DEFAULT_READY_FILE = "/model_is_ready.check"
ENV_PREFIX = "CLIPPER_"

S = TypeVar("S")


# ----------------------------------------------------------------- parsers and checks
# The messages are the container's since before the common loader: tests,
# scripts and users grep for them.


def _parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def _between(minimum: int, maximum: int) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, int):
            return f"expected an integer, got {value!r}"
        return None if minimum <= value <= maximum else f"must be between {minimum} and {maximum}, got {value}"

    return check


def _at_least(minimum: int) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, int):
            return f"expected an integer, got {value!r}"
        return None if value >= minimum else f"must be >= {minimum}, got {value}"

    return check


def _parse_metrics_port(text: str) -> MetricsPort:
    """An integer port, or ``auto`` (any case): bind port 0 and report the port got."""
    if text.strip().lower() == AUTO_PORT:
        return AUTO_PORT
    return _parse_int(text)


def _metrics_port_check(value: Any) -> str | None:
    return None if value == AUTO_PORT else _between(0, 65535)(value)


def _required_text(value: Any) -> str | None:
    return None if str(value).strip() else "must be set"


def _parse_input_type(text: str) -> InputType:
    return parse_input_type(text.strip().lower())  # InvalidInputType is a ValueError


def _is_input_type(value: Any) -> str | None:
    return None if isinstance(value, InputType) else str(InvalidInputType(value))


# ----------------------------------------------------------------- declarations


@dataclass(frozen=True, slots=True)
class ContainerSettings:
    """Everything a model container can be configured with."""

    model_name: str = setting(
        env="CLIPPER_MODEL_NAME", flag=False, check=_required_text,
        help="Name of the model served (required).",
    )
    model_version: str = setting(
        env="CLIPPER_MODEL_VERSION", flag=False, check=_required_text,
        help="Version of the model served (required).",
    )
    host: str = setting(
        "127.0.0.1", env="CLIPPER_IP", flag=False,
        help="Query frontend host, resolved with gethostbyname.",
    )
    port: int = setting(
        RPC_SERVICE_PORT, env="CLIPPER_PORT", flag=False, parse=_parse_int, check=_between(1, 65535),
        help="Query frontend RPC port.",
    )
    input_type: InputType = setting(
        InputType.DOUBLES, env="CLIPPER_INPUT_TYPE", flag=False, parse=_parse_input_type, check=_is_input_type,
        help="Input type the model accepts (any alias: ints, double, str, ...).",
    )
    heartbeat_interval_ms: int = setting(
        1000, env="CLIPPER_HEARTBEAT_INTERVAL_MS", flag=False, parse=_parse_int, check=_at_least(1),
        help="Time between two heartbeats, in ms (sent whatever the model is doing).",
    )
    activity_timeout_ms: int = setting(
        30000, env="CLIPPER_ACTIVITY_TIMEOUT_MS", flag=False, parse=_parse_int, check=_at_least(1),
        help="Silence from a frontend that was heard from, in ms, after which the container "
             "opens a new session (the original's 30 s).",
    )
    metrics_port: MetricsPort = setting(
        METRIC_PORT, env="CLIPPER_METRICS_PORT", flag=False, parse=_parse_metrics_port, check=_metrics_port_check,
        help="Port of the Prometheus metrics server (0: off; auto: any free port, logged as "
             "\"Metrics on port N\").",
    )
    ready_file: str = setting(
        DEFAULT_READY_FILE, env="CLIPPER_READY_FILE", flag=False,
        help="File holding READY while the container serves and every loop runs; Docker's "
             "HEALTHCHECK and the Kubernetes readiness probe test it.",
    )
    rpc_secret: str = setting(
        "", env="CLIPPER_RPC_SECRET", flag=False, secret=True, parse=str.strip,
        help="Registration secret of a frontend that requires one; empty: announce without "
             "a proof, as the original.",
    )


@dataclass(frozen=True, slots=True)
class ProcessSettings:
    """Settings of the ``python -m model_containers.*`` processes beyond the runtime's."""

    log_level: str = setting(
        "INFO", env="CLIPPER_LOG_LEVEL", flag=False, parse=parse_log_level,
        help="Log level: CRITICAL, ERROR, WARNING, INFO or DEBUG.",
    )


@dataclass(frozen=True, slots=True)
class _ModelPath:
    model_path: str = setting(
        env="CLIPPER_MODEL_PATH", flag=False,
        help="Directory holding the deployer's serialized model (the closure container's func.pkl).",
    )


def _parse_spark_memory(text: str) -> str:
    """Spark's size format: digits with an optional k, m, g or t (``512m``)."""
    value = text.strip().lower()
    if not re.fullmatch(r"[1-9][0-9]*[kmgt]?", value):
        raise ValueError(f"expected a JVM memory size such as 512m or 2g, got {text!r}")
    return value


def _spark_memory_check(value: Any) -> str | None:
    # Spark refuses a driver heap under 1.5 x its 300 MiB reserve (INVALID_DRIVER_MEMORY).
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    text = str(value)
    size = int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
    return None if size >= 450 * 2**20 else f"Spark needs at least 450m, got {text}"


_SPARK_LOG_LEVELS = ("ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN")


def _spark_log_level(value: Any) -> str | None:
    return None if value in _SPARK_LOG_LEVELS else f"must be one of {', '.join(_SPARK_LOG_LEVELS)}, got {value!r}"


def _parse_spark_cores(text: str) -> str:
    """``*`` (every core) or a positive number of cores."""
    value = text.strip()
    if value != "*" and not re.fullmatch(r"[1-9][0-9]*", value):
        raise ValueError(f"expected * or a positive number of cores, got {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class PySparkSettings:
    """The SparkSession of the PySpark container (``model_containers.pyspark_container``)."""

    spark_driver_memory: str = setting(
        "1g", env="CLIPPER_SPARK_DRIVER_MEMORY", flag=False, parse=_parse_spark_memory, check=_spark_memory_check,
        help="Heap of the container's Spark driver JVM (spark.driver.memory; Spark's own default), at least 450m.",
    )
    spark_cores: str = setting(
        "*", env="CLIPPER_SPARK_CORES", flag=False, parse=_parse_spark_cores,
        help="Cores of the local Spark master (local[N]); * uses every core the container sees.",
    )
    spark_log_level: str = setting(
        "WARN", env="CLIPPER_SPARK_LOG_LEVEL", flag=False, parse=lambda text: text.strip().upper(),
        check=_spark_log_level,
        help="Log level of Spark's own (JVM) logging once the session runs.",
    )


ENV_VARS: dict[str, str] = {sf.name: sf.env for sf in setting_fields(ContainerSettings, ENV_PREFIX)}
"""Setting name -> environment variable."""


# ----------------------------------------------------------------- loading


def _load(cls: type[S], env: Mapping[str, str] | None, overrides: Mapping[str, Any], env_names: dict[str, str]) -> S:
    try:
        return load_settings(cls, env_prefix=ENV_PREFIX, environ=env, overrides=overrides)
    except SettingsError as e:
        raise ContainerConfigError.from_settings_error(e, env_names) from None


def resolve_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> ContainerSettings:
    """Build settings from ``overrides`` (None values ignored), then ``env``.

    Pass ``env=None`` to ignore the environment (``read_config=False``);
    pass ``os.environ`` to read it.
    """
    unknown = set(overrides) - set(ENV_VARS)
    if unknown:
        raise TypeError(f"unknown container settings: {', '.join(sorted(unknown))}")
    for name in ("model_name", "model_version", "host", "ready_file"):
        value = overrides.get(name)
        if value is not None and not isinstance(value, str):
            overrides[name] = str(value)
    return _load(ContainerSettings, env, overrides, ENV_VARS)


def parse_container_input_type(value: str | InputType) -> InputType:
    """Input type for a container setting: any alias, case and blanks ignored."""
    if isinstance(value, InputType):
        return value
    try:
        return _parse_input_type(str(value))
    except InvalidInputType as e:
        raise ContainerConfigError(f"CLIPPER_INPUT_TYPE: {e}", variable="CLIPPER_INPUT_TYPE", problem=str(e)) from None


def model_path_from_env(env: Mapping[str, str] = os.environ) -> str:
    """``CLIPPER_MODEL_PATH``, where the deployer's serialized files lie."""
    return _load(_ModelPath, env, {}, {}).model_path


def pyspark_settings_from_env(env: Mapping[str, str] = os.environ) -> PySparkSettings:
    """The PySpark container's settings (``CLIPPER_SPARK_*``)."""
    return _load(PySparkSettings, env, {}, {})


def log_level_from_env(env: Mapping[str, str] = os.environ) -> tuple[str, ContainerConfigError | None]:
    """``CLIPPER_LOG_LEVEL``; a malformed value gives INFO and the error, to be logged."""
    try:
        return _load(ProcessSettings, env, {}, {}).log_level, None
    except ContainerConfigError as e:
        return "INFO", e


def document() -> str:
    """Markdown tables of every environment variable a model container reads."""
    return "\n".join([
        document_settings(ContainerSettings, ENV_PREFIX, "Model container settings",
                          "Read from the environment once, at start; keyword arguments of "
                          "`RPCService.start` override them."),
        document_settings(ProcessSettings, ENV_PREFIX, "Container process settings"),
        document_settings(_ModelPath, ENV_PREFIX, "Python closure container"),
        document_settings(PySparkSettings, ENV_PREFIX, "PySpark container"),
    ])
