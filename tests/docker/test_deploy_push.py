"""build_model pushes to ``container_registry`` (and only then), through the real Docker engine.

The registry is a small in-process HTTP server speaking the parts of the
Docker Registry HTTP API v2 that a push uses (blob uploads, manifests), on
127.0.0.1, which the engine treats as an insecure (plain-HTTP) registry.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from clipper_admin import ClipperConnection, ClipperException, DockerContainerManager, images
from clipper_admin.local.redis_server import free_port

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

CLOSURE_IMAGE = images.image(images.closure_container_name())


class Registry:
    """What was pushed: blobs by digest, manifests by (repository, tag)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.uploads: dict[str, bytearray] = {}
        self.manifests: dict[tuple[str, str], bytes] = {}
        self.lock = threading.Lock()


def handler_for(registry: Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return bytes(data)
                    data += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _reply(self, code: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
            self.send_response(code)
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._body()
            self._reply(200, {"Content-Type": "application/json"}, b"{}") if self.path == "/v2/" else self._reply(404)

        def do_HEAD(self) -> None:
            m = re.fullmatch(r"/v2/(.+)/blobs/(sha256:[0-9a-f]+)", self.path)
            with registry.lock:
                blob = registry.blobs.get(m.group(2)) if m else None
            if blob is None:
                self._reply(404)
            else:
                self.send_response(200)
                self.send_header("Content-Length", str(len(blob)))
                self.send_header("Docker-Content-Digest", m.group(2))  # type: ignore[union-attr]
                self.end_headers()

        def do_POST(self) -> None:
            self._body()
            m = re.fullmatch(r"/v2/(.+)/blobs/uploads/(\?.*)?", self.path)
            if not m:
                return self._reply(404)
            upload = uuid.uuid4().hex
            with registry.lock:
                registry.uploads[upload] = bytearray()
            self._reply(202, {"Location": f"/v2/{m.group(1)}/blobs/uploads/{upload}", "Docker-Upload-UUID": upload,
                              "Range": "0-0"})

        def do_PATCH(self) -> None:
            data = self._body()
            m = re.fullmatch(r"/v2/(.+)/blobs/uploads/([0-9a-f]+)", self.path)
            if not m:
                return self._reply(404)
            with registry.lock:
                buf = registry.uploads[m.group(2)]
                buf += data
                size = len(buf)
            self._reply(202, {"Location": self.path, "Docker-Upload-UUID": m.group(2), "Range": f"0-{max(size - 1, 0)}"})

        def do_PUT(self) -> None:
            data = self._body()
            upload = re.fullmatch(r"/v2/(.+)/blobs/uploads/([0-9a-f]+)\?(.*)", self.path)
            manifest = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", self.path)
            if upload:
                digest = re.search(r"digest=(sha256(?:%3A|:)[0-9a-f]+)", upload.group(3))
                assert digest is not None
                name = digest.group(1).replace("%3A", ":")
                with registry.lock:
                    blob = bytes(registry.uploads.pop(upload.group(2)) + data)
                if "sha256:" + hashlib.sha256(blob).hexdigest() != name:
                    return self._reply(400, body=b'{"errors":[{"code":"DIGEST_INVALID"}]}')
                with registry.lock:
                    registry.blobs[name] = blob
                return self._reply(201, {"Location": f"/v2/{upload.group(1)}/blobs/{name}",
                                         "Docker-Content-Digest": name})
            if manifest:
                with registry.lock:
                    registry.manifests[(manifest.group(1), manifest.group(2))] = data
                return self._reply(201, {"Docker-Content-Digest": "sha256:" + hashlib.sha256(data).hexdigest()})
            self._reply(404)

    return Handler


@pytest.fixture
def registry() -> Iterator[tuple[str, Registry]]:
    state = Registry()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def model_dir(tmp_path: Path) -> str:
    (tmp_path / "func.pkl").write_bytes(b"model bytes")
    return str(tmp_path)


def manager() -> DockerContainerManager:
    # build_model needs no running cluster: only the cluster identifier for the tag.
    return DockerContainerManager(cluster_name=f"push-{uuid.uuid4().hex[:6]}", clipper_query_port=free_port())


def test_model_image_is_pushed_to_the_registry(docker_client: Any, registry: tuple[str, Registry],
                                               model_dir: str) -> None:
    address, pushed = registry
    conn = ClipperConnection(manager())
    image = conn.build_model("m", 2, model_dir, CLOSURE_IMAGE, container_registry=address)
    try:
        repository = f"{conn.cm.cluster_identifier}-m"
        assert image == f"{address}/{repository}:2"
        raw = pushed.manifests[(repository, "2")]
        manifest = json.loads(raw)
        layer_digests = [layer["digest"] for layer in manifest["layers"]]
        assert manifest["config"]["digest"] in pushed.blobs
        assert set(layer_digests) <= set(pushed.blobs)
        config = json.loads(pushed.blobs[manifest["config"]["digest"]])
        assert config["config"]["Labels"][images.PYTHON_VERSION_LABEL]  # the base image's layers came along
    finally:
        docker_client.images.remove(image, force=True)


def test_without_a_registry_nothing_is_pushed(docker_client: Any, registry: tuple[str, Registry],
                                              model_dir: str) -> None:
    _, pushed = registry
    conn = ClipperConnection(manager())
    image = conn.build_model("m", 1, model_dir, CLOSURE_IMAGE)
    try:
        assert image == f"{conn.cm.cluster_identifier}-m:1"
        assert pushed.manifests == {} and pushed.blobs == {}
    finally:
        docker_client.images.remove(image, force=True)


def test_an_unreachable_registry_is_a_clear_error(docker_client: Any, model_dir: str) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    conn = ClipperConnection(manager())
    tag = f"{address}/{conn.cm.cluster_identifier}-m:1"
    try:
        with pytest.raises(ClipperException, match=rf"Pushing model image {re.escape(tag)} failed: .*connection refused"):
            conn.build_model("m", 1, model_dir, CLOSURE_IMAGE, container_registry=address)
    finally:
        docker_client.images.remove(tag, force=True)
