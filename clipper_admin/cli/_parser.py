"""The argument parser's frame: help format, the options every command takes, subcommand registration."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from clipper_protocol.input_types import ACCEPTED_INPUT_TYPE_NAMES

Command = Callable[[argparse.Namespace], int]

CANONICAL_INPUT_TYPES = ("bytes", "integers", "floats", "doubles", "strings")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions and the examples epilog as written; every option's help ends with its default.

    Help that already says its default (``default:``) is left alone; required
    options say ``(required)``; flags say ``(default: off)``.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "(default" in text or action.default is argparse.SUPPRESS:
            return text
        if not action.option_strings:
            return text + " (default: %(default)s)" if action.nargs in ("?", "*") else text
        if action.required:
            return text + " (required)"
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            return text + " (default: off)"
        if action.default is None:
            return text + " (default: none)"
        return text + " (default: %(default)s)"


def input_type_option(parser: argparse.ArgumentParser, required: bool = True, default: str | None = None) -> None:
    aliases = ", ".join(n for n in ACCEPTED_INPUT_TYPE_NAMES if n not in CANONICAL_INPUT_TYPES)
    parser.add_argument(
        "--input-type", required=required, default=default, choices=ACCEPTED_INPUT_TYPE_NAMES,
        metavar="{" + ",".join(CANONICAL_INPUT_TYPES) + "}",
        help=f"type of each input (aliases accepted: {aliases})",
    )  # fmt: skip


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("common options")
    g.add_argument("--cluster-name", default=None, metavar="NAME",
                   help="local cluster to act on (default: $CLIPPER_CLUSTER_NAME, else default-cluster)")
    g.add_argument("--cluster-dir", default=None, metavar="DIR",
                   help="the cluster's directory (default: $CLIPPER_HOME/clusters/NAME, "
                        "CLIPPER_HOME defaulting to ~/.clipper)")
    g.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout instead of a table")
    g.add_argument("-v", "--verbose", action="count", default=0,
                   help="show the admin library's progress (INFO) log lines; -vv also DEBUG "
                        "(default: only its warnings)")
    g.add_argument("-q", "--quiet", action="store_true", help="do not show the library's warnings either")
    return common


class Registry:
    """Adds subcommands sharing the common options, help format and an examples epilog."""

    def __init__(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        self._sub = sub
        self._common = common_options()

    def add(
        self, name: str, func: Command, summary: str, examples: Sequence[str], details: str = ""
    ) -> argparse.ArgumentParser:
        description = summary[0].upper() + summary[1:] + "." + (f"\n\n{details}" if details else "")
        epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
        p = self._sub.add_parser(name, parents=[self._common], help=summary, description=description, epilog=epilog,
                                 formatter_class=HelpFormatter)
        p.set_defaults(func=func)
        return p
