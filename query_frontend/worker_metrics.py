"""One worker among several (setting ``workers``): its role, and ``GET /metrics`` summed over the workers.

With ``workers = N > 1`` the frontend is N processes sharing the REST port
(see :mod:`query_frontend.workers`), so the worker a request reaches holds a
share of the figures only. Each worker also listens on a private loopback
port (the supervisor reserves one per worker and hands the list to all);
``GET /metrics`` on the shared port is answered by summing the JSON
documents of every worker, read from those ports with ``?scope=worker``
(which answers the worker's own document, plus its ``worker`` index).

How the original's kinds combine: counters and meter rates add up; ratio
counters are recomputed from the workers' numerators and denominators;
histograms (reservoir samples) give the summed ``size``, the overall min,
max, weighted mean and pooled standard deviation, and as percentiles the
largest worker's (an upper bound: reservoirs cannot be merged exactly).
The ``monitoring`` key is the answering worker's (its windows sample only
its own traffic), and the Prometheus text (``/metrics/prometheus``) is per
worker too. ``workers`` in the summed document says which workers
answered; one that did not (restarting) is listed under ``missing``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from query_frontend.meters import RatioCounter
from query_frontend.metrics import MetricsRegistry

log = logging.getLogger("clipper.query_frontend.metrics")

SCOPE_PARAM = "scope"
WORKER_SCOPE = "worker"
"""``GET /metrics?scope=worker``: only the answering worker's figures."""
RATIO_PARTS_KEY = "ratio_parts"
"""In a worker's own document: ``{ratio name: [numerator, denominator]}``, so ratios can be summed."""
PEER_TIMEOUT_S = 2.0

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class WorkerRole:
    """Which worker this process is, of how many, and every worker's private loopback port (by index)."""

    index: int
    count: int
    peer_ports: tuple[int, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count or len(self.peer_ports) != self.count:
            raise ValueError(f"worker {self.index} of {self.count} with {len(self.peer_ports)} peer ports")

    @property
    def private_port(self) -> int:
        return self.peer_ports[self.index]

    @property
    def tag(self) -> str:
        """How logs name it: ``w<index>``."""
        return f"w{self.index}"


class WorkerMetrics:
    """The ``GET /metrics`` handler of one worker: its own document, or the sum over all workers."""

    def __init__(self, role: WorkerRole, metrics: MetricsRegistry, prometheus: Handler) -> None:
        self.role = role
        self.metrics = metrics
        self.prometheus = prometheus

    def own_document(self) -> dict[str, Any]:
        doc = self.metrics.json_document()
        doc["worker"] = self.role.index
        doc["pid"] = os.getpid()
        doc[RATIO_PARTS_KEY] = {k: list(v) for k, v in self.metrics.ratio_parts().items()}
        return doc

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        accept = request.headers.get("Accept", "")
        if "text/plain" in accept or "openmetrics" in accept:
            return await self.prometheus(request)  # per worker (see the module docstring)
        own = self.own_document()
        if request.query.get(SCOPE_PARAM) == WORKER_SCOPE:
            doc = own
        else:
            docs = await self._peer_documents()
            docs[self.role.index] = own
            doc = merge_documents(docs, self.role.count, self.role.index)
        return web.Response(body=orjson.dumps(doc, option=orjson.OPT_INDENT_2), content_type="application/json")

    async def _peer_documents(self) -> dict[int, dict[str, Any]]:
        peers = [(i, p) for i, p in enumerate(self.role.peer_ports) if i != self.role.index]
        timeout = aiohttp.ClientTimeout(total=PEER_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            answers = await asyncio.gather(*(self._fetch(session, p) for _, p in peers))
        return {i: d for (i, _), d in zip(peers, answers) if d is not None}

    async def _fetch(self, session: aiohttp.ClientSession, port: int) -> dict[str, Any] | None:
        url = f"http://127.0.0.1:{port}/metrics?{SCOPE_PARAM}={WORKER_SCOPE}"
        try:
            async with session.get(url, headers={"Accept": "application/json"}) as r:
                if r.status != 200:
                    return None
                doc: dict[str, Any] = orjson.loads(await r.read())
                return doc
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
            log.warning("Worker on loopback port %d did not report its metrics (%s)", port, e or type(e).__name__)
            return None


# ------------------------------------------------------------------ summing documents


def _num(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _fmt(value: float) -> str:
    """As the meters format their figures: integers bare, others with 6 decimals."""
    if math.isnan(value):
        return "nan"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6f}"


def _entries(docs: list[dict[str, Any]], kind: str) -> dict[str, list[dict[str, str]]]:
    """Each metric name of ``kind`` (in first-seen order) with the workers' values."""
    out: dict[str, list[dict[str, str]]] = {}
    for doc in docs:
        for entry in doc.get(kind, []):
            for name, value in entry.items():
                out.setdefault(name, []).append(value)
    return out


def _sum_meter(values: list[dict[str, str]]) -> dict[str, str]:
    out = {"unit": values[0].get("unit", "events per second")}
    for key in values[0]:
        if key == "unit":
            continue
        rates = [_num(v.get(key)) for v in values]
        known = [r for r in rates if r >= 0]  # -1: not measured yet
        out[key] = _fmt(sum(known)) if known else "-1"
    return out


def _sum_histogram(values: list[dict[str, str]]) -> dict[str, str]:
    parts = [(int(_num(v.get("size", 0)) or 0), v) for v in values]
    filled = [(n, v) for n, v in parts if n > 0]
    total = sum(n for n, _ in filled)
    out = {"unit": values[0].get("unit", ""), "size": str(total)}
    if not filled:
        out.update(dict.fromkeys(("min", "max", "mean", "std_dev", "p50", "p95", "p99"), "0"))
        return out
    mean = sum(n * _num(v["mean"]) for n, v in filled) / total
    var = sum(n * (_num(v["std_dev"]) ** 2 + (_num(v["mean"]) - mean) ** 2) for n, v in filled) / total
    out["min"] = _fmt(min(_num(v["min"]) for _, v in filled))
    out["max"] = _fmt(max(_num(v["max"]) for _, v in filled))
    out["mean"] = _fmt(mean)
    out["std_dev"] = _fmt(math.sqrt(var))
    for p in ("p50", "p95", "p99"):
        out[p] = _fmt(max(_num(v[p]) for _, v in filled))
    return out


def merge_documents(docs: dict[int, dict[str, Any]], count: int, answering: int) -> dict[str, Any]:
    """The cluster's ``/metrics`` document from the workers' own documents (by worker index)."""
    ordered = [docs[i] for i in sorted(docs)]
    counters = [{name: {"count": str(sum(int(_num(v.get("count", 0))) for v in vs))}}
                for name, vs in _entries(ordered, "counters").items()]
    parts: dict[str, list[int]] = {}
    for worker_doc in ordered:
        for name, (num, den) in worker_doc.get(RATIO_PARTS_KEY, {}).items():
            acc = parts.setdefault(name, [0, 0])
            acc[0] += int(num)
            acc[1] += int(den)
    ratios = []
    for name, vs in _entries(ordered, "ratio_counters").items():
        if name in parts:
            ratios.append({name: RatioCounter(parts[name][0], parts[name][1]).report()})
        else:
            ratios.append({name: vs[0]})
    meters = [{name: _sum_meter(vs)} for name, vs in _entries(ordered, "meters").items()]
    histograms = [{name: _sum_histogram(vs)} for name, vs in _entries(ordered, "histograms").items()]
    doc: dict[str, Any] = {"counters": counters, "ratio_counters": ratios, "meters": meters, "histograms": histograms}
    mine = docs.get(answering, {})
    for key, value in mine.items():
        if key not in doc and key not in ("worker", "pid", RATIO_PARTS_KEY):
            doc[key] = value  # monitoring: the answering worker's
    doc["worker"] = answering
    doc["workers"] = {
        "count": count,
        "reported": sorted(docs),
        "missing": [i for i in range(count) if i not in docs],
        "figures": [{"worker": i, "pid": docs[i].get("pid"), "counters": docs[i].get("counters", [])}
                    for i in sorted(docs)],
    }
    return doc
