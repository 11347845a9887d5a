"""Which closure image a client picks for its Python, and what builds it (no Docker engine needed).

``build_images.sh --dry-run`` prints the docker builds it would run; they must
build every image ``clipper_admin.images`` names, on the base of its Python.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from clipper_admin import images
from clipper_admin.deployers import python as python_deployer
from clipper_admin.version import __registry__, __version__

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "dockerfiles" / "build_images.sh"
REGISTRY = "dryrun"


@pytest.mark.parametrize("python", images.CLOSURE_PYTHONS, ids=lambda p: "%d.%d" % p)
def test_each_python_has_its_closure_image_and_runtime(python: tuple[int, int]) -> None:
    tag = "%d%d" % python
    assert images.closure_container_name(*python) == f"python{tag}-closure-container"
    assert python_deployer.default_closure_image(*python) == \
        f"{__registry__}/python{tag}-closure-container:{__version__}"
    # 3.11's runtime keeps the name everything else builds on.
    assert images.rpc_base_name(*python) == ("py-rpc" if python == images.MAIN_PYTHON else f"py{tag}-rpc")


def test_the_default_is_this_interpreters() -> None:
    this = sys.version_info[:2]
    assert images.closure_container_name() == images.closure_container_name(*this)
    assert python_deployer.default_closure_image() == python_deployer.default_closure_image(*this)


@pytest.mark.parametrize("python", [(3, 10), (3, 12)], ids=lambda p: "%d.%d" % p)
def test_the_hint_for_an_online_only_python_names_the_online_build(python: tuple[int, int]) -> None:
    hint = images.closure_image_build_hint(*python)
    name = images.closure_container_name(*python)
    assert f"`dockerfiles/build_images.sh --online --only {name}`" in hint
    assert "python:%d.%d-slim" % python in hint
    assert "base_image=" in hint


@pytest.mark.parametrize("python", sorted(images.OFFLINE_CLOSURE_PYTHONS), ids=lambda p: "%d.%d" % p)
def test_the_hint_for_an_offline_python_names_make_images(python: tuple[int, int]) -> None:
    hint = images.closure_image_build_hint(*python)
    assert "`make images`" in hint and "--online" not in hint
    assert "base_image=" in hint


@pytest.mark.parametrize("python", [(3, 9), (3, 14)], ids=lambda p: "%d.%d" % p)
def test_the_hint_for_another_python_says_none_is_built(python: tuple[int, int]) -> None:
    hint = images.closure_image_build_hint(*python)
    assert "closure images for Python 3.10, 3.11, 3.12, 3.13 only" in hint
    assert "image whose Python is %d.%d" % python in hint


# ---------------------------------------------------------------- what build_images.sh builds


def dry_run(*args: str) -> dict[str, dict[str, str]]:
    """``{image name: build args (plus "context")}`` of each build a dry run prints."""
    out = subprocess.run([str(SCRIPT), "--dry-run", "--registry", REGISTRY, *args], capture_output=True, text=True,
                         timeout=60, check=True).stdout  # fmt: skip
    builds: dict[str, dict[str, str]] = {}
    for line in out.splitlines():
        if not line.startswith("+ docker build "):
            continue
        words = shlex.split(line[2:])
        tag = words[words.index("-t") + 1]
        name = re.fullmatch(rf"{REGISTRY}/(.+):{re.escape(__version__)}", tag)
        assert name, tag
        build_args = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--build-arg")
        builds[name.group(1)] = {**build_args, "context": words[-1]}
    return builds


def test_online_builds_a_closure_image_for_every_python_on_its_official_image() -> None:
    builds = dry_run("--online")
    for python in images.CLOSURE_PYTHONS:
        closure, rpc = builds[images.closure_container_name(*python)], builds[images.rpc_base_name(*python)]
        assert closure["BASE_IMAGE"] == f"{REGISTRY}/{images.rpc_base_name(*python)}:{__version__}"
        assert rpc["BASE_IMAGE"] == "python:%d.%d-slim" % python
        assert rpc["PYTHON_VERSION"] == "%d.%d" % python
        assert rpc["PIP_OPTIONS"] == ""  # from PyPI
    # Each Python's runtime from a wheelhouse of its own: the pins differ (3.10).
    contexts = {builds[images.rpc_base_name(*p)]["context"] for p in images.CLOSURE_PYTHONS}
    assert len(contexts) == len(images.CLOSURE_PYTHONS)


def test_offline_builds_the_closure_images_of_debians_pythons_only() -> None:
    builds = dry_run()
    closures = {name for name in builds if name.endswith("-closure-container")}
    assert closures == {images.closure_container_name(*p) for p in images.OFFLINE_CLOSURE_PYTHONS}
    for python, suite in images.OFFLINE_CLOSURE_PYTHONS.items():
        rpc = builds[images.rpc_base_name(*python)]
        assert rpc["BASE_IMAGE"] == "clipper-local/%s-python:%d.%d" % (suite, *python)
        assert rpc["PIP_OPTIONS"] == "--no-index --find-links /wheels/deps"


def test_only_one_closure_image_builds_it_and_the_runtimes_it_needs() -> None:
    assert set(dry_run("--only", "python313-closure-container")) == {"py-rpc", "py313-rpc", "python313-closure-container"}


def test_an_online_only_python_is_refused_offline_with_what_to_do() -> None:
    out = subprocess.run([str(SCRIPT), "--dry-run", "--only", "python312-closure-container"], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 2
    assert "python312-closure-container cannot be built offline" in out.stderr
    assert "build it with --online" in out.stderr


def requirement_names(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(re.split(r"[=<>!~;\[ ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_python_310_pins_only_replace_pins_of_requirements_txt() -> None:
    # build_images.sh merges them into requirements.txt: every package stays pinned once.
    base = requirement_names(ROOT / "dockerfiles" / "requirements.txt")
    overrides = requirement_names(ROOT / "dockerfiles" / "requirements-py310.txt")
    assert overrides and set(overrides) <= set(base)
