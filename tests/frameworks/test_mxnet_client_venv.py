"""The MXNet tests, run in the MXNet client's own virtualenv, plus what this one (without MXNet) refuses.

MXNet 1.9.1 needs numpy<1.24 and this suite's TensorFlow numpy>=1.26, so
``tests/frameworks/test_mxnet.py`` runs under ``build/mxnet-venv`` (``make
mxnet-venv``; ``make test`` makes it first) as a subprocess. Its local and
Docker scenarios are two tests here; each must pass with nothing skipped but
what the environment lacks (a Docker engine or image, locally; under
``CI=true`` those fail in there too, and a missing venv fails here).
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from clipper_admin import ClipperConnection, ClipperException, images
from clipper_admin.deployers import mxnet as mxnet_deployer
from clipper_admin.local import LocalContainerManager
from clipper_admin.local.packaging import runtime_for_image
from tests.support.ci import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = ROOT / "build" / "mxnet-venv" / "bin" / "python"
#: Skips that only say what this machine lacks (the messages of ``skip_or_fail`` in the Docker fixtures).
ENVIRONMENT_SKIPS = ("no Docker engine reachable", "is missing: run `make images`", "Clipper images not built")


def run_in_mxnet_venv(marker: str, tmp_path: Path, timeout: float) -> list[str]:
    """Run test_mxnet.py's tests selected by ``marker`` there; the names of those that passed."""
    if not VENV_PYTHON.exists():
        skip_or_fail(f"{VENV_PYTHON.relative_to(ROOT)} is missing: run `make mxnet-venv`")
    report = tmp_path / "report.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k != "VIRTUAL_ENV"}
    proc = subprocess.Popen(
        [str(VENV_PYTHON), "-m", "pytest", "tests/frameworks/test_mxnet.py", "-m", marker, "-p", "no:cacheprovider",
         "-q", "-rs", f"--junitxml={report}", f"--basetemp={tmp_path / 'inner'}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # pytest then tears its clusters down; a kill would leave them running
        output, _ = proc.communicate(timeout=120)
        pytest.fail(f"the MXNet tests in {VENV_PYTHON} took over {timeout} s:\n{output}")
    assert proc.returncode == 0, f"the MXNet tests failed in {VENV_PYTHON} (exit {proc.returncode}):\n{output}"
    passed, skipped = [], []
    for case in ET.parse(report).getroot().iter("testcase"):
        skip = case.find("skipped")
        if skip is None:
            passed.append(case.get("name", ""))
        else:
            skipped.append((case.get("name", ""), skip.get("message", "")))
    unexpected = [(n, m) for n, m in skipped if not any(s in m for s in ENVIRONMENT_SKIPS)]
    assert not unexpected, f"tests skipped that should have run: {unexpected}\n{output}"
    if skipped:
        skip_or_fail(f"{len(skipped)} MXNet tests skipped in {VENV_PYTHON}: {skipped[0][1]}")
    assert passed, f"no MXNet test ran:\n{output}"
    return passed


@pytest.mark.timeout(600)
def test_the_local_scenario_passes_in_the_mxnet_venv(tmp_path: Path) -> None:
    passed = run_in_mxnet_venv("not docker", tmp_path, timeout=540)
    assert {"test_local_served_switched_and_rolled_back", "test_refusals_before_any_build",
            "test_local_a_model_that_raises_gets_defaults_and_the_replica_keeps_serving"} <= set(passed)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_docker_scenario_passes_in_the_mxnet_venv(tmp_path: Path) -> None:
    passed = run_in_mxnet_venv("docker", tmp_path, timeout=1140)
    assert {"test_docker_served_switched_and_rolled_back", "test_the_mxnet_image_is_labelled_cpu_only_and_runs_its_"
            "own_numpy", "test_another_mxnet_release_is_refused_before_the_build"} <= set(passed)


@pytest.fixture
def without_mxnet() -> None:
    if importlib.util.find_spec("mxnet") is not None:
        pytest.skip("mxnet is importable in this Python")


@pytest.mark.usefixtures("without_mxnet")
def test_without_mxnet_here_the_deployer_says_to_install_it_in_its_own_virtualenv(tmp_path: Path) -> None:
    conn = ClipperConnection(LocalContainerManager(cluster_name="never-started", cluster_dir=tmp_path / "c"))
    with pytest.raises(ClipperException, match=r"needs MXNet installed in this Python: pip install mxnet==1\.9\.1 "
                                               r"'numpy<1\.24' \(or the project's extra: pip install '\.\[mxnet\]' "
                                               r"in a clone\), in a virtualenv of its own"):
        mxnet_deployer.deploy_mxnet_model(conn, "m", 1, "doubles", lambda model, xs: xs, object(), [1, 64])
    assert not (tmp_path / "c").exists()


@pytest.mark.usefixtures("without_mxnet")
def test_without_mxnet_here_the_local_manager_refuses_the_mxnet_image() -> None:
    image = images.image(images.framework_container_name("mxnet"))
    with pytest.raises(ClipperException, match=rf"serves {re.escape(image)} with this Python's mxnet, which is not "
                                               r"installed .*pip install mxnet==1\.9\.1 'numpy<1\.24' in a "
                                               r"virtualenv of its own"):
        runtime_for_image(image)
