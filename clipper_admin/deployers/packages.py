"""pip packages for model images: name fixes and a wheelhouse built on the host.

Model containers often cannot reach PyPI (no HTTPS from build containers, an
air-gapped cluster), while the machine running ``clipper_admin`` can. So the
packages named in ``pkgs_to_install`` are downloaded (or built) here into a
*wheelhouse* directory that goes into the image's build context, and the
image installs them with ``pip install --no-index --find-links``.
"""

from __future__ import annotations

import logging
import platform
import re
import subprocess
import sys
from collections import deque
from pathlib import Path

from clipper_admin.exceptions import ClipperException

logger = logging.getLogger("clipper.admin.packages")

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]

# pip names that no longer install (the "sklearn" shim refuses since 2023).
PIP_RENAMES = {"sklearn": "scikit-learn"}

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


def wheelhouse_command(pkgs: list[str], dest: Path, python_version: str, docker_arch: str) -> list[str]:
    """The pip command that fills ``dest`` with wheels for ``pkgs`` and their dependencies.

    On a Linux host of the image's architecture and Python, ``pip wheel`` (it
    also builds wheels from source distributions); elsewhere (a Mac, say)
    ``pip download`` of binary wheels for the image's platform and Python.
    """
    common = ["--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
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
