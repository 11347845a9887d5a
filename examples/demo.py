"""`make demo`: a local Clipper cluster serving a model, in under a minute.

Starts a cluster with the embedded LocalContainerManager (no Docker, no root),
registers the quickstart's hello-world application, deploys the sum model as
a Python closure, queries it, and prints the curl line to repeat the query.
The cluster keeps running afterwards; `make demo-stop` stops it.
"""

from __future__ import annotations

import json
import sys
import time

import requests

from clipper_admin import ClipperConnection, ClipperException, LocalContainerManager
from clipper_admin.local import PortInUseError
from clipper_admin.deployers import python as python_deployer

CLUSTER = "demo"


def feature_sum(xs):
    return [str(sum(x)) for x in xs]


def main() -> int:
    # Standard query/admin ports so the printed curl line reads as in the
    # docs (free ones if they are taken); Redis and RPC on free ports, so an
    # existing Redis on 6379 is left alone.
    manager = LocalContainerManager(cluster_name=CLUSTER, redis_port=0, clipper_rpc_port=0)
    conn = ClipperConnection(manager)
    try:
        conn.connect()
        print("A demo cluster is already running: stopping it first.")
        conn.stop_all()
        conn = ClipperConnection(manager)
    except ClipperException:
        pass

    try:
        conn.start_clipper()
    except PortInUseError as e:
        # Another server holds 1337 or 1338: the demo still runs, on ports the OS picks.
        print(f"Port {e.port} ({e.what}) is taken on this machine: using free ports instead.")
        manager = LocalContainerManager(cluster_name=CLUSTER, clipper_query_port=0, clipper_management_port=0,
                                        redis_port=0, clipper_rpc_port=0)
        conn = ClipperConnection(manager)
        conn.start_clipper()
    print(f"Query frontend on {conn.get_query_addr()}, management frontend on {conn.cm.get_admin_addr()}")
    conn.register_application(name="hello-world", input_type="doubles", default_output="-1.0", slo_micros=100000)
    python_deployer.deploy_python_closure(conn, name="sum-model", version=1, input_type="doubles", func=feature_sum)
    conn.link_model_to_app(app_name="hello-world", model_name="sum-model")

    url = f"http://{conn.get_query_addr()}/hello-world/predict"
    body = {"input": [1.1, 2.2, 3.3]}
    deadline = time.monotonic() + 30
    while True:
        reply = requests.post(url, json=body, timeout=5).json()
        if not reply["default"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    print()
    print(f"Prediction from sum-model: {json.dumps(reply)}")
    print()
    print("Repeat it with:")
    print(f"  curl -X POST --header 'Content-Type: application/json' -d '{json.dumps(body)}' {url}")
    print()
    print("Stop the cluster with: make demo-stop")
    return 0 if not reply["default"] else 1


if __name__ == "__main__":
    sys.exit(main())
