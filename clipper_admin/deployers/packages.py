"""pip packages for model images: name fixes and a wheelhouse built on the host.

Model containers often cannot reach PyPI (no HTTPS from build containers, an
air-gapped cluster), while the machine running ``clipper_admin`` can. So the
packages named in ``pkgs_to_install`` are downloaded (or built) here into a
*wheelhouse* directory that goes into the image's build context, and the
image installs them with ``pip install --no-index --find-links``.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import subprocess
import sys
from collections import deque
from pathlib import Path

from clipper_admin.exceptions import ClipperException

logger = logging.getLogger("clipper.admin.packages")

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]

# pip names that no longer install (the "sklearn" shim refuses since 2023), and
# "xgboost", whose Linux wheel pulls a large NCCL (GPU) library: "xgboost-cpu"
# provides the same `xgboost` module, version for version.
PIP_RENAMES = {"sklearn": "scikit-learn", "xgboost": "xgboost-cpu"}

#: Directories of wheels on this host tried first, offline (``os.pathsep``-separated).
WHEELHOUSE_ENV = "CLIPPER_WHEELHOUSE"
_REPO_ROOT = Path(__file__).resolve().parents[2]
# What dockerfiles/build_images.sh fills: the images' pinned wheels (cp311, and
# cp313 for the trixie closure image), and the framework wheels plus those
# model images commonly install (xgboost-cpu).
_BUILT_WHEELHOUSES = ("build/framework-wheels/wheels", "build/wheelhouse/deps", "build/wheelhouse-py313/deps")

# Docker's architecture names → the machine names in wheel platform tags.
_DOCKER_ARCH_TO_MACHINE = {"amd64": "x86_64", "arm64": "aarch64", "arm64/v8": "aarch64", "ppc64le": "ppc64le",
                           "s390x": "s390x"}

# glibc of the images' Debian bookworm: the newest manylinux tag they accept.
IMAGE_GLIBC = (2, 36)

_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9_.\-]+)(.*)$", re.DOTALL)


def pip_requirement(requirement: str) -> str:
    """Map a deprecated distribution name to its real one, keeping any specifier.

    ``"sklearn"`` → ``"scikit-learn"``, ``"sklearn==1.4"`` → ``"scikit-learn==1.4"``.
    """
    m = _REQUIREMENT_NAME.match(requirement)
    if m and m.group(1).lower() in PIP_RENAMES:
        return PIP_RENAMES[m.group(1).lower()] + m.group(2)
    return requirement


def requirement_name(requirement: str) -> str:
    """The normalized distribution name of a requirement (PEP 503), after renames."""
    m = _REQUIREMENT_NAME.match(pip_requirement(requirement))
    name = m.group(1) if m else requirement
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_requirements(pkgs: list[str] | None) -> list[str]:
    """``pkgs`` with deprecated names mapped and blank entries dropped."""
    return [pip_requirement(p.strip()) for p in (pkgs or []) if p and p.strip()]


def _host_matches(python_version: str, docker_arch: str) -> bool:
    """Whether wheels built by this interpreter run in the image as they are."""
    machine = _DOCKER_ARCH_TO_MACHINE.get(docker_arch, docker_arch)
    return (
        sys.platform.startswith("linux")
        and platform.machine() == machine
        and f"{sys.version_info.major}.{sys.version_info.minor}" == python_version
    )


def host_wheelhouses() -> list[Path]:
    """Directories of wheels on this host that pkgs_to_install are looked up in first, offline.

    ``$CLIPPER_WHEELHOUSE`` (``os.pathsep``-separated), then the wheelhouses
    ``make images`` builds in this source tree, those that exist.
    """
    listed = [Path(p) for p in os.environ.get(WHEELHOUSE_ENV, "").split(os.pathsep) if p]
    listed += [_REPO_ROOT / d for d in _BUILT_WHEELHOUSES]
    return [p for p in listed if p.is_dir()]


def wheelhouse_command(pkgs: list[str], dest: Path, python_version: str, docker_arch: str,
                       offline_from: list[Path] | None = None) -> list[str]:
    """The pip command that fills ``dest`` with wheels for ``pkgs`` and their dependencies.

    On a Linux host of the image's architecture and Python, ``pip wheel`` (it
    also builds wheels from source distributions); elsewhere (a Mac, say)
    ``pip download`` of binary wheels for the image's platform and Python.
    With ``offline_from``, no index: only those directories' wheels.
    """
    common = ["--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
    if offline_from:
        common += ["--no-index", *(a for d in offline_from for a in ("--find-links", str(d)))]
    if _host_matches(python_version, docker_arch):
        return [sys.executable, "-m", "pip", "wheel", *common, "--wheel-dir", str(dest), *pkgs]
    machine = _DOCKER_ARCH_TO_MACHINE.get(docker_arch, docker_arch)
    nodot = python_version.replace(".", "")
    return [
        sys.executable, "-m", "pip", "download", *common, "--dest", str(dest),
        "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
        "--abi", f"cp{nodot}", "--abi", "abi3", "--abi", "none",
        "--platform", f"manylinux_{IMAGE_GLIBC[0]}_{IMAGE_GLIBC[1]}_{machine}", "--platform", "any",
        *pkgs,
    ]


def build_wheelhouse(
    pkgs: list[str], dest: Path, python_version: str, docker_arch: str = "amd64", log: Logger = logger
) -> None:
    """Download or build wheels for ``pkgs`` (and dependencies) into ``dest``.

    Raises
    ------
    ClipperException
        If pip fails (unknown package, no wheel for the image's platform, no
        network): the message carries the tail of pip's output.
    """
    dest.mkdir(parents=True, exist_ok=True)
    local = host_wheelhouses()
    if local:
        # Offline first: the host's wheelhouses often hold everything (no network needed).
        cmd = wheelhouse_command(pkgs, dest, python_version, docker_arch, offline_from=local)
        log.info(f"Looking up wheels for {' '.join(pkgs)} offline in {', '.join(map(str, local))}")
        offline = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 text=True)
        if offline.returncode == 0:
            wheels = sorted(p.name for p in dest.glob("*.whl"))
            log.info(f"Wheelhouse ready (offline): {', '.join(wheels) or 'no wheels'}")
            return
        log.info("Not every wheel is in the host's wheelhouses; asking the package index")
        for stale in dest.glob("*"):
            if stale.is_file():
                stale.unlink()
    cmd = wheelhouse_command(pkgs, dest, python_version, docker_arch)
    log.info(f"Fetching wheels for {' '.join(pkgs)} on this host (Python {python_version}, {docker_arch})")
    tail: deque[str] = deque(maxlen=25)
    try:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
        )
    except OSError as e:
        raise ClipperException(f"Could not run pip to fetch packages {pkgs}: {e}") from e
    assert proc.stdout is not None
    with proc.stdout:
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                tail.append(line)
                log.debug(f"pip: {line}")
    code = proc.wait()
    if code != 0:
        raise ClipperException(
            f"Could not download the packages {pkgs} for the model image on this host "
            f"(pip exited with code {code}):\n" + "\n".join(tail)
        )
    wheels = sorted(p.name for p in dest.glob("*.whl"))
    log.info(f"Wheelhouse ready: {', '.join(wheels) or 'no wheels'}")
