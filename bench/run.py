"""`make bench`: Clipper against its peers on the same machine, in one run.

Starts a local Clipper cluster, deploys the benchmark models, drives load
from a separate process (wrk for closed loop, ``openloop.py`` for a fixed
arrival rate), runs each peer from its own virtual environment on the same
functions, and writes ``bench/results/results.json``; ``bench/report.py``
then writes ``docs/benchmarks.md`` and the plots in ``docs/img/``.

    python -m bench.run [--quick] [--duration S] [--warmup S] [--reps N]
                        [--concurrency 1,8,32,128] [--rate R] [--only clipper|peers]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import batch_probe, load, peers
from bench.clipper_system import APPS, ClipperBench

logger = logging.getLogger("clipper.bench")
HERE = Path(__file__).resolve().parent
RESULTS_FILE = peers.RESULTS / "results.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="1 s runs, 1 s warm-up, 1 repetition, c = 1 and 32: a smoke test; report in bench/results/quick/")
    p.add_argument("--duration", type=float, default=float(env("BENCH_DURATION", "5")), help="seconds per run (whole seconds for wrk)")
    p.add_argument("--warmup", type=float, default=float(env("BENCH_WARMUP", "2")), help="warm-up seconds (excluded)")
    p.add_argument("--reps", type=int, default=int(env("BENCH_REPS", "3")), help="runs per figure (median)")
    p.add_argument("--concurrency", default=env("BENCH_CONCURRENCY", "1,8,32,128"))
    p.add_argument("--rate", type=float, default=float(env("BENCH_RATE", "500")), help="open-loop requests/s")
    p.add_argument("--peer-concurrency-b", default=env("BENCH_PEER_CONC_B", "32"),
                   help="concurrencies at which peers run workload (b)")
    p.add_argument("--cache-size", type=int, default=int(env("BENCH_CACHE_SIZE", str(32 * 1024 * 1024))))
    p.add_argument("--only", choices=["clipper", "peers", "all"], default=env("BENCH_ONLY", "all"))
    p.add_argument("--peers", default=env("BENCH_PEERS", ""), help="comma-separated peer names to run (default all)")
    p.add_argument("--no-report", action="store_true", help="write results.json only")
    a = p.parse_args(argv)
    if a.quick:
        a.duration, a.warmup, a.reps, a.concurrency = 1.0, 1.0, 1, "1,32"
    a.concurrency = [int(c) for c in str(a.concurrency).split(",")]
    a.peer_concurrency_b = [int(c) for c in str(a.peer_concurrency_b).split(",")]
    return a


class Runner:
    """Runs cells (one system, workload, load point) and collects the rows."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: list[dict[str, Any]] = []

    def cell(self, system: str, workload: str, url: str, template: str, mode: str, load_kind: str, level: float,
             around: Any = None) -> dict[str, Any]:
        """Warm up, then ``reps`` measured runs; the row holds the medians."""
        a = self.args

        def once(seconds: float) -> load.Sample:
            if load_kind == "closed":
                return load.wrk(url, int(level), seconds, template, mode)
            return load.open_loop(url, level, seconds, template, mode)

        once(a.warmup)
        before = around() if around else None
        samples = [once(a.duration) for _ in range(a.reps)]
        after = around() if around else None
        med = load.median_sample(samples)
        row: dict[str, Any] = {"system": system, "workload": workload, "load": load_kind, "level": level,
                               **asdict(med), "runs_rps": [round(s.rps, 1) for s in samples],
                               "loadavg1": round(os.getloadavg()[0], 2)}
        if before is not None and after is not None:
            row["batch"] = batch_probe.diff_stats(before, after)
        self.rows.append(row)
        batch = f" batch mean {row['batch']['mean']:.1f}" if "batch" in row else ""
        logger.info("%-16s %-10s %-6s %6g: %8.0f req/s  p50 %6.2f  p99 %7.2f ms  default %4.1f%%  err %4.1f%%%s",
                    system, workload, load_kind, level, med.rps, med.p50_ms, med.p99_ms, 100 * med.default_share,
                    100 * med.error_share, batch)
        return row

    def sweep(self, system: str, workload: str, url: str, template: str, mode: str,
              concurrency: list[int], around: Any = None, open_loop: bool = True) -> None:
        for c in concurrency:
            self.cell(system, workload, url, template, mode, "closed", c, around)
        if open_loop:
            self.cell(system, workload, url, template, mode, "open", self.args.rate, around)


def run_clipper(r: Runner, meta: dict[str, Any]) -> None:
    a = r.args
    cb = ClipperBench(a.cache_size)
    t0 = time.monotonic()
    cb.start()
    meta["clipper_start_and_deploy_s"] = round(time.monotonic() - t0, 1)
    memory: list[dict[str, Any]] = []
    frontend_hist: dict[str, Any] = {}
    try:
        rss, hwm = cb.frontend_memory_kib()
        memory.append({"after": "start", "rss_kib": rss, "hwm_kib": hwm})
        for key, label in (("a", "a"), ("b", "b"), ("b-nobatch", "b-nobatch"), ("c", "c"), ("d", "d"), ("e", "e")):
            app = APPS[key]
            r.sweep("Clipper", label, cb.url(app), app.template, app.mode, a.concurrency,
                    around=lambda app=app: cb.flush_batches(app))
            rss, hwm = cb.frontend_memory_kib()
            memory.append({"after": label, "rss_kib": rss, "hwm_kib": hwm})
            frontend_hist[app.model] = cb.frontend_batch_histogram(app.model)
            logger.info("query frontend RSS %.1f MiB (peak %.1f MiB)", rss / 1024, hwm / 1024)
        metrics = cb.conn.inspect_instance()
        meta["clipper_default_ratios"] = [r_ for r_ in metrics.get("ratios", [])]
    finally:
        cb.stop()
    meta["frontend_memory"] = memory
    meta["frontend_batch_histograms"] = frontend_hist
    meta["cache_size_bytes"] = a.cache_size


def run_peers(r: Runner, meta: dict[str, Any]) -> None:
    a = r.args
    meta["peers"] = {}
    wanted = {n.strip().lower() for n in a.peers.split(",") if n.strip()}
    for peer in peers.all_peers():
        if wanted and not any(w in peer.name.lower() for w in wanted):
            continue
        why = peer.available()
        if why:
            meta["peers"][peer.name] = {"status": "not run", "why": why}
            logger.warning("%s: %s", peer.name, why)
            continue
        info: dict[str, Any] = {"status": "ran", "cold_start_s": {}}
        meta["peers"][peer.name] = info
        plan = [("sum", "a", a.concurrency, True)]
        if peer.name != "aiohttp (bare)":
            plan.append(("cost", "b", a.peer_concurrency_b, False))
        for workload_fn, label, conc, open_loop in plan:
            try:
                running = peers.start(peer, workload_fn)
            except RuntimeError as e:
                info["status"] = "failed"
                info.setdefault("why", str(e)[-800:])
                logger.warning("%s did not start: %s", peer.name, str(e)[-300:])
                continue
            info["cold_start_s"][label] = round(running.cold_start_s, 1)
            try:
                r.sweep(peer.name, label, running.url, peer.template, "unique", conc, open_loop=open_loop)
            except Exception as e:  # a peer failing mid-run must not lose the rest
                info["status"] = "failed during load"
                info["why"] = repr(e)[-800:]
                logger.warning("%s failed during load: %r", peer.name, e)
            finally:
                peers.stop(running)


def machine_facts() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[:1]
    load_avg = os.getloadavg()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "wrk": wrk_version[0] if wrk_version else "", "loadavg_at_start": [round(x, 2) for x in load_avg]}


Part = Callable[[Runner, dict[str, Any]], None]


def run_parts(r: Runner, meta: dict[str, Any], out_file: Path, clipper: Part, peer_part: Part) -> None:
    """Run Clipper's and the peers' cells (as ``--only`` says), then write every row and ``meta``, even after
    a failure."""
    t0 = time.monotonic()
    try:
        if r.args.only in ("clipper", "all"):
            clipper(r, meta)
        if r.args.only in ("peers", "all"):
            peer_part(r, meta)
    finally:
        meta["elapsed_s"] = round(time.monotonic() - t0, 1)
        meta["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        out_file.write_text(json.dumps({"meta": meta, "rows": r.rows}, indent=1))
        logger.info("wrote %s (%.0f s)", out_file, meta["elapsed_s"])


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    a = parse_args(argv)
    peers.RESULTS.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"command": " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]),
                            "settings": {k: v for k, v in vars(a).items() if k != "no_report"},
                            "machine": machine_facts(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    run_parts(Runner(a), meta, RESULTS_FILE, run_clipper, run_peers)
    if not a.no_report:
        tools_py = peers.VENVS / "tools" / "bin" / "python"
        py = str(tools_py) if tools_py.exists() else sys.executable
        # A --quick smoke run must not overwrite the published report.
        out = [str(peers.RESULTS / "quick")] if a.quick else []
        subprocess.run([py, str(HERE / "report.py"), str(RESULTS_FILE), *out], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
