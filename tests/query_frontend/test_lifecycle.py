"""Start-up, shutdown and supervision of an in-process query frontend.

- Shutdown withdraws this frontend's replica records, and the deletions are
  in Redis before the Redis clients close (they used to be queued to a
  writer that was already gone).
- A start that fails (a port taken) raises and leaves no task, socket or
  Redis connection behind.
- A background loop that crashes is logged with its traceback, turns
  ``/ready`` 503 with the reason, and runs again after its backoff.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
import redis
import zmq

from clipper_protocol.redis_schema import RedisDB, frontend_liveness_key
from clipper_service.supervisor import RestartPolicy
from query_frontend.redis_state.config_reader import ConfigReader
from query_frontend.redis_state.connector import REDIS_CLIENT_NAME
from query_frontend.replica_liveness import ReplicaLiveness
from query_frontend.server import QueryFrontend
from query_frontend.settings import QueryFrontendSettings
from tests.query_frontend.conftest import RunningFrontend, eventually
from tests.support.frame_container import FrameContainer


def _clients_connected(redis_instance) -> int:
    """Connections of query frontends (they name themselves) to the test's Redis."""
    r = redis.Redis(host=redis_instance.host, port=redis_instance.port)
    try:
        return sum(1 for c in r.client_list() if c.get("name") == REDIS_CLIENT_NAME)
    finally:
        r.close()


async def test_close_withdraws_replica_records_before_redis_closes(qf_settings, cluster_state, redis_instance) -> None:
    cluster_state.add_app("app", slo_micros=1_000_000)
    cluster_state.add_model("m", "1")
    cluster_state.link("app", "m")
    frontend = QueryFrontend(qf_settings)
    await frontend.start()
    container = FrameContainer(frontend.rpc.port, "m", "1").start()
    try:
        await asyncio.wait_for(frontend.sync.ready.wait(), 10)
        await eventually(lambda: "m,1,0" in cluster_state.containers(), what="the replica's record")
        assert _clients_connected(redis_instance) > 0
        record = cluster_state.containers()["m,1,0"]
        assert record["query_frontend_id"] == frontend.records.frontend_id
        liveness = redis.Redis(host=redis_instance.host, port=redis_instance.port, db=int(RedisDB.RESOURCES))
        try:
            assert liveness.exists(frontend_liveness_key(frontend.records.frontend_id))
            await frontend.close()
            # Deleted, and the deletion reached Redis before the clients closed.
            assert cluster_state.containers() == {}
            assert not liveness.exists(frontend_liveness_key(frontend.records.frontend_id))
        finally:
            liveness.close()
        assert _clients_connected(redis_instance) == 0
        assert asyncio.all_tasks() == {asyncio.current_task()}
    finally:
        await asyncio.to_thread(container.stop)


@pytest.mark.parametrize("taken", ["query_port", "rpc_service_port"])
async def test_a_failed_start_closes_what_it_opened(qf_settings, redis_instance, taken: str) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        settings = QueryFrontendSettings(**{**qf_settings.__dict__, taken: holder.getsockname()[1]})
        frontend = QueryFrontend(settings)
        with pytest.raises((OSError, zmq.ZMQError)):
            await frontend.start()
        assert asyncio.all_tasks() == {asyncio.current_task()}
        await eventually(lambda: _clients_connected(redis_instance) == 0, 2, "no Redis connection left")
        if taken == "query_port":
            # The RPC socket it had bound is closed: its port can be bound again.
            ctx = zmq.Context()
            sock = ctx.socket(zmq.ROUTER)
            try:
                sock.bind(f"tcp://127.0.0.1:{frontend.rpc.port}")
            finally:
                sock.close(0)
                ctx.term()
        await frontend.close()  # closing again is harmless
    finally:
        holder.close()


def _crash_once(monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> list[int]:
    original = getattr(cls, name)
    calls: list[int] = []

    def crashing(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("injected crash")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, crashing)
    return calls


@pytest.mark.parametrize(("cls", "method", "task"), [
    (ReplicaLiveness, "check", "replica-silence"),
    (ConfigReader, "resync", "config-follower"),
])
async def test_a_crashed_loop_is_logged_marked_not_ready_and_restarted(
    qf: RunningFrontend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    cls: type, method: str, task: str,
) -> None:
    caplog.set_level(logging.WARNING, "clipper.query_frontend")
    qf.frontend.tasks.policy = RestartPolicy(initial_backoff_s=1.0)
    calls = _crash_once(monkeypatch, cls, method)
    await eventually(lambda: calls, 5, f"{task} to run the patched code")  # the follower: its next resync

    async def ready() -> tuple[int, dict]:
        async with qf.session.get(f"{qf.url}/ready") as resp:
            return resp.status, await resp.json()

    status, body = await ready()
    assert status == 503, body
    assert body["ready"] is False and f"{task} crashed: RuntimeError: injected crash" in body["reason"], body
    crash = [r for r in caplog.records if "crashed; restarting" in r.getMessage()]
    assert crash and crash[0].exc_info is not None and "injected crash" in caplog.text
    assert "Traceback" in caplog.text

    deadline = asyncio.get_running_loop().time() + 5
    while (await ready())[0] != 200:
        assert asyncio.get_running_loop().time() < deadline, "never ready again"
        await asyncio.sleep(0.05)
    await eventually(lambda: len(calls) >= 2, 5, f"{task} to run again")
    assert qf.frontend.tasks.running(task)
    assert any(f"{task} restarted" in r.getMessage() for r in caplog.records)
