"""Every file and folder of this repository that the README and docs/ name exists.

A reference is a backticked name ending in a source extension (``http.py``,
``dockerfiles/requirements.txt``) or a backticked folder under one of the
repository's top-level folders (``query_frontend/redis_state/``). A bare
file name must be some tracked file's name; a path must be a tracked path
or the end of one (docs often name ``redis_state/config_reader.py`` inside
the section of its package). Paths that commands create are listed apart.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "k8s" / "README.md",
        ROOT / "tests" / "seeds" / "README.md"]
SOURCE_SUFFIXES = (".py", ".md", ".yaml", ".yml", ".sh", ".toml", ".lua", ".Dockerfile", ".cfg")
#: Made by commands the docs describe, not kept in the repository.
GENERATED = ("bench/.venvs/", "bench/results/", "build/", ".venv/", "build/mxnet-venv/", "build/wheelhouse/",
             "build/framework-wheels/", "clipper_logs/")
REFERENCE = re.compile(r"`([A-Za-z0-9_.\-/]+)`")


def tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [p for p in out.splitlines() if (ROOT / p).exists()]


FILES = tracked()
NAMES = {Path(p).name for p in FILES}
FOLDERS = {str(parent) + "/" for p in FILES for parent in Path(p).parents if str(parent) != "."}
TOP = {p.split("/", 1)[0] for p in FILES if "/" in p}


def _exists(ref: str) -> bool:
    if ref.endswith("/"):
        return ref in FOLDERS or any(f.endswith("/" + ref) for f in FOLDERS)
    if "/" not in ref:
        return ref in NAMES
    return ref in FILES or any(f.endswith("/" + ref) for f in FILES)


def references(doc: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(doc.read_text().splitlines(), 1):
        for ref in REFERENCE.findall(line):
            ref = ref.removeprefix("./")
            if ref.startswith(GENERATED) or "://" in ref:
                continue
            is_file = ref.endswith(SOURCE_SUFFIXES) and not ref.startswith("/")
            is_folder = ref.endswith("/") and ref.split("/", 1)[0] in TOP
            if is_file or is_folder:
                found.append((number, ref))
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_named_file_exists(doc: Path) -> None:
    missing = [f"{doc.relative_to(ROOT)}:{n}: {ref}" for n, ref in references(doc) if not _exists(ref)]
    assert not missing, "named in the docs but not in the repository:\n" + "\n".join(missing)


def test_the_check_finds_references() -> None:
    assert (1, "x") not in references(ROOT / "README.md")
    assert len([r for d in DOCS for r in references(d)]) > 100
    assert not _exists("query_frontend/no_such_module.py") and _exists("redis_state/follower.py")
