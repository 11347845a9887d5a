"""Applications and links through ClipperConnection against the real management frontend."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis

from clipper_admin import ClipperConnection, ClipperException


def test_register_application_correct(conn: ClipperConnection, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="clipper.admin"):
        conn.register_application("testapp", "doubles", "-1.0", 100000)
    assert conn.get_all_apps() == ["testapp"]
    assert conn.get_all_apps(verbose=True) == [{
        "name": "testapp", "input_type": "doubles", "default_output": "-1.0",
        "latency_slo_micros": 100000, "linked_models": [],
    }]
    assert "[test-cluster] Application testapp was successfully registered" in caplog.messages


def test_register_application_accepts_cache_flag(conn: ClipperConnection, caplog: pytest.LogCaptureFixture) -> None:
    conn.register_application(name="hr-hiring", input_type="doubles", default_output="-1.0",
                              slo_micros=100000, cache=True)
    assert conn.get_app_info("hr-hiring") is not None
    with caplog.at_level(logging.WARNING, logger="clipper.admin"):
        conn.register_application("no-cache", "doubles", "-1.0", 100000, cache=False)
    assert any("register_application(cache=False) has no effect" in m for m in caplog.messages)
    with pytest.raises(TypeError):
        conn.register_application("positional", "doubles", "-1.0", 100000, True)  # type: ignore[misc]


def test_register_duplicate_application_fails_with_server_message(conn: ClipperConnection) -> None:
    conn.register_application("dup", "doubles", "-1.0", 100000)
    with pytest.raises(ClipperException) as e:
        conn.register_application("dup", "doubles", "-1.0", 100000)
    assert str(e.value) == "Received error status code: 400 and message: application 'dup' already exists"
    assert e.value.msg == str(e.value)


def test_register_application_bad_input_type_is_a_clipper_exception(conn: ClipperConnection) -> None:
    with pytest.raises(ClipperException, match="Received error status code: 400"):
        conn.register_application("badtype", "tensor", "-1.0", 100000)


def test_unregister_application_correct(conn: ClipperConnection, caplog: pytest.LogCaptureFixture) -> None:
    conn.register_application("testapp", "doubles", "-1.0", 100000)
    with caplog.at_level(logging.INFO, logger="clipper.admin"):
        conn.unregister_application("testapp")
    assert conn.get_all_apps() == []
    assert "[test-cluster] Application testapp was successfully unregistered" in caplog.messages


def test_unregister_missing_application_fails(conn: ClipperConnection) -> None:
    with pytest.raises(ClipperException, match="Application 'ghost' does not exist"):
        conn.unregister_application("ghost")


def test_delete_application_is_deprecated_alias(conn: ClipperConnection, caplog: pytest.LogCaptureFixture) -> None:
    conn.register_application("old", "doubles", "-1.0", 100000)
    with caplog.at_level(logging.WARNING, logger="clipper.admin"):
        conn.delete_application("old")
    assert "[test-cluster] [DEPRECATED] Use 'unregister_application' API instead of this." in caplog.messages
    assert conn.get_all_apps() == []


def test_link_not_registered_model_to_app_fails(conn: ClipperConnection) -> None:
    conn.register_application("testapp", "doubles", "-1.0", 100000)
    with pytest.raises(ClipperException) as e:
        conn.link_model_to_app("testapp", "not-registered-model")
    assert "No model with name" in str(e.value)


def test_get_model_links_when_none_exist_returns_empty_list(conn: ClipperConnection) -> None:
    conn.register_application("testapp", "doubles", "-1.0", 100000)
    assert conn.get_linked_models("testapp") == []


def test_get_linked_models_of_missing_app_fails(conn: ClipperConnection) -> None:
    with pytest.raises(ClipperException, match="No application with name 'ghost' exists."):
        conn.get_linked_models("ghost")


def test_link_registered_model_to_app_succeeds(conn: ClipperConnection, caplog: pytest.LogCaptureFixture) -> None:
    conn.register_application("testapp", "doubles", "-1.0", 100000)
    conn.register_model("m", "1", "doubles")
    with caplog.at_level(logging.INFO, logger="clipper.admin"):
        conn.link_model_to_app("testapp", "m")
    assert conn.get_linked_models("testapp") == ["m"]
    assert conn.get_app_info("testapp")["linked_models"] == ["m"]  # type: ignore[index]
    assert "[test-cluster] Model m is now linked to application testapp" in caplog.messages


def test_link_model_with_incompatible_input_type_fails(conn: ClipperConnection) -> None:
    conn.register_application("testapp", "doubles", "-1.0", 100000)
    conn.register_model("m", "1", "strings")
    with pytest.raises(ClipperException, match="incompatible input_type"):
        conn.link_model_to_app("testapp", "m")


def test_unlink_registered_model_from_app_succeeds(conn: ClipperConnection) -> None:
    conn.register_application("testapp", "doubles", "-1.0", 100000)
    conn.register_model("m", "1", "doubles")
    conn.link_model_to_app("testapp", "m")
    conn.unlink_model_from_app("testapp", "m")
    assert conn.get_linked_models("testapp") == []
    with pytest.raises(ClipperException, match="Cannot remove nonexistent link"):
        conn.unlink_model_from_app("testapp", "m")


def test_get_app_info_for_registered_app_returns_info_dictionary(conn: ClipperConnection) -> None:
    conn.register_application("testapp", "ints", "DEFAULT", 3000000)
    info = conn.get_app_info("testapp")
    assert info == {
        "name": "testapp", "input_type": "integers", "default_output": "DEFAULT",
        "latency_slo_micros": 3000000, "linked_models": [],
    }


def test_get_app_info_for_nonexistent_app_returns_none(
    conn: ClipperConnection, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="clipper.admin"):
        assert conn.get_app_info("ghost") is None
    assert "[test-cluster] Application ghost is not registered with Clipper" in caplog.messages


# -- register_application checks its name and SLO before any request (ours) ------------


@pytest.fixture
def no_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records (and refuses) every admin request the connection tries to send."""
    sent: list[str] = []

    def refuse(admin_addr: str, endpoint: str, *args: object, **kwargs: object) -> None:
        sent.append(endpoint)
        raise AssertionError(f"unexpected request to /admin/{endpoint}")

    monkeypatch.setattr("clipper_admin._http.admin_post", refuse)
    return sent


@pytest.mark.parametrize("name", ["UX_Bad App", "", "Upper", "under_score", "-lead", "trail-", "dot.ted", "a:b"])
def test_register_application_refuses_bad_names(conn: ClipperConnection, no_requests: list[str], name: str) -> None:
    with pytest.raises(ClipperException) as e:
        conn.register_application(name, "doubles", "-1.0", 100000)
    assert str(e.value).startswith(f"Invalid value for argument name: {name!r} is not a valid application name: ")
    assert "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?\\Z'" in str(e.value)
    assert no_requests == []


@pytest.mark.parametrize("slo", [-5, 0, 2**31, 1.5, 100000.0, "100000", None, True])
def test_register_application_refuses_bad_slos(conn: ClipperConnection, no_requests: list[str], slo: object) -> None:
    with pytest.raises(ClipperException) as e:
        conn.register_application("app", "doubles", "-1.0", slo)  # type: ignore[arg-type]
    assert str(e.value) == (
        f"Invalid value for argument slo_micros: {slo!r} is not a valid latency objective: "
        "it must be a whole number of microseconds from 1 to 2147483647"
    )
    assert no_requests == []


def test_register_application_accepts_numpy_integer_slos(conn: ClipperConnection) -> None:
    np = pytest.importorskip("numpy")
    conn.register_application("np-slo", "doubles", "-1.0", np.int64(2000))
    info = conn.get_app_info("np-slo")
    assert info is not None and info["latency_slo_micros"] == 2000


def test_unregister_still_reaches_apps_with_old_names(conn: ClipperConnection, cm: Any) -> None:
    # An application registered before the rule (e.g. by the original) can still be removed.
    client = redis.Redis(port=cm.redis_port, db=5)
    try:
        client.hset("Old_App", mapping={"input_type": "doubles", "policy": "DefaultOutputSelectionPolicy",
                                        "default_output": "d", "latency_slo_micros": "5"})
    finally:
        client.close()
    assert conn.get_all_apps() == ["Old_App"]
    conn.unregister_application("Old_App")
    assert conn.get_all_apps() == []
