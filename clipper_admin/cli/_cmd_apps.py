"""Application commands: register-app, apps, link, unlink, delete-app, predict, metrics."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from clipper_admin.cli._clusters import connect
from clipper_admin.cli._errors import CliError, cluster_flag
from clipper_admin.cli._metrics import ms, percent, summarize_metrics
from clipper_admin.cli._output import print_json, print_table
from clipper_admin.cli._parser import Registry, input_type_option

if TYPE_CHECKING:
    from clipper_admin.clipper_admin import ClipperConnection


def find_app(conn: ClipperConnection, name: str) -> dict[str, Any] | None:
    """The application's record, or None (without the library's warning)."""
    return next((a for a in conn.get_all_apps(verbose=True) if a["name"] == name), None)


def require_app(conn: ClipperConnection, name: str, args: argparse.Namespace) -> dict[str, Any]:
    app = find_app(conn, name)
    if app is None:
        raise CliError(f"no application named {name} is registered (`clipper apps{cluster_flag(args.cluster_name)}` "
                       "lists them)")
    return app


def cmd_register_app(args: argparse.Namespace) -> int:
    connect(args).register_application(args.name, args.input_type, args.default_output, args.slo_micros)
    if args.json:
        print_json({"name": args.name, "registered": True})
    else:
        print(f"Registered application {args.name}")
    return 0


def cmd_apps(args: argparse.Namespace) -> int:
    apps = connect(args).get_all_apps(verbose=True)
    if args.json:
        print_json(apps)
        return 0
    rows = [[a["name"], a["input_type"], a["latency_slo_micros"], a["default_output"],
             ",".join(a.get("linked_models") or []) or "-"] for a in apps]  # fmt: skip
    print_table(["NAME", "INPUT_TYPE", "SLO_MICROS", "DEFAULT_OUTPUT", "LINKED_MODELS"], rows,
                empty="No applications registered. Register one with `clipper register-app`.")
    return 0


def cmd_link(args: argparse.Namespace) -> int:
    connect(args).link_model_to_app(args.app, args.model)
    if args.json:
        print_json({"app": args.app, "model": args.model, "linked": True})
    else:
        print(f"Linked model {args.model} to application {args.app}")
    return 0


def cmd_unlink(args: argparse.Namespace) -> int:
    conn = connect(args)
    app = require_app(conn, args.app, args)
    if args.model not in (app.get("linked_models") or []):
        raise CliError(f"model {args.model} is not linked to application {args.app} "
                       f"(linked: {', '.join(app.get('linked_models') or []) or 'none'})")
    conn.unlink_model_from_app(args.app, args.model)
    if args.json:
        print_json({"app": args.app, "model": args.model, "linked": False})
    else:
        print(f"Unlinked model {args.model} from application {args.app}")
    return 0


def cmd_delete_app(args: argparse.Namespace) -> int:
    conn = connect(args)
    require_app(conn, args.app, args)
    conn.unregister_application(args.app)
    if args.json:
        print_json({"name": args.app, "deleted": True})
    else:
        print(f"Deleted application {args.app} (its models keep running; `clipper stop-model` stops them)")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import requests

    try:
        value = json.loads(args.input)
    except ValueError as e:
        raise CliError(f"JSON_INPUT is not valid JSON: {e}") from None
    conn = connect(args)
    url = f"http://{conn.get_query_addr()}/{args.app}/predict"
    body = {"input_batch" if args.batch else "input": value}
    try:
        r = requests.post(url, json=body, timeout=args.timeout)
    except requests.RequestException as e:
        raise CliError(f"cannot reach the query frontend at {url}: {e}") from e
    try:
        answer: Any = r.json()
    except ValueError:
        answer = None
    if r.status_code != 200:
        detail = r.text.strip()[:300]
        if isinstance(answer, dict) and "error" in answer:
            detail = f"{answer['error']}: {answer.get('cause', '')}".rstrip(": ")
        raise CliError(f"{url} answered HTTP {r.status_code}: {detail}")
    if answer is None:
        print(r.text)
    else:
        print_json(answer)
    answers = answer.get("batch_predictions", [answer]) if isinstance(answer, dict) else []
    reasons = {str(a.get("default_explanation", "")) for a in answers if isinstance(a, dict) and a.get("default")}
    if reasons and not args.quiet:
        why = "; ".join(sorted(x for x in reasons if x)) or "no reason given"
        app = find_app(conn, args.app) or {}
        models = ",".join(app.get("linked_models") or []) or "NAME"
        print(f"clipper: note: this is the application's default output ({why}); a model's own errors are in its "
              f"replica log: `clipper logs{cluster_flag(args.cluster_name)} --model {models} --tail 30`",
              file=sys.stderr)
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    conn = connect(args)
    apps = conn.get_all_apps(verbose=True)
    figures = summarize_metrics(conn.inspect_instance(), [a["name"] for a in apps])
    if args.app is not None:
        app = require_app(conn, args.app, args)
        linked = set(app.get("linked_models") or [])
        figures["apps"] = [a for a in figures["apps"] if a["app"] == args.app]
        figures["models"] = [m for m in figures["models"] if m["model_name"] in linked]
    if args.json:
        print_json(figures)
        return 0
    print_table(["APP", "QUERIES", "DEFAULTS", "DEFAULT_%", "P50_MS", "P95_MS", "P99_MS", "MEAN_MS"], [
        [a["app"], a["num_predictions"], a["default_predictions"], percent(a["default_ratio"]),
         *(ms(a["latency_micros"][k]) for k in ("p50", "p95", "p99", "mean"))]
        for a in figures["apps"]
    ], empty="No applications registered.")  # fmt: skip
    print()
    print_table(["MODEL", "VERSION", "PREDICTIONS", "CACHE_HIT_%", "P50_MS", "P95_MS", "P99_MS", "MEAN_BATCH"], [
        [m["model_name"], m["model_version"], m["num_predictions"], percent(m["cache_hit_ratio"]),
         *(ms(m["latency_micros"][k]) for k in ("p50", "p95", "p99")),
         "-" if m["mean_batch_size"] is None else f"{m['mean_batch_size']:.1f}"]
        for m in figures["models"]
    ], empty="No model has served yet.")  # fmt: skip
    if args.app is None:
        cache = figures["prediction_cache"]
        print(f"\nprediction cache: {cache['lookups']} lookups, {percent(cache['hit_ratio'])}% hits")
    return 0


def register(r: Registry) -> None:
    p = r.add("register-app", cmd_register_app, "register an application (a REST endpoint /NAME/predict)", [
        "clipper register-app hello --input-type doubles --default-output -1.0 --slo-micros 100000",
    ])
    p.add_argument("name", help="the application's name: lower-case letters, digits and '-'")
    input_type_option(p)
    p.add_argument("--default-output", required=True, help="output returned when no prediction is available in time")
    p.add_argument("--slo-micros", type=int, required=True, help="latency objective in microseconds")

    r.add("apps", cmd_apps, "list applications", ["clipper apps", "clipper apps --json"])

    p = r.add("link", cmd_link, "route an application's queries to a model", ["clipper link hello sum"])
    p.add_argument("app", help="a registered application")
    p.add_argument("model", help="a registered model with the application's input type")

    p = r.add("unlink", cmd_unlink, "stop routing an application's queries to a model",
              ["clipper unlink hello sum"], details="The model keeps running; the application answers with its "
              "default output until another model is linked.")
    p.add_argument("app", help="a registered application")
    p.add_argument("model", help="a model linked to it")

    p = r.add("delete-app", cmd_delete_app, "delete an application and its links (its endpoint stops at once)",
              ["clipper delete-app hello"])
    p.add_argument("app", help="a registered application")

    p = r.add("predict", cmd_predict, "query an application and print the query frontend's JSON answer", [
        "clipper predict hello '[1.1, 2.2, 3.3]'",
        "clipper predict hello '[[1.0], [2.0]]' --batch",
    ], details="The answer is printed as the frontend sends it, with or without --json. When it is the "
               "application's default output, a note on stderr says why and where the model's log is.")
    p.add_argument("app", help="a registered application")
    p.add_argument("input", metavar="JSON_INPUT", help='the input, as JSON (e.g. "[1.0, 2.0]")')
    p.add_argument("--batch", action="store_true", help="JSON_INPUT is a list of inputs (input_batch)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the answer")

    p = r.add("metrics", cmd_metrics, "show the query frontend's metrics per application and model", [
        "clipper metrics",
        "clipper metrics hello          # one application and its linked models",
        "clipper metrics --json",
    ], details="From the query frontend's GET /metrics: queries answered per application, how many got the "
               "default output, latency percentiles (milliseconds, from a sample of recent queries), and per "
               "model version the inputs evaluated, cache hits, batch latency and size. Counts start at the "
               "frontend's start.")
    p.add_argument("app", nargs="?", default=None,
                   help="only this application and the models linked to it (default: every application and model)")
