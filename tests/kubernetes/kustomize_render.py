"""Render a kustomization: ``kubectl kustomize`` when kubectl exists, else a tiny renderer.

The tiny renderer knows what k8s/ uses: ``resources`` (files and
directories, recursively) and ``patches`` given by ``path`` holding one
strategic-merge patch each, either ``$patch: delete`` or a map merged into
the object of the same kind and name (lists are replaced).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

Json = dict[str, Any]


def kubectl() -> str | None:
    return shutil.which("kubectl")


def render_with_kubectl(directory: Path) -> list[Json]:
    exe = kubectl()
    assert exe is not None
    out = subprocess.run([exe, "kustomize", str(directory)], check=True, capture_output=True, text=True,
                         timeout=60).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _merge(target: Json, patch: Json) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _key(obj: Json) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def render_simple(directory: Path) -> list[Json]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - {"apiVersion", "kind", "resources", "patches"}
    assert not unknown, f"{directory}: the tiny renderer does not know {sorted(unknown)}"
    objects: list[Json] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if path.is_dir():
            objects += render_simple(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch_ref in kustomization.get("patches", []):
        assert set(patch_ref) == {"path"}, f"{directory}: only path patches are supported: {patch_ref}"
        patch = yaml.safe_load((directory / patch_ref["path"]).read_text())
        delete = patch.pop("$patch", None) == "delete"
        matching = [o for o in objects if _key(o) == _key(patch)]
        assert len(matching) == 1, f"{directory}: patch {patch_ref['path']} matches {len(matching)} objects"
        if delete:
            objects.remove(matching[0])
        else:
            _merge(matching[0], patch)
    return objects


def render(directory: Path) -> list[Json]:
    """The objects ``kubectl apply -k directory`` would send."""
    return render_with_kubectl(directory) if kubectl() else render_simple(directory)
