"""Applications: add, delete, query, selection state; what lands in Redis."""

from __future__ import annotations

import json

from clipper_protocol.redis_schema import RedisDB, selection_state_value, state_key


async def test_add_app_success_body_and_redis_hash(admin, rdb):
    reply = await admin.add_app("app1", input_type="ints", default_output="-1", slo=20000)
    assert reply.status == 200
    assert reply.text == "Successfully added application with name 'app1'"
    assert reply.content_type == "application/json"
    # DB 5 hash, input type stored under its canonical name.
    assert rdb(RedisDB.APPLICATIONS).hgetall("app1") == {
        "input_type": "integers",
        "policy": "DefaultOutputSelectionPolicy",
        "default_output": "-1",
        "latency_slo_micros": "20000",
    }
    # Nothing else written by add_app.
    assert rdb(RedisDB.APPLICATIONS).keys("*") == ["app1"]
    for db in (RedisDB.STATE, RedisDB.MODELS, RedisDB.METADATA, RedisDB.APP_MODEL_LINKS):
        assert rdb(db).dbsize() == 0


async def test_add_app_twice_is_refused(admin, rdb):
    assert (await admin.add_app("app1", default_output="first")).status == 200
    reply = await admin.add_app("app1", default_output="second")
    assert (reply.status, reply.text) == (400, "application 'app1' already exists")
    assert rdb(RedisDB.APPLICATIONS).hget("app1", "default_output") == "first"


async def test_delete_app_removes_app_links_and_state(admin, rdb):
    await admin.add_app("app1")
    assert (await admin.add_model("m", "1")).status == 200
    assert (await admin.link("app1", "m")).status == 200
    # The query frontend writes the selection state once it sees the app.
    rdb(RedisDB.STATE).set(state_key("app1", 0), selection_state_value("-1.0"))

    text = await admin.ok("delete_app", {"name": "app1"})
    assert text == "Successfully deleted application with name 'app1'"
    assert rdb(RedisDB.APPLICATIONS).exists("app1") == 0
    assert rdb(RedisDB.APP_MODEL_LINKS).exists("app1") == 0
    assert rdb(RedisDB.STATE).exists(state_key("app1", 0)) == 0
    # The model is untouched.
    assert rdb(RedisDB.MODELS).exists("m:1") == 1

    # Re-registered, the app starts clean: no inherited link.
    await admin.add_app("app1")
    assert await admin.json("get_linked_models", {"app_name": "app1"}) == []


async def test_delete_unknown_app(admin):
    assert await admin.error("delete_app", {"name": "ghost"}) == "Application 'ghost' does not exist"


async def test_get_all_applications(admin):
    assert await admin.json("get_all_applications", {"verbose": False}) == []
    await admin.add_app("b-app", input_type="str", default_output="none", slo=5)
    await admin.add_app("a-app", input_type="f", default_output="0.0", slo=7)
    await admin.add_model("m", "1", input_type="floats")
    await admin.link("a-app", "m")

    names = await admin.json("get_all_applications", {"verbose": False})
    assert sorted(names) == ["a-app", "b-app"]

    verbose = await admin.json("get_all_applications", {"verbose": True})
    by_name = {a["name"]: a for a in verbose}
    assert by_name["a-app"] == {
        "input_type": "floats",
        "default_output": "0.0",
        "latency_slo_micros": 7,
        "name": "a-app",
        "linked_models": ["m"],
    }
    assert list(by_name["a-app"]) == ["input_type", "default_output", "latency_slo_micros",
                                      "name", "linked_models"]
    assert by_name["b-app"]["input_type"] == "strings"
    assert by_name["b-app"]["linked_models"] == []


async def test_get_application(admin):
    assert await admin.json("get_application", {"name": "ghost"}) == {}
    await admin.add_app("app1", input_type="bytes", default_output="x", slo=1)
    assert await admin.json("get_application", {"name": "app1"}) == {
        "input_type": "bytes",
        "default_output": "x",
        "latency_slo_micros": 1,
        "name": "app1",
        "linked_models": [],
    }


async def test_get_state_reads_selection_state(admin, rdb):
    await admin.add_app("app1", default_output="fallback")
    # Before the query frontend wrote any state: the app's default output.
    assert await admin.ok("get_state", {"app_name": "app1", "uid": 0}) == "fallback"
    rdb(RedisDB.STATE).set(state_key("app1", 0), json.dumps({"y_hat": "from-state"}))
    assert await admin.ok("get_state", {"app_name": "app1", "uid": 0}) == "from-state"
    # A non-zero uid is replaced by 0.
    assert await admin.ok("get_state", {"app_name": "app1", "uid": 42}) == "from-state"
    assert await admin.error("get_state", {"app_name": "ghost", "uid": 0}) == (
        "No application with name 'ghost' exists."
    )


async def test_ping_and_ready(admin):
    reply = await admin.get("/admin/ping")
    assert (reply.status, reply.text, reply.content_type) == (200, "PONG", "application/json")
    reply = await admin.get("/ready")
    assert (reply.status, json.loads(reply.text)) == (200, {"ready": True})
    reply = await admin.get("/healthz")
    assert (reply.status, reply.text) == (200, "ok")
