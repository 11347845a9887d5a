"""Static checks of the hardening every Clipper workload must have."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


def pod_template(obj: Json) -> Json | None:
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        return obj["spec"]["template"]["spec"]
    return None


def hardening_problems(obj: Json, writable_root_ok: bool = False) -> list[str]:
    """What ``obj`` (a workload) lacks; [] when it is hardened."""
    pod = pod_template(obj)
    if pod is None:
        return []
    where = f"{obj['kind']} {obj['metadata']['name']}"
    problems = []
    pod_ctx = pod.get("securityContext") or {}
    if pod_ctx.get("runAsNonRoot") is not True:
        problems.append(f"{where}: pod runAsNonRoot is not true")
    if not isinstance(pod_ctx.get("runAsUser"), int) or pod_ctx["runAsUser"] == 0:
        problems.append(f"{where}: pod runAsUser is not a numeric non-root uid")
    for c in pod["containers"]:
        ctx = c.get("securityContext") or {}
        name = f"{where}/{c['name']}"
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if ctx.get("runAsNonRoot") is False or ctx.get("runAsUser") == 0 or ctx.get("privileged"):
            problems.append(f"{name}: may run as root or privileged")
        if "ALL" not in (ctx.get("capabilities") or {}).get("drop", []):
            problems.append(f"{name}: capabilities not dropped")
        if ctx.get("readOnlyRootFilesystem") is not True and not writable_root_ok:
            problems.append(f"{name}: root filesystem is writable")
        resources = c.get("resources") or {}
        for part in ("requests", "limits"):
            for res in ("cpu", "memory"):
                if res not in (resources.get(part) or {}):
                    problems.append(f"{name}: no {part}.{res}")
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in c:
                problems.append(f"{name}: no {probe}")
    return problems
