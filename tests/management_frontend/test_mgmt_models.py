"""Models and versions, containers: success bodies, errors, Redis layout."""

from __future__ import annotations

import pytest

from clipper_protocol.redis_schema import ContainerRecord, RedisDB, container_key


async def test_add_model_success_and_redis_layout(admin, rdb):
    reply = await admin.add_model("m", "1", input_type="ints", labels=["a", "b"], image="img:1",
                                  batch_size=8)
    assert (reply.status, reply.text) == (200, "Successfully added model with name 'm' and input type 'integers'")
    assert rdb(RedisDB.MODELS).hgetall("m:1") == {
        "model_name": "m",
        "model_version": "1",
        "load": "0.000000",
        "input_type": "integers",
        "labels": "a,b",
        "container_name": "img:1",
        "model_data_path": "DEPRECATED",
        "batch_size": "8",
        "valid": "",
    }
    assert rdb(RedisDB.METADATA).get("CURRENT_MODEL_VERSION:m") == "1"

    # A new version becomes the current one.
    assert (await admin.add_model("m", "2", input_type="integers")).status == 200
    assert rdb(RedisDB.METADATA).get("CURRENT_MODEL_VERSION:m") == "2"
    assert sorted(rdb(RedisDB.MODELS).keys("*")) == ["m:1", "m:2"]


async def test_add_model_duplicate_version(admin, rdb):
    assert (await admin.add_model("m", "1", image="first")).status == 200
    reply = await admin.add_model("m", "1", image="second")
    assert (reply.status, reply.text) == (400, "model with name 'm' and version '1' already exists")
    assert rdb(RedisDB.MODELS).hget("m:1", "container_name") == "first"


@pytest.mark.parametrize("batch_size", [0, -2, -100])
async def test_add_model_bad_batch_size(admin, rdb, batch_size):
    reply = await admin.add_model("m", "1", batch_size=batch_size)
    assert (reply.status, reply.text) == (
        400, "The batch size must be positive or DEFAULT_BATCH_SIZE, which is -1")
    assert rdb(RedisDB.MODELS).dbsize() == 0


@pytest.mark.parametrize(
    ("name", "version", "labels", "message"),
    [
        ("a,b", "1", [], "Invalid model name supplied: a,b. Contains one of: ',', ':'"),
        ("a:b", "1", [], "Invalid model name supplied: a:b. Contains one of: ',', ':'"),
        ("m", "1:2", [], "Invalid model version supplied: 1:2. Contains one of: ',', ':'"),
        ("m", "1,2", [], "Invalid model version supplied: 1,2. Contains one of: ',', ':'"),
        ("m", "1", ["ok", "x,y"], "Invalid label supplied: x,y. Contains one of: ',', ':'"),
        ("m", "1", ["k:v"], "Invalid label supplied: k:v. Contains one of: ',', ':'"),
    ],
)
async def test_add_model_forbidden_chars(admin, rdb, name, version, labels, message):
    reply = await admin.add_model(name, version, labels=labels)
    assert (reply.status, reply.text) == (400, message)
    assert rdb(RedisDB.MODELS).dbsize() == 0
    assert rdb(RedisDB.METADATA).dbsize() == 0


async def test_add_model_incompatible_with_linked_app(admin, rdb):
    await admin.add_app("app1", input_type="doubles")
    await admin.add_model("m", "1", input_type="doubles")
    await admin.link("app1", "m")
    reply = await admin.add_model("m", "2", input_type="strings")
    assert (reply.status, reply.text) == (
        400,
        "Model with name 'm' is already linked to app 'app1' using input type 'doubles'. "
        "The input type you provided for a new version of the model, 'strings', is not compatible.",
    )
    assert rdb(RedisDB.MODELS).exists("m:2") == 0
    assert rdb(RedisDB.METADATA).get("CURRENT_MODEL_VERSION:m") == "1"
    # A compatible version (alias of the same type) is fine.
    assert (await admin.add_model("m", "2", input_type="d")).status == 200


async def test_empty_labels_round_trip_as_empty_string(admin):
    await admin.add_model("m", "1", labels=[])
    model = await admin.json("get_model", {"model_name": "m", "model_version": "1"})
    assert model["labels"] == [""]


async def test_get_model_and_get_all_models(admin):
    assert await admin.json("get_model", {"model_name": "m", "model_version": "1"}) == {}
    assert await admin.json("get_all_models", {"verbose": False}) == []
    await admin.add_model("m", "1", input_type="f", labels=["l1"], image="img")
    await admin.add_model("m", "2", input_type="floats")
    await admin.add_model("n", "7", input_type="bytes")

    assert await admin.json("get_model", {"model_name": "m", "model_version": "1"}) == {
        "model_name": "m",
        "model_version": "1",
        "input_type": "floats",
        "labels": ["l1"],
        "container_name": "img",
        "model_data_path": "DEPRECATED",
        "is_current_version": False,
    }
    names = await admin.json("get_all_models", {"verbose": False})
    assert sorted(names) == ["m:1", "m:2", "n:7"]
    verbose = await admin.json("get_all_models", {"verbose": True})
    current = {(v["model_name"], v["model_version"]): v["is_current_version"] for v in verbose}
    assert current == {("m", "1"): False, ("m", "2"): True, ("n", "7"): True}


async def test_set_model_version(admin, rdb):
    await admin.add_model("m", "1")
    await admin.add_model("m", "2")
    text = await admin.ok("set_model_version", {"model_name": "m", "model_version": "1"})
    assert text == "Successfully set model with name 'm' to version '1'"
    assert rdb(RedisDB.METADATA).get("CURRENT_MODEL_VERSION:m") == "1"
    assert (await admin.json("get_model", {"model_name": "m", "model_version": "1"}))["is_current_version"]


async def test_set_model_version_errors(admin, rdb):
    assert await admin.error("set_model_version", {"model_name": "m", "model_version": "1"}) == (
        "Cannot set version for nonexistent model 'm'")
    await admin.add_model("m", "1", input_type="doubles")
    assert await admin.error("set_model_version", {"model_name": "m", "model_version": "9"}) == (
        "Cannot set non-existent version '9' for model with name 'm'")
    # A deleted version the query frontend has not removed yet.
    await admin.add_model("m", "2", input_type="ints")
    await admin.ok("delete_versioned_model", {"model_name": "m", "model_version": "2"})
    assert await admin.error("set_model_version", {"model_name": "m", "model_version": "2"}) == (
        "Version '2' does not exist for model with name'm'")


async def test_set_model_version_incompatible_with_linked_app(admin, rdb):
    await admin.add_model("m", "ints-version", input_type="ints")
    await admin.add_model("m", "doubles-version", input_type="doubles")
    await admin.add_app("app1", input_type="doubles")
    assert (await admin.link("app1", "m")).status == 200
    reply = await admin.post("set_model_version", {"model_name": "m", "model_version": "ints-version"})
    assert (reply.status, reply.text) == (
        400,
        "Model with name 'm' is already linked to app 'app1' using input type 'doubles'. "
        "The input type you provided for a new version of the model, 'integers', is not compatible.",
    )
    assert rdb(RedisDB.METADATA).get("CURRENT_MODEL_VERSION:m") == "doubles-version"


async def test_delete_versioned_model(admin, rdb):
    await admin.add_model("m", "1")
    text = await admin.ok("delete_versioned_model", {"model_name": "m", "model_version": "1"})
    assert text == "Successfully deleted model with name 'm' and version '1'"
    fields = rdb(RedisDB.MODELS).hgetall("m:1")
    assert "valid" not in fields and fields["model_name"] == "m"  # the query frontend finalizes
    assert rdb(RedisDB.METADATA).get("CURRENT_MODEL_VERSION:m") == "1"
    assert await admin.error("delete_versioned_model", {"model_name": "m", "model_version": "1"}) == (
        "model with name 'm' and version '1' is already marked as 'invalid'")
    assert await admin.error("delete_versioned_model", {"model_name": "m", "model_version": "2"}) == (
        "model with name 'm' and version '2' does not exist")


async def test_containers_are_read_from_db3(admin, rdb):
    assert await admin.json("get_all_containers", {"verbose": False}) == []
    assert await admin.json("get_container", {"model_name": "m", "model_version": "1", "replica_id": 0}) == {}
    for replica in (0, 3):
        record = ContainerRecord("m", "1", replica, zmq_connection_id=10 + replica, input_type="doubles")
        rdb(RedisDB.CONTAINERS).hset(container_key("m", "1", replica), mapping=record.to_hash())

    ids = await admin.json("get_all_containers", {"verbose": False})
    assert sorted(ids) == ["m:1:0", "m:1:3"]
    verbose = await admin.json("get_all_containers", {"verbose": True})
    assert sorted(verbose, key=lambda c: c["model_replica_id"])[1] == {
        "model_id": "m:1",
        "model_name": "m",
        "model_version": "1",
        "model_replica_id": 3,
        "input_type": "doubles",
    }
    assert await admin.json(
        "get_container", {"model_name": "m", "model_version": "1", "replica_id": 3}
    ) == {"model_id": "m:1", "model_name": "m", "model_version": "1", "model_replica_id": 3,
          "input_type": "doubles"}
