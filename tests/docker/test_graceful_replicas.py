"""Scale-down on Docker under load: the stopped replica (``docker stop``: SIGTERM) loses no query.

Real engine, real images. Four client threads query without pause while
``set_num_replicas`` takes the model from 3 replicas to 1; every answer must
be the model's, none the default output.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
import requests

from clipper_admin import ClipperConnection, images

from .conftest import ClusterFactory

pytestmark = pytest.mark.slow


@pytest.mark.timeout(600)
def test_scale_down_under_load_answers_every_query(clusters: ClusterFactory) -> None:
    cm = clusters.manager()
    conn = ClipperConnection(cm)
    conn.start_clipper(cache_size=0)  # every query reaches a replica
    conn.register_application("app", "doubles", "-1", 1_000_000)
    conn.deploy_model("noop", "1", "doubles", images.image(images.NOOP_CONTAINER), num_replicas=3)
    conn.link_model_to_app("app", "noop")
    url = f"http://{conn.get_query_addr()}/app/predict"
    answers: Counter[str] = Counter()
    stop = threading.Event()

    def client(seed: int) -> None:
        with requests.Session() as s:
            i = 0
            while not stop.is_set():
                i += 1
                body: dict[str, Any] = s.post(url, json={"input": [float(seed), float(i)]}, timeout=10).json()
                answers["default" if body["default"] else "model"] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        conn.set_num_replicas("noop", 1)  # two replicas get SIGTERM while queries stream in
        time.sleep(2)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert conn.get_num_replicas("noop", "1") == 1
    assert answers["model"] > 100 and answers["default"] == 0, answers
    print(f"\nFIGURES docker_scale_down answers={dict(answers)}")
    conn.stop_all()
