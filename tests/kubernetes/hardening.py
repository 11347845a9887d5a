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


def _secret_refs(container: Json) -> dict[str, tuple[str, str]]:
    """``{env name: (secret, key)}`` of the container's secretKeyRef variables."""
    refs = {}
    for env in container.get("env") or []:
        ref = (env.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            refs[env["name"]] = (ref["name"], ref["key"])
    return refs


def auth_problems(objects: list[Json], external_redis: bool = False) -> list[str]:
    """What a cluster's objects lack for authentication; [] when all is in place.

    - the management frontend requires an admin token (``CLIPPER_ADMIN_TOKEN``
      from a Secret, never a literal);
    - Redis (when deployed) requires a password from the same Secret, its
      probe authenticates, and its Service is not published outside the
      cluster (ClusterIP);
    - both frontends get that password from the Secret;
    - no Secret value is written in a pod spec.
    """
    problems = []
    by_component: dict[str, list[Json]] = {}
    for obj in objects:
        pod = pod_template(obj)
        component = obj["metadata"].get("labels", {}).get("ai.clipper.name", "")
        if pod is not None:
            by_component.setdefault(component, []).extend(pod["containers"])
            for c in pod["containers"]:
                for env in c.get("env") or []:
                    if env["name"] in ("CLIPPER_ADMIN_TOKEN", "REDIS_PASSWORD", "REDISCLI_AUTH") or \
                            env["name"].endswith("REDIS_PASSWORD"):
                        if "value" in env:
                            problems.append(f"{obj['metadata']['name']}: {env['name']} is a literal, not a secretKeyRef")
        if obj["kind"] == "Service" and component == "redis" and obj["spec"].get("type", "ClusterIP") != "ClusterIP":
            problems.append(f"Service {obj['metadata']['name']}: Redis is published ({obj['spec']['type']})")
    mgmt = by_component.get("mgmt-frontend", [])
    if not mgmt:
        problems.append("no management frontend")
    secrets: set[tuple[str, str]] = set()
    for c in mgmt:
        refs = _secret_refs(c)
        if "CLIPPER_ADMIN_TOKEN" not in refs:
            problems.append(f"{c['name']}: no admin token from a Secret")
        if "CLIPPER_MGMT_REDIS_PASSWORD" not in refs:
            problems.append(f"{c['name']}: no Redis password from a Secret")
        secrets.update(refs.values())
    for c in by_component.get("query-frontend", []):
        refs = _secret_refs(c)
        if "CLIPPER_QF_REDIS_PASSWORD" not in refs:
            problems.append(f"{c['name']}: no Redis password from a Secret")
        secrets.update(refs.values())
    redis = by_component.get("redis", [])
    if not redis and not external_redis:
        problems.append("no Redis deployment")
    for c in redis:
        refs = _secret_refs(c)
        args = c.get("args") or []
        if "--requirepass" not in args or args[args.index("--requirepass") + 1] != "$(REDIS_PASSWORD)":
            problems.append(f"{c['name']}: Redis does not require the password")
        if "REDIS_PASSWORD" not in refs or "REDISCLI_AUTH" not in refs:
            problems.append(f"{c['name']}: Redis password or probe auth not from a Secret")
        secrets.update(refs.values())
    if len({name for name, _ in secrets}) > 1:
        problems.append(f"credentials come from several Secrets: {sorted(secrets)}")
    return problems
