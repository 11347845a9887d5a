"""``python -m tests.support.qf_harness [query-frontend flags]``: a real query
frontend process plus a read-only introspection endpoint for tests.

It runs exactly what ``python -m query_frontend`` runs (the same settings,
``QueryFrontend.start``/``close``, SIGTERM handling) and, on the port named by
``CLIPPER_TEST_INTROSPECT_PORT`` (0, the default: any free port), answers
``GET /state`` with what fault tests must observe but the public API does not
expose: the frontend's pid, each model queue's length, each connected
replica's in-flight batch and how many full Redis snapshots it has taken.

Started with ``--query_port=0``/``--rpc_service_port=0``, the frontend binds
ports of the OS's choosing; once everything listens, the harness writes the
ports it got, as JSON ``{"pid", "query", "rpc", "introspect"}``, to the file
named by ``CLIPPER_TEST_PORTS_FILE`` (atomically: a reader never sees half).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from query_frontend.server import QueryFrontend
from query_frontend.settings import QueryFrontendSettings
from tests.support.ports import frontend_query_port, http_port

log = logging.getLogger("clipper.test.qf_harness")


class ResyncCounter:
    """The frontend's full Redis snapshots, started and completed (``ConfigReader`` counts them).

    A snapshot that started after a test wrote something has read it once
    ``completed`` exceeds the ``started`` the test saw after writing.
    """

    def __init__(self, frontend: QueryFrontend) -> None:
        self._reader = frontend.reader

    @property
    def started(self) -> int:
        return self._reader.snapshots_started

    @property
    def completed(self) -> int:
        return self._reader.snapshots_completed


def snapshot(frontend: QueryFrontend, resyncs: ResyncCounter | None = None) -> dict[str, object]:
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
        "resyncs": {"started": resyncs.started, "completed": resyncs.completed} if resyncs else None,
    }


async def run(settings: QueryFrontendSettings, introspect_port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    frontend = QueryFrontend(settings)
    resyncs = ResyncCounter(frontend)
    await frontend.start()

    async def state(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(snapshot(frontend, resyncs)), content_type="application/json")

    app = web.Application()
    app.router.add_get("/state", state)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", introspect_port).start()
    ports = {"pid": os.getpid(), "query": frontend_query_port(frontend), "rpc": frontend.rpc.port,
             "introspect": http_port(runner)}
    log.info("Query frontend listening on http://%s:%d (RPC port %d); introspection on %d",
             settings.host, ports["query"], ports["rpc"], ports["introspect"])
    ports_file = os.environ.get("CLIPPER_TEST_PORTS_FILE")
    if ports_file:
        tmp = Path(ports_file).with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(ports))
        tmp.replace(ports_file)
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
        runner.run(run(settings, int(os.environ.get("CLIPPER_TEST_INTROSPECT_PORT", "0"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
