"""The admin API over HTTPS under LocalContainerManager(admin_tls_cert=..., admin_tls_key=...).

Real processes, real TLS (a self-signed certificate): ClipperConnection
verifies the management frontend's certificate, a manager that connects
later learns it from the cluster, and a certificate that does not verify
is an error that says what to pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from clipper_admin import ClipperConnection
from clipper_admin.exceptions import ClipperException
from clipper_admin.local import LocalContainerManager
from tests.support.tls import self_signed

pytestmark = pytest.mark.timeout(180)


def make_cm(cluster_dir: Path, **kwargs: object) -> LocalContainerManager:
    return LocalContainerManager(cluster_name="tls", cluster_dir=cluster_dir, clipper_query_port=0,
                                 clipper_management_port=0, clipper_rpc_port=0, redis_port=0,
                                 prometheus_port=None, **kwargs)  # type: ignore[arg-type]


def test_the_admin_api_over_verified_https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLIPPER_ADMIN_TLS_CA", raising=False)
    tls = self_signed(tmp_path)
    cm = make_cm(tmp_path / "cluster", admin_tls_cert=tls.cert, admin_tls_key=tls.key)
    conn = ClipperConnection(cm)
    conn.start_clipper()
    try:
        conn.register_application("app", "doubles", "-1", 100000)
        assert conn.get_all_apps() == ["app"]
        with pytest.raises(requests.exceptions.ConnectionError):  # no plain HTTP beside it
            requests.get(f"http://{cm.get_admin_addr()}/admin/ping", timeout=10)

        later = ClipperConnection(make_cm(cm.cluster_dir))  # another process: learns HTTPS and the certificate
        later.connect()
        assert later.admin_tls == str(tls.cert) and later.get_all_apps() == ["app"]

        system_cas = ClipperConnection(make_cm(cm.cluster_dir), admin_tls=True)
        system_cas.connect()
        with pytest.raises(ClipperException, match="TLS connection to the Clipper management frontend") as e:
            system_cas.get_all_apps()
        assert "admin_tls=" in str(e.value) and "CLIPPER_ADMIN_TLS_CA" in str(e.value)

        other = self_signed(tmp_path, "other")
        wrong_ca = ClipperConnection(make_cm(cm.cluster_dir), admin_tls=str(other.cert))
        wrong_ca.connect()
        with pytest.raises(ClipperException, match="checked against the CA bundle"):
            wrong_ca.register_application("nope", "doubles", "-1", 100000)
        assert conn.get_all_apps() == ["app"]  # the refused call changed nothing
    finally:
        cm.stop_all(graceful=False)


def test_cert_and_key_go_together(tmp_path: Path) -> None:
    with pytest.raises(ClipperException, match="admin_tls_cert and admin_tls_key go together"):
        make_cm(tmp_path, admin_tls_cert=tmp_path / "c.crt")
    with pytest.raises(ClipperException, match="admin_tls must be None, True or the path"):
        ClipperConnection(make_cm(tmp_path), admin_tls=3)  # type: ignore[arg-type]
