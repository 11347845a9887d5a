"""A query right after an application is registered or linked is served, even before its notification arrives.

Keyspace notifications are switched off in Redis here, so only the query
frontend's read-through (``query_frontend/app_refresh.py``) can see the
change before the next snapshot (2 s in these tests).
"""

from __future__ import annotations

import asyncio

import redis

from tests.query_frontend.conftest import RunningFrontend


def _silence_notifications(redis_instance) -> None:
    client = redis.Redis(host=redis_instance.host, port=redis_instance.port)
    client.config_set("notify-keyspace-events", "")
    client.close()


async def test_registered_and_linked_a_moment_ago_is_served(qf: RunningFrontend, cluster_state,
                                                             redis_instance) -> None:
    cluster_state.add_model("m", "1")
    qf.container("m", behaviour=lambda xs: [b"7"] * len(xs))
    await qf.wait_replicas("m", "1", 1)
    _silence_notifications(redis_instance)
    cluster_state.add_app("fresh")
    status, body = await qf.predict("fresh", {"input": [1.0]})
    assert status == 200, body  # not 404: the frontend read the application itself
    cluster_state.link("fresh", "m")
    await asyncio.sleep(0.02)  # past the per-name interval of the read-through (10 ms)
    status, body = await qf.predict("fresh", {"input": [1.0]})
    assert (status, body["output"], body["default"]) == (200, 7, False), body


async def test_unknown_names_still_get_404_and_bad_names_are_not_looked_up(qf: RunningFrontend) -> None:
    status, body = await qf.predict("never-registered", {"input": [1.0]})
    assert status == 404 and body["error"] == "Application not found"
    status, body = await qf.predict("Not A Valid Name", {"input": [1.0]})
    assert status == 404


async def test_read_throughs_are_bounded(qf: RunningFrontend, monkeypatch) -> None:
    from query_frontend.app_refresh import AppRefresher

    reader = qf.frontend.reader
    reads: list[str] = []
    real = reader.refresh_app

    async def counted(name: str) -> None:
        reads.append(name)
        await real(name)

    monkeypatch.setattr(reader, "refresh_app", counted)
    refresher = AppRefresher(qf.frontend.config, reader, min_interval_s=60.0, max_reads_per_s=2.0)
    for name in ("a-name", "a-name", "other", "third", "Bad Name"):
        await refresher.refresh(name)
    # "a-name" once within the interval, "other" second of the 2 a second, "third" over budget, "Bad Name" invalid.
    assert reads == ["a-name", "other"]


async def test_before_its_first_snapshot_a_frontend_answers_503_not_404(qf_settings) -> None:
    """Just (re)started, with Redis not read yet, the application may exist: retry, not "not found"."""
    import dataclasses

    import aiohttp

    from query_frontend.server import QueryFrontend
    from tests.support.ports import dead_port, frontend_query_port

    with dead_port() as port:
        frontend = QueryFrontend(dataclasses.replace(qf_settings, redis_port=port))
        await frontend.start()
        try:
            url = f"http://127.0.0.1:{frontend_query_port(frontend)}/some-app/predict"
            async with aiohttp.ClientSession() as s, s.post(url, json={"input": [1.0]}) as r:
                body = await r.json()
                assert r.status == 503 and r.headers["Retry-After"] == "1", body
                assert "has not loaded its configuration from Redis yet" in body["cause"]
        finally:
            await frontend.close()
