"""Seed 003: the Docker Hub page of the PySpark container, whose README is Clipper's quickstart.

The REPL session runs as written (prompts dropped) in a fresh Python
against the default ``DockerContainerManager`` cluster (the test's own
stands in for it: ``tests/seeds/conftest.py``): start, register
``hello-world``, ``get_all_apps()``, deploy ``feature_sum`` as
``sum-model``, link; then both queries, then the clean-up session from a
second fresh process (``connect()`` + ``stop_all()``).

Repaired where the page's rendering lost text (links were stripped):
the cURL line lost its URL, and the Python query lost ``requests.post(``
(``>>>"http://localhost:1337/hello-world/predict", headers=...``); both
are restored from the URL the README names just above them.

"This quickstart requires Docker and only supports Python2": the code is
valid Python 3 and runs on it unchanged. Not run: the ``pip install``
lines (installation).
"""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.seeds.seed_support import SeedCluster, run_script

pytestmark = pytest.mark.timeout(600)

START_AND_DEPLOY = '''\
from clipper_admin import ClipperConnection, DockerContainerManager
clipper_conn = ClipperConnection(DockerContainerManager())

# Start Clipper. Running this command for the first time will
# download several Docker containers, so it may take some time.
clipper_conn.start_clipper()

# Register an application called "hello_world". This will create
# a prediction REST endpoint at http://localhost:1337/hello_world/predict
clipper_conn.register_application(name="hello-world", input_type="doubles", default_output="-1.0", slo_micros=100000)

# Inspect Clipper to see the registered apps
clipper_conn.get_all_apps()

# Define a simple model that just returns the sum of each feature vector.
# Note that the prediction function takes a list of feature vectors as
# input and returns a list of strings.
def feature_sum(xs):
      return [str(sum(x)) for x in xs]

# Import the python deployer package
from clipper_admin.deployers import python as python_deployer

# Deploy the "feature_sum" function as a model. Notice that the application and model
# must have the same input type.
python_deployer.deploy_python_closure(clipper_conn, name="sum-model", version=1, input_type="doubles", func=feature_sum)

# Tell Clipper to route requests for the "hello-world" application to the "sum-model"
clipper_conn.link_model_to_app(app_name="hello-world", model_name="sum-model")
print("APPS " + repr(clipper_conn.get_all_apps()))  # test glue: what the REPL echoed
'''
CURL = """curl -X POST --header "Content-Type:application/json" -d '{"input": [1.1, 2.2, 3.3]}' \
http://localhost:1337/hello-world/predict"""
PYTHON_QUERY = """\
import requests, json, numpy as np
headers = {"Content-type": "application/json"}
print(requests.post("http://localhost:1337/hello-world/predict", headers=headers, data=json.dumps({"input": list(np.random.random(10))})).json())
"""
CLEAN_UP = """\
from clipper_admin import ClipperConnection, DockerContainerManager
clipper_conn = ClipperConnection(DockerContainerManager())
clipper_conn.connect()

# Stop all Clipper docker containers
clipper_conn.stop_all()
"""


def test_quickstart_readme(seed_cluster: SeedCluster, tmp_path: Path) -> None:
    out = run_script(tmp_path, "quickstart.py", START_AND_DEPLOY)
    assert "APPS ['hello-world']" in out

    deadline = time.monotonic() + 90  # the replica may still be connecting: -1.0 until then
    while True:
        body = json.loads(seed_cluster.run_shell(CURL, timeout=30).stdout)
        if body["default"] is False or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert body["default"] is False and body["output"] == pytest.approx(6.6)

    out = run_script(tmp_path, "query.py", PYTHON_QUERY)
    answer = ast.literal_eval(out.strip())  # the dict print()ed
    assert answer["default"] is False and 0.0 < answer["output"] < 10.0  # the sum of ten numbers in [0, 1)

    run_script(tmp_path, "clean_up.py", CLEAN_UP)
    assert not seed_cluster.containers()
