"""Clipper (a), (d) and the bare aiohttp ceiling, run by turns at one concurrency.

    python -m bench.interleave_check [--connections 32] [--seconds 5] [--rounds 3]

A shorter check than ``bench.run`` for the two ratios against the ceiling:
both servers stay up and the runs alternate, so background load on a shared
machine hits them alike. Prints the median of each and the ratios.
"""

from __future__ import annotations

import argparse
import logging
import statistics

from bench import load, peers
from bench.clipper_system import APPS, ClipperBench


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    bare = next(x for x in peers.all_peers() if x.name == "aiohttp (bare)")
    cb = ClipperBench(32 * 1024 * 1024)
    cb.start()
    running = peers.start(bare, "sum")
    targets = {
        "Clipper (a)": (cb.url(APPS["a"]), APPS["a"].template, "unique"),
        "Clipper (d)": (cb.url(APPS["d"]), APPS["d"].template, "fixed"),
        "bare aiohttp": (running.url, bare.template, "unique"),
    }
    rps: dict[str, list[float]] = {k: [] for k in targets}
    p99: dict[str, list[float]] = {k: [] for k in targets}
    try:
        for url, template, mode in targets.values():
            load.wrk(url, a.connections, 2, template, mode)  # warm-up
        for _ in range(a.rounds):
            for name, (url, template, mode) in targets.items():
                s = load.wrk(url, a.connections, a.seconds, template, mode)
                rps[name].append(s.rps)
                p99[name].append(s.p99_ms)
    finally:
        peers.stop(running)
        cb.stop()
    med = {k: statistics.median(v) for k, v in rps.items()}
    for k in targets:
        print(f"{k:14s} {med[k]:8.0f} req/s  p99 {statistics.median(p99[k]):6.2f} ms  runs {[round(x) for x in rps[k]]}")
    print(f"(a) / bare = {med['Clipper (a)'] / med['bare aiohttp']:.0%}   (d) / bare = {med['Clipper (d)'] / med['bare aiohttp']:.0%}")


if __name__ == "__main__":
    main()
