"""``make chaos``: a local cluster under open-loop load while seeded random faults hit it.

    python -m tests.chaos.run [--seconds 1800] [--seed N] [--rate 80] [--report build/chaos/report.json]

Prints the seed first and the whole fault timeline at the end, so a failing
run replays with ``--seed``. Checks the invariants of
:mod:`tests.chaos.invariants` and exits 1 if one broke. The last
``QUIET_S`` seconds have no new fault: the replica listing must converge and
the load keeps being answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from clipper_admin.exceptions import ClipperException
from tests.chaos.cluster import ChaosCluster
from tests.chaos.faults import Chaos
from tests.chaos.invariants import CONVERGE_WITHIN_S, Sample, Verdict, check_flat, check_requests
from tests.load.openloop import run_open_loop

QUIET_S = 10.0


def _sample_frontend(cluster: ChaosCluster, now: Any, samples: list[Sample], stop: threading.Event) -> None:
    while not stop.wait(1.0):
        pid = cluster.served_pid("query_frontend")
        if pid is None:
            continue
        try:
            rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                       if line.startswith("VmRSS:"))
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, StopIteration):
            continue
        samples.append(Sample(now(), pid, rss, fds))


def _when_up(call: Any, timeout_s: float = 90.0) -> Any:
    """``call()``, retried while the management frontend (or Redis behind it) is still coming back."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except ClipperException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _listing_converges(cluster: ChaosCluster, since: float, now: Any) -> tuple[float | None, str]:
    """Seconds after ``since`` at which the replica listing equalled the running replicas (None: never)."""
    deadline = time.monotonic() + CONVERGE_WITHIN_S + 10
    last = ""
    while time.monotonic() < deadline:
        # The truth: replicas that run and serve (their ready file exists once they connected).
        truth: Counter[tuple[str, str]] = Counter(cluster.serving_replicas())
        try:
            listed = Counter((r["model_name"], str(r["model_version"]))
                             for r in cluster.conn.get_all_model_replicas(verbose=True))
        except Exception as e:  # noqa: BLE001 - the management frontend may still be coming back
            last = f"listing failed: {e}"
            time.sleep(0.2)
            continue
        if listed == truth:
            return now() - since, ""
        seen = f"listed {dict(listed)}, running {dict(truth)}"
        if seen != last:
            print(f"chaos: t={now():.2f} s ({now() - since:.2f} s after the last fault): {seen}", flush=True)
        last = seen
        time.sleep(0.2)
    return None, last


async def chaos_run(work_dir: Path, seconds: float, seed: int, rate: float) -> dict[str, Any]:
    print(f"chaos: seed {seed}, {seconds:.0f} s, {rate:.0f} req/s (replay: python -m tests.chaos.run "
          f"--seed {seed} --seconds {seconds:.0f})", flush=True)
    cluster = ChaosCluster(work_dir, seed)
    cluster.start()
    verdict = Verdict()
    try:
        loop = asyncio.get_running_loop()
        start_at = loop.time() + 0.5
        origin = time.monotonic() + (start_at - loop.time())

        def now() -> float:
            return time.monotonic() - origin

        chaos = Chaos(cluster, seed, now)
        samples: list[Sample] = []
        stop = threading.Event()
        sampler = threading.Thread(target=_sample_frontend, args=(cluster, now, samples, stop), daemon=True)
        sampler.start()
        convergence: list[tuple[float | None, str]] = []

        def inject() -> None:
            chaos.run(seconds - QUIET_S)
            # At once, under load: from the last fault (or its heal) the listing has 5 s to be right.
            convergence.append(_listing_converges(cluster, chaos.last_fault, now))

        injector = threading.Thread(target=inject, daemon=True)
        injector.start()
        fast, slow = await asyncio.gather(*(
            run_open_loop(cluster.url(app), rate / 2, seconds, start_at=start_at, timeout_s=5.0)
            for app in ("fast", "slow")))
        await asyncio.to_thread(injector.join, 240)
        stop.set()
        converged, why = convergence[0] if convergence else (None, "the fault schedule did not end")

        for app, result in (("fast", fast), ("slow", slow)):
            check_requests(verdict, app, result.records, chaos.qf_outages)
        check_flat(verdict, samples)
        verdict.figures["replica_listing_converged_s"] = None if converged is None else round(converged, 2)
        if converged is None or converged > CONVERGE_WITHIN_S:
            verdict.fail(f"the replica listing did not match the running replicas within {CONVERGE_WITHIN_S} s "
                         f"of the last fault ({why})")
        # The last kill may have left a frontend in its restart delay: read once it answers again.
        apps = set(await asyncio.to_thread(_when_up, cluster.conn.get_all_apps))
        missing = [a for a in chaos.acked.apps if a not in apps]
        if missing:
            verdict.fail(f"acknowledged applications missing afterwards: {missing}")
        current = await asyncio.to_thread(_when_up, lambda: cluster.conn.get_current_model_version("slow"))
        if chaos.acked.versions and chaos.acked.last_switch_acked and current != chaos.acked.versions[-1][1]:
            verdict.fail(f"slow's current version is {current}, the last acknowledged switch set "
                         f"{chaos.acked.versions[-1][1]}")
        verdict.figures["acknowledged"] = {"apps": len(chaos.acked.apps), "version_switches": len(chaos.acked.versions)}
    finally:
        cluster.stop()
    timeline = [f"{e.t:8.2f} s  {e.kind:15s} {'' if e.ok else 'FAILED '}{e.detail}" for e in sorted(
        chaos.events, key=lambda e: e.t)]
    return {
        "seed": seed, "seconds": seconds, "rate": rate,
        "faults": dict(Counter(e.kind for e in chaos.events if e.kind != "heal")),
        "qf_outages_s": [round(b - k, 2) for k, b in chaos.qf_outages],
        "figures": verdict.figures, "violations": verdict.violations, "timeline": timeline,
    }


def print_report(report: dict[str, Any]) -> None:
    print("\n".join(report["timeline"]))
    print(json.dumps({k: v for k, v in report.items() if k != "timeline"}, indent=2))
    verdict = "PASSED" if not report["violations"] else f"FAILED ({len(report['violations'])} violations)"
    print(f"chaos: seed {report['seed']}: {verdict}", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=1800.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--rate", type=float, default=80.0, help="requests/s over both applications")
    p.add_argument("--report", type=Path, default=Path("build/chaos/report.json"))
    a = p.parse_args()
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
    with tempfile.TemporaryDirectory(prefix="clipper-chaos-") as tmp:
        report = asyncio.run(chaos_run(Path(tmp), a.seconds, seed, a.rate))
    a.report.parent.mkdir(parents=True, exist_ok=True)
    a.report.write_text(json.dumps(report, indent=2))
    print_report(report)
    print(f"chaos: report in {a.report}")
    return 1 if report["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
