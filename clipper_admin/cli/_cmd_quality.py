"""The ``quality`` command: an application's drift, default rate and model quality (statistical monitoring)."""

from __future__ import annotations

import argparse
from typing import Any

from clipper_admin.cli._clusters import connect
from clipper_admin.cli._output import print_json, print_table
from clipper_admin.cli._parser import Registry


def _num(value: object, digits: int = 3) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{value:.{digits}f}"


def _window(info: dict[str, Any]) -> str:
    state = "complete" if info["complete"] else "filling"
    return f"{info['size']}/{info['capacity']} samples, {state} (since {info['reason']})"


def cmd_quality(args: argparse.Namespace) -> int:
    conn = connect(args)
    if args.reset:
        answer = conn.reset_reference_window(args.app)
        if args.json:
            print_json(answer)
        else:
            print(f"Started new reference windows for {args.app}: drift and quality are now measured against "
                  "the next samples and feedbacks")
        return 0
    report = conn.get_model_quality(args.app)
    if args.json:
        print_json(report)
        return 0
    print(f"application {report['app']} ({report['input_type']}): {report['sampled']} queries sampled "
          f"(1 in {report['sample_every']}); reference {_window(report['reference'])}; recent window "
          f"{report['window']} samples")
    print()
    print_table(["FEATURE", "PSI", "KS", "REF_MEAN", "RECENT_MEAN", "REF_STD", "RECENT_STD"], [
        [f["feature"], _num(f["psi"]), _num(f["ks"]),
         *(_num((f.get(w) or {}).get(k)) for k in ("mean", "std") for w in ("reference", "recent"))]
        for f in report["features"]
    ], empty="No input sampled yet.")  # fmt: skip
    rate = report["defaults"]["rate"]
    reasons = ", ".join(f"{r} {_num(s * 100, 1)}%" for r, s in sorted(report["defaults"]["recent_reasons"].items()))
    print(f"\ndefault outputs: recent {_num(rate['recent'])}, reference {_num(rate['reference'])}, lifetime "
          f"{_num(rate['lifetime'])}" + (f" ({reasons})" if reasons else ""))
    print()
    rows = []
    for m in report["models"]:
        q = m["quality"]
        figure = q["accuracy"] if q["kind"] != "regressor" else q["mae"]
        rows.append([m["model"], m["version"], m["answers"], _num(m["outputs"]["psi"]), q["kind"] or "-",
                     q["feedback"], *(_num(figure[w]) for w in ("recent", "reference", "lifetime"))])
    print_table(["MODEL", "VERSION", "ANSWERS", "OUTPUT_PSI", "KIND", "FEEDBACK", "RECENT", "REFERENCE", "LIFETIME"],
                rows, empty="No model version has answered yet.")
    if rows:
        print("\n(RECENT, REFERENCE, LIFETIME: accuracy for a classifier, mean absolute error for a regressor)")
    if report["feedback_unmatched"]:
        print(f"{report['feedback_unmatched']} feedbacks matched no cached answer (not counted)")
    return 0


def register(r: Registry) -> None:
    p = r.add("quality", cmd_quality, "show an application's input drift, default rate and model quality", [
        "clipper quality hello",
        "clipper quality hello --json",
        "clipper quality hello --reset   # after a retrain: measure against the traffic from now on",
    ], details="From the query frontend's GET /<app>/monitoring (docs/monitoring.md): per input feature the "
               "population stability index (PSI; above 0.25 is a large shift) and the Kolmogorov-Smirnov "
               "statistic of the recent window against the reference window (the first samples after the "
               "last deploy, link or reset); the share of default outputs and why; per model version the drift "
               "of its answers and its quality from the labels sent to /<app>/update.")
    p.add_argument("app", help="a registered application")
    p.add_argument("--reset", action="store_true",
                   help="start new reference windows instead of showing the figures")
