"""Framework deployers end to end: real models trained here, served by real clusters, queried over REST.

One cluster per test module (local or Docker); each test deploys models of
its own names. The Docker fixtures are those of ``tests/docker`` (no engine
or image: skip locally, fail under ``CI=true``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.docker.conftest import clipper_images, docker_client, require_image  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def docker_require(docker_client: Any) -> Callable[[str], Any]:  # noqa: F811
    """``require_image`` for module-scoped fixtures."""
    import docker.errors

    from tests.support.ci import skip_or_fail

    def get(ref: str) -> Any:
        try:
            return docker_client.images.get(ref)
        except docker.errors.ImageNotFound:
            skip_or_fail(f"image {ref} is missing: run `make images`")

    return get


@pytest.fixture(scope="package")
def spark() -> Iterator[Any]:
    """The tests' SparkSession, stopped with its JVM once the framework tests are done."""
    from tests.frameworks import pyspark_models

    yield pyspark_models.session()
    pyspark_models.stop_session()
