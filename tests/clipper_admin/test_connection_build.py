"""``build_model``: validation, the container manager's hook, and the Docker build context."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from clipper_admin import ClipperConnection, ClipperException
from clipper_admin._image_build import dockerfile_text, image_tag, write_build_context

if TYPE_CHECKING:
    from conftest import ProcessContainerManager


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    d = tmp_path / "model-data"
    d.mkdir()
    (d / "func.pkl").write_bytes(b"pickled")
    (d / "sub").mkdir()
    (d / "sub" / "weights.bin").write_bytes(b"\x00\x01")
    return d


def test_build_model_uses_the_container_managers_packaging(
    cm: ProcessContainerManager, model_dir: Path
) -> None:
    conn = ClipperConnection(cm)  # build_model needs no connection
    image = conn.build_model("my-model", 2, str(model_dir), "clipper/python311-closure-container:0.1.0",
                             container_registry="reg:5000", pkgs_to_install=["sympy==1.1.*"])
    assert image == "packaged:my-model:2"
    assert cm.calls_to("build_model") == [dict(
        name="my-model", version="2", model_data_path=str(model_dir),
        base_image="clipper/python311-closure-container:0.1.0", container_registry="reg:5000",
        pkgs_to_install=["sympy==1.1.*"])]
    assert (cm.packaged[image] / "sub" / "weights.bin").read_bytes() == b"\x00\x01"


@pytest.mark.parametrize(("name", "version", "bad", "what"), [("My-Model", 1, "My-Model", "name"),
                                                              ("model", "v_1", "v_1", "version")])
def test_build_model_validates_before_building(
    cm: ProcessContainerManager, model_dir: Path, name: str, version: object, bad: str, what: str
) -> None:
    with pytest.raises(ClipperException, match=f"^Invalid value: {bad}: a model {what} must be a valid DNS-1123  "):
        ClipperConnection(cm).build_model(name, version, str(model_dir), "base")
    assert cm.calls == []


def test_docker_build_without_a_docker_engine_is_a_clear_error(
    cm: ProcessContainerManager, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cm.package_models = False  # the hook declines: the original's Docker path
    monkeypatch.setenv("DOCKER_HOST", f"unix://{model_dir}/no-docker.sock")
    with pytest.raises(ClipperException, match="Unable to Connect to Docker. Please Check if Docker is running."):
        ClipperConnection(cm).build_model("m", 1, str(model_dir), "base:1")
    with pytest.raises(ClipperException, match="is not a directory"):
        ClipperConnection(cm).build_model("m", 1, str(model_dir / "missing"), "base:1")


def test_image_tag() -> None:
    assert image_tag("default-cluster", "sum-model", "1", None) == "default-cluster-sum-model:1"
    assert image_tag("c", "m", "2", "localhost:5000") == "localhost:5000/c-m:2"


def test_dockerfile_has_the_originals_three_lines() -> None:
    assert dockerfile_text("base:1", "/tmp/x", None) == "FROM base:1\n\nCOPY /tmp/x /model/\n"


def test_packages_install_offline_from_the_hosts_wheelhouse() -> None:
    # Not the original's apt-get + pip from PyPI: that needs root and network
    # inside the build; the wheelhouse is built on the host instead.
    assert dockerfile_text("base:1", "/tmp/x", ["sympy==1.1.*", "six"]) == (
        "FROM base:1\n"
        "COPY .clipper-wheelhouse /tmp/clipper-wheelhouse\n"
        'RUN ["python", "-m", "pip", "install", "--no-index", "--find-links", "/tmp/clipper-wheelhouse", '
        '"--disable-pip-version-check", "--no-cache-dir", "--no-input", "sympy==1.1.*", "six"]\n'
        "COPY /tmp/x /model/\n"
    )


def test_build_context_holds_the_model_directory_and_dockerfile(model_dir: Path) -> None:
    buf = io.BytesIO()
    write_build_context(buf, str(model_dir), dockerfile_text("base:1", str(model_dir), None))
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        names = set(tar.getnames())
        stripped = str(model_dir).lstrip("/")
        assert {"Dockerfile", f"{stripped}/func.pkl", f"{stripped}/sub/weights.bin"} <= names
        dockerfile = tar.extractfile("Dockerfile")
        assert dockerfile is not None
        assert dockerfile.read().decode() == f"FROM base:1\n\nCOPY {model_dir} /model/\n"
