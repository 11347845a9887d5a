"""Concurrent mutations: the atomic scripts let exactly one request win."""

from __future__ import annotations

import asyncio

from clipper_protocol.redis_schema import RedisDB


async def test_concurrent_identical_add_model(admin, rdb):
    replies = await asyncio.gather(*(admin.add_model("m", "1", image=f"img-{i}") for i in range(10)))
    statuses = sorted(r.status for r in replies)
    assert statuses == [200] + [400] * 9
    losers = {r.text for r in replies if r.status == 400}
    assert losers == {"model with name 'm' and version '1' already exists"}
    winner = next(i for i, r in enumerate(replies) if r.status == 200)
    assert rdb(RedisDB.MODELS).hget("m:1", "container_name") == f"img-{winner}"
    assert rdb(RedisDB.METADATA).get("CURRENT_MODEL_VERSION:m") == "1"


async def test_concurrent_identical_add_app(admin, rdb):
    replies = await asyncio.gather(*(admin.add_app("app", default_output=str(i)) for i in range(10)))
    assert sorted(r.status for r in replies) == [200] + [400] * 9
    assert {r.text for r in replies if r.status == 400} == {"application 'app' already exists"}
    winner = next(i for i, r in enumerate(replies) if r.status == 200)
    assert rdb(RedisDB.APPLICATIONS).hget("app", "default_output") == str(winner)


async def test_concurrent_links_of_different_models(admin, rdb):
    await admin.add_app("app")
    for i in range(6):
        await admin.add_model(f"m{i}", "1")
    replies = await asyncio.gather(*(admin.link("app", f"m{i}") for i in range(6)))
    assert [r.status for r in replies].count(200) == 1
    assert len(rdb(RedisDB.APP_MODEL_LINKS).smembers("app")) == 1


async def test_concurrent_new_versions_with_different_input_types_and_link(admin, rdb):
    # A link and an incompatible new version racing: never both succeed.
    for attempt in range(5):
        app, model = f"app{attempt}", f"m{attempt}"
        await admin.add_app(app, input_type="doubles")
        await admin.add_model(model, "1", input_type="doubles")
        link, new_version = await asyncio.gather(
            admin.link(app, model), admin.add_model(model, "2", input_type="strings")
        )
        assert not (link.status == 200 and new_version.status == 200)
        # Whatever won, a linked model's current version matches the app.
        if link.status == 200:
            current = rdb(RedisDB.METADATA).get(f"CURRENT_MODEL_VERSION:{model}")
            assert rdb(RedisDB.MODELS).hget(f"{model}:{current}", "input_type") == "doubles"
