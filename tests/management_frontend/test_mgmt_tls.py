"""The admin API over HTTPS (``--tls_cert``/``--tls_key``), with the real process and real TLS."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.management_frontend.conftest import REPO_ROOT
from tests.support.tls import self_signed


def test_https_only_with_the_certificate_verified(redis_instance: Any, mgmt_process_factory: Callable[..., Any],
                                                  tmp_path: Path) -> None:
    tls = self_signed(tmp_path)
    mf = mgmt_process_factory(redis_instance.port, extra_args=["--tls_cert", str(tls.cert), "--tls_key", str(tls.key)])
    mf.start()
    url = f"https://localhost:{mf.port}"
    assert requests.get(f"{url}/admin/ping", verify=str(tls.cert), timeout=10).status_code == 200
    r = requests.post(f"{url}/admin/add_app", verify=str(tls.cert), timeout=10, json={
        "name": "app", "input_type": "doubles", "default_output": "-1", "latency_slo_micros": 100000})
    assert r.status_code == 200, r.text
    with pytest.raises(requests.exceptions.SSLError):  # not signed by a CA the system trusts
        requests.get(f"{url}/admin/ping", timeout=10)
    with pytest.raises(requests.exceptions.ConnectionError):  # plain HTTP is not served
        requests.get(f"http://localhost:{mf.port}/admin/ping", timeout=10)
    assert "listening on https://" in mf.log()


@pytest.mark.parametrize(("args", "problem"), [
    (["--tls_cert", "CERT"], "tls_cert and tls_key go together"),
    (["--tls_key", "KEY"], "tls_cert and tls_key go together"),
    (["--tls_cert", "/nonexistent.crt", "--tls_key", "KEY"], "tls_cert '/nonexistent.crt' is not a file"),
    (["--tls_cert", "KEY", "--tls_key", "KEY"], "cannot be loaded"),
])
def test_bad_tls_settings_refuse_to_start(tmp_path: Path, args: list[str], problem: str) -> None:
    tls = self_signed(tmp_path)
    argv = [a.replace("CERT", str(tls.cert)).replace("KEY", str(tls.key)) for a in args]
    r = subprocess.run([sys.executable, "-m", "management_frontend", "--port", "0", *argv], cwd=REPO_ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and problem in r.stderr, r.stderr
