"""One settings loader for every Clipper process.

A process declares its settings as a frozen dataclass whose fields are made
with :func:`setting` (a default, a help line, optionally the environment
variable, a parser and a check). :func:`load_settings` fills it from, in
order of precedence: keyword overrides, command-line flags (``--name`` and
``--name-with-dashes``), environment variables (``PREFIX + NAME`` unless the
field names its own), then the defaults. :func:`document_settings` renders
the same declarations as a Markdown table, so the documentation of every
setting is generated, never written twice.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass
from typing import Any, TypeVar

from clipper_service.errors import SettingsError

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)

Check = Callable[[Any], "str | None"]
"""Returns what is wrong with a parsed value, or None when it is acceptable."""

_META_KEY = "clipper_setting"


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """What :func:`setting` records about one field."""

    help: str
    env: str | None = None
    secret: bool = False
    parse: Callable[[str], Any] | None = None
    check: Check | None = None
    flag: bool = True


def setting(
    default: Any = MISSING,
    *,
    help: str,
    env: str | None = None,
    secret: bool = False,
    parse: Callable[[str], Any] | None = None,
    check: Check | None = None,
    flag: bool = True,
) -> Any:
    """A dataclass field that the loader and the documentation understand.

    ``env`` overrides the variable name (default: the loader's prefix plus the
    upper-cased field name); ``secret`` keeps the value out of ``repr``, help
    texts and documentation; ``parse`` turns the text of a flag or variable
    into the value (default: from the field's type: str, int, float, bool);
    ``check`` validates the parsed value; ``flag=False`` reads the setting
    from the environment (or overrides) only.
    """
    info = SettingInfo(help=help, env=env, secret=secret, parse=parse, check=check, flag=flag)
    return dataclasses.field(default=default, repr=not secret, metadata={_META_KEY: info})


# ----------------------------------------------------------------- checks


def at_least(minimum: float) -> Check:
    def check(value: Any) -> str | None:
        return None if value >= minimum else f"must be at least {minimum:g}, got {value!r}"

    return check


def positive(value: Any) -> str | None:
    return None if value > 0 else f"must be positive, got {value!r}"


def port(value: Any) -> str | None:
    """A TCP port, 0 meaning "any free one"."""
    return None if 0 <= value <= 65535 else f"must be a TCP port (0-65535), got {value!r}"


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}, got {value!r}"

    return check


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_enum(kind: type[E], text: str) -> E:
    """The member of ``kind`` named ``text`` (any case), or whose value it spells."""
    wanted = text.strip()
    for member in kind:
        if member.name.lower() == wanted.lower() or str(member.value) == wanted:
            return member
    names = ", ".join(m.name.lower() for m in kind)
    raise ValueError(f"must be one of {names}, got {text!r}")


def _value_type(annotation: Any) -> Any:
    """``X`` for ``X | None`` (and ``Optional[X]``); the annotation itself otherwise."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


# ----------------------------------------------------------------- fields


@dataclass(frozen=True, slots=True)
class SettingField:
    """One declared setting with everything resolved."""

    name: str
    type: Any
    default: Any
    info: SettingInfo
    env: str

    @property
    def required(self) -> bool:
        return self.default is MISSING

    @property
    def flags(self) -> list[str]:
        names = [f"--{self.name}"]
        if "_" in self.name:
            names.append(f"--{self.name.replace('_', '-')}")
        return names

    def parse(self, text: str) -> Any:
        if self.info.parse is not None:
            return self.info.parse(text)
        kind = _value_type(self.type)
        if kind is bool:
            return parse_bool(text)
        if kind in (int, float):
            return kind(text.strip())
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            return parse_enum(kind, text)
        return text

    def shown_default(self) -> str:
        if self.required:
            return "(required)"
        if self.info.secret:
            return "''" if not self.default else "(set)"
        if isinstance(self.default, enum.Enum):
            return self.default.name.lower()
        return repr(self.default)


def setting_fields(cls: type[Any], env_prefix: str) -> list[SettingField]:
    """The declared settings of a settings dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        info = f.metadata.get(_META_KEY)
        if info is None:
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with clipper_service.settings.setting()")
        out.append(SettingField(f.name, hints[f.name], f.default, info, info.env or env_prefix + f.name.upper()))
    return out


# ----------------------------------------------------------------- loading


def build_parser(cls: type[Any], env_prefix: str, prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for sf in setting_fields(cls, env_prefix):
        if sf.info.flag:
            parser.add_argument(
                *sf.flags, dest=sf.name, default=None, metavar=sf.name.upper(),
                # argparse %-formats help texts: a literal % must be doubled.
                help=f"{sf.info.help} (env {sf.env}; default {sf.shown_default()})".replace("%", "%%"),
            )
    return parser


def load_settings(
    cls: type[T],
    *,
    env_prefix: str,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    prog: str | None = None,
    description: str = "",
) -> T:
    """Settings of ``cls`` from ``overrides``, then ``argv``, then ``environ``, then defaults.

    ``argv=None`` parses no flags and ``environ=None`` reads no environment.
    Override values may be already-parsed values or text; None values are
    ignored. A bad flag exits with status 2 and the usage line (argparse's
    way); otherwise a missing or malformed value raises SettingsError naming
    its flag or variable.
    """
    fields = setting_fields(cls, env_prefix)
    known = {sf.name for sf in fields}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    parser = build_parser(cls, env_prefix, prog or cls.__name__, description) if argv is not None else None
    flags = vars(parser.parse_args(list(argv))) if parser is not None and argv is not None else {}

    try:
        values: dict[str, Any] = {}
        for sf in fields:
            source, raw = _raw_value(sf, overrides, flags, environ)
            if source is None:
                if sf.required:
                    where = f"{sf.env} environment variable" if not sf.info.flag else f"{sf.flags[0]} (or {sf.env})"
                    raise SettingsError(where, "must be set")
                continue
            values[sf.name] = _checked(sf, source, raw)
        try:
            return cls(**values)
        except ValueError as e:
            raise SettingsError("settings", str(e)) from None
    except SettingsError as e:
        if parser is not None:
            parser.error(str(e))
        raise


def _raw_value(
    sf: SettingField, overrides: Mapping[str, Any], flags: Mapping[str, Any], environ: Mapping[str, str] | None
) -> tuple[str | None, Any]:
    if sf.name in overrides:
        return sf.name, overrides[sf.name]
    if flags.get(sf.name) is not None:
        return sf.flags[0], flags[sf.name]
    if environ is not None:
        text = environ.get(sf.env)
        if text is not None and text.strip() != "":
            return sf.env, text.strip() if not sf.info.secret else text
    return None, None


def _checked(sf: SettingField, source: str, raw: Any) -> Any:
    if isinstance(raw, str) and (sf.type is not str or sf.info.parse is not None):
        try:
            value = sf.parse(raw)
        except (ValueError, TypeError, argparse.ArgumentTypeError) as e:
            message = str(e) or f"cannot be parsed from {raw!r}"
            raise SettingsError(source, _redacted(sf, message, raw, raw)) from None
    else:
        value = raw
    if sf.info.check is not None:
        problem = sf.info.check(value)
        if problem is not None:
            raise SettingsError(source, _redacted(sf, problem, raw, value))
    return value


def _redacted(sf: SettingField, problem: str, raw: Any, value: Any) -> str:
    """``problem`` without the value of a secret setting (checks and parsers quote values)."""
    if not sf.info.secret:
        return problem
    for text in sorted({str(raw), str(value)} - {""}, key=len, reverse=True):
        problem = problem.replace(repr(text), "<secret>")
        if len(text) >= 3:  # shorter ones would mangle the message more than they tell
            problem = problem.replace(text, "<secret>")
    return problem


# ----------------------------------------------------------------- documentation


def document_settings(cls: type[Any], env_prefix: str, title: str, intro: str = "") -> str:
    """A Markdown section listing every setting of ``cls``: flag, variable, default, meaning."""
    lines = [f"## {title}", ""]
    if intro:
        lines += [intro, ""]
    lines += ["| setting | flag | environment | default | meaning |", "|---|---|---|---|---|"]
    for sf in setting_fields(cls, env_prefix):
        flag = f"`{sf.flags[0]}`" if sf.info.flag else "—"
        help_text = " ".join(sf.info.help.split()).replace("|", "\\|")
        default = sf.shown_default().replace("|", "\\|")
        lines.append(f"| `{sf.name}` | {flag} | `{sf.env}` | `{default}` | {help_text} |")
    return "\n".join(lines) + "\n"
