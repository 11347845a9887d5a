"""Model-image builds without an engine: Dockerfile, build context, and the early refusals.

The refusals are checked against a small stand-in for the Docker SDK client
(tests/docker/test_deploy_*.py build real images); the wheelhouse failure
runs the real pip.
"""

from __future__ import annotations

import io
import json
import logging
import stat
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

docker = pytest.importorskip("docker")

from clipper_admin import _image_build  # noqa: E402
from clipper_admin.exceptions import ClipperException  # noqa: E402
from clipper_admin.images import PYTHON_VERSION_LABEL  # noqa: E402

LOG = logging.getLogger("clipper.test.image_build")
THIS_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def test_dockerfile_installs_packages_offline_from_the_wheelhouse() -> None:
    text = _image_build.dockerfile_text("base:1", "tmp/m", ["sklearn", "numpy>=2"])
    lines = text.splitlines()
    assert lines[0] == "FROM base:1"
    assert lines[1] == "COPY .clipper-wheelhouse /tmp/clipper-wheelhouse"
    assert lines[2].startswith("RUN [")  # exec form: ">=" is no shell redirection
    assert json.loads(lines[2][4:]) == [
        "python", "-m", "pip", "install", "--no-index", "--find-links", "/tmp/clipper-wheelhouse",
        "--disable-pip-version-check", "--no-cache-dir", "--no-input", "scikit-learn", "numpy>=2",
    ]
    assert lines[3] == "COPY tmp/m /model/"


def test_build_context_is_readable_by_the_unprivileged_model_user(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir(mode=0o700)  # as tempfile.mkdtemp makes it
    (model / "func.pkl").write_bytes(b"f")
    (model / "func.pkl").chmod(0o600)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "a-1-py3-none-any.whl").write_bytes(b"w")
    buf = io.BytesIO()
    _image_build.write_build_context(buf, str(model), "FROM x\n", str(wheels))
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        members = {m.name: m for m in tar.getmembers()}
    stripped = str(model).lstrip("/")
    assert {"Dockerfile", f"{stripped}/func.pkl", ".clipper-wheelhouse/a-1-py3-none-any.whl"} <= set(members)
    assert members[stripped].mode & 0o755 == 0o755
    assert members[f"{stripped}/func.pkl"].mode & stat.S_IROTH
    assert members[f"{stripped}/func.pkl"].uid == 0


class _Image:
    def __init__(self, labels: dict[str, str]) -> None:
        self.attrs = {"Config": {"Labels": labels}, "Architecture": "amd64"}


class _Images:
    def __init__(self, present: dict[str, _Image]) -> None:
        self.present = present
        self.pulled: list[str] = []

    def get(self, name: str) -> _Image:
        if name not in self.present:
            raise docker.errors.ImageNotFound(f"No such image: {name}")
        return self.present[name]

    def pull(self, name: str) -> _Image:
        self.pulled.append(name)
        raise docker.errors.APIError("pull access denied", explanation="pull access denied, repository does not exist")


class FakeClient:
    """Answers image look-ups; any build attempt fails the test."""

    def __init__(self, present: dict[str, _Image]) -> None:
        self.images = _Images(present)
        self.closed = False

    @property
    def api(self) -> Any:
        raise AssertionError("no build may start")

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def model_dir(tmp_path: Path) -> str:
    (tmp_path / "func.pkl").write_bytes(b"f")
    return str(tmp_path)


def build_with(monkeypatch: pytest.MonkeyPatch, client: FakeClient, model_dir: str, base: str,
               pkgs: list[str] | None = None) -> None:
    monkeypatch.setattr(_image_build, "_docker_client", lambda: client)
    _image_build.build_docker_image("c-m:1", model_dir, base, pkgs, push=False, logger=LOG)


def test_missing_base_image_says_to_build_the_images(monkeypatch: pytest.MonkeyPatch, model_dir: str) -> None:
    client = FakeClient({})
    with pytest.raises(ClipperException, match=r"Base image clipper/nope:1 does not exist locally and could not be "
                                               r"pulled \(pull access denied.*make images"):
        build_with(monkeypatch, client, model_dir, "clipper/nope:1")
    assert client.images.pulled == ["clipper/nope:1"]
    assert client.closed


def test_base_image_of_another_python_is_refused(monkeypatch: pytest.MonkeyPatch, model_dir: str) -> None:
    client = FakeClient({"old:1": _Image({PYTHON_VERSION_LABEL: "3.7"})})
    with pytest.raises(ClipperException, match=rf"Base image old:1 runs Python 3.7, but this client runs Python "
                                               rf"{THIS_PYTHON}: a function serialized with cloudpickle"):
        build_with(monkeypatch, client, model_dir, "old:1")


def test_packages_pip_cannot_fetch_fail_with_pips_error(monkeypatch: pytest.MonkeyPatch, model_dir: str) -> None:
    client = FakeClient({"ok:1": _Image({PYTHON_VERSION_LABEL: THIS_PYTHON})})
    with pytest.raises(ClipperException) as info:
        build_with(monkeypatch, client, model_dir, "ok:1", pkgs=["numpy(("])
    message = str(info.value)
    assert message.startswith("Could not download the packages ['numpy(('] for the model image on this host")
    assert "Invalid requirement" in message  # pip's own words come along
