"""Real trained models, served by Clipper and by every peer from the same files, with the same inputs.

    python -m bench.real_models [--quick] [--models lr,rf,mlp,onnx] [--peers litserve,triton,...]
                                [--only clipper|peers|all] [--duration S] [--warmup S] [--reps N]
                                [--concurrency 1,8,32,128] [--retrain] [--no-report]

Models (bench/real_models_train.py, trained once on scikit-learn's digits and
saved under bench/results/real_models/artifacts/): ``lr`` LogisticRegression,
``rf`` a 100-tree RandomForest, ``mlp`` a 64-32-10 PyTorch MLP, ``onnx`` that
MLP in ONNX (onnxruntime). Every request body is the same digits row with its
first pixel replaced by wrk's nonce (a fresh input each time: no cache hits).

Clipper: one local cluster, per model an app with adaptive batching and one
with ``batch_size=1``. Peers: LitServe, BentoML, Ray Serve, MLServer, KServe,
Triton (pytriton) and, for the MLP, TorchServe, each from its own venv
(bench/setup_venvs.sh). Closed loop (wrk) at each concurrency, bench/run.py's
Runner (warm-up, then the median of ``reps`` runs). Writes
bench/results/real_models.json (``--quick``: bench/results/quick/), then
bench/report.py's "Real models" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import peers
from bench.real_models_common import ARTIFACTS, MODELS
from bench.run import Runner, machine_facts, run_parts

logger = logging.getLogger("clipper.bench")
HERE = Path(__file__).resolve().parent
RESULTS_FILE = peers.RESULTS / "real_models.json"
QUICK_FILE = peers.RESULTS / "quick" / "real_models.json"
START_S = {"Clipper": 45.0, "LitServe": 12.0, "BentoML": 12.0, "Ray Serve": 25.0, "MLServer": 18.0, "KServe": 8.0,
           "Triton": 22.0, "TorchServe": 18.0}
"""Start-up plus stop seconds seen in smoke runs here (per model for peers, the cluster and its 8 deploys for
Clipper), for the estimate."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="1 s runs, 1 s warm-up, 1 repetition, c = 1 and 32; results in bench/results/quick/")
    p.add_argument("--duration", type=float, default=float(env("REAL_DURATION", "3")), help="seconds per run")
    p.add_argument("--warmup", type=float, default=float(env("REAL_WARMUP", "1")), help="warm-up seconds")
    p.add_argument("--reps", type=int, default=int(env("REAL_REPS", "3")), help="runs per figure (median)")
    p.add_argument("--concurrency", default=env("REAL_CONCURRENCY", "1,8,32,128"))
    p.add_argument("--models", default=env("REAL_MODELS", ",".join(MODELS)))
    p.add_argument("--peers", default=env("REAL_PEERS", ""), help="comma-separated peer names (default all)")
    p.add_argument("--only", choices=["clipper", "peers", "all"], default=env("REAL_ONLY", "all"))
    p.add_argument("--cache-size", type=int, default=32 * 1024 * 1024)
    p.add_argument("--retrain", action="store_true", help="train the models again even if their files exist")
    p.add_argument("--no-report", action="store_true", help="write the JSON only")
    # `make bench` hands BENCH_ARGS to bench.run and to this module: accept bench.run's other options.
    a, unknown = p.parse_known_args(argv)
    if unknown:
        logger.warning("ignoring options of bench.run: %s", " ".join(unknown))
    if a.quick:
        a.duration, a.warmup, a.reps, a.concurrency = 1.0, 1.0, 1, "1,32"
    a.concurrency = [int(c) for c in str(a.concurrency).split(",")]
    a.models = [m.strip() for m in str(a.models).split(",") if m.strip()]
    bad = [m for m in a.models if m not in MODELS]
    if bad:
        p.error(f"unknown models {bad}; choose from {','.join(MODELS)}")
    a.rate = 0.0  # Runner's open-loop rate: closed loop only here
    return a


def wanted_peer(name: str, wanted: str) -> bool:
    names = {n.strip().lower() for n in wanted.split(",") if n.strip()}
    return not names or any(w in name.lower() for w in names)


def plan(a: argparse.Namespace) -> tuple[int, float]:
    """(cells, estimated seconds) of this run."""
    from bench.real_models_peers import all_peer_names

    # wrk's own start and stop (~0.15 s a run), two batch-table reads (~0.35 s each) per cell.
    per_cell = a.warmup + a.reps * max(1, round(a.duration)) + 0.15 * (a.reps + 1) + 0.7
    cells, start = 0, 0.0
    if a.only in ("clipper", "all"):
        cells += 2 * len(a.models) * len(a.concurrency)
        start += START_S["Clipper"]
    if a.only in ("peers", "all"):
        for name in all_peer_names():
            if not wanted_peer(name, a.peers):
                continue
            n = sum(1 for m in a.models if name != "TorchServe" or m == "mlp")
            cells += n * len(a.concurrency)
            start += n * (START_S[name] + 3)
    return cells, cells * per_cell + start


def run_clipper(r: Runner, meta: dict[str, Any]) -> None:
    from bench.real_models_clipper import RealClipper, app_for

    a = r.args
    cb = RealClipper(a.cache_size, a.models)
    t0 = time.monotonic()
    info: dict[str, Any] = {"status": "ran"}
    meta["clipper"] = info
    try:
        cb.start()
    except Exception as e:  # recorded, the peers still run
        info.update(status="failed", why=str(e)[-800:])
        logger.warning("Clipper did not start: %s", e)
        cb.stop()
        return
    info["start_and_deploy_s"] = round(time.monotonic() - t0, 1)
    info["deploy_s"] = cb.deploy_s
    try:
        for model in a.models:
            for batch1 in (False, True):
                app = app_for(model, batch1)
                r.sweep("Clipper (batch 1)" if batch1 else "Clipper", model, cb.url(app), app.template, app.mode,
                        a.concurrency, around=lambda app=app: cb.flush(app), open_loop=False)
        info["frontend_batch_histograms"] = {app_for(m, b).model: cb.frontend_batch_histogram(app_for(m, b).model)
                                             for m in a.models for b in (False, True)}
    finally:
        cb.stop()


def run_peers(r: Runner, meta: dict[str, Any]) -> None:
    from bench.real_models_peers import check, clear_batches, flush, installed, real_peers

    a = r.args
    out: dict[str, Any] = meta.setdefault("peers", {})
    for model in a.models:
        for peer in real_peers(model):
            if not wanted_peer(peer.name, a.peers):
                continue
            info = out.setdefault(peer.name, {"status": "ran", "models": {}, "versions": venv_versions(peer.venv)})
            why = installed(peer)
            if why:
                info["status"] = "not run"
                info["why"] = why
                logger.warning("%s: %s", peer.name, why)
                continue
            clear_batches(peer)
            try:
                running = peers.start(peer, model)
            except Exception as e:
                info["models"][model] = {"status": "failed", "why": str(e)[-800:]}
                logger.warning("%s %s did not start: %s", peer.name, model, str(e)[-400:])
                continue
            entry: dict[str, Any] = {"status": "ran", "cold_start_s": round(running.cold_start_s, 1)}
            info["models"][model] = entry
            try:
                check(peer, running.url)
                r.sweep(peer.name, model, running.url, peer.template, "unique", a.concurrency,
                        around=lambda peer=peer, url=running.url: flush(peer, url), open_loop=False)
            except Exception as e:  # a wrong answer or a failure mid-run must not lose the rest
                entry.update(status="failed", why=repr(e)[-800:])
                logger.warning("%s %s failed: %r", peer.name, model, e)
            finally:
                peers.stop(running)
        statuses = {m.get("status") for p in out.values() for m in p.get("models", {}).values()}
        logger.info("after %s: peer statuses %s", model, sorted(s for s in statuses if s))
    for info in out.values():
        models = info.get("models", {})
        if models and all(m["status"] != "ran" for m in models.values()):
            info["status"] = "failed"
            info.setdefault("why", next(iter(models.values())).get("why", ""))


def venv_versions(venv: Path) -> dict[str, str]:
    """The serving packages' versions in a peer's venv (from their dist-info folder names)."""
    keep = ("litserve", "bentoml", "ray", "mlserver", "mlserver_sklearn", "kserve", "nvidia_pytriton", "torchserve",
            "torch", "numpy", "scikit_learn", "onnxruntime")
    found: dict[str, str] = {}
    for site in venv.glob("lib/python*/site-packages"):
        for d in site.glob("*.dist-info"):
            name, _, version = d.name[: -len(".dist-info")].partition("-")
            if name.lower() in keep:
                found[name.lower()] = version
    return dict(sorted(found.items()))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    a = parse_args(argv)
    from bench import real_models_train

    if a.retrain or not (ARTIFACTS / "meta.json").exists():
        real_models_train.train()
    from bench.real_models_common import meta as model_meta

    cells, estimate = plan(a)
    logger.info("real models: %d cells (%s; c = %s), estimated %.0f s (~%.0f min)", cells, ",".join(a.models),
                ",".join(map(str, a.concurrency)), estimate, estimate / 60)
    out_file = QUICK_FILE if a.quick else RESULTS_FILE
    out_file.parent.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "command": " ".join(["python -m bench.real_models", *(argv if argv is not None else sys.argv[1:])]),
        "settings": {k: v for k, v in vars(a).items() if k not in ("no_report", "rate")},
        "machine": machine_facts(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "estimate_s": round(estimate), "slo_ms": 100.0, "models": model_meta(),
        "main_versions": venv_versions(HERE.parent / ".venv")}
    run_parts(Runner(a), meta, out_file, run_clipper, run_peers)
    if not a.no_report:
        report(a.quick, out_file)
    return 0


def report(quick: bool, out_file: Path) -> None:
    """The "Real models" section: into docs/benchmarks.md (via report.py), or quick/real_models.md."""
    tools_py = peers.VENVS / "tools" / "bin" / "python"
    py = str(tools_py) if tools_py.exists() else sys.executable
    main_results = peers.RESULTS / "results.json"
    if quick:
        subprocess.run([py, str(HERE / "report_real.py"), str(out_file), str(out_file.with_suffix(".md"))], check=True)
    elif main_results.exists() and not json.loads(main_results.read_text())["meta"]["settings"].get("quick"):
        subprocess.run([py, str(HERE / "report.py"), str(main_results)], check=True)
    else:
        logger.warning("no full %s (bench.run) yet: the section is written to %s only", main_results,
                       RESULTS_FILE.with_suffix(".md"))
        subprocess.run([py, str(HERE / "report_real.py"), str(out_file), str(out_file.with_suffix(".md"))],
                       check=True)


if __name__ == "__main__":
    sys.exit(main())
