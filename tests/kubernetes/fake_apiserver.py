"""A small HTTP server that plays the Kubernetes API for the manager's tests.

It stores what it is sent and answers as the API server does for the calls
``KubernetesContainerManager`` makes: create (validated against the official
schema of ``K8S_VERSION``), get, list with ``labelSelector``, merge-patch of
a Deployment's scale, delete and delete-collection, pod logs. Deployments
report every replica available (unless ``available=False``) and get a
ReplicaSet and pods, so waits finish and logs can be read. Every request is
recorded; anything it does not understand is recorded in ``errors`` and
answered 400/404, so a test can assert the manager only made sensible calls.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import kubernetes_validate

K8S_VERSION = "1.30"

Json = dict[str, Any]

#: (group, plural) -> (kind, apiVersion, namespaced)
RESOURCES: dict[tuple[str, str], tuple[str, str, bool]] = {
    ("", "namespaces"): ("Namespace", "v1", False),
    ("", "nodes"): ("Node", "v1", False),
    ("", "services"): ("Service", "v1", True),
    ("", "pods"): ("Pod", "v1", True),
    ("", "configmaps"): ("ConfigMap", "v1", True),
    ("", "secrets"): ("Secret", "v1", True),
    ("", "serviceaccounts"): ("ServiceAccount", "v1", True),
    ("", "replicationcontrollers"): ("ReplicationController", "v1", True),
    ("", "persistentvolumeclaims"): ("PersistentVolumeClaim", "v1", True),
    ("apps", "deployments"): ("Deployment", "apps/v1", True),
    ("apps", "replicasets"): ("ReplicaSet", "apps/v1", True),
    ("rbac.authorization.k8s.io", "clusterroles"): ("ClusterRole", "rbac.authorization.k8s.io/v1", False),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): (
        "ClusterRoleBinding", "rbac.authorization.k8s.io/v1", False),
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any


def matches(labels: dict[str, str], selector: str) -> bool:
    """Equality-based label selector: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, comma-separated."""
    for term in (t.strip() for t in selector.split(",")):
        if not term:
            continue
        if "!=" in term:
            k, v = (s.strip() for s in term.split("!=", 1))
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(k) != v:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


@dataclass
class FakeKubernetes:
    """The state: objects by (group, plural, namespace) and name."""

    available: bool = True
    nodes: list[Json] = field(default_factory=lambda: [{
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"},
                                 {"type": "Hostname", "address": "node-1"}]},
    }])
    store: dict[tuple[str, str, str], dict[str, Json]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _node_ports: itertools.count = field(default_factory=lambda: itertools.count(30000))

    def __post_init__(self) -> None:
        self.bucket("", "namespaces", "")["default"] = {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
        for node in self.nodes:
            self.bucket("", "nodes", "")[node["metadata"]["name"]] = node

    def bucket(self, group: str, plural: str, ns: str) -> dict[str, Json]:
        return self.store.setdefault((group, plural, ns), {})

    def objects(self, group: str, plural: str, ns: str = "") -> dict[str, Json]:
        """What is stored, for assertions."""
        with self.lock:
            return json.loads(json.dumps(self.bucket(group, plural, ns)))

    # --- side effects of creation ------------------------------------------

    def after_create(self, group: str, plural: str, ns: str, obj: Json) -> None:
        obj["metadata"].setdefault("uid", f"uid-{obj['metadata']['name']}")
        if plural == "services":
            spec = obj["spec"]
            spec["clusterIP"] = "10.96.0.10"
            for port in spec["ports"]:
                if spec.get("type") in ("NodePort", "LoadBalancer"):
                    port["nodePort"] = next(self._node_ports)
            if spec.get("type") == "LoadBalancer":
                obj["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
        if plural == "deployments":
            self.settle(ns, obj)

    def settle(self, ns: str, deployment: Json) -> None:
        """Status, ReplicaSet and pods of a Deployment at its current replica count."""
        name, replicas = deployment["metadata"]["name"], deployment["spec"].get("replicas", 1)
        available = replicas if self.available else 0
        deployment["status"] = {"replicas": replicas, "availableReplicas": available, "readyReplicas": available,
                                "updatedReplicas": replicas, "observedGeneration": 1}
        template = deployment["spec"]["template"]
        labels = template["metadata"]["labels"]
        self.bucket("apps", "replicasets", ns)[f"{name}-rs"] = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{name}-rs", "namespace": ns, "labels": labels},
            "spec": {"replicas": replicas, "selector": deployment["spec"]["selector"], "template": template}}
        pods = self.bucket("", "pods", ns)
        for pod_name in [p for p, pod in pods.items() if pod["metadata"].get("annotations", {}).get("owner") == name]:
            del pods[pod_name]
        for i in range(replicas):
            pods[f"{name}-{i}"] = {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{name}-{i}", "namespace": ns, "labels": labels,
                             "annotations": {"owner": name}},
                "spec": template["spec"], "status": {"phase": "Running"}}

    def scale_of(self, ns: str, deployment: Json) -> Json:
        replicas = deployment["spec"].get("replicas", 1)
        return {"apiVersion": "autoscaling/v1", "kind": "Scale",
                "metadata": {"name": deployment["metadata"]["name"], "namespace": ns},
                "spec": {"replicas": replicas}, "status": {"replicas": replicas}}


def _status(code: int, reason: str, message: str) -> Json:
    return {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure" if code >= 400 else "Success",
            "message": message, "reason": reason, "code": code}


class _Handler(BaseHTTPRequestHandler):
    server: "FakeApiServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _reply(self, code: int, body: Any, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _fail(self, code: int, reason: str, message: str) -> None:
        self.server.state.errors.append(f"{self.command} {self.path}: {message}")
        self._reply(code, _status(code, reason, message))

    def _handle(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self._fail(400, "BadRequest", "body is not JSON")
        state = self.server.state
        with state.lock:
            state.requests.append(Request(self.command, url.path, query, content_type, body))
            route = self._route(url.path)
            if route is None:
                return self._fail(404, "NotFound", "unknown path")
            try:
                self._dispatch(state, *route, query, content_type, body)
            except Exception as e:  # noqa: BLE001 - a bug in the fake must show up as a test failure
                self._fail(500, "InternalError", f"fake failed: {e!r}")

    def _route(self, path: str) -> tuple[str, str, str, str | None, str | None] | None:
        """``(group, plural, namespace, name, subresource)`` of an API path."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            group, rest = "", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, rest = parts[1], parts[3:]
        else:
            return None
        ns = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        if not rest or (group, rest[0]) not in RESOURCES or len(rest) > 3:
            return None
        if RESOURCES[(group, rest[0])][2] != bool(ns):
            return None
        return group, rest[0], ns, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None

    def _dispatch(self, state: FakeKubernetes, group: str, plural: str, ns: str, name: str | None,
                  sub: str | None, query: dict[str, str], content_type: str, body: Any) -> None:
        kind, api_version, _ = RESOURCES[(group, plural)]
        bucket = state.bucket(group, plural, ns)
        method = self.command
        if name is None:
            selector = query.get("labelSelector", "")
            selected = [o for o in bucket.values() if matches(o["metadata"].get("labels") or {}, selector)]
            if method == "GET":
                return self._reply(200, {"apiVersion": api_version, "kind": f"{kind}List", "metadata": {},
                                         "items": selected})
            if method == "DELETE":
                for obj in selected:
                    del bucket[obj["metadata"]["name"]]
                return self._reply(200, {"apiVersion": api_version, "kind": f"{kind}List", "metadata": {},
                                         "items": selected})
            if method == "POST":
                return self._create(state, group, plural, ns, kind, api_version, bucket, content_type, body)
            return self._fail(405, "MethodNotAllowed", "method not allowed on a collection")
        if name not in bucket:
            return self._reply(404, _status(404, "NotFound", f'{plural} "{name}" not found'))
        obj = bucket[name]
        if method == "GET" and (sub is None or (sub == "status" and plural == "deployments")):
            return self._reply(200, obj)
        if plural == "deployments" and sub == "scale":
            if method == "PATCH":
                if content_type != "application/merge-patch+json":
                    return self._fail(415, "UnsupportedMediaType", f"scale patch sent as {content_type}")
                replicas = (body or {}).get("spec", {}).get("replicas")
                if not isinstance(replicas, int) or replicas < 0:
                    return self._fail(422, "Invalid", f"bad scale patch {body}")
                obj["spec"]["replicas"] = replicas
                state.settle(ns, obj)
            elif method != "GET":
                return self._fail(405, "MethodNotAllowed", "scale supports GET and PATCH")
            return self._reply(200, state.scale_of(ns, obj))
        if plural == "pods" and sub == "log" and method == "GET":
            containers = [c["name"] for c in obj["spec"]["containers"]]
            if query.get("container") not in containers:
                return self._fail(400, "BadRequest", f"container {query.get('container')} not in {containers}")
            return self._reply(200, f"log of {name}/{query['container']}\n", "text/plain")
        if method == "DELETE" and sub is None:
            del bucket[name]
            return self._reply(200, obj if plural == "services" else _status(200, "", "deleted"))
        return self._fail(405, "MethodNotAllowed", f"{method} {sub or ''} not supported")

    def _create(self, state: FakeKubernetes, group: str, plural: str, ns: str, kind: str, api_version: str,
                bucket: dict[str, Json], content_type: str, body: Any) -> None:
        if not content_type.startswith("application/json"):
            return self._fail(415, "UnsupportedMediaType", f"create sent as {content_type!r}")
        if not isinstance(body, dict) or body.get("kind") != kind or body.get("apiVersion") != api_version:
            return self._fail(400, "BadRequest", f"expected a {api_version} {kind}, got {str(body)[:200]}")
        if body.get("metadata", {}).get("namespace", ns) != ns:
            return self._fail(400, "BadRequest", "metadata.namespace does not match the path")
        try:
            kubernetes_validate.validate(body, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            return self._fail(422, "Invalid", f"{kind} {body['metadata'].get('name')}: {e.message}")
        name = body["metadata"]["name"]
        if name in bucket:
            return self._reply(409, _status(409, "AlreadyExists", f'{plural} "{name}" already exists'))
        obj = json.loads(json.dumps(body))
        if ns:
            obj["metadata"]["namespace"] = ns
        state.after_create(group, plural, ns, obj)
        bucket[name] = obj
        self._reply(201, obj)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle


class FakeApiServer(ThreadingHTTPServer):
    """``FakeKubernetes`` served on 127.0.0.1 (port 0 picks a free one)."""

    daemon_threads = True

    def __init__(self, state: FakeKubernetes | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state or FakeKubernetes()
        self._thread = threading.Thread(target=self.serve_forever, name="fake-k8s-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "FakeApiServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)
