"""A prediction cascade against always asking the expensive model (docs/model-selection.md).

    .venv/bin/python -m bench.cascade [--thresholds 0.9,0.99] [--trees 400] [--slo-ms 1000]
                                      [--tight-slo-ms 0] [--json FILE]

Trains a LogisticRegression (cheap) and a RandomForestClassifier of
``--trees`` trees (expensive) on scikit-learn's digits (70/30 split, seeded),
deploys both with the scikit-learn deployer on a fresh local cluster, and
asks the test rows one at a time (closed loop, one client) of

* ``rf-only``: an application linked to the forest alone (default policy);
* ``cascade``: ``CascadePolicy`` with the regression first, once per threshold.

Both closures answer ``{"output": class, "confidence": max predict_proba}``.
It reports the share the first stage answered, mean and p99 latency and the
accuracy against each model alone. Every pass appends its own number as a
65th feature, which the closures drop, so that no pass is served from the
prediction cache of another. ``--tight-slo-ms``
adds one cascade run with an SLO below the forest's latency, where the
frontend's latency estimate stops escalation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import requests

from clipper_admin import ClipperConnection
from clipper_admin.local import LocalContainerManager

CHEAP, COSTLY = "digits-lr", "digits-rf"
FEATURES = 64
"""The digits' features; a closure ignores any column after them (the bench's cache-busting nonce)."""


def digits_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, x_test, y_train, y_test) of scikit-learn's digits, 70/30."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    parts = train_test_split(d.data.astype(np.float64), d.target.astype(np.int64), test_size=0.3,
                             random_state=seed, stratify=d.target)
    return parts[0], parts[1], parts[2], parts[3]


def train(x: np.ndarray, y: np.ndarray, trees: int) -> tuple[Any, Any]:
    """The cheap model (a scaled logistic regression) and the expensive one (a forest)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cheap = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(x, y)
    costly = RandomForestClassifier(n_estimators=trees, random_state=0, n_jobs=1).fit(x, y)
    return cheap, costly


def predict_with_confidence(model: Any, inputs: Any) -> list[str]:
    """The cascade's output format: the class and the largest class probability."""
    import json as json_

    import numpy as np_

    proba = model.predict_proba(np_.asarray(inputs)[:, :FEATURES])
    best = proba.argmax(axis=1)
    classes = model.classes_
    return [json_.dumps({"output": int(classes[b]), "confidence": float(p[b])}) for b, p in zip(best, proba)]


def deploy(conn: ClipperConnection, cheap: Any, costly: Any) -> None:
    from clipper_admin.deployers import sklearn as sklearn_deployer

    for name, model in ((CHEAP, cheap), (COSTLY, costly)):
        sklearn_deployer.deploy_sklearn_model(conn, name, 1, "doubles", predict_with_confidence, model,
                                              warmup_inputs=[[0.0] * 64])


def _ask(url: str, rows: np.ndarray) -> tuple[list[dict[str, Any]], list[float]]:
    answers, latencies = [], []
    with requests.Session() as s:
        for row in rows:
            t0 = time.perf_counter()
            r = s.post(url, json={"input": row.tolist()}, timeout=30)
            latencies.append(time.perf_counter() - t0)
            r.raise_for_status()
            answers.append(r.json())
    return answers, latencies


def _summary(answers: list[dict[str, Any]], latencies: list[float], y: np.ndarray) -> dict[str, Any]:
    outputs = [a["output"]["output"] if isinstance(a["output"], dict) else a["output"] for a in answers]
    ms = sorted(x * 1e3 for x in latencies)
    out: dict[str, Any] = {
        "queries": len(answers),
        "defaults": sum(bool(a["default"]) for a in answers),
        "accuracy": round(float(np.mean(np.asarray(outputs) == y)), 4),
        "mean_ms": round(statistics.fmean(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 2),
    }
    if any("stage" in a for a in answers):
        out["first_stage_share"] = round(sum(a.get("stage") == 0 for a in answers) / len(answers), 4)
    return out


def run(thresholds: Sequence[float], trees: int, slo_ms: int, tight_slo_ms: int) -> dict[str, Any]:
    x_train, x_test, y_train, y_test = digits_split()
    cheap, costly = train(x_train, y_train, trees)
    result: dict[str, Any] = {
        "test_rows": len(y_test), "trees": trees, "slo_ms": slo_ms,
        "accuracy_alone": {"lr": round(float(np.mean(cheap.predict(x_test) == y_test)), 4),
                           "rf": round(float(np.mean(costly.predict(x_test) == y_test)), 4)},
    }
    conn = ClipperConnection(LocalContainerManager(
        cluster_name=f"bench-cascade-{uuid.uuid4().hex[:6]}", clipper_query_port=0, clipper_management_port=0,
        clipper_rpc_port=0, redis_port=0, prometheus_port=None))
    conn.start_clipper()
    try:
        deploy(conn, cheap, costly)
        base = f"http://{conn.get_query_addr()}"
        conn.register_application("rf-only", "doubles", "-1", slo_ms * 1000)
        conn.link_model_to_app("rf-only", COSTLY)
        offset = 0

        def rows() -> np.ndarray:
            nonlocal offset
            offset += 1
            return np.hstack([x_test, np.full((len(x_test), 1), float(offset))])

        _ask(f"{base}/rf-only/predict", rows()[:50])  # warm-up: connections, first batches, the estimates
        result["rf_only"] = _summary(*_ask(f"{base}/rf-only/predict", rows()), y_test)
        runs = [(t, slo_ms) for t in thresholds] + ([(max(thresholds), tight_slo_ms)] if tight_slo_ms else [])
        result["cascade"] = []
        app_slo_ms = 0
        for threshold, slo in runs:
            stages = [{"model": CHEAP, "threshold": threshold}, {"model": COSTLY}]
            if slo != app_slo_ms:  # a new SLO: the app afresh, its second link once the policy allows it
                if app_slo_ms:
                    conn.delete_application("cascade")
                conn.register_application("cascade", "doubles", "-1", slo * 1000)
                conn.link_model_to_app("cascade", CHEAP)
                conn.set_selection_policy("cascade", "CascadePolicy", {"stages": stages})
                conn.link_model_to_app("cascade", COSTLY)
                app_slo_ms = slo
            else:
                conn.set_selection_policy("cascade", "CascadePolicy", {"stages": stages})
            time.sleep(0.5)  # the frontend picks the policy up from a Redis notification
            _ask(f"{base}/cascade/predict", rows()[:50])
            summary = _summary(*_ask(f"{base}/cascade/predict", rows()), y_test)
            result["cascade"].append({"threshold": threshold, "slo_ms": slo, **summary})
    finally:
        conn.stop_all(graceful=False)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--thresholds", default="0.9,0.99")
    ap.add_argument("--trees", type=int, default=400)
    ap.add_argument("--slo-ms", type=int, default=1000)
    ap.add_argument("--tight-slo-ms", type=int, default=0,
                    help="also run the highest threshold with this SLO (below the forest's latency)")
    ap.add_argument("--json", help="write the figures to this file too")
    args = ap.parse_args(argv)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    result = run(thresholds, args.trees, args.slo_ms, args.tight_slo_ms)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
