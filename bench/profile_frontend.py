"""Profile the query frontend under load with py-spy (from bench/.venvs/tools).

    python -m bench.profile_frontend [--workload a|d] [--connections 32] [--seconds 8]

Starts the benchmark cluster, drives wrk at the workload, samples the query
frontend with ``py-spy record --format raw`` and prints the functions with
the most samples (self and inclusive). Writes the collapsed stacks to
``bench/results/profile-<workload>.txt`` (feed them to flamegraph.pl if you like).
"""

from __future__ import annotations

import argparse
import collections
import logging
import subprocess
import threading

from bench import load, peers
from bench.clipper_system import APPS, ClipperBench


def summarize(collapsed: str, top: int = 25) -> str:
    self_counts: collections.Counter[str] = collections.Counter()
    incl_counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = stack.split(";")
        self_counts[frames[-1]] += count
        for f in set(frames):
            incl_counts[f] += count
    out = [f"{total} samples", "", "self:"]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in self_counts.most_common(top)]
    out += ["", "inclusive:"]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in incl_counts.most_common(top)]
    return "\n".join(out)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--workload", default="d", choices=sorted(APPS))
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--seconds", type=int, default=8)
    a = p.parse_args()
    cb = ClipperBench(32 * 1024 * 1024)
    cb.start()
    try:
        app = APPS[a.workload]
        out = peers.RESULTS / f"profile-{a.workload}.txt"
        load.wrk(cb.url(app), a.connections, 2, app.template, app.mode)  # warm-up
        result: list[load.Sample] = []
        t = threading.Thread(target=lambda: result.append(
            load.wrk(cb.url(app), a.connections, a.seconds + 2, app.template, app.mode)))
        t.start()
        subprocess.run([str(peers.VENVS / "tools" / "bin" / "py-spy"), "record", "--pid", str(cb.frontend_pid()),
                        "--duration", str(a.seconds), "--rate", "200", "--format", "raw", "--nonblocking",
                        "--output", str(out)], check=True, capture_output=True)
        t.join()
        print(f"load: {result[0].rps:,.0f} req/s, p99 {result[0].p99_ms:.2f} ms (slowed by sampling)")
        print(summarize(out.read_text()))
    finally:
        cb.stop()


if __name__ == "__main__":
    main()
