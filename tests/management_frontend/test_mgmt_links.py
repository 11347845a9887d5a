"""App-to-model links: every rule of add/delete_model_links, in the original's words."""

from __future__ import annotations

from clipper_protocol.redis_schema import RedisDB


async def _app_and_model(admin, input_type="doubles"):
    assert (await admin.add_app("app1", input_type=input_type)).status == 200
    assert (await admin.add_model("m", "1", input_type=input_type)).status == 200


async def test_link_success_and_redis_set(admin, rdb):
    await _app_and_model(admin)
    reply = await admin.link("app1", "m")
    assert (reply.status, reply.text) == (200, "Successfully linked model with name 'm' to application 'app1'")
    assert rdb(RedisDB.APP_MODEL_LINKS).type("app1") == "set"
    assert rdb(RedisDB.APP_MODEL_LINKS).smembers("app1") == {"m"}
    assert await admin.json("get_linked_models", {"app_name": "app1"}) == ["m"]


async def test_link_unknown_app(admin):
    await admin.add_model("m", "1")
    assert (await admin.link("ghost", "m")).text == "No app with name 'ghost' exists."


async def test_link_unknown_model(admin, rdb):
    await admin.add_app("app1")
    reply = await admin.link("app1", "ghost")
    assert (reply.status, reply.text) == (400, "No model with name 'ghost' exists.")
    assert rdb(RedisDB.APP_MODEL_LINKS).dbsize() == 0


async def test_link_incompatible_input_types(admin, rdb):
    await admin.add_app("app1", input_type="doubles")
    await admin.add_model("m", "1", input_type="strings")
    reply = await admin.link("app1", "m")
    assert (reply.status, reply.text) == (
        400,
        "Model with name 'm' has incompatible input_type 'strings'. "
        "Requested app to link to has input_type 'doubles'.",
    )
    assert rdb(RedisDB.APP_MODEL_LINKS).dbsize() == 0


async def test_link_uses_current_version_input_type(admin):
    await admin.add_app("app1", input_type="doubles")
    await admin.add_model("m", "1", input_type="doubles")
    await admin.add_model("m", "2", input_type="ints")  # now current
    assert (await admin.link("app1", "m")).text.startswith("Model with name 'm' has incompatible")
    await admin.ok("set_model_version", {"model_name": "m", "model_version": "1"})
    assert (await admin.link("app1", "m")).status == 200


async def test_link_zero_models(admin):
    await admin.add_app("app1")
    reply = await admin.link("app1")
    assert (reply.status, reply.text) == (
        400, "Please provide the name of the model that you want to link to the application 'app1'")


async def test_link_two_models(admin, rdb):
    await _app_and_model(admin)
    await admin.add_model("n", "1")
    reply = await admin.link("app1", "m", "n")
    assert (reply.status, reply.text) == (
        400, "Applications must be linked with at most one model. Attempted to add links to 2 models.")
    assert rdb(RedisDB.APP_MODEL_LINKS).dbsize() == 0


async def test_link_checks_models_before_counting(admin):
    # Each model is checked for existence before the count rule applies.
    await admin.add_app("app1")
    assert (await admin.link("app1", "ghost", "other")).text == "No model with name 'ghost' exists."


async def test_duplicate_link(admin):
    await _app_and_model(admin)
    assert (await admin.link("app1", "m")).status == 200
    reply = await admin.link("app1", "m")
    assert (reply.status, reply.text) == (400, "The model with name 'm' is already linked to 'app1'")


async def test_link_second_model(admin, rdb):
    await _app_and_model(admin)
    await admin.add_model("n", "1")
    assert (await admin.link("app1", "m")).status == 200
    reply = await admin.link("app1", "n")
    assert (reply.status, reply.text) == (400, "A model with name m is already linked to 'app1'.")
    assert rdb(RedisDB.APP_MODEL_LINKS).smembers("app1") == {"m"}


async def test_delete_links(admin, rdb):
    await _app_and_model(admin)
    await admin.link("app1", "m")
    text = await admin.ok("delete_model_links", {"app_name": "app1", "model_names": ["m"]})
    assert text == "Success!"
    assert rdb(RedisDB.APP_MODEL_LINKS).exists("app1") == 0
    assert await admin.json("get_linked_models", {"app_name": "app1"}) == []
    # After unlinking, another model may be linked.
    await admin.add_model("n", "1")
    assert (await admin.link("app1", "n")).status == 200


async def test_delete_links_errors(admin, rdb):
    assert await admin.error("delete_model_links", {"app_name": "ghost", "model_names": ["m"]}) == (
        "No app with name ghost exists.")
    await _app_and_model(admin)
    await admin.link("app1", "m")
    assert await admin.error("delete_model_links", {"app_name": "app1", "model_names": ["m", "n"]}) == (
        "Cannot remove nonexistent link between app app1 and model n")
    # Nothing was removed.
    assert rdb(RedisDB.APP_MODEL_LINKS).smembers("app1") == {"m"}


async def test_get_linked_models_unknown_app(admin):
    assert await admin.error("get_linked_models", {"app_name": "ghost"}) == (
        "No application with name 'ghost' exists.")
