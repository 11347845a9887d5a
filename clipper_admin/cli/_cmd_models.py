"""Model commands: deploy, models, replicas, set-version, rollback, scale, stop-model."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clipper_admin._serving_wait import DEFAULT_SERVING_TIMEOUT_S, connected_replicas
from clipper_admin.cli._clusters import connect
from clipper_admin.cli._cmd_apps import find_app
from clipper_admin.cli._errors import CliError, cluster_flag
from clipper_admin.cli._loading import load_function
from clipper_admin.cli._output import print_json, print_table
from clipper_admin.cli._parser import Registry, input_type_option
from clipper_admin.container_manager import create_model_container_label
from clipper_admin.exceptions import ClipperException

if TYPE_CHECKING:
    from clipper_admin.clipper_admin import ClipperConnection


def version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Natural order: digit runs compare as numbers (``1 < 2 < 10``), the rest as text."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.findall(r"\d+|\D+", version))


def model_versions(conn: ClipperConnection, name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The model's registered versions in natural order; CliError if it has none."""
    versions = [m for m in conn.get_all_models(verbose=True) if m["model_name"] == name]
    if not versions:
        raise CliError(f"no model named {name} is registered (`clipper models{cluster_flag(args.cluster_name)}` "
                       "lists them)")
    return sorted(versions, key=lambda m: version_key(str(m["model_version"])))


def _current(versions: list[dict[str, Any]]) -> str | None:
    return next((str(m["model_version"]) for m in versions if m["is_current_version"]), None)


def _require_version(versions: list[dict[str, Any]], name: str, version: str) -> None:
    known = [str(m["model_version"]) for m in versions]
    if version not in known:
        raise CliError(f"model {name} has no version {version} (registered: {', '.join(known)})")


def _replica_logs(conn: ClipperConnection, name: str, version: str) -> list[str]:
    logs_dir = Path(getattr(conn.cm, "cluster_dir", ".")) / "logs"
    label = create_model_container_label(name, version)
    return [str(p) for p in sorted(logs_dir.glob(f"{label}-*.log"))]


def _warmup_inputs(values: list[str] | None) -> list[Any] | None:
    """The --warmup-input values, each parsed as JSON (a query's "input")."""
    if not values:
        return None
    inputs = []
    for value in values:
        try:
            inputs.append(json.loads(value))
        except ValueError as e:
            raise CliError(f"--warmup-input {value!r} is not JSON ({e}); write an input as a query's \"input\", "
                           "e.g. --warmup-input '[1.0, 2.0]'") from None
    return inputs


def cmd_deploy(args: argparse.Namespace) -> int:
    from clipper_admin.deployers.python import deploy_python_closure

    warmup = _warmup_inputs(args.warmup_input)
    func = load_function(args.function, args.pkg or (), args.install_locally)
    conn = connect(args)
    if args.app is not None and find_app(conn, args.app) is None:
        conn.register_application(args.app, args.input_type, args.default_output, args.slo_micros)
    if sys.stderr.isatty() and not args.quiet and not args.verbose:
        print(f"Deploying {args.name}:{args.version} ({args.num_replicas} replica(s); -v shows progress)...",
              file=sys.stderr)
    try:
        deploy_python_closure(
            conn, name=args.name, version=args.version, input_type=args.input_type, func=func,
            num_replicas=args.num_replicas, batch_size=args.batch_size, pkgs_to_install=args.pkg or None,
            warmup_inputs=warmup,
        )  # fmt: skip
    except ClipperException as e:
        lines = str(e).splitlines() or [""]
        logs = _replica_logs(conn, args.name, str(args.version))
        if logs and "replica" in lines[0] and ".log" not in str(e):  # say where the model's own error is
            lines[0] += f" Replica logs: {', '.join(logs)}"
            raise CliError("\n".join(lines)) from e
        raise
    if args.app is not None:
        conn.link_model_to_app(args.app, args.name)
    if args.json:
        print_json({"model_name": args.name, "model_version": str(args.version), "app": args.app})
    elif args.app is not None:
        print(f"Deployed {args.name}:{args.version} and linked it to application {args.app}")
    else:
        print(f"Deployed {args.name}:{args.version}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    conn = connect(args)
    models = conn.get_all_models(verbose=True)
    if args.json:
        print_json(models)
        return 0
    replicas = Counter((r["model_name"], str(r["model_version"])) for r in conn.get_all_model_replicas(verbose=True))
    models.sort(key=lambda m: (m["model_name"], version_key(str(m["model_version"]))))
    rows = [[m["model_name"], m["model_version"], "yes" if m["is_current_version"] else "", m["input_type"],
             replicas[(m["model_name"], str(m["model_version"]))], m["container_name"]] for m in models]  # fmt: skip
    print_table(["NAME", "VERSION", "CURRENT", "INPUT_TYPE", "REPLICAS", "IMAGE"], rows,
                empty="No models registered. Deploy one with `clipper deploy`.")
    return 0


def cmd_replicas(args: argparse.Namespace) -> int:
    replicas = connect(args).get_all_model_replicas(verbose=True)
    if args.json:
        print_json(replicas)
        return 0
    replicas.sort(key=lambda r: (r["model_name"], version_key(str(r["model_version"])), r["model_replica_id"]))
    rows = [[r["model_name"], r["model_version"], r["model_replica_id"], r["input_type"]] for r in replicas]
    print_table(["MODEL", "VERSION", "REPLICA_ID", "INPUT_TYPE"], rows,
                empty="No model replica is connected to the query frontend.")
    return 0


def _switch(args: argparse.Namespace, conn: ClipperConnection, previous: str | None, version: str, verb: str) -> int:
    replicas = getattr(args, "num_replicas", None)
    conn.set_model_version(args.name, version, replicas)
    if replicas is not None:
        _wait_connected(conn, args.name, version, replicas, DEFAULT_SERVING_TIMEOUT_S)
    if args.json:
        print_json({"model_name": args.name, "previous_version": previous, "current_version": version})
    else:
        source = "" if previous is None else f" from version {previous}"
        print(f"{verb} model {args.name}{source} to version {version}")
    return 0


def cmd_set_version(args: argparse.Namespace) -> int:
    conn = connect(args)
    versions = model_versions(conn, args.name, args)
    _require_version(versions, args.name, args.version)
    return _switch(args, conn, _current(versions), args.version, "Switched")


def previous_version(versions: list[dict[str, Any]]) -> str | None:
    """The highest registered version below the current one, in natural order."""
    current = _current(versions)
    if current is None:
        return None
    lower = [str(m["model_version"]) for m in versions if version_key(str(m["model_version"])) < version_key(current)]
    return lower[-1] if lower else None


def cmd_rollback(args: argparse.Namespace) -> int:
    conn = connect(args)
    versions = model_versions(conn, args.name, args)
    current, target = _current(versions), previous_version(versions)
    if target is None:
        known = ", ".join(str(m["model_version"]) for m in versions)
        raise CliError(f"model {args.name} has no version below its current version {current} to roll back to "
                       f"(registered: {known}); `clipper set-version {args.name} VERSION` picks any")
    return _switch(args, conn, current, target, "Rolled back")


def cmd_scale(args: argparse.Namespace) -> int:
    if args.replicas < 0:
        raise CliError(f"N must be 0 or more, got {args.replicas}")
    conn = connect(args)
    versions = model_versions(conn, args.name, args)
    version = args.version if args.version is not None else _current(versions)
    if version is None:
        raise CliError(f"model {args.name} has no current version; name one with --version")
    _require_version(versions, args.name, version)
    before = conn.get_num_replicas(args.name, version)
    conn.set_num_replicas(args.name, args.replicas, version)
    if not args.no_wait:
        _wait_connected(conn, args.name, version, args.replicas, args.timeout)
    if args.json:
        print_json({"model_name": args.name, "model_version": version, "replicas": args.replicas,
                    "previous_replicas": before})
    else:
        print(f"Model {args.name}:{version} now has {args.replicas} replica(s) (had {before})")
    return 0


def _wait_connected(conn: ClipperConnection, name: str, version: str, want: int, timeout_s: float) -> None:
    """Until the query frontend records exactly ``want`` replicas of the version (new ones
    connect after loading their model; stopped ones leave once their connection closes)."""
    deadline = time.monotonic() + timeout_s
    while (have := connected_replicas(conn, name, version)) != want:
        if time.monotonic() > deadline:
            raise CliError(f"model {name}:{version} has {have} replica(s) connected to the query frontend after "
                           f"{timeout_s:.0f} s, not {want}: `clipper logs --model {name}:{version} --tail 30` "
                           "shows why")
        time.sleep(0.1)


def cmd_stop_model(args: argparse.Namespace) -> int:
    if args.version and len(args.names) != 1:
        raise CliError("--version needs exactly one model NAME")
    conn = connect(args)
    stopped: list[str] = []
    for name in args.names:
        versions = model_versions(conn, name, args)
        for v in args.version or []:
            _require_version(versions, name, v)
        stopped += [f"{name}:{v}" for v in (args.version or [str(m["model_version"]) for m in versions])]
    if args.version:
        conn.stop_versioned_models({args.names[0]: list(args.version)})
    else:
        conn.stop_models(list(args.names))
    if args.json:
        print_json({"stopped": stopped})
    else:
        print(f"Stopped and unregistered {', '.join(stopped)}")
    return 0


def register(r: Registry) -> None:
    p = r.add("deploy", cmd_deploy, "deploy a Python function as a model", [
        "clipper deploy model.py:predict --name sum --version 1 --input-type doubles --app hello",
        "clipper deploy model.py:predict --name clf --version 2 --input-type doubles --pkg scikit-learn",
        "clipper deploy model.py:predict --name clf --version 3 --input-type doubles --pkg numpy --install-locally",
        "clipper deploy model.py:predict --name clf --version 4 --input-type doubles --warmup-input '[0.0, 0.0]'",
    ], details=(
        "FUNCTION takes a list of inputs and returns a list of as many outputs (each sent back as str()).\n"
        "clipper loads FILE here, in this Python, to find FUNCTION, then ships FUNCTION (and FILE's code) to the\n"
        "model's replicas, which pip install the --pkg packages. So a module FILE imports at top level must be\n"
        "installed here too: install it, import it inside FUNCTION instead, or pass --install-locally to have\n"
        "clipper pip install the --pkg packages here when loading FILE fails for want of one of them."
    ))  # fmt: skip
    p.add_argument("function", metavar="FILE.py:FUNCTION", help="the prediction function and the file defining it")
    p.add_argument("--name", required=True, help="the model's name: lower-case letters, digits and '-'")
    p.add_argument("--version", required=True, help="the version to deploy (a new one; it becomes the current one)")
    input_type_option(p)
    p.add_argument("--app", default=None,
                   help="link the model to this application, registering it if missing (default: link nothing)")
    p.add_argument("--default-output", default="None", help="default output of an application registered by --app")
    p.add_argument("--slo-micros", type=int, default=3000000, help="latency objective of an application registered "
                   "by --app")
    p.add_argument("--num-replicas", type=int, default=1, help="replicas to start")
    p.add_argument("--batch-size", type=int, default=-1, help="queries per batch sent to a replica; -1 adapts it")
    p.add_argument("--pkg", action="append", metavar="REQUIREMENT",
                   help="pip package the model's replicas install (repeatable)")
    p.add_argument("--warmup-input", action="append", metavar="JSON",
                   help="an input (JSON, as a query's \"input\") each replica answers once before it serves, so a "
                        "slow first call meets no query (repeatable; default: none)")
    p.add_argument("--install-locally", action="store_true",
                   help="if FILE imports a --pkg package missing here, pip install the --pkg packages into the "
                        "Python running clipper and load FILE again")

    r.add("models", cmd_models, "list registered model versions and their connected replicas",
          ["clipper models", "clipper models --json"])
    r.add("replicas", cmd_replicas, "list model replicas connected to the query frontend",
          ["clipper replicas", "clipper replicas --json"])

    p = r.add("set-version", cmd_set_version, "route a model's queries to one of its registered versions", [
        "clipper set-version sum 1",
        "clipper set-version sum 2 --num-replicas 3",
    ], details="Every application linked to the model is served by that version from now on.")
    p.add_argument("name", help="a registered model")
    p.add_argument("version", help="one of its registered versions (`clipper models` lists them)")
    p.add_argument("--num-replicas", type=int, default=None,
                   help="also scale that version to this many replicas (default: leave its replicas as they are)")

    p = r.add("rollback", cmd_rollback, "route a model's queries back to its previous version", [
        "clipper rollback sum",
    ], details=("The previous version is the highest registered version below the current one, comparing "
                "versions\nin natural order (digit runs as numbers: 1 < 2 < 10 < 10a): Clipper does not record "
                "the order\nversions were registered in. `clipper set-version NAME VERSION` picks any version."))
    p.add_argument("name", help="a registered model")

    p = r.add("scale", cmd_scale, "start or stop replicas of a model version until N run", [
        "clipper scale sum 3",
        "clipper scale sum 0 --version 1     # stop version 1's replicas, keep it registered",
    ])
    p.add_argument("name", help="a registered model")
    p.add_argument("replicas", type=int, metavar="N", help="how many replicas should run")
    p.add_argument("--version", default=None, help="the version to scale (default: the current version)")
    p.add_argument("--timeout", type=float, default=DEFAULT_SERVING_TIMEOUT_S,
                   help="seconds to wait for the query frontend to see N replicas")
    p.add_argument("--no-wait", action="store_true",
                   help="return once replicas are started or stopped, before the query frontend sees them")

    p = r.add("stop-model", cmd_stop_model, "stop a model's replicas and unregister it (or some of its versions)", [
        "clipper stop-model sum                            # every version",
        "clipper stop-model sum --version 1 --version 2    # only these versions",
    ], details="Applications linked to the model answer with their default output once no version is left.")
    p.add_argument("names", nargs="+", metavar="NAME", help="registered models")
    p.add_argument("--version", action="append", default=None,
                   help="only this version (repeatable; needs exactly one NAME) (default: every version)")
