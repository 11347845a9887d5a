"""``python -m tests.support.qf_harness [query-frontend flags]``: a real query
frontend process plus a read-only introspection endpoint for tests.

It runs exactly what ``python -m query_frontend`` runs (the same settings,
``QueryFrontend.start``/``close``, SIGTERM handling) and, on the port named by
``CLIPPER_TEST_INTROSPECT_PORT``, answers ``GET /state`` with what fault tests
must observe but the public API does not expose: the frontend's pid, each
model queue's length and each connected replica's in-flight batch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time

import orjson
from aiohttp import web

from query_frontend.server import QueryFrontend
from query_frontend.settings import QueryFrontendSettings

log = logging.getLogger("clipper.test.qf_harness")


def snapshot(frontend: QueryFrontend) -> dict[str, object]:
    """The frontend's queues and replicas, as JSON-able data."""
    now = time.monotonic()
    replicas = []
    for r in frontend.rpc.replicas.values():
        batch = r.inflight
        replicas.append({
            "label": r.label,
            "model": r.model_name,
            "version": r.model_version,
            "identity": r.identity.hex(),
            "inflight": len(batch.tasks) if batch is not None else 0,
            "inflight_msg_id": batch.msg_id if batch is not None else None,
            "inflight_age_s": now - batch.sent_at if batch is not None else 0.0,
            "quarantined": r.quarantined,
        })
    return {
        "pid": os.getpid(),
        "queues": {f"{name}:{version}": len(q) for (name, version), q in frontend.processor.queues.items()},
        "batch_limits": {f"{name}:{version}": q.controller.batch_size()
                         for (name, version), q in frontend.processor.queues.items()},
        "replicas": replicas,
        "pending": frontend.cache.pending_count,
    }


async def run(settings: QueryFrontendSettings, introspect_port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    frontend = QueryFrontend(settings)
    await frontend.start()

    async def state(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(snapshot(frontend)), content_type="application/json")

    app = web.Application()
    app.router.add_get("/state", state)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", introspect_port).start()
    log.info("Query frontend listening on http://%s:%d (RPC port %d); introspection on %d",
             settings.host, settings.query_port, frontend.rpc.port, introspect_port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await frontend.close()


def main() -> int:
    settings = QueryFrontendSettings.from_args(sys.argv[1:])
    logging.basicConfig(level=logging.INFO,
                        format="[%(asctime)s.%(msecs)03d][%(levelname)s] %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(run(settings, int(os.environ["CLIPPER_TEST_INTROSPECT_PORT"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
