"""Container settings through the common loader: the original's variables, our errors."""

from __future__ import annotations

import pytest

from clipper_protocol.errors import ClipperError
from clipper_protocol.input_types import InputType
from model_containers.errors import ContainerConfigError
from model_containers.settings import (
    ENV_VARS,
    document,
    log_level_from_env,
    model_path_from_env,
    resolve_settings,
)

BASE = {"CLIPPER_MODEL_NAME": "m", "CLIPPER_MODEL_VERSION": "1"}


def test_environment_then_defaults_and_overrides_win() -> None:
    env = {**BASE, "CLIPPER_IP": " frontend ", "CLIPPER_PORT": "7001", "CLIPPER_INPUT_TYPE": " Ints ",
           "CLIPPER_HEARTBEAT_INTERVAL_MS": "250", "CLIPPER_RPC_SECRET": " s3cret \n"}
    s = resolve_settings(env)
    assert (s.model_name, s.model_version, s.host, s.port, s.input_type, s.heartbeat_interval_ms) == (
        "m", "1", "frontend", 7001, InputType.INTEGERS, 250)
    assert (s.activity_timeout_ms, s.metrics_port, s.ready_file) == (30000, 1390, "/model_is_ready.check")
    assert s.rpc_secret == "s3cret" and "s3cret" not in repr(s)
    o = resolve_settings(env, port=7002, input_type="strings", model_version=3, model_name=None)
    assert (o.port, o.input_type, o.model_version, o.model_name) == (7002, InputType.STRINGS, "3", "m")
    assert resolve_settings(None, model_name="x", model_version="2").port == 7000


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"port": 0}, "CLIPPER_PORT: must be between 1 and 65535, got 0"),
        ({"port": "x"}, "CLIPPER_PORT: expected an integer, got 'x'"),
        ({"heartbeat_interval_ms": 0}, "CLIPPER_HEARTBEAT_INTERVAL_MS: must be >= 1, got 0"),
        ({"input_type": "tensor"}, "CLIPPER_INPUT_TYPE: tensor is not a valid input string"),
        ({"model_name": " "}, "CLIPPER_MODEL_NAME environment variable must be set"),
    ],
)
def test_bad_overrides_name_the_variable(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ContainerConfigError) as e:
        resolve_settings(BASE, **overrides)
    assert str(e.value).startswith(message)
    assert isinstance(e.value, ClipperError) and isinstance(e.value, ValueError)
    assert e.value.variable == message.split(":")[0].split(" ")[0]


def test_unknown_overrides_are_refused() -> None:
    with pytest.raises(TypeError, match="unknown container settings: colour"):
        resolve_settings(BASE, colour="red")


def test_model_path_and_log_level() -> None:
    assert model_path_from_env({"CLIPPER_MODEL_PATH": " /m "}) == "/m"
    with pytest.raises(ContainerConfigError, match="^CLIPPER_MODEL_PATH environment variable must be set$"):
        model_path_from_env({})
    assert log_level_from_env({}) == ("INFO", None)
    assert log_level_from_env({"CLIPPER_LOG_LEVEL": "debug"}) == ("DEBUG", None)
    level, error = log_level_from_env({"CLIPPER_LOG_LEVEL": "chatty"})
    assert level == "INFO" and error is not None and str(error).startswith("CLIPPER_LOG_LEVEL: must be one of")


def test_document_lists_every_variable_without_the_secret() -> None:
    docs = document()
    for var in [*ENV_VARS.values(), "CLIPPER_LOG_LEVEL", "CLIPPER_MODEL_PATH"]:
        assert f"`{var}`" in docs
    assert "| `port` | — | `CLIPPER_PORT` | `7000` |" in docs
