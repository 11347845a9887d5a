"""Drive load from a separate process: wrk (closed loop) and openloop.py (open loop)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk_post.lua"
_seed = 0


@dataclass
class Sample:
    """One measured run."""

    rps: float            # 2xx replies per second (default outputs included)
    good_rps: float       # 2xx replies that are not default outputs, per second
    p50_ms: float
    p95_ms: float
    p99_ms: float
    default_share: float  # default outputs / 2xx replies
    error_share: float    # non-2xx, socket errors and timeouts / requests


def _next_seed() -> int:
    # A fresh nonce range per run, so "unique" bodies never hit the cache
    # with values a previous run already put there.
    global _seed
    _seed += 1
    return _seed


def _parse(output: str) -> dict[str, float]:
    for line in output.splitlines():
        if line.startswith("BENCHJSON "):
            return json.loads(line[len("BENCHJSON "):])
    raise RuntimeError(f"load generator printed no result:\n{output[-2000:]}")


def _sample(d: dict[str, float], non2xx: float) -> Sample:
    seconds = d["duration_us"] / 1e6
    ok = d["ok"]
    errors = non2xx + d.get("errors", 0) + d.get("err_connect", 0) + d.get("err_read", 0) \
        + d.get("err_write", 0) + d.get("err_timeout", 0)
    return Sample(
        rps=ok / seconds, good_rps=(ok - d["defaults"]) / seconds,
        p50_ms=d["p50_us"] / 1e3, p95_ms=d["p95_us"] / 1e3, p99_ms=d["p99_us"] / 1e3,
        default_share=d["defaults"] / ok if ok else 0.0,
        error_share=errors / d["requests"] if d["requests"] else 0.0,
    )


def wrk(url: str, connections: int, seconds: float, template: str, mode: str) -> Sample:
    """One closed-loop wrk run: ``connections`` clients, each one request at a time."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "--latency",
           "-s", str(WRK_SCRIPT), url, "--", template, mode, str(_next_seed())]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    d = _parse(out)
    return _sample(d, d["err_status"])


def open_loop(url: str, rate: float, seconds: float, template: str, mode: str) -> Sample:
    """One open-loop run at a fixed arrival rate (requests/s)."""
    cmd = [sys.executable, str(HERE / "openloop.py"), url, str(rate), str(seconds), template, mode, str(_next_seed())]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 90).stdout
    d = _parse(out)
    return _sample(d, d["non2xx"] + d["skipped"])


def median_sample(samples: list[Sample]) -> Sample:
    """Each figure the median over the runs."""
    fields = asdict(samples[0]).keys()
    return Sample(**{f: statistics.median(getattr(s, f) for s in samples) for f in fields})
