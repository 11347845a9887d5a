"""The ``clipper`` parser and ``main``: run one command, report failures as one line."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from clipper_admin.cli import _cmd_apps, _cmd_cluster, _cmd_models, _cmd_quality
from clipper_admin.cli._clusters import resolve_cluster
from clipper_admin.cli._errors import shell_message
from clipper_admin.cli._output import cli_logging
from clipper_admin.cli._parser import HelpFormatter, Registry
from clipper_admin.version import __version__

_EXAMPLES = """\
examples:
  clipper start --free-ports
  clipper register-app hello --input-type doubles --default-output -1.0 --slo-micros 100000
  clipper deploy model.py:predict --name sum --version 1 --input-type doubles --app hello
  clipper predict hello '[1.1, 2.2, 3.3]'
  clipper metrics hello
  clipper stop

`clipper COMMAND --help` describes a command's options."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clipper", formatter_class=HelpFormatter, epilog=_EXAMPLES,
        description="Run and use a local Clipper cluster (processes on this machine, no Docker).",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"clipper {__version__}",
                        help="print the version of clipper and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    registry = Registry(sub)
    _cmd_cluster.register(registry)
    _cmd_apps.register(registry)
    _cmd_models.register(registry)
    _cmd_quality.register(registry)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``clipper ARGV``; returns the exit status (argparse exits with 2 on a usage error)."""
    args = build_parser().parse_args(argv)
    resolve_cluster(args)
    with cli_logging(args.verbose, args.quiet):
        try:
            return int(args.func(args))
        except KeyboardInterrupt:
            print("clipper: interrupted", file=sys.stderr)
            return 130
        except Exception as e:  # noqa: BLE001 - the boundary: one line, never a traceback
            import requests

            from clipper_protocol.errors import ClipperError

            line, full = shell_message(e, args.cluster_name)
            if not isinstance(e, (ClipperError, requests.RequestException, OSError)):
                line = f"unexpected {type(e).__name__}: {line}" + ("" if args.verbose else " (-v shows the traceback)")
            if args.verbose:
                if not isinstance(e, ClipperError):
                    traceback.print_exception(e, file=sys.stderr)
                elif full != line:
                    print(f"clipper: error: {full}", file=sys.stderr)
                    return 1
            print(f"clipper: error: {line}", file=sys.stderr)
            return 1
