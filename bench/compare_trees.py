"""Workloads (a) and (d) on two checkouts of this project, interleaved on one machine.

    python -m bench.compare_trees BEFORE_DIR AFTER_DIR [--rounds 5] [--seconds 5] [--connections 32]

Each directory is a checkout with its own ``.venv`` (``make install``). Both
clusters start side by side (each from its own code, on ports the OS gave),
then wrk runs alternate between them, round by round in alternating order,
so background load on a shared machine hits both alike. Prints every run and
the medians. Used to show that a change does not regress the serving path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import load
from bench.peers import CLIPPER_SUM_TEMPLATE

# Run inside each checkout's own interpreter: start a cluster serving the sum
# model as workloads (a) and (d) do, print its URL, serve until stdin closes.
SIDE = r"""
import os, sys, time, requests
os.environ["CLIPPER_QF_BATCH_WAIT_MAX_MS"] = "5.0"
os.environ["CLIPPER_QF_BATCH_WAIT_FRACTION"] = "0.3"
from clipper_admin import ClipperConnection, LocalContainerManager
from clipper_admin.deployers import python as python_deployer
from bench import models
m = LocalContainerManager(cluster_name=sys.argv[1], clipper_query_port=0, clipper_management_port=0,
                          clipper_rpc_port=0, redis_port=0, prometheus_port=None)
c = ClipperConnection(m)
c.start_clipper(cache_size=32 * 1024 * 1024)
try:
    python_deployer.deploy_python_closure(c, name="sum-model", version=1, input_type="doubles",
                                          func=models.feature_sum)
    c.register_application(name="bench-sum", input_type="doubles", default_output="-1.0", slo_micros=100000)
    c.link_model_to_app(app_name="bench-sum", model_name="sum-model")
    url = f"http://{c.get_query_addr()}/bench-sum/predict"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r = requests.post(url, json={"input": [0.5, 1.5]}, timeout=5)
        if r.status_code == 200 and not r.json()["default"]:
            break
        time.sleep(0.2)
    print("URL", url, flush=True)
    sys.stdin.read()
finally:
    c.stop_all()
"""

WORKLOADS = (("a", "unique"), ("d", "fixed"))


def start_side(tree: Path, tag: str, home: Path) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONPATH=str(tree), CLIPPER_HOME=str(home / tag))
    proc = subprocess.Popen([str(tree / ".venv/bin/python"), "-c", SIDE, f"compare-{tag}"], cwd=tree, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("URL "):
            return proc, line.split()[1]
    raise RuntimeError(f"the {tag} cluster ({tree}) did not start")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--connections", type=int, default=32)
    a = p.parse_args(argv)
    trees = {"before": a.before.resolve(), "after": a.after.resolve()}
    rps: dict[tuple[str, str], list[float]] = {(t, w): [] for t in trees for w, _ in WORKLOADS}
    p99: dict[tuple[str, str], list[float]] = {(t, w): [] for t in trees for w, _ in WORKLOADS}
    with tempfile.TemporaryDirectory(prefix="compare-trees-") as home:
        sides = {tag: start_side(tree, tag, Path(home)) for tag, tree in trees.items()}
        try:
            urls = {tag: url for tag, (_, url) in sides.items()}
            for tag in trees:
                for _, mode in WORKLOADS:
                    load.wrk(urls[tag], a.connections, 2, CLIPPER_SUM_TEMPLATE, mode)  # warm-up
            for r in range(a.rounds):
                order = list(trees) if r % 2 == 0 else list(reversed(trees))
                for tag in order:
                    for w, mode in WORKLOADS:
                        s = load.wrk(urls[tag], a.connections, a.seconds, CLIPPER_SUM_TEMPLATE, mode)
                        rps[(tag, w)].append(s.rps)
                        p99[(tag, w)].append(s.p99_ms)
                        print(f"round {r} {tag:6s} ({w}) {s.rps:8.0f} req/s  p99 {s.p99_ms:6.2f} ms", flush=True)
        finally:
            for proc, _ in sides.values():
                assert proc.stdin is not None
                proc.stdin.close()
            for proc, _ in sides.values():
                proc.wait(timeout=60)
    print(f"load average {os.getloadavg()[0]:.2f} at the end; medians of {a.rounds} runs of {a.seconds} s, "
          f"c = {a.connections}:")
    for (tag, w), values in rps.items():
        print(f"  {tag:6s} ({w}) {statistics.median(values):8.0f} req/s  p99 {statistics.median(p99[(tag, w)]):6.2f} ms"
              f"  runs {[round(x) for x in values]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
