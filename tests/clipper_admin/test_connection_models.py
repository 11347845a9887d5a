"""Model registry, versions and stopping through ClipperConnection, real frontends."""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from clipper_admin import ClipperConnection, ClipperException

if TYPE_CHECKING:
    from conftest import ProcessContainerManager


def model_versions(conn: ClipperConnection) -> set[str]:
    return set(conn.get_all_models())


def test_register_model_correct(conn: ClipperConnection, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="clipper.admin"):
        conn.register_model("m", "v1", "doubles")
    conn.register_model("m", 2, "doubles", labels=["a", "b"], image="some/image:1", batch_size=4)
    assert conn.get_model_info("m", "v1") is not None
    assert conn.get_model_info("m", 2) == {
        "model_name": "m", "model_version": "2", "input_type": "doubles", "labels": ["a", "b"],
        "container_name": "some/image:1", "model_data_path": "DEPRECATED", "is_current_version": True,
    }
    assert conn.get_model_info("m", "v1")["container_name"] == "NO_CONTAINER"  # type: ignore[index]
    assert model_versions(conn) == {"m:v1", "m:2"}
    assert "[test-cluster] Successfully registered model m:v1" in caplog.messages


def test_register_model_twice_fails(conn: ClipperConnection) -> None:
    conn.register_model("m", "1", "doubles")
    with pytest.raises(ClipperException, match="model with name 'm' and version '1' already exists"):
        conn.register_model("m", 1, "doubles")


def test_get_model_info_of_unknown_version_is_none(conn: ClipperConnection, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="clipper.admin"):
        assert conn.get_model_info("ghost", 1) is None
    assert any("ghost:1" in m for m in caplog.messages)


def test_current_version_follows_latest_registration(conn: ClipperConnection) -> None:
    conn.register_model("m", "1", "doubles")
    conn.register_model("m", "2", "doubles")
    assert conn.get_current_model_version("m") == "2"
    with pytest.raises(ClipperException, match="^No versions of model ghost registered with Clipper$"):
        conn.get_current_model_version("ghost")


def test_model_version_sets_correctly(conn: ClipperConnection) -> None:
    conn.register_model("m", "v1", "doubles")
    conn.register_model("m", "v2", "doubles")
    conn.set_model_version("m", "v1")
    infos = {m["model_version"]: m["is_current_version"] for m in conn.get_all_models(verbose=True)}
    assert infos == {"v1": True, "v2": False}
    with pytest.raises(ClipperException, match="Cannot set non-existent version 'v9'"):
        conn.set_model_version("m", "v9")


def test_set_num_replicas_for_external_model_fails(conn: ClipperConnection, cm: ProcessContainerManager) -> None:
    conn.register_model("m", "1", "doubles")
    with pytest.raises(ClipperException) as e:
        conn.set_num_replicas("m", 2)
    assert str(e.value) == "Cannot resize the replica set for containerless model m:1"
    with pytest.raises(ClipperException, match="^Cannot add container for non-registered model m:7$"):
        conn.set_num_replicas("m", 2, version=7)
    assert cm.calls_to("set_num_replicas") == []


def test_deploy_model_starts_replicas_then_registers(
    conn: ClipperConnection, cm: ProcessContainerManager, poll: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="clipper.admin"):
        conn.deploy_model("noop", 1, "doubles", "noop-image:1", labels=["x"], num_replicas=1, batch_size=3)
    assert cm.calls_to("deploy_model") == [
        dict(name="noop", version="1", input_type="doubles", image="noop-image:1", num_replicas=1)
    ]
    info = conn.get_model_info("noop", "1")
    assert info is not None and info["container_name"] == "noop-image:1" and info["labels"] == ["x"]
    assert "[test-cluster] Done deploying model noop:1." in caplog.messages
    # The replica is a real noop container: the query frontend records it once connected.
    replicas = poll(lambda: [r for r in conn.get_all_model_replicas() if r.startswith("noop:1:")], what="replica")
    replica_id = int(replicas[0].split(":")[2])
    detail = conn.get_model_replica_info("noop", 1, replica_id)
    assert detail is not None and detail["model_id"] == "noop:1" and detail["input_type"] == "doubles"
    assert any(r["model_name"] == "noop" for r in conn.get_all_model_replicas(verbose=True))
    # The plain listing is the original's strings, which tutorials also index by key.
    name = replicas[0]
    assert name == f"noop:1:{replica_id}" and json.dumps(name) == f'"noop:1:{replica_id}"'
    assert name[:5] == "noop:" and name["model_name"] == "noop" and name["model_version"] == "1"
    assert name["model_replica_id"] == replica_id and name["status"] == "connected"
    assert pickle.loads(pickle.dumps(name))["model_name"] == "noop"
    assert conn.get_model_replica_info("noop", 1, 9999) is None
    assert conn.get_num_replicas("noop") == 1
    assert cm.calls_to("get_num_replicas")[-1] == dict(name="noop", version="1")


def test_set_num_replicas_for_deployed_model_succeeds(conn: ClipperConnection, cm: ProcessContainerManager) -> None:
    conn.deploy_model("noop", "1", "doubles", "noop-image:1")
    conn.set_num_replicas("noop", 3)
    assert conn.get_num_replicas("noop", 1) == 3
    conn.set_num_replicas("noop", 1, version="1")
    assert conn.get_num_replicas("noop", "1") == 1
    assert cm.calls_to("set_num_replicas")[0] == dict(
        name="noop", version="1", input_type="doubles", image="noop-image:1", num_replicas=3
    )


def test_set_model_version_with_num_replicas_scales_that_version(
    conn: ClipperConnection, cm: ProcessContainerManager
) -> None:
    conn.register_model("m", "1", "doubles", image="img:1")
    conn.register_model("m", "2", "doubles", image="img:2")
    conn.set_model_version("m", 1, num_replicas=2)
    assert conn.get_current_model_version("m") == "1"
    assert cm.calls_to("set_num_replicas") == [
        dict(name="m", version="1", input_type="doubles", image="img:1", num_replicas=2)
    ]


@pytest.mark.parametrize(
    ("name", "version", "bad", "what"),
    [
        ("Model", "1", "Model", "name"),
        ("my_model", "1", "my_model", "name"),
        ("-model", "1", "-model", "name"),
        ("model.v1", "1", "model.v1", "name"),
        ("model", "1.0", "1.0", "version"),
        ("model", "V1", "V1", "version"),
        ("model", "", "", "version"),
    ],
)
def test_deploy_model_validates_name_and_version(
    conn: ClipperConnection, cm: ProcessContainerManager, name: str, version: str, bad: str, what: str
) -> None:
    with pytest.raises(ClipperException) as e:
        conn.deploy_model(name, version, "doubles", "img")
    assert str(e.value) == (
        f"Invalid value: {bad}: a model {what} must be a valid DNS-1123  subdomain. It must consist of "
        "lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
        "character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?\\Z'"
    )
    assert cm.calls_to("deploy_model") == []


def _register_two_models(conn: ClipperConnection) -> None:
    for name in ("m1", "m2"):
        for version in ("1", "2"):
            conn.register_model(name, version, "doubles", image=f"{name}-image:{version}")


def test_stop_models(conn: ClipperConnection, cm: ProcessContainerManager, poll: Callable[..., Any]) -> None:
    _register_two_models(conn)
    conn.stop_models(["m1"])
    assert cm.calls_to("stop_models") == [{"models": {"m1": ["1", "2"]}}]
    # The query frontend finishes a deletion; wait for it.
    poll(lambda: model_versions(conn) == {"m2:1", "m2:2"}, what="m1 unregistered")
    # A lone name means that model, not every model whose name contains it.
    conn.stop_models("m")
    assert cm.calls_to("stop_models")[-1] == {"models": {}}


def test_stop_versioned_models(conn: ClipperConnection, cm: ProcessContainerManager, poll: Callable[..., Any]) -> None:
    _register_two_models(conn)
    conn.stop_versioned_models({"m1": [1], "m2": ["2"]})
    assert cm.calls_to("stop_models") == [{"models": {"m1": ["1"], "m2": ["2"]}}]
    poll(lambda: model_versions(conn) == {"m1:2", "m2:1"}, what="versions unregistered")


def test_stop_inactive_model_versions(
    conn: ClipperConnection, cm: ProcessContainerManager, poll: Callable[..., Any]
) -> None:
    _register_two_models(conn)
    conn.stop_inactive_model_versions(["m1", "m2"])
    assert cm.calls_to("stop_models") == [{"models": {"m1": ["1"], "m2": ["1"]}}]
    poll(lambda: model_versions(conn) == {"m1:2", "m2:2"}, what="inactive versions unregistered")


def test_stop_all_model_containers(
    conn: ClipperConnection, cm: ProcessContainerManager, poll: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _register_two_models(conn)
    with caplog.at_level(logging.INFO, logger="clipper.admin"):
        conn.stop_all_model_containers()
    assert cm.calls_to("stop_all_model_containers") == [{}]
    assert "[test-cluster] Stopped all Clipper model containers" in caplog.messages
    poll(lambda: model_versions(conn) == set(), what="every model unregistered")


def test_unregistering_a_missing_version_fails(conn: ClipperConnection) -> None:
    with pytest.raises(ClipperException, match="model with name 'ghost' and version '1' does not exist"):
        conn.stop_versioned_models({"ghost": ["1"]})
