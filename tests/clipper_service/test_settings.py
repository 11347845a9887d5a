"""The one settings loader: precedence, parsing, checks, secrets, flags and documentation."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import pytest

from clipper_protocol.errors import ClipperError
from clipper_service.errors import SettingsError
from clipper_service.settings import (
    at_least,
    build_parser,
    document_settings,
    load_settings,
    one_of,
    parse_bool,
    port,
    positive,
    setting,
    setting_fields,
)

PREFIX = "DEMO_"


class Mode(enum.Enum):
    FAST = "f"
    SLOW = "s"


def _token_check(value: Any) -> str | None:
    return None if not value or len(value) >= 8 else f"must be at least 8 characters, got {value!r}"


@dataclass(frozen=True)
class Demo:
    name: str = setting(help="What this process is called.")
    port: int = setting(7000, help="Port to listen on.", check=port)
    ratio: float = setting(0.5, help="Share of the load, 50% by default.", check=positive)
    debug: bool = setting(False, help="Log more.")
    style: str = setting("plain", help="Output style | format.", check=one_of("plain", "fancy"))
    queue_size: int = setting(10, help="Queued items at most.", check=at_least(1))
    token: str = setting("", help="Access token.", secret=True, check=_token_check)
    model_name: str = setting("m", env="CLIPPER_MODEL_NAME", help="Model served.")
    internal: int = setting(3, flag=False, help="Read from the environment only.")
    mode: Mode = setting(Mode.FAST, help="Speed.")
    limit: int | None = setting(None, help="Optional limit.")


def load(argv: list[str] | None = None, environ: dict[str, str] | None = None, **overrides: Any) -> Demo:
    base = {"DEMO_NAME": "demo"}
    return load_settings(Demo, env_prefix=PREFIX, argv=argv, environ={**base, **(environ or {})},
                         overrides=overrides)


def test_defaults() -> None:
    s = load()
    assert (s.name, s.port, s.ratio, s.debug, s.style, s.queue_size, s.token, s.model_name, s.internal,
            s.mode, s.limit) == ("demo", 7000, 0.5, False, "plain", 10, "", "m", 3, Mode.FAST, None)


@pytest.mark.parametrize(
    ("override", "flag", "env", "expected"),
    [
        (3, "2", "1", 3),
        (None, "2", "1", 2),
        (None, None, "1", 1),
        (None, None, None, 7000),
        (3, None, "1", 3),
        ("4", None, None, 4),  # text overrides are parsed like the rest
    ],
    ids=["override-wins", "flag-beats-env", "env-beats-default", "default", "override-beats-env", "text-override"],
)
def test_precedence_overrides_flags_environment_default(
    override: Any, flag: str | None, env: str | None, expected: int
) -> None:
    argv = ["--port", flag] if flag is not None else []
    environ = {"DEMO_PORT": env} if env is not None else {}
    assert load(argv, environ, port=override).port == expected


def test_no_argv_parses_no_flags_and_no_environ_reads_no_environment() -> None:
    s = load_settings(Demo, env_prefix=PREFIX, overrides={"name": "x"})
    assert (s.name, s.port) == ("x", 7000)
    with pytest.raises(SettingsError, match="must be set"):
        load_settings(Demo, env_prefix=PREFIX, environ=None)


@pytest.mark.parametrize("spelling", ["--queue_size", "--queue-size"])
def test_both_flag_spellings(spelling: str) -> None:
    assert load([spelling, "5"]).queue_size == 5
    assert load([f"{spelling}=6"]).queue_size == 6


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("1", True), ("YES", True), (" on ", True),
     ("false", False), ("0", False), ("No", False), ("off", False)],
)
def test_bool_parsing(text: str, value: bool) -> None:
    assert parse_bool(text) is value
    assert load(environ={"DEMO_DEBUG": text}).debug is value
    assert load(["--debug", text]).debug is value


def test_bad_bool_names_the_variable() -> None:
    with pytest.raises(SettingsError) as e:
        load(environ={"DEMO_DEBUG": "maybe"})
    assert str(e.value) == "DEMO_DEBUG: expected true or false, got 'maybe'"
    assert (e.value.source, e.value.problem) == ("DEMO_DEBUG", "expected true or false, got 'maybe'")


def test_int_and_float_parsing() -> None:
    s = load(environ={"DEMO_PORT": " 8080 ", "DEMO_RATIO": "0.25", "DEMO_QUEUE_SIZE": "3"})
    assert (s.port, s.ratio, s.queue_size) == (8080, 0.25, 3)
    assert isinstance(s.port, int) and isinstance(s.ratio, float)
    assert load(environ={"DEMO_RATIO": "2"}).ratio == 2.0
    assert load(environ={"DEMO_RATIO": "1e-3"}).ratio == 0.001
    with pytest.raises(SettingsError, match=r"^DEMO_PORT: .*'80\.5'"):
        load(environ={"DEMO_PORT": "80.5"})
    with pytest.raises(SettingsError, match=r"^DEMO_RATIO: .*'half'"):
        load(environ={"DEMO_RATIO": "half"})


def test_enum_and_optional_fields_are_parsed_from_text() -> None:
    assert load(environ={"DEMO_MODE": "slow"}).mode is Mode.SLOW
    assert load(["--mode", "FAST"]).mode is Mode.FAST
    assert load(environ={"DEMO_MODE": "s"}).mode is Mode.SLOW  # by value too
    assert load(mode=Mode.SLOW).mode is Mode.SLOW
    with pytest.raises(SettingsError, match=r"^DEMO_MODE: must be one of fast, slow, got 'medium'$"):
        load(environ={"DEMO_MODE": "medium"})
    assert load(environ={"DEMO_LIMIT": "12"}).limit == 12
    with pytest.raises(SettingsError, match="^DEMO_LIMIT: "):
        load(environ={"DEMO_LIMIT": "many"})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DEMO_PORT": "70000"}, "DEMO_PORT: must be a TCP port (0-65535), got 70000"),
        ({"DEMO_RATIO": "0"}, "DEMO_RATIO: must be positive, got 0.0"),
        ({"DEMO_STYLE": "loud"}, "DEMO_STYLE: must be one of plain, fancy, got 'loud'"),
        ({"DEMO_QUEUE_SIZE": "0"}, "DEMO_QUEUE_SIZE: must be at least 1, got 0"),
        ({"CLIPPER_MODEL_NAME": "x", "DEMO_INTERNAL": "three"}, "DEMO_INTERNAL: "),
    ],
)
def test_checks_name_the_environment_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as e:
        load(environ=environ)
    assert str(e.value).startswith(message)


def test_checks_name_the_override() -> None:
    with pytest.raises(SettingsError, match=r"^port: must be a TCP port \(0-65535\), got -1$"):
        load(port=-1)


def test_a_bad_flag_value_exits_2_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        load(["--port", "70000"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "usage: Demo" in err and "--port: must be a TCP port (0-65535), got 70000" in err


@pytest.mark.parametrize("argv", [["--no-such-flag"], ["--port"], ["--internal", "4"]],
                         ids=["unknown", "missing-value", "env-only-setting"])
def test_argparse_exits_2_on_a_bad_flag(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        load(argv)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_help_lists_every_flag_with_its_variable_and_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        load(["--help"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--queue_size QUEUE_SIZE, --queue-size QUEUE_SIZE" in out
    assert "Share of the load, 50% by default. (env DEMO_RATIO; default 0.5)" in out
    assert "(env CLIPPER_MODEL_NAME; default 'm')" in out
    assert "(env DEMO_NAME; default (required))" in out
    assert "--internal" not in out


def test_explicit_environment_variable_replaces_the_prefixed_one() -> None:
    assert load(environ={"DEMO_MODEL_NAME": "ignored"}).model_name == "m"
    assert load(environ={"CLIPPER_MODEL_NAME": "used"}).model_name == "used"
    assert load(["--model_name", "flag"], {"CLIPPER_MODEL_NAME": "env"}).model_name == "flag"


def test_environment_only_setting() -> None:
    assert load(environ={"DEMO_INTERNAL": "9"}).internal == 9
    assert load(internal=8).internal == 8


def test_blank_environment_values_count_as_unset_and_values_are_stripped() -> None:
    s = load(environ={"DEMO_PORT": "   ", "DEMO_STYLE": " fancy "})
    assert (s.port, s.style) == (7000, "fancy")


def test_required_settings_name_flag_and_variable() -> None:
    with pytest.raises(SettingsError) as e:
        load_settings(Demo, env_prefix=PREFIX, environ={})
    assert str(e.value) == "--name (or DEMO_NAME): must be set"
    assert load_settings(Demo, env_prefix=PREFIX, argv=["--name", "f"], environ={}).name == "f"

    @dataclass(frozen=True)
    class EnvOnly:
        key: str = setting(env="SOME_KEY", flag=False, help="A key.")

    with pytest.raises(SettingsError) as e:
        load_settings(EnvOnly, env_prefix=PREFIX, environ={"SOME_KEY": " "})
    assert str(e.value) == "SOME_KEY environment variable: must be set"
    assert isinstance(e.value, ClipperError) and isinstance(e.value, ValueError)


def test_none_overrides_are_ignored_and_unknown_ones_refused() -> None:
    assert load(port=None).port == 7000
    with pytest.raises(TypeError, match="unknown settings: nope"):
        load(nope=1)


def test_secrets_stay_out_of_repr_help_errors_and_docs(capsys: pytest.CaptureFixture[str]) -> None:
    s = load(environ={"DEMO_TOKEN": "hunter2-and-more"})
    assert s.token == "hunter2-and-more"
    assert "hunter2" not in repr(s) and "token" not in repr(s)

    with pytest.raises(SettingsError) as e:
        load(environ={"DEMO_TOKEN": "hunter2"})
    assert str(e.value) == "DEMO_TOKEN: must be at least 8 characters, got <secret>"
    assert "hunter2" not in str(e.value)

    parser = build_parser(Demo, PREFIX, "demo", "")
    assert "(env DEMO_TOKEN; default '')" in " ".join(parser.format_help().split())

    @dataclass(frozen=True)
    class WithSecretDefault:
        password: str = setting("s3cr3t-default", secret=True, help="A password.")

    assert "s3cr3t" not in repr(load_settings(WithSecretDefault, env_prefix=PREFIX))
    docs = document_settings(WithSecretDefault, PREFIX, "Secret")
    assert "s3cr3t" not in docs and "`(set)`" in docs
    help_text = build_parser(WithSecretDefault, PREFIX, "p", "").format_help()
    assert "s3cr3t" not in help_text and "(set)" in help_text


def test_secret_environment_values_are_kept_verbatim() -> None:
    assert load(environ={"DEMO_TOKEN": " padded-secret "}).token == " padded-secret "


def test_post_init_errors_become_settings_errors() -> None:
    @dataclass(frozen=True)
    class Range:
        low: int = setting(1, help="Low.")
        high: int = setting(2, help="High.")

        def __post_init__(self) -> None:
            if self.low > self.high:
                raise ValueError("low must not exceed high")

    with pytest.raises(SettingsError, match="^settings: low must not exceed high$"):
        load_settings(Range, env_prefix=PREFIX, environ={"DEMO_LOW": "5"})


def test_every_field_must_be_declared_with_setting() -> None:
    @dataclass(frozen=True)
    class Plain:
        x: int = 1

    with pytest.raises(TypeError, match="Plain.x is not declared"):
        setting_fields(Plain, PREFIX)


def test_document_settings_renders_a_markdown_table() -> None:
    docs = document_settings(Demo, PREFIX, "Demo settings", "Intro line.")
    lines = docs.splitlines()
    assert lines[:5] == [
        "## Demo settings",
        "",
        "Intro line.",
        "",
        "| setting | flag | environment | default | meaning |",
    ]
    assert lines[5] == "|---|---|---|---|---|"
    rows = {line.split(" | ")[0].strip("| `"): line for line in lines[6:]}
    assert list(rows) == [sf.name for sf in setting_fields(Demo, PREFIX)]
    assert rows["name"] == "| `name` | `--name` | `DEMO_NAME` | `(required)` | What this process is called. |"
    assert rows["port"] == "| `port` | `--port` | `DEMO_PORT` | `7000` | Port to listen on. |"
    assert rows["model_name"].split(" | ")[2] == "`CLIPPER_MODEL_NAME`"
    assert rows["internal"].split(" | ")[1] == "—"
    assert rows["style"].endswith("| Output style \\| format. |")
    assert rows["token"].split(" | ")[3] == "`''`"
    assert rows["mode"].split(" | ")[3] == "`fast`"
    assert docs.endswith("|\n")
