"""Open-loop load: requests at a fixed arrival rate, whatever the replies do.

Runs as its own process (``python bench/openloop.py URL RATE SECONDS TEMPLATE MODE SEED``)
and prints one ``BENCHJSON {...}`` line. Latency is measured from each
request's *scheduled* send time, so a server that falls behind is charged for
the queueing it causes (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp
import uvloop

MAX_IN_FLIGHT = 4096


async def run(url: str, rate: float, seconds: float, template: str, mode: str, seed: int) -> dict[str, float]:
    latencies: list[float] = []
    counts = {"ok": 0, "defaults": 0, "non2xx": 0, "errors": 0, "skipped": 0}
    connector = aiohttp.TCPConnector(limit=1024)
    timeout = aiohttp.ClientTimeout(total=30)
    in_flight: set[asyncio.Task[None]] = set()

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(body: bytes, scheduled: float) -> None:
            try:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                    text = await r.read()
                    if 200 <= r.status < 300:
                        counts["ok"] += 1
                        if b'"default":true' in text or b'"default": true' in text:
                            counts["defaults"] += 1
                    else:
                        counts["non2xx"] += 1
            except (aiohttp.ClientError, asyncio.TimeoutError):
                counts["errors"] += 1
            latencies.append(time.perf_counter() - scheduled)

        start = time.perf_counter()
        interval = 1.0 / rate
        n = 0
        while True:
            scheduled = start + n * interval
            if scheduled - start >= seconds:
                break
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            n += 1
            if len(in_flight) >= MAX_IN_FLIGHT:
                counts["skipped"] += 1
                continue
            nonce = "0.5" if mode == "fixed" else f"{(seed * 1_000_000 + n) * 1e-7:.7f}"
            task = asyncio.ensure_future(one(template.replace("NONCE", nonce).encode(), scheduled))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        sent_end = time.perf_counter()
        if in_flight:
            await asyncio.wait(in_flight, timeout=30)
        elapsed = max(time.perf_counter() - start, sent_end - start)

    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6 if latencies else 0.0

    return {
        "requests": n, "duration_us": elapsed * 1e6, **counts,
        "p50_us": pct(0.50), "p95_us": pct(0.95), "p99_us": pct(0.99),
        "mean_us": (sum(latencies) / len(latencies) * 1e6) if latencies else 0.0,
    }


def main() -> None:
    url, rate, seconds, template, mode, seed = sys.argv[1:7]
    uvloop.install()
    result = asyncio.run(run(url, float(rate), float(seconds), template, mode, int(seed)))
    print("BENCHJSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
