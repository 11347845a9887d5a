"""add_app refuses application names and SLOs that would break routes and metrics.

The original accepted any string and any int32 (``UX_Bad App``, ``-5``);
we apply the rule of deployed model names and require a positive SLO, and
answer 400 naming the field and the problem before touching Redis.
Applications already in Redis under other names stay readable and deletable.
"""

from __future__ import annotations

import pytest

from clipper_protocol.names import APPLICATION_NAME_RULE
from clipper_protocol.redis_schema import ApplicationRecord, RedisDB

BAD_NAMES = ["UX_Bad App", "", "A", "a_b", "a b", "-a", "a-", "a.b", "app:1", "a,b", "é", "a\n", "a/predict"]
GOOD_NAMES = ["a", "0", "hello-world", "app3", "a--b"]


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_bad_application_names_are_refused(admin, rdb, name):
    reply = await admin.add_app(name)
    assert reply.status == 400
    assert reply.text == (
        f"Invalid value for JSON key name: {name!r} is not a valid application name: {APPLICATION_NAME_RULE}"
    )
    assert rdb(RedisDB.APPLICATIONS).dbsize() == 0


@pytest.mark.parametrize("name", GOOD_NAMES)
async def test_good_application_names_are_accepted(admin, name):
    assert (await admin.add_app(name)).status == 200
    assert (await admin.json("get_application", {"name": name}))["name"] == name


@pytest.mark.parametrize("slo", [-5, 0, -(2**31)])
async def test_non_positive_slos_are_refused(admin, rdb, slo):
    reply = await admin.add_app("a", slo=slo)
    assert reply.status == 400
    assert reply.text == (
        f"Invalid value for JSON key latency_slo_micros: {slo} is not a valid latency objective: "
        "it must be a whole number of microseconds from 1 to 2147483647"
    )
    assert rdb(RedisDB.APPLICATIONS).dbsize() == 0


@pytest.mark.parametrize("slo", [1, 2**31 - 1])
async def test_positive_slos_are_accepted(admin, slo):
    assert (await admin.add_app("a", slo=slo)).status == 200


async def test_fields_are_checked_in_order(admin):
    # A bad name is reported before a bad input type or SLO, as fields are read in order.
    reply = await admin.add_app("Bad", input_type="tensor", slo=-1)
    assert reply.text.startswith("Invalid value for JSON key name: 'Bad'")
    reply = await admin.add_app("ok", input_type="tensor", slo=-1)
    assert reply.text.startswith("Invalid value for JSON key input_type: tensor is not a valid input string")


async def test_existing_apps_with_other_names_stay_usable(admin, rdb):
    # Written by the original (or an older version of ours) before the rule existed.
    record = ApplicationRecord(name="UX_Bad App", input_type="doubles", default_output="d", latency_slo_micros=5)
    rdb(RedisDB.APPLICATIONS).hset("UX_Bad App", mapping=record.to_hash())
    assert await admin.json("get_all_applications", {"verbose": False}) == ["UX_Bad App"]
    assert (await admin.json("get_application", {"name": "UX_Bad App"}))["latency_slo_micros"] == 5
    assert await admin.ok("delete_app", {"name": "UX_Bad App"}) == (
        "Successfully deleted application with name 'UX_Bad App'")
    assert rdb(RedisDB.APPLICATIONS).dbsize() == 0
