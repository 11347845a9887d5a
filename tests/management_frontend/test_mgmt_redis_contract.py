"""What other processes see: keyspace events of each mutation, and odd Redis content."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis.asyncio as aioredis

from clipper_protocol.redis_schema import RedisDB


@pytest.fixture
async def keyspace_events(redis_instance):
    """Collects ``(db, key, event)`` keyspace notifications, as the query frontend would."""
    client = aioredis.Redis(host=redis_instance.host, port=redis_instance.port, decode_responses=True)
    await client.config_set("notify-keyspace-events", "AKE")
    pubsub = client.pubsub()
    await pubsub.psubscribe("__keyspace@*__:*")
    events: list[tuple[int, str, str]] = []

    async def drain(until: set[tuple[int, str, str]], deadline_s: float = 10.0) -> list[tuple[int, str, str]]:
        """Read notifications until all of ``until`` were seen; returns all seen so far."""
        deadline = time.monotonic() + deadline_s
        while not until <= set(events):
            assert time.monotonic() < deadline, f"missing {until - set(events)}; saw {events}"
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if msg is None:
                continue
            channel = msg["channel"]  # __keyspace@<db>__:<key>
            prefix, key = channel.split(":", 1)
            db = int(prefix[len("__keyspace@"):-2])
            events.append((db, key, msg["data"]))
        return list(events)

    try:
        yield drain
    finally:
        await pubsub.aclose()
        await client.aclose()


async def test_mutations_emit_the_events_the_query_frontend_follows(admin, keyspace_events):
    await admin.add_app("app1")
    await keyspace_events({(5, "app1", "hset")})

    await admin.add_model("m", "1")
    seen = await keyspace_events({(2, "m:1", "hset"), (6, "CURRENT_MODEL_VERSION:m", "set")})
    # The model hash is written before the current version, as the original does.
    assert seen.index((2, "m:1", "hset")) < seen.index((6, "CURRENT_MODEL_VERSION:m", "set"))
    assert seen.count((2, "m:1", "hset")) == 1  # all 9 fields in one write

    await admin.link("app1", "m")
    await keyspace_events({(7, "app1", "sadd")})
    await admin.ok("delete_model_links", {"app_name": "app1", "model_names": ["m"]})
    await keyspace_events({(7, "app1", "srem")})

    await admin.add_model("m", "2")
    await admin.ok("set_model_version", {"model_name": "m", "model_version": "1"})
    await admin.ok("delete_versioned_model", {"model_name": "m", "model_version": "2"})
    await keyspace_events({(2, "m:2", "hdel")})

    await admin.ok("delete_app", {"name": "app1"})
    await keyspace_events({(5, "app1", "del")})


async def test_redis_error_reply_maps_to_the_original_message(admin, rdb):
    await admin.add_app("app1")
    await admin.add_model("m", "1")
    # Something else put a string where the app's link set belongs.
    rdb(RedisDB.APP_MODEL_LINKS).set("app1", "garbage")
    reply = await admin.link("app1", "m")
    assert (reply.status, reply.text) == (400, "Error linking models to 'app1' in Redis")


async def test_unexpected_failure_is_a_generic_500(admin, rdb):
    rdb(RedisDB.APPLICATIONS).set("broken", "not a hash")
    reply = await admin.post("get_application", {"name": "broken"})
    assert reply.status == 500
    body = json.loads(reply.text)
    assert body["error"] == "Internal server error"
    assert "Traceback" not in reply.text and "WRONGTYPE" not in reply.text
    # The frontend keeps serving.
    assert (await admin.add_app("fine")).status == 200


async def test_malformed_records_are_skipped_in_listings(admin, rdb):
    await admin.add_model("m", "1")
    rdb(RedisDB.MODELS).hset("bad:1", mapping={"model_name": "bad"})  # lacks most fields
    verbose = await admin.json("get_all_models", {"verbose": True})
    assert [m["model_name"] for m in verbose] == ["m"]


async def test_scripts_survive_script_flush(admin, rdb):
    assert (await admin.add_app("a1")).status == 200
    rdb(0).script_flush()
    await asyncio.sleep(0)
    assert (await admin.add_app("a2")).status == 200
