"""The closure images of every Python built here: each serves a function pickled by its own Python.

``make images`` builds them offline for Python 3.11 (Debian bookworm) and
3.13 (Debian trixie). The host's client runs 3.11, so the 3.13 "client" runs
inside the 3.13 image itself: it cloudpickles a closure there, the test
packages it on the closure image as the deployer does (``COPY`` into
``/model/``) and deploys it on a real DockerContainerManager cluster.
Missing images skip locally but FAIL under CI=true.
"""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from clipper_admin import ClipperConnection, ClipperException, DockerContainerManager, images
from clipper_admin.deployers import python as python_deployer
from clipper_admin.version import __version__
from tests.support.cluster import wait_for

from .conftest import ClusterFactory

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

PYTHONS = sorted(images.OFFLINE_CLOSURE_PYTHONS)
VERSION_CODE = "import sys; print('%d.%d' % sys.version_info[:2])"

# Run by the image's Python: pickles a closure that reports the Python it was
# pickled by and the one it runs in, and prints the payload (hex).
PICKLE_CODE = """
import sys, cloudpickle
pickled_by = '%d.%d' % sys.version_info[:2]
def predict(xs):
    import sys
    return ['%s>%d.%d:%s' % (pickled_by, sys.version_info[0], sys.version_info[1], sum(x)) for x in xs]
print(cloudpickle.dumps(predict).hex())
"""
LOAD_CODE = "import sys, cloudpickle; print(cloudpickle.loads(bytes.fromhex(sys.argv[1]))([[1.0]]))"


def dotted(python: tuple[int, int]) -> str:
    return "%d.%d" % python


def closure_image(python: tuple[int, int]) -> str:
    return images.image(images.closure_container_name(*python))


def run_python(client: Any, image: str, code: str, *args: str) -> tuple[int, str]:
    """Exit status and output of ``python -c code args...`` in a fresh container of ``image`` (removed after)."""
    container = client.containers.run(image, list(args), entrypoint=["python", "-c", code], network_disabled=True,
                                      detach=True)  # fmt: skip
    try:
        status: int = container.wait(timeout=60)["StatusCode"]
        return status, container.logs().decode(errors="replace").strip()
    finally:
        container.remove(force=True)


def pickle_in(client: Any, python: tuple[int, int]) -> bytes:
    """The closure of PICKLE_CODE, cloudpickled by the Python of ``python``'s closure image."""
    status, out = run_python(client, closure_image(python), PICKLE_CODE)
    assert status == 0, out
    return bytes.fromhex(out.splitlines()[-1])


def build_model_image(client: Any, base: str, func_pkl: bytes, tag: str) -> None:
    """The model image the deployer builds: ``FROM base`` plus ``/model/func.pkl``, readable by its user."""
    dockerfile = f"FROM {base}\nCOPY model /model/\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, mode in (("Dockerfile", dockerfile, 0o644), ("model/func.pkl", func_pkl, 0o644)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True, forcerm=True)


@pytest.fixture
def closure_images(require_image: Any) -> dict[tuple[int, int], Any]:
    return {python: require_image(closure_image(python)) for python in PYTHONS}


@pytest.fixture
def model_tags(docker_client: Any) -> Iterator[list[str]]:
    """Tags of model images a test builds; removed afterwards."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        try:
            docker_client.images.remove(tag, force=True)
        except Exception:  # noqa: BLE001 - already gone
            pass


@pytest.mark.parametrize("python", PYTHONS, ids=dotted)
def test_closure_image_runs_its_python(docker_client: Any, closure_images: dict[tuple[int, int], Any],
                                       python: tuple[int, int]) -> None:
    image = closure_images[python]
    assert image.labels[images.PYTHON_VERSION_LABEL] == dotted(python)
    status, out = run_python(docker_client, closure_image(python), VERSION_CODE)
    assert (status, out) == (0, dotted(python))
    assert (image.attrs["Config"].get("User") or "root") not in ("root", "0")
    # It builds on the py-rpc of its Python (py-rpc itself for 3.11).
    rpc = docker_client.images.get(images.image(images.rpc_base_name(*python)))
    assert rpc.labels[images.PYTHON_VERSION_LABEL] == dotted(python)


def test_a_payload_loads_only_in_the_python_that_pickled_it(docker_client: Any,
                                                            closure_images: dict[tuple[int, int], Any]) -> None:
    # Why the client picks the closure image by its own Python.
    payload = pickle_in(docker_client, (3, 13)).hex()
    status, out = run_python(docker_client, closure_image((3, 13)), LOAD_CODE, payload)
    assert status == 0, out
    status, out = run_python(docker_client, closure_image((3, 11)), LOAD_CODE, payload)
    assert status != 0, out


def test_closures_pickled_by_each_python_are_served_by_its_image(
    clusters: ClusterFactory, docker_client: Any, closure_images: dict[tuple[int, int], Any], model_tags: list[str]
) -> None:
    conn = ClipperConnection(clusters.manager())
    conn.start_clipper()
    for python in PYTHONS:
        name = "sum%d%d" % python
        tag = f"clipper-test-{uuid.uuid4().hex[:8]}-{name}:1"
        model_tags.append(tag)
        build_model_image(docker_client, closure_image(python), pickle_in(docker_client, python), tag)
        conn.register_application(name, "doubles", "default", 2_000_000)
        conn.deploy_model(name, "1", "doubles", tag)
        conn.link_model_to_app(name, name)

        def served(app: str = name) -> dict[str, Any] | None:
            r = requests.post(f"http://{conn.get_query_addr()}/{app}/predict", json={"input": [1.0, 2.5]}, timeout=10)
            body: dict[str, Any] = r.json()
            return body if r.status_code == 200 and body["default"] is False else None

        body = wait_for(served, timeout_s=60, what=f"a prediction of {name} served by its model", interval_s=0.2)
        assert body["output"] == f"{dotted(python)}>{dotted(python)}:3.5"


def test_a_missing_closure_image_says_how_to_build_it(docker_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = ClipperConnection(DockerContainerManager(cluster_name=f"test-{uuid.uuid4().hex[:10]}"))
    missing = f"clipper-missing-{uuid.uuid4().hex[:8]}"
    # Python 3.12: built only online.
    image = f"{missing}/{images.closure_container_name(3, 12)}:{__version__}"
    with pytest.raises(ClipperException, match=r"closure image for Python 3\.12, .* could not be pulled .*"
                                               r"`dockerfiles/build_images.sh --online --only "
                                               r"python312-closure-container`.* base_image="):
        python_deployer.check_closure_image(conn, image)
    # This Python, through the deployer: refused before anything is built or registered.
    monkeypatch.setattr(python_deployer, "__registry__", missing)
    with pytest.raises(ClipperException, match=rf"{missing}/{images.closure_container_name()}:.*could not be pulled"):
        python_deployer.deploy_python_closure(conn, "nobase", 1, "doubles", lambda xs: xs)
    # The local manager serves closures with this interpreter: no image to check.
    python_deployer.check_closure_image(object(), image)
