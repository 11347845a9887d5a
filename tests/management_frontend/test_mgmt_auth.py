"""Row 17: the admin token. Off by default (original clients send none); when
set, every /admin/* route but /admin/ping needs it, compared in constant time,
and the token never appears in a response or a log line."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import requests

from management_frontend import auth
from management_frontend.http import ADMIN_PATHS
from management_frontend.settings import Settings, load_settings

TOKEN = "s3cret-t0ken-XYZ-0123456789abcdef"
OPEN = {"/admin/ping"}
# A valid body for each POST route, so a 2xx with the right token is possible.
BODIES: dict[str, Any] = {
    "add_app": {"name": "a1", "input_type": "doubles", "default_output": "d", "latency_slo_micros": 100000},
    "add_model": {"model_name": "m", "model_version": "1", "labels": [], "input_type": "doubles",
                  "container_name": "img", "model_data_path": "p", "batch_size": -1},
    "add_model_links": {"app_name": "a1", "model_names": ["m"]},
    "set_model_version": {"model_name": "m", "model_version": "1"},
    "get_all_applications": {"verbose": True},
    "get_application": {"name": "a1"},
    "get_linked_models": {"app_name": "a1"},
    "get_all_models": {"verbose": True},
    "get_model": {"model_name": "m", "model_version": "1"},
    "get_all_containers": {"verbose": False},
    "get_container": {"model_name": "m", "model_version": "1", "replica_id": 0},
    "get_state": {"app_name": "a1", "uid": 0},
    "set_selection_policy": {"app_name": "a1", "policy": "DefaultOutputSelectionPolicy"},
    "get_selection_policy": {"app_name": "a1"},
    "delete_model_links": {"app_name": "a1", "model_names": ["m"]},
    "delete_versioned_model": {"model_name": "m", "model_version": "1"},
    "delete_app": {"name": "a1"},
}
# Ordered so each call can succeed: create, read, then delete.
POST_ORDER = list(BODIES)


def _call(admin: Any, path: str, headers: dict[str, str]) -> Any:
    name = path.removeprefix("/admin/")
    if name in BODIES:
        return admin.http.post(path, data=json.dumps(BODIES[name]), headers=headers)
    return admin.http.get(path, headers=headers)


def test_every_post_route_has_a_body() -> None:
    posts = {p.removeprefix("/admin/") for p in ADMIN_PATHS} - {"ping", "openapi.json"}
    assert posts == set(BODIES)


@pytest.fixture
async def secured(make_settings, admin_factory):
    return await admin_factory(make_settings(admin_token=TOKEN))


@pytest.mark.parametrize("headers,problem", [
    ({}, "Missing admin token"),
    ({"Authorization": "Bearer wrong-token"}, "Invalid admin token"),
    ({"Authorization": f"Bearer {TOKEN}x"}, "Invalid admin token"),
    ({"Authorization": f"Basic {TOKEN}"}, "Invalid admin token"),
    ({"Authorization": "Bearer "}, "Invalid admin token"),
    ({"X-Clipper-Token": TOKEN[:-1]}, "Invalid admin token"),
])
async def test_every_admin_route_refuses_without_the_right_token(secured, caplog, headers, problem) -> None:
    caplog.set_level(logging.DEBUG)
    for path in ADMIN_PATHS:
        async with _call(secured, path, headers) as r:
            body = await r.read()
            if path in OPEN:
                assert r.status == 200, path
                continue
            assert r.status == 401, (path, body)
            assert r.headers["Content-Type"] == "application/json"
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            error = json.loads(body)
            assert error["error"] == problem and "CLIPPER_ADMIN_TOKEN" in error["cause"]
            assert TOKEN.encode() not in body and TOKEN[:-1].encode() not in body
    assert TOKEN[:-1] not in caplog.text
    assert "refused" in caplog.text


@pytest.mark.parametrize("header", ["Authorization", "X-Clipper-Token"])
async def test_right_token_reaches_every_route(secured, rdb, caplog, header) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {header: f"Bearer {TOKEN}" if header == "Authorization" else TOKEN}
    for name in POST_ORDER:
        async with _call(secured, f"/admin/{name}", headers) as r:
            assert r.status == 200, (name, await r.text())
    for path in ("/admin/ping", "/admin/openapi.json"):
        async with _call(secured, path, headers) as r:
            assert r.status == 200, path
    assert rdb(5).keys() == []  # the sequence ended by deleting what it created
    assert TOKEN not in caplog.text


async def test_health_routes_stay_open(secured) -> None:
    for path in ("/admin/ping", "/ready", "/healthz"):
        assert (await secured.get(path)).status == 200, path


async def test_default_settings_need_no_token(admin) -> None:
    """Original admin clients send no token: with none configured, nothing changes."""
    assert Settings().admin_token == ""
    assert (await admin.add_app("plain")).status == 200


async def test_unknown_admin_paths_do_not_reveal_themselves_without_token(secured) -> None:
    async with secured.http.post("/admin/no_such_route", data=b"{}") as r:
        assert r.status == 401


def test_comparison_is_constant_time(monkeypatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert auth.token_matches(TOKEN, TOKEN) and not auth.token_matches(TOKEN, "x")
    assert not auth.token_matches(TOKEN, "\udcff")  # undecodable header bytes compare safely
    assert len(calls) == 3


def test_token_from_env_file_and_flag(tmp_path) -> None:
    assert load_settings([], {"CLIPPER_ADMIN_TOKEN": TOKEN}).admin_token == TOKEN
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    assert load_settings([], {"CLIPPER_ADMIN_TOKEN_FILE": str(path)}).admin_token == TOKEN
    assert load_settings([f"--admin_token_file={path}"], {}).admin_token == TOKEN
    assert load_settings(["--admin-token", "flag"], {"CLIPPER_ADMIN_TOKEN": TOKEN}).admin_token == "flag"
    assert load_settings([], {}).admin_token == ""
    settings = load_settings([], {"CLIPPER_ADMIN_TOKEN": TOKEN, "CLIPPER_MGMT_REDIS_PASSWORD": "pw-secret"})
    assert TOKEN not in repr(settings) and "pw-secret" not in repr(settings)


def test_unreadable_or_empty_token_file_is_a_clear_error(tmp_path, capsys) -> None:
    for path, problem in ((tmp_path / "missing", "cannot be read"), (tmp_path / "empty", "is empty")):
        if problem == "is empty":
            path.write_text("  \n")
        with pytest.raises(SystemExit) as e:
            load_settings([], {"CLIPPER_ADMIN_TOKEN_FILE": str(path)})
        assert e.value.code == 2
        assert problem in capsys.readouterr().err


def test_process_with_token_file_never_logs_it(redis_instance, mgmt_process_factory, tmp_path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN)
    mgmt = mgmt_process_factory(redis_instance.port, env={"CLIPPER_ADMIN_TOKEN_FILE": str(path)},
                                extra_args=["--log_level=DEBUG"])
    mgmt.start()
    url = mgmt.url + "/admin/get_all_applications"
    assert requests.post(url, json={"verbose": False}, timeout=10).status_code == 401
    assert requests.post(url, json={"verbose": False}, timeout=10,
                         headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = requests.post(url, json={"verbose": False}, timeout=10, headers={"Authorization": f"Bearer {TOKEN}"})
    assert (ok.status_code, ok.json()) == (200, [])
    assert mgmt.stop() == 0
    log = mgmt.log()
    assert "admin API requires a token" in log
    assert TOKEN not in log and "nope" not in log
