"""User-defined metrics from a deployed function, read back from its replica (and Prometheus).

Starts a local cluster on free ports, deploys a Python closure that reports a
counter, a gauge and a histogram with ``clipper_admin.metrics``, sends it a
few queries, prints the series from the replica's metrics endpoint and, when
the cluster has a Prometheus, the counter as Prometheus stored it. Stops the
cluster at the end.

    python examples/user_defined_metric/user_defined_metric.py
"""

from __future__ import annotations

import re
import sys
import tempfile
import time

import requests

import clipper_admin.metrics as metrics
from clipper_admin import ClipperConnection, LocalContainerManager
from clipper_admin.deployers import python as python_deployer

APP = "word-stats"


def word_stats(texts):
    # Adding on every call is cheap and harmless: only the first one counts.
    metrics.add_metric("example_characters", "Counter", "Characters of every input seen")
    metrics.add_metric("example_last_words", "Gauge", "Words in the last input")
    metrics.add_metric("example_words", "Histogram", "Words per input", buckets=[1, 5, 10, 50])
    for text in texts:
        words = len(text.split())
        metrics.report_metric("example_characters", len(text))
        metrics.report_metric("example_last_words", words)
        metrics.report_metric("example_words", words)
    return [str(len(text.split())) for text in texts]


def prometheus_value(conn: ClipperConnection, query: str, timeout_s: float = 30.0) -> str | None:
    """The value of ``query`` once Prometheus has scraped it (its replica targets take a few seconds)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = requests.get(f"http://{conn.get_metric_addr()}/api/v1/query", params={"query": query}, timeout=10)
        result = r.json().get("data", {}).get("result", [])
        if result:
            return f"{result[0]['metric']} {result[0]['value'][1]}"
        time.sleep(0.5)
    return None


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="clipper-user-metrics-") as cluster_dir:
        cm = LocalContainerManager(cluster_name="user-metrics-example", cluster_dir=cluster_dir, clipper_query_port=0,
                                   clipper_management_port=0, clipper_rpc_port=0, redis_port=0, prometheus_port=0)
        cm.prometheus_scrape_interval = "1s"
        conn = ClipperConnection(cm)
        conn.start_clipper()
        try:
            run(conn, cm)
        finally:
            conn.stop_all(graceful=False)
    return 0


def run(conn: ClipperConnection, cm: LocalContainerManager) -> None:
    python_deployer.create_endpoint(conn, APP, "strings", word_stats, default_output="-1")
    for text in ["hello", "a user defined metric", "three more words", "the last input has six words"]:
        reply = requests.post(f"http://{conn.get_query_addr()}/{APP}/predict", json={"input": text}, timeout=30)
        print(f"{text!r} -> {reply.json()['output']}")

    (replica,) = [s for s in cm.process_status() if s.role == "model"]
    page = requests.get(f"http://{replica.metrics}/metrics", timeout=10).text
    print(f"\nUser-defined series on replica {replica.name} (http://{replica.metrics}/metrics):")
    for line in page.splitlines():
        if re.match(r"example_\w+\{", line):
            print("  " + line)

    if cm.prometheus_port is None:
        print("\nNo Prometheus in this cluster (apt-get install prometheus to have one).")
    else:
        query = 'example_characters_total{model="%s"}' % APP
        print(f"\nIn Prometheus: {prometheus_value(conn, query)}")


if __name__ == "__main__":
    sys.exit(main())
