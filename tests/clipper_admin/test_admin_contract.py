"""The admin library speaks the admin API's contract (clipper_protocol.admin_api):
every request it sends goes to a defined endpoint, with a body that endpoint's
request type reads back unchanged, in the original's field order."""

from __future__ import annotations

from typing import Any

import pytest

from clipper_admin import ClipperConnection, _http
from clipper_protocol import admin_api


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    real = _http.admin_post

    def spy(admin_addr: str, endpoint: str, body: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        calls.append((endpoint, body))
        return real(admin_addr, endpoint, body, *args, **kwargs)

    monkeypatch.setattr(_http, "admin_post", spy)
    return calls


def test_every_request_follows_the_contract(conn: ClipperConnection, sent: list[tuple[str, dict[str, Any]]]) -> None:
    conn.register_application("app", "doubles", "-1.0", 100000)
    conn.register_model("m", 1, "doubles", labels=["x"])
    conn.register_model("m", 2, "doubles")
    conn.set_model_version("m", 1)
    conn.link_model_to_app("app", "m")
    conn.get_all_apps(verbose=True)
    conn.get_app_info("app")
    conn.get_linked_models("app")
    conn.get_all_models()
    conn.get_model_info("m", 1)
    conn.get_all_model_replicas()
    conn.get_model_replica_info("m", 1, 0)
    conn.set_model_weights("app", {"m": 1.0})
    conn.get_selection_policy("app")
    conn.unlink_model_from_app("app", "m")
    conn._unregister_versioned_models({"m": ["2"]})
    conn.unregister_application("app")

    for name, body in sent:
        endpoint = admin_api.ENDPOINTS_BY_NAME[name]
        assert endpoint.request.from_json(body).to_json() == body, name
        assert list(body) == [field for field, _ in endpoint.request.wire_fields()], name
    unused = {e.name for e in admin_api.POST_ENDPOINTS} - {name for name, _ in sent}
    assert unused == {"get_state"}  # the original's client never asks for it either
    assert sent[0] == ("add_app", {"name": "app", "input_type": "doubles", "default_output": "-1.0",
                                   "latency_slo_micros": 100000})
