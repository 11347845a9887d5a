"""What a chaos run must keep, checked from the load's records, the timeline and the cluster afterwards.

1. Every request the frontend accepted got an answer (a prediction, the
   default output, or a declared 503) within SLO + 50 ms of when it started
   out. A request may fail without an answer only while the query frontend
   was down: from SLO + 50 ms before its kill (in flight then) until a
   second after the new one accepted connections.
2. No other HTTP status than 200 and the declared 503.
3. Every admin write that returned success is there afterwards.
4. The replica listing (``get_all_model_replicas``) equals the replicas
   that run within 5 s of the last fault.
5. The query frontend's RSS and open descriptors stay flat over each of its
   lives long enough to judge (after a warm-up, the last fifth against the
   first fifth).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from tests.load.openloop import Record

SLO_S = 0.1
EPSILON_S = 0.05
AFTER_QF_BACK_S = 1.0
CONVERGE_WITHIN_S = 5.0
RSS_GROWTH_MAX_KIB = 24 * 1024
FDS_GROWTH_MAX = 16


@dataclass
class Sample:
    t: float
    pid: int
    rss_kib: int
    fds: int


@dataclass
class Verdict:
    violations: list[str] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)

    def fail(self, what: str) -> None:
        self.violations.append(what)


def check_requests(verdict: Verdict, app: str, records: list[Record], qf_outages: list[list[float]]) -> None:
    bound = SLO_S + EPSILON_S
    outcomes: Counter[str] = Counter()
    late: list[Record] = []
    unexplained: list[Record] = []
    for r in records:
        if r.status == 200 and r.default is not None:
            outcomes["default" if r.default else "prediction"] += 1
        elif r.status == 503:
            outcomes["503"] += 1
        elif r.status == 0 and any(k - bound <= r.scheduled <= back + AFTER_QF_BACK_S for k, back in qf_outages):
            outcomes["lost to a query frontend kill"] += 1
            continue
        else:
            outcomes[f"status {r.status}"] += 1
            unexplained.append(r)
            continue
        if r.service_latency > bound:
            late.append(r)
    latencies = sorted(r.service_latency for r in records if r.status in (200, 503))
    verdict.figures[app] = {
        "requests": len(records), **outcomes, "late": len(late),
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 1) if latencies else None,
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
    }
    for r in unexplained[:5]:
        verdict.fail(f"{app}: request {r.seq} at t={r.scheduled:.2f} s got status {r.status} ({r.error}) "
                     "outside any query-frontend outage")
    for r in late[:5]:
        verdict.fail(f"{app}: request {r.seq} at t={r.scheduled:.2f} s answered after "
                     f"{r.service_latency * 1000:.0f} ms (bound {bound * 1000:.0f} ms; default={r.default})")
    if len(unexplained) > 5 or len(late) > 5:
        verdict.fail(f"{app}: {len(unexplained)} unexplained failures and {len(late)} late answers in all")


def check_flat(verdict: Verdict, samples: list[Sample], warmup_s: float = 30.0, min_life_s: float = 60.0) -> None:
    lives: dict[int, list[Sample]] = {}
    for s in samples:
        lives.setdefault(s.pid, []).append(s)
    judged = []
    for pid, life in lives.items():
        life = [s for s in life if s.t - life[0].t >= warmup_s]
        if len(life) < 10 or life[-1].t - life[0].t < min_life_s:
            continue
        fifth = max(2, len(life) // 5)
        rss = statistics.median(s.rss_kib for s in life[-fifth:]) - statistics.median(s.rss_kib for s in life[:fifth])
        fds = statistics.median(s.fds for s in life[-fifth:]) - statistics.median(s.fds for s in life[:fifth])
        judged.append({"pid": pid, "seconds": round(life[-1].t - life[0].t), "rss_growth_kib": rss,
                       "fds_growth": fds, "rss_kib_end": life[-1].rss_kib, "fds_end": life[-1].fds})
        if rss > RSS_GROWTH_MAX_KIB:
            verdict.fail(f"query frontend pid {pid}: RSS grew {rss / 1024:.1f} MiB over {life[-1].t - life[0].t:.0f} s")
        if fds > FDS_GROWTH_MAX:
            verdict.fail(f"query frontend pid {pid}: {fds:.0f} more open descriptors over {life[-1].t - life[0].t:.0f} s")
    verdict.figures["query_frontend_lives"] = judged
