"""``python -m management_frontend`` as a real process: start, signals, restarts."""

from __future__ import annotations

import time

import requests


def _post(url: str, endpoint: str, body: dict) -> requests.Response:
    with requests.Session() as s:
        return s.post(f"{url}/admin/{endpoint}", json=body, timeout=10)


def _get(url: str, path: str) -> requests.Response:
    with requests.Session() as s:
        return s.get(f"{url}{path}", timeout=10)


def test_process_serves_and_keeps_state_across_restart(redis_instance, mgmt_process_factory):
    mgmt = mgmt_process_factory(redis_instance.port)
    mgmt.start()
    assert _get(mgmt.url, "/admin/ping").text == "PONG"
    r = _post(mgmt.url, "add_app", {"name": "app1", "input_type": "doubles",
                                     "default_output": "0.0", "latency_slo_micros": 100000})
    assert (r.status_code, r.text) == (200, "Successfully added application with name 'app1'")
    assert r.headers["Content-Type"] == "application/json"

    assert mgmt.stop() == 0  # SIGTERM is a clean exit
    log = mgmt.log()
    assert f"listening on http://127.0.0.1:{mgmt.port}" in log
    assert "Traceback" not in log

    mgmt.start()
    r = _post(mgmt.url, "get_application", {"name": "app1"})
    assert r.status_code == 200
    assert r.json() == {"input_type": "doubles", "default_output": "0.0",
                        "latency_slo_micros": 100000, "name": "app1", "linked_models": []}
    assert mgmt.stop() == 0


def test_process_starts_without_redis_and_recovers(redis_instance, mgmt_process_factory):
    redis_instance.stop()
    mgmt = mgmt_process_factory(redis_instance.port)
    mgmt.start()  # must come up although Redis is down
    assert _get(mgmt.url, "/admin/ping").text == "PONG"
    not_ready = _get(mgmt.url, "/ready")
    assert not_ready.status_code == 503
    assert not_ready.json()["ready"] is False
    assert not_ready.json()["reason"].startswith("redis unreachable")
    r = _post(mgmt.url, "get_all_models", {"verbose": False})
    assert r.status_code == 503
    assert "Check that Redis is running." in r.text

    redis_instance.start()
    deadline = time.monotonic() + 15
    while _get(mgmt.url, "/ready").status_code != 200:
        assert time.monotonic() < deadline, "never became ready after Redis started"
        time.sleep(0.05)
    assert _post(mgmt.url, "get_all_models", {"verbose": False}).json() == []
    assert mgmt.stop() == 0


def test_settings_from_environment(redis_instance, mgmt_process_factory):
    mgmt = mgmt_process_factory(redis_instance.port, args_via_env=True)
    mgmt.start()
    assert _get(mgmt.url, "/ready").json() == {"ready": True}
    assert mgmt.stop() == 0
    assert f"listening on http://127.0.0.1:{mgmt.port} (Redis at 127.0.0.1:{redis_instance.port})" in mgmt.log()
    assert "admin API is open (no admin token set)" in mgmt.log()
