"""Redis going away, hanging and coming back; restarts of Redis keep the state."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.ports import dead_port
from clipper_protocol.redis_schema import RedisDB


async def _poll(admin, endpoint, body, deadline_s=15.0):
    """POST until it answers 200 or the deadline passes; returns the last reply."""
    deadline = time.monotonic() + deadline_s
    while True:
        reply = await admin.post(endpoint, body)
        if reply.status == 200 or time.monotonic() > deadline:
            return reply
        await asyncio.sleep(0.05)


async def test_redis_down_answers_503_fast_then_recovers(admin, redis_instance):
    await admin.add_app("app1")
    redis_instance.stop()

    start = time.monotonic()
    reply = await admin.post("get_all_applications", {"verbose": False})
    elapsed = time.monotonic() - start
    assert reply.status == 503
    assert reply.text.startswith(f"Redis at {redis_instance.host}:{redis_instance.port} is unreachable: ")
    assert reply.text.endswith(". Check that Redis is running.")
    assert elapsed < 2.5
    mutation = await admin.add_app("app2")
    assert mutation.status == 503
    ready = await admin.get("/ready")
    assert ready.status == 503 and '"reason":"redis unreachable: ' in ready.text
    # Liveness does not depend on Redis.
    assert (await admin.get("/admin/ping")).text == "PONG"

    redis_instance.start()
    reply = await _poll(admin, "get_all_applications", {"verbose": False})
    assert (reply.status, reply.text) == (200, '["app1"]')
    assert (await admin.get("/ready")).status == 200
    assert (await admin.add_app("app2")).status == 200


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections but never answers (a hung Redis)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


async def test_hung_redis_answers_503_within_timeout(silent_server, admin_factory):
    from management_frontend.settings import Settings

    settings = Settings(redis_ip="127.0.0.1", redis_port=silent_server, host="127.0.0.1", port=0,
                        redis_timeout_s=0.3)
    admin = await admin_factory(settings)
    start = time.monotonic()
    reply = await admin.post("get_all_models", {"verbose": True})
    elapsed = time.monotonic() - start
    assert reply.status == 503
    assert "is unreachable" in reply.text
    assert elapsed < 2.0  # two attempts of 0.3 s, plus slack for a loaded machine


async def test_redis_restart_keeps_state(admin, redis_instance, rdb):
    await admin.add_app("app1", input_type="ints", default_output="7", slo=1234)
    await admin.add_model("m", "1", input_type="ints", labels=["x"])
    await admin.add_model("m", "2", input_type="ints")
    await admin.ok("set_model_version", {"model_name": "m", "model_version": "1"})
    await admin.link("app1", "m")
    before_apps = await admin.json("get_all_applications", {"verbose": True})
    before_models = await admin.json("get_all_models", {"verbose": True})

    redis_instance.restart()

    # The first call after the restart already succeeds: dead pooled
    # connections are replaced transparently.
    assert await admin.json("get_all_applications", {"verbose": True}) == before_apps
    assert await admin.json("get_all_models", {"verbose": True}) == before_models
    assert rdb(RedisDB.METADATA).get("CURRENT_MODEL_VERSION:m") == "1"
    # Scripts are reloaded into the restarted Redis as needed.
    assert (await admin.add_model("m", "3", input_type="ints")).status == 200
    assert (await admin.add_model("m", "3", input_type="ints")).status == 400


async def test_unreachable_redis_host_port(admin_factory):
    from management_frontend.settings import Settings

    with dead_port() as port:  # held, never listening: nothing can serve it
        admin = await admin_factory(Settings(redis_ip="127.0.0.1", redis_port=port, host="127.0.0.1", port=0))
        reply = await admin.post("delete_app", {"name": "x"})
        assert reply.status == 503
        assert reply.text.startswith(f"Redis at 127.0.0.1:{port} is unreachable: ")
        # Input errors are still reported before Redis is needed.
        reply = await admin.post("delete_app", {})
        assert reply.status == 400
