"""Helpers of the seed tests: the test's cluster, run a sample script in a fresh Python, poll a prediction."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.seeds.port_map import seed_ports

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SeedCluster:
    """The cluster one seed test's samples run against, in place of ``default-cluster``."""

    client: Any
    name: str
    work_dir: Path

    @property
    def label(self) -> str:
        """The label filter of this cluster's containers."""
        return f"{seed_ports.CLUSTER_LABEL}={self.name}"

    def containers(self, *labels: str) -> list[Any]:
        return list(self.client.containers.list(filters={"label": [self.label, *labels]}))

    def port(self, default_port: int) -> int:
        """The host port standing for ``default_port`` (1337, 1338, ...)."""
        ports = seed_ports.published_ports(self.name, self.client)
        assert default_port in ports, f"cluster {self.name} publishes no port for {default_port}: {ports}"
        return ports[default_port]

    @property
    def query_url(self) -> str:
        """What the articles call ``http://localhost:1337``."""
        return f"http://localhost:{self.port(1337)}"

    def image(self, name: str, version: str) -> Any:
        """A model image built for this cluster (the articles' ``default-cluster-<name>:<version>``)."""
        return self.client.images.get(f"{self.name}-{name}:{version}")

    def run_shell(self, script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a sample's shell lines as written; its ``curl`` reaches this cluster's ports."""
        curl_home = self.work_dir / "curl-home"
        curl_home.mkdir(exist_ok=True)
        ports = seed_ports.published_ports(self.name, self.client)
        (curl_home / ".curlrc").write_text("".join(
            f'connect-to = "{host}:{default}:127.0.0.1:{port}"\n'
            for default, port in ports.items() for host in ("localhost", "127.0.0.1")))
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=timeout, check=True,
                              env={**os.environ, "CURL_HOME": str(curl_home)})

    def stop(self) -> None:
        """Stop the cluster (as the seeds' clean-up does) and remove its model images."""
        subprocess.run(
            [sys.executable, "-c", textwrap.dedent(f"""
                from clipper_admin import ClipperConnection, DockerContainerManager
                ClipperConnection(DockerContainerManager(cluster_name={self.name!r})).stop_all()
            """)],
            cwd=REPO_ROOT, capture_output=True, timeout=300,
        )
        for image in self.client.images.list():
            for tag in image.tags:
                if tag.startswith(f"{self.name}-"):
                    try:
                        self.client.images.remove(tag, force=True)
                    except Exception:  # noqa: BLE001 - docker.errors.APIError: gone already, or in use
                        pass


def run_script(workdir: Path, filename: str, code: str, timeout: float = 600) -> str:
    """Write ``code`` to ``workdir/filename``, run it in a fresh Python there; its stdout.

    Fails the test with the script's output when it exits non-zero.
    """
    path = workdir / filename
    path.write_text(code)
    proc = subprocess.run([sys.executable, str(path)], cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if proc.returncode != 0:
        pytest.fail(f"{filename} exited with {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
                    f"--- stderr\n{proc.stderr[-6000:]}")
    return proc.stdout


def run_failing_script(workdir: Path, filename: str, code: str, timeout: float = 120) -> str:
    """Like :func:`run_script` for a sample expected to fail; its stderr."""
    path = workdir / filename
    path.write_text(code)
    proc = subprocess.run([sys.executable, str(path)], cwd=workdir, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode != 0, f"{filename} was expected to fail:\n{proc.stdout}\n{proc.stderr}"
    return proc.stderr


def predict_until_served(query_url: str, app: str, payload: dict[str, Any], timeout: float = 90,
                         want: Any = None) -> dict[str, Any]:
    """POST to ``app`` until the answer is not the default output (the replica may still be connecting).

    ``query_url``: the cluster's query frontend (``SeedCluster.query_url``).
    With ``want``, until the output is ``want`` (a new model version taking over).
    """
    deadline = time.monotonic() + timeout
    while True:
        r = requests.post(f"{query_url}/{app}/predict", json=payload, timeout=10)
        body: dict[str, Any] = r.json()
        if r.status_code == 200 and body.get("default") is False and (want is None or body["output"] == want):
            return body
        assert time.monotonic() < deadline, f"{app} still answers {r.status_code} {body}"
        time.sleep(0.5)
