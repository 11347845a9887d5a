"""The admin token end to end: a local cluster started with one, the admin
library sending it (from the manager, the connection or CLIPPER_ADMIN_TOKEN),
and a 401 turned into an error that says what to do. Also row 17's default
bind: the local management frontend listens on 127.0.0.1 only."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from clipper_admin import ClipperConnection
from clipper_admin.exceptions import ClipperException
from clipper_admin.local import LocalContainerManager
from clipper_admin.local.cluster_state import ROLE_MANAGEMENT, load_state

pytestmark = pytest.mark.timeout(180)

TOKEN = "local-admin-token-0123456789abcdef"


def make_cm(cluster_dir: Path, **kwargs: object) -> LocalContainerManager:
    return LocalContainerManager(cluster_name="tok", cluster_dir=cluster_dir, clipper_query_port=0,
                                 clipper_management_port=0, clipper_rpc_port=0, redis_port=0,
                                 prometheus_port=None, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def secured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalContainerManager]:
    monkeypatch.delenv("CLIPPER_ADMIN_TOKEN", raising=False)
    cm = make_cm(tmp_path / "cluster", admin_token=TOKEN)
    ClipperConnection(cm).start_clipper()
    try:
        yield cm
    finally:
        cm.stop_all(graceful=False)


def _listen_addresses(port: int) -> set[str]:
    """Local addresses with a TCP listener on ``port`` (from /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(addr)
    return found


def test_local_cluster_requires_the_token_it_was_started_with(secured: LocalContainerManager, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    conn = ClipperConnection(secured)
    conn.connect()
    assert conn.admin_token == TOKEN  # from the manager
    conn.register_application("app1", "doubles", "d", 100000)
    assert conn.get_all_apps() == ["app1"]

    url = f"http://{secured.get_admin_addr()}/admin/get_all_applications"
    bare = requests.post(url, json={"verbose": False}, timeout=10)
    assert bare.status_code == 401 and TOKEN not in bare.text
    assert requests.get(f"http://{secured.get_admin_addr()}/admin/ping", timeout=10).text == "PONG"

    # Bound to loopback only: 0100007F is 127.0.0.1 in /proc/net/tcp's byte order.
    assert _listen_addresses(secured.clipper_management_port) == {"0100007F"}

    # The token reaches the frontend through its environment: not its command
    # line (visible to every user in ps) nor the cluster's state file.
    state = load_state(secured.paths)
    assert state is not None
    mgmt = next(p for p in state.processes.values() if p.role == ROLE_MANAGEMENT)
    assert TOKEN not in " ".join(mgmt.cmd)
    assert TOKEN not in Path(f"/proc/{mgmt.pid}/cmdline").read_bytes().decode(errors="replace")
    assert TOKEN not in secured.paths.state_file.read_text()
    assert TOKEN not in caplog.text


def test_another_process_learns_the_token_on_connect(secured: LocalContainerManager) -> None:
    """As Docker's and Kubernetes' connect() do (from the container, from the Secret)."""
    token_file = secured.paths.admin_token_file
    assert token_file.read_text() == TOKEN and token_file.stat().st_mode & 0o077 == 0  # owner-only
    conn = ClipperConnection(make_cm(secured.cluster_dir))
    conn.connect()
    assert conn.admin_token == TOKEN
    conn.register_application("app3", "doubles", "d", 100000)
    assert conn.get_all_apps() == ["app3"]


def test_connection_without_the_token_is_told_to_set_it(secured: LocalContainerManager,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    secured.paths.admin_token_file.unlink()  # e.g. a cluster another user started
    other = make_cm(secured.cluster_dir)  # another process attaching, with no token
    conn = ClipperConnection(other)
    conn.connect()
    assert conn.admin_token is None
    with pytest.raises(ClipperException) as missing:
        conn.get_all_apps()
    assert "requires an admin token" in str(missing.value)
    assert "CLIPPER_ADMIN_TOKEN" in str(missing.value)

    wrong = ClipperConnection(other, admin_token="not-it")
    wrong.connect()
    with pytest.raises(ClipperException) as rejected:
        wrong.register_application("app2", "doubles", "d", 100000)
    assert "rejected the admin token" in str(rejected.value) and "not-it" not in str(rejected.value)

    monkeypatch.setenv("CLIPPER_ADMIN_TOKEN", TOKEN)
    assert conn.admin_token == TOKEN
    assert conn.get_all_apps() == []


def test_without_a_token_the_admin_api_is_open_as_the_original(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLIPPER_ADMIN_TOKEN", raising=False)
    cm = make_cm(tmp_path / "open")
    conn = ClipperConnection(cm)
    conn.start_clipper()
    try:
        assert conn.admin_token is None
        conn.register_application("app1", "doubles", "d", 100000)
        url = f"http://{cm.get_admin_addr()}/admin/get_all_applications"
        assert requests.post(url, json={"verbose": False}, timeout=10).json() == ["app1"]
        assert _listen_addresses(cm.clipper_management_port) == {"0100007F"}
    finally:
        cm.stop_all(graceful=False)
