"""Every admin write that returned success survives ``kill -9`` of Redis right after it.

The same sequence of mutating calls (every mutating ``/admin`` endpoint)
runs against two management frontends, each on a Redis of its own: on the
reference Redis nothing happens between the calls; the other Redis gets
SIGKILL the moment each call's 200 arrives, and is started again on its
data directory. After every step the full contents of Clipper's Redis
databases must be the same on both, so a write lost to the kill, or half
applied, fails the test. Redis runs as every manager starts it
(``appendfsync always``: the AOF is fsynced before a write is answered,
which also covers a crash of the machine; docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from clipper_protocol.redis_schema import RedisDB
from tests.conftest import RedisInstance
from tests.management_frontend.conftest import AdminClient, mgmt_settings
from tests.support.ports import start_redis, stop

MODEL = {"input_type": "doubles", "labels": ["l"], "container_name": "img:1", "model_data_path": "DEPRECATED",
         "batch_size": -1}

#: (endpoint, body): every mutating admin endpoint, each at least once, in an order where each succeeds.
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("add_app", {"name": "app", "input_type": "doubles", "default_output": "-1", "latency_slo_micros": 100000}),
    ("add_app", {"name": "other", "input_type": "doubles", "default_output": "0", "latency_slo_micros": 5000}),
    ("add_model", {"model_name": "m", "model_version": "1", **MODEL}),
    ("add_model", {"model_name": "m", "model_version": "2", **MODEL}),
    ("add_model", {"model_name": "n", "model_version": "1", **MODEL}),
    ("add_model_links", {"app_name": "app", "model_names": ["m"]}),
    ("set_model_version", {"model_name": "m", "model_version": "1"}),
    ("set_selection_policy", {"app_name": "app", "policy": "Exp3Policy", "params": {"gamma": 0.3}}),
    ("add_model_links", {"app_name": "app", "model_names": ["n"]}),
    ("delete_model_links", {"app_name": "app", "model_names": ["n"]}),
    ("set_selection_policy", {"app_name": "app", "policy": "DefaultOutputSelectionPolicy"}),
    ("delete_versioned_model", {"model_name": "m", "model_version": "2"}),
    ("delete_model_links", {"app_name": "app", "model_names": ["m"]}),
    ("delete_app", {"name": "other"}),
]


def snapshot(client_for: Callable[[int], redis.Redis]) -> dict[int, dict[str, Any]]:
    """Every key of Clipper's databases with its value (hashes, sets and strings)."""
    out: dict[int, dict[str, Any]] = {}
    for db in RedisDB:
        r = client_for(int(db))
        found: dict[str, Any] = {}
        for key in r.scan_iter():
            kind = r.type(key)
            found[key] = {"hash": r.hgetall, "set": r.smembers, "string": r.get, "list": lambda k: r.lrange(k, 0, -1),
                          "zset": lambda k: r.zrange(k, 0, -1, withscores=True)}[kind](key)
        out[int(db)] = found
    return out


async def _until_ok(admin: AdminClient, endpoint: str, body: dict[str, Any], deadline_s: float = 20) -> None:
    """POST until 200: right after a Redis restart the first calls may get 503."""
    deadline = time.monotonic() + deadline_s
    while True:
        reply = await admin.post(endpoint, body)
        if reply.status == 200:
            return
        assert reply.status == 503 and time.monotonic() < deadline, (endpoint, reply)
        await asyncio.sleep(0.05)


async def test_every_acknowledged_admin_write_survives_kill_9_of_redis(
        redis_instance: RedisInstance, admin_factory: Callable[..., Any], tmp_path: Path) -> None:
    killed = await admin_factory(mgmt_settings(redis_instance.host, redis_instance.port))
    ref_dir = tmp_path / "reference-redis"
    ref_dir.mkdir()
    ref_proc, ref_port = start_redis(ref_dir)
    clients: dict[tuple[int, int], redis.Redis] = {}

    def client(port: int) -> Callable[[int], redis.Redis]:
        def get(db: int) -> redis.Redis:
            if (port, db) not in clients:
                clients[(port, db)] = redis.Redis(host="127.0.0.1", port=port, db=db, decode_responses=True)
            return clients[(port, db)]
        return get

    try:
        reference = await admin_factory(mgmt_settings("127.0.0.1", ref_port))
        assert client(redis_instance.port)(0).config_get("appendfsync") == {"appendfsync": "always"}
        for i, (endpoint, body) in enumerate(STEPS):
            await reference.ok(endpoint, body)
            await _until_ok(killed, endpoint, body)
            os.kill(redis_instance.proc.pid, signal.SIGKILL)  # the moment the 200 is in
            redis_instance.proc.wait(10)
            for c in [c for (port, _), c in clients.items() if port == redis_instance.port]:
                c.connection_pool.disconnect()
            redis_instance.start()
            want, got = snapshot(client(ref_port)), snapshot(client(redis_instance.port))
            assert got == want, f"after step {i} ({endpoint} {body}) and kill -9 of Redis"
        assert snapshot(client(ref_port))[int(RedisDB.APPLICATIONS)].keys() == {"app"}  # the steps did run
    finally:
        for c in clients.values():
            c.close()
        stop(ref_proc)
