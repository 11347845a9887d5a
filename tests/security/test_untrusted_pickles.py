"""Row 19: no deserialisation of untrusted data.

Pickles whose ``__reduce__`` would create a sentinel directory are sent to
every surface an attacker can reach: the query frontend's REST API, the
management frontend's REST API, the RPC port (raw ZeroMQ frames) and the
Redis values both frontends read. The sentinel must never appear, each
endpoint must answer 4xx (or ignore the frames), and both frontends must
stay live. The injector's self-test shows the payload does fire when
unpickled. Each "never appeared" is checked once something observable
proves the payloads were read (an answer, or a marker written after them
that the frontend can only have seen after them), never after a bare sleep.
"""

from __future__ import annotations

import base64
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import zmq

from clipper_protocol.redis_schema import ApplicationRecord, RedisDB, container_key, current_version_key, model_key, state_key
from management_frontend.openapi import POST_OPERATIONS
from tests.load import params as p
from tests.support.cluster import Cluster, wait_for

pytestmark = pytest.mark.fault


class _Sentinel:
    """Unpickling this creates ``path`` (a directory): proof of deserialisation."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.mkdir, (self.path,)


def payloads(sentinel: Path) -> list[bytes]:
    """The same attack in every pickle protocol (0 is printable ASCII)."""
    return [pickle.dumps(_Sentinel(str(sentinel)), protocol=proto) for proto in range(pickle.HIGHEST_PROTOCOL + 1)]


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    return tmp_path / "UNPICKLED"


def test_injector_fires_when_unpickled(tmp_path: Path) -> None:
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        target = tmp_path / f"selftest-{proto}"
        pickle.loads(pickle.dumps(_Sentinel(str(target)), protocol=proto))
        assert target.is_dir()
    assert len(payloads(tmp_path / "x")) == pickle.HIGHEST_PROTOCOL + 1


def _alive(cluster: Cluster) -> None:
    assert cluster.qf is not None and cluster.qf.poll() is None, "query frontend died"
    assert cluster.mf is not None and cluster.mf.poll() is None, "management frontend died"
    assert requests.get(f"{cluster.query_url}/healthz", timeout=5).status_code == 200
    assert requests.get(f"http://127.0.0.1:{cluster.admin_port}/admin/ping", timeout=5).text == "PONG"


def test_pickles_over_http_are_refused(cluster: Cluster, sentinel: Path) -> None:
    cluster.add_app()
    wait_for(lambda: requests.post(cluster.predict_url, json={"input": [1.0]}, timeout=5).status_code == 200,
             10, "app a")
    admin = f"http://127.0.0.1:{cluster.admin_port}/admin"
    routes = sorted(POST_OPERATIONS)
    assert len(routes) >= 15
    statuses: set[int] = set()
    for payload in payloads(sentinel):
        for content_type in ("application/json", "application/octet-stream", "application/python-pickle"):
            headers = {"Content-Type": content_type}
            for url in (cluster.predict_url, f"{cluster.query_url}/{p.APP}/update"):
                r = requests.post(url, data=payload, headers=headers, timeout=5)
                assert 400 <= r.status_code < 500, (url, r.status_code, r.text)
                statuses.add(r.status_code)
            for route in routes:
                r = requests.post(f"{admin}/{route}", data=payload, headers=headers, timeout=5)
                assert 400 <= r.status_code < 500, (route, r.status_code, r.text)
                statuses.add(r.status_code)
        # Inside otherwise valid JSON, where a doubles input is expected.
        for body in ({"input": payload.decode("latin-1")}, {"input": base64.b64encode(payload).decode()},
                     {"input_batch": [payload.decode("latin-1")]}):
            r = requests.post(cluster.predict_url, json=body, timeout=5)
            assert r.status_code == 400, r.text
    assert not sentinel.exists()
    _alive(cluster)


def test_pickle_stored_as_admin_strings_stays_inert(cluster: Cluster, sentinel: Path) -> None:
    """A pickle sent as a string field is accepted as that string, and served back as text."""
    text = payloads(sentinel)[0].decode("ascii")  # protocol 0: printable
    cluster.admin("add_app", {"name": "inert", "input_type": "doubles", "default_output": text,
                              "latency_slo_micros": p.SLO_MS * 1000})
    cluster.admin("add_model", {"model_name": "inert-m", "model_version": "1", "labels": [text],
                                "input_type": "doubles", "container_name": text, "model_data_path": text,
                                "batch_size": -1})
    url = f"{cluster.query_url}/inert/predict"
    reply = wait_for(lambda: (r := requests.post(url, json={"input": [1.0]}, timeout=5)).status_code == 200 and r,
                     10, "app inert")
    assert reply.json()["output"] == text and reply.json()["default"] is True
    model = cluster.admin("get_model", {"model_name": "inert-m", "model_version": "1"}).json()
    assert model["container_name"] == text and model["labels"] == [text]
    assert not sentinel.exists()


PROBE_MODEL = "pickle-probe"


def test_pickles_on_the_rpc_port_are_ignored(cluster: Cluster, sentinel: Path) -> None:
    cluster.setup_app()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(f"tcp://127.0.0.1:{cluster.rpc_port}")
        u32 = lambda v: struct.pack("<I", v)  # noqa: E731
        for payload in payloads(sentinel):
            for frames in (
                [b"", payload],
                [payload],
                [b"", u32(3), payload],
                [b"", u32(0), payload, payload, payload, u32(3)],  # NEW_CONTAINER with pickled fields
                [b"", u32(0), p.MODEL.encode(), b"1", payload, u32(3)],
                [b"", u32(1), payload, struct.pack("<Q", len(payload)), payload, payload],  # a "response"
                [b"", u32(2), payload],  # a heartbeat with a pickled body
            ):
                sock.send_multipart(frames)
        # Last, on the same connection, a well-formed registration. The frontend
        # reads one connection's messages in order, so once this replica shows
        # up it has handled every pickled message above.
        sock.send_multipart([b"", u32(0), PROBE_MODEL.encode(), b"1", b"3", u32(3)])
        wait_for(lambda: cluster.connected(PROBE_MODEL) or cluster.connected(p.MODEL), 10,
                 "the frontend to read the connection's last message")
        assert cluster.connected(p.MODEL) == [], "a rogue frame sequence registered a replica"
        assert not sentinel.exists()
    finally:
        sock.close(0)
        ctx.term()
    _alive(cluster)
    assert requests.post(cluster.predict_url, json={"input": [1.0]}, timeout=5).status_code == 200


def _raw(cluster: Cluster, db: RedisDB) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=cluster.redis_port, db=int(db), decode_responses=False)


def test_pickles_in_redis_are_never_unpickled(cluster: Cluster, sentinel: Path) -> None:
    """Poisoned values in every database either frontend reads; both re-read them."""
    cluster.setup_app()
    cluster.admin("add_app", {"name": "poisoned", "input_type": "doubles", "default_output": "D",
                              "latency_slo_micros": p.SLO_MS * 1000})
    attacks = payloads(sentinel)
    clients = {db: _raw(cluster, db) for db in RedisDB}
    try:
        for i, payload in enumerate(attacks):
            clients[RedisDB.APPLICATIONS].hset("poisoned", mapping={"default_output": payload,
                                                                     "input_type": payload})
            clients[RedisDB.APPLICATIONS].hset(f"evil-app-{i}", mapping={
                "input_type": payload, "default_output": payload, "latency_slo_micros": payload})
            clients[RedisDB.APP_MODEL_LINKS].sadd(p.APP, payload)
            clients[RedisDB.MODELS].hset(model_key(f"evil-{i}", "1"), mapping={
                "model_name": payload, "model_version": payload, "load": payload, "input_type": payload,
                "labels": payload, "container_name": payload, "model_data_path": payload, "valid": payload,
                "batch_size": payload})
            clients[RedisDB.METADATA].set(current_version_key(p.MODEL), payload)
            clients[RedisDB.METADATA].set(current_version_key(f"evil-{i}"), payload)
            clients[RedisDB.CONTAINERS].hset(container_key(p.MODEL, "1", 90 + i), mapping={
                "model_id": payload, "model_name": payload, "model_version": payload,
                "model_replica_id": payload, "zmq_connection_id": payload, "batch_size": payload,
                "input_type": payload})
            clients[RedisDB.STATE].set(state_key(p.APP, 0), payload)
            clients[RedisDB.STATE].set(state_key("poisoned", 0), payload)
    finally:
        for c in clients.values():
            c.close()

    # The management frontend reads every one of them back.
    admin = f"http://127.0.0.1:{cluster.admin_port}/admin"
    reads = [("get_all_applications", {"verbose": True}), ("get_all_applications", {"verbose": False}),
             ("get_application", {"name": "poisoned"}), ("get_application", {"name": "evil-app-0"}),
             ("get_linked_models", {"app_name": p.APP}), ("get_all_models", {"verbose": True}),
             ("get_model", {"model_name": "evil-0", "model_version": "1"}),
             ("get_all_containers", {"verbose": True}),
             ("get_container", {"model_name": p.MODEL, "model_version": "1", "replica_id": 90}),
             ("get_state", {"app_name": p.APP, "uid": 0}), ("get_state", {"app_name": "poisoned", "uid": 0})]
    for route, body in reads:
        r = requests.post(f"{admin}/{route}", json=body, timeout=10)
        assert r.status_code < 500, (route, r.status_code, r.text)
    # The query frontend re-reads them: through the notifications (handled in
    # order: once an app written after the poison is served, every poisoned
    # record before it was read) and through a full snapshot started after the
    # poison was written (the harness counts them).
    started = cluster.qf_state()["resyncs"]["started"]
    marker = _raw(cluster, RedisDB.APPLICATIONS)
    try:
        marker.hset("after-the-poison",
                    mapping=ApplicationRecord("after-the-poison", "doubles", "D", p.SLO_MS * 1000).to_hash())
    finally:
        marker.close()
    wait_for(lambda: _serves(cluster, "after-the-poison"), 10, "the notifications written after the poison")
    wait_for(lambda: cluster.qf_state()["resyncs"]["completed"] > started, 10,
             "a full snapshot of Redis started after the poison")
    for app in (p.APP, "poisoned", "evil-app-0"):
        r = requests.post(f"{cluster.query_url}/{app}/predict", json={"input": [1.0]}, timeout=5)
        assert r.status_code < 500, (app, r.status_code, r.text)
    assert not sentinel.exists()
    _alive(cluster)


def test_qf_keeps_following_redis_after_a_poisoned_record(cluster: Cluster, sentinel: Path) -> None:
    cluster.setup_app()
    client = _raw(cluster, RedisDB.MODELS)
    try:
        client.hset(model_key("evil", "1"), mapping={"model_name": "evil", "model_version": "1",
                                                     "input_type": "doubles", "batch_size": payloads(sentinel)[0]})
    finally:
        client.close()
    # Written after the poisoned record: the frontend handles notifications in
    # order, so serving this app shows it read the poison and kept following.
    cluster.admin("add_app", {"name": "after-poison", "input_type": "doubles", "default_output": "D",
                              "latency_slo_micros": p.SLO_MS * 1000})
    wait_for(lambda: _serves(cluster, "after-poison"), 5, "QF to keep following Redis")
    assert not sentinel.exists()


def _serves(cluster: Cluster, app: str) -> bool:
    return requests.post(f"{cluster.query_url}/{app}/predict", json={"input": [1.0]}, timeout=5).status_code == 200
