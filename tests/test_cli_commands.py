"""Every ``clipper`` command against one real local cluster, shared by this module.

The cluster (``tests/support/cli_cluster.py``) is started by a ``clipper
start --free-ports`` process, in a ``CLIPPER_HOME`` of this module's own;
the commands run in this process (``main(argv)``), except where a fresh
process is the point.
Each test deploys the models and applications it changes, so the tests do
not depend on each other's order.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from pathlib import Path

import pytest

from clipper_admin.cli import main
from tests.support.cli_cluster import CLUSTER, Cluster, cluster  # noqa: F401 - the fixture
from tests.test_cli import cli, pid_gone, run

pytestmark = pytest.mark.timeout(180)


def test_start_json_and_status(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    info = cluster.info
    assert info["cluster_name"] == CLUSTER and info["state"] == "running"
    assert info["query_address"].startswith("localhost:") and info["management_address"].startswith("localhost:")
    assert {"redis", "management_frontend", "query_frontend"} <= {p["role"] for p in info["processes"]}
    assert all(p["alive"] for p in info["processes"])

    status = cluster.json(capsys, "status")
    assert status["state"] == "running" and status["query_address"] == info["query_address"]
    out = cluster.ok(capsys, "status")
    assert f"Cluster {CLUSTER} ({cluster.directory}): running" in out
    assert f"query frontend:      http://{info['query_address']}" in out

    code, _, err = cluster(capsys, "start", "--free-ports")
    assert code == 1
    assert err == (f"clipper: error: cluster {CLUSTER} is already running (query frontend at "
                   f"http://{info['query_address']}): use it as it is, stop it first with "
                   f"`clipper stop --cluster-name {CLUSTER}`, or start another one with --cluster-name NAME\n")


def test_status_without_a_name_lists_running_clusters(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    stale = cluster.home / "clusters" / "old-one"  # a directory without a running cluster
    stale.mkdir(parents=True)
    try:
        code, out, err = run(capsys, "status")
        assert code == 0, err
        header, *rows = out.splitlines()
        assert header.split() == ["NAME", "STATE", "QUERY_FRONTEND", "MANAGEMENT", "RPC_PORT", "REPLICAS", "DIR"]
        assert [r.split()[:3] for r in rows] == [[CLUSTER, "running", cluster.info["query_address"]]]
        code, out, _ = run(capsys, "status", "--json")
        assert [c["cluster_name"] for c in json.loads(out)] == [CLUSTER]

        code, out, _ = run(capsys, "clusters")
        assert code == 0
        rows = [r.split()[:2] for r in out.splitlines()[1:]]
        assert rows == [[CLUSTER, "running"], ["old-one", "stopped"]]
        code, out, _ = run(capsys, "clusters", "--json")
        assert {c["cluster_name"]: c["state"] for c in json.loads(out)} == {CLUSTER: "running", "old-one": "stopped"}

        code, _, err = run(capsys, "apps", "--cluster-name", "old-one")
        assert code == 1
        assert err == ("clipper: error: no cluster named old-one is running: start one with "
                       f"`clipper start --cluster-name old-one` (running: {CLUSTER}; choose one with --cluster-name)\n")
    finally:
        stale.rmdir()


def test_no_info_lines_unless_verbose(cluster: Cluster) -> None:
    quiet = cli("apps", "--cluster-name", CLUSTER)
    assert quiet.returncode == 0 and quiet.stderr == ""
    verbose = cli("apps", "--cluster-name", CLUSTER, "-v")
    assert verbose.returncode == 0
    assert "INFO" in verbose.stderr and "Successfully connected to Clipper cluster" in verbose.stderr
    assert verbose.stdout == quiet.stdout


def test_tables_and_json(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    cluster.register(capsys, "tables")
    cluster.deploy(capsys, "total", "tables-model", "1", "--app", "tables")

    apps = {a["name"]: a for a in cluster.json(capsys, "apps")}
    assert apps["tables"]["linked_models"] == ["tables-model"] and apps["tables"]["latency_slo_micros"] == 5000000
    lines = cluster.ok(capsys, "apps").splitlines()
    assert lines[0].split() == ["NAME", "INPUT_TYPE", "SLO_MICROS", "DEFAULT_OUTPUT", "LINKED_MODELS"]
    assert ["tables", "doubles", "5000000", "-1", "tables-model"] in [ln.split() for ln in lines[1:]]

    models = [m for m in cluster.json(capsys, "models") if m["model_name"] == "tables-model"]
    assert [(m["model_version"], m["is_current_version"]) for m in models] == [("1", True)]
    lines = cluster.ok(capsys, "models").splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "CURRENT", "INPUT_TYPE", "REPLICAS", "IMAGE"]
    (row,) = [ln.split() for ln in lines[1:] if ln.startswith("tables-model ")]
    assert row[:5] == ["tables-model", "1", "yes", "doubles", "1"] and row[5].startswith("local:")

    replicas = [r for r in cluster.json(capsys, "replicas") if r["model_name"] == "tables-model"]
    assert [(r["model_version"], r["model_replica_id"]) for r in replicas] == [("1", 0)]
    lines = cluster.ok(capsys, "replicas").splitlines()
    assert lines[0].split() == ["MODEL", "VERSION", "REPLICA_ID", "INPUT_TYPE"]
    assert ["tables-model", "1", "0", "doubles"] in [ln.split() for ln in lines[1:]]
    # Columns line up: every row is as wide as the header's columns say.
    starts = [lines[0].index(h) for h in ("VERSION", "REPLICA_ID", "INPUT_TYPE")]
    for ln in lines[1:]:
        assert ln[starts[2]:].startswith("doubles")

    answer, _ = cluster.first_answer(capsys, "tables", "[1.5, 2.0]")
    assert answer["output"] == 3.5


def test_set_version_and_rollback(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    cluster.register(capsys, "versions")
    cluster.deploy(capsys, "v1", "ver", "1", "--app", "versions")
    cluster.deploy(capsys, "v2", "ver", "2")
    cluster.deploy(capsys, "v10", "ver", "10")  # "10" sorts after "2": versions compare as numbers

    def assert_serves(version: str, output: str) -> None:
        current = [m["model_version"] for m in cluster.json(capsys, "models")
                   if m["model_name"] == "ver" and m["is_current_version"]]  # fmt: skip
        assert current == [version]
        # The query frontend follows Redis asynchronously: the switch reaches it within moments.
        deadline = time.monotonic() + 10
        while (answer := cluster.predict(capsys, "versions", f"[{time.monotonic()}]"))["output"] != output:
            assert time.monotonic() < deadline, answer
            time.sleep(0.05)

    assert_serves("10", "ten")
    assert cluster.ok(capsys, "rollback", "ver") == "Rolled back model ver from version 10 to version 2\n"
    assert_serves("2", "two")
    assert cluster.json(capsys, "rollback", "ver") == {"model_name": "ver", "previous_version": "2",
                                                       "current_version": "1"}  # fmt: skip
    assert_serves("1", "one")
    code, _, err = cluster(capsys, "rollback", "ver")
    assert code == 1
    assert err == ("clipper: error: model ver has no version below its current version 1 to roll back to "
                   "(registered: 1, 2, 10); `clipper set-version ver VERSION` picks any\n")

    assert cluster.ok(capsys, "set-version", "ver", "10") == "Switched model ver from version 1 to version 10\n"
    assert_serves("10", "ten")
    code, _, err = cluster(capsys, "set-version", "ver", "3")
    assert code == 1 and err == "clipper: error: model ver has no version 3 (registered: 1, 2, 10)\n"
    code, _, err = cluster(capsys, "set-version", "nope", "3")
    assert code == 1
    assert err == ("clipper: error: no model named nope is registered "
                   f"(`clipper models --cluster-name {CLUSTER}` lists them)\n")


def test_scale(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    cluster.deploy(capsys, "total", "scaled", "1")
    cluster.deploy(capsys, "total", "scaled", "2")

    def replicas() -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in cluster.json(capsys, "replicas"):
            if r["model_name"] == "scaled":
                counts[r["model_version"]] = counts.get(r["model_version"], 0) + 1
        return counts

    assert cluster.ok(capsys, "scale", "scaled", "2") == "Model scaled:2 now has 2 replica(s) (had 1)\n"
    assert replicas() == {"1": 1, "2": 2}
    assert cluster.json(capsys, "scale", "scaled", "0", "--version", "1") == {
        "model_name": "scaled", "model_version": "1", "replicas": 0, "previous_replicas": 1}
    assert replicas() == {"2": 2}  # scale waits until the query frontend sees the change
    code, _, err = cluster(capsys, "scale", "scaled", "1", "--version", "7")
    assert code == 1 and err == "clipper: error: model scaled has no version 7 (registered: 1, 2)\n"


def test_link_unlink_delete_app(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    cluster.register(capsys, "short-lived")
    cluster.deploy(capsys, "total", "linked", "1")
    assert cluster.ok(capsys, "link", "short-lived", "linked") == "Linked model linked to application short-lived\n"
    assert cluster.first_answer(capsys, "short-lived", "[2.0]")[0]["output"] == 2.0

    assert cluster.json(capsys, "unlink", "short-lived", "linked") == {"app": "short-lived", "model": "linked",
                                                                      "linked": False}  # fmt: skip
    apps = {a["name"]: a for a in cluster.json(capsys, "apps")}
    assert apps["short-lived"]["linked_models"] == []
    code, _, err = cluster(capsys, "unlink", "short-lived", "linked")
    assert code == 1 and err == "clipper: error: model linked is not linked to application short-lived (linked: none)\n"

    out = cluster.ok(capsys, "delete-app", "short-lived")
    assert out == "Deleted application short-lived (its models keep running; `clipper stop-model` stops them)\n"
    assert "short-lived" not in {a["name"] for a in cluster.json(capsys, "apps")}
    code, _, err = cluster(capsys, "delete-app", "short-lived")
    assert code == 1
    assert err == ("clipper: error: no application named short-lived is registered "
                   f"(`clipper apps --cluster-name {CLUSTER}` lists them)\n")
    deadline = time.monotonic() + 10
    while (refused := cluster(capsys, "predict", "short-lived", "[1.0]"))[0] == 0:  # until the frontend drops it
        assert time.monotonic() < deadline
        time.sleep(0.05)
    code, _, err = refused
    assert code == 1 and err.startswith("clipper: error: http://") and "answered HTTP 404: Application not found" in err


def test_stop_model(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    cluster.deploy(capsys, "total", "doomed", "1")
    cluster.deploy(capsys, "total", "doomed", "2")
    cluster.deploy(capsys, "total", "doomed", "3")

    def versions() -> list[str]:
        return sorted(m["model_version"] for m in cluster.json(capsys, "models") if m["model_name"] == "doomed")

    assert cluster.ok(capsys, "stop-model", "doomed", "--version", "1", "--version", "2") == (
        "Stopped and unregistered doomed:1, doomed:2\n")
    assert versions() == ["3"]
    code, _, err = cluster(capsys, "stop-model", "doomed", "--version", "1")
    assert code == 1 and err == "clipper: error: model doomed has no version 1 (registered: 3)\n"
    assert cluster.json(capsys, "stop-model", "doomed") == {"stopped": ["doomed:3"]}
    assert versions() == []
    code, _, err = cluster(capsys, "stop-model", "doomed")
    assert code == 1 and err.startswith("clipper: error: no model named doomed is registered")


def test_metrics_and_logs_of_a_failing_model(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    cluster.register(capsys, "metered")
    cluster.deploy(capsys, "picky", "picky", "1", "--app", "metered")
    _, sent = cluster.first_answer(capsys, "metered", "[1.0]")  # sent - 1 defaults before the link arrived
    assert cluster.predict(capsys, "metered", "[2.0]")["default"] is False
    code, out, err = cluster(capsys, "predict", "metered", "[-1.0]")
    assert code == 0 and json.loads(out)["default"] is True
    assert err == ("clipper: note: this is the application's default output (The model failed to produce an output "
                   "for this input: ValueError: picky refuses negative inputs); a model's own errors are in its "
                   f"replica log: `clipper logs --cluster-name {CLUSTER} --model picky --tail 30`\n")

    figures = cluster.json(capsys, "metrics", "metered")
    (app,) = figures["apps"]
    queries, defaults = sent + 2, sent  # (sent - 1) before the link, and the refused input
    assert (app["app"], app["num_predictions"], app["default_predictions"]) == ("metered", queries, defaults)
    assert app["default_ratio"] == pytest.approx(defaults / queries, abs=1e-5)
    assert 0 < app["latency_micros"]["p50"] <= app["latency_micros"]["p99"]
    assert [(m["model_name"], m["model_version"], m["num_predictions"]) for m in figures["models"]] == [
        ("picky", "1", 3)]
    out = cluster.ok(capsys, "metrics", "metered")
    apps_table, models_table = out.split("\n\n")
    assert apps_table.splitlines()[0].split() == ["APP", "QUERIES", "DEFAULTS", "DEFAULT_%", "P50_MS", "P95_MS",
                                                  "P99_MS", "MEAN_MS"]  # fmt: skip
    assert apps_table.splitlines()[1].split()[:4] == ["metered", str(queries), str(defaults),
                                                      f"{100 * defaults / queries:.1f}"]  # fmt: skip
    assert models_table.splitlines()[1].split()[:4] == ["picky", "1", "3", "0.0"]
    everything = cluster.json(capsys, "metrics")
    assert "metered" in {a["app"] for a in everything["apps"]} and everything["prediction_cache"]["lookups"] >= 3
    code, _, err = cluster(capsys, "metrics", "nope")
    assert code == 1 and err.startswith("clipper: error: no application named nope is registered")

    # Where the model's failure is: its replica log, by path.
    logs = {e["name"]: e for e in cluster.json(capsys, "logs")}
    replica_log = cluster.directory / "logs" / "picky_1-1.log"
    assert logs["picky_1-1"]["log"] == str(replica_log) and logs["picky_1-1"]["state"] == "alive"
    assert logs["query_frontend"]["log"] == str(cluster.directory / "logs" / "query_frontend.log")
    table = cluster.ok(capsys, "logs", "--model", "picky")
    assert table.splitlines() == [f"PROCESS    MODEL    STATE  LOG", f"picky_1-1  picky:1  alive  {replica_log}"]
    tail = cluster.ok(capsys, "logs", "--model", "picky:1", "--tail", "40")
    assert tail.startswith(f"==> {replica_log} (picky_1-1, alive) <==\n")
    assert "ValueError: picky refuses negative inputs" in tail

    copies = Path(cluster.home / "copied-logs")
    out = cluster.ok(capsys, "logs", str(copies), "--model", "picky")
    assert out == f"{copies / 'picky_1-1.log'}\n"
    assert "picky refuses negative inputs" in (copies / "picky_1-1.log").read_text()


BOMB = textwrap.dedent(
    """
    def _explode():
        raise RuntimeError("cannot be loaded on a replica")

    class Bomb:
        def __reduce__(self):
            return (_explode, ())

    BOMB = Bomb()

    def predict(inputs):
        assert BOMB
        return [str(x) for x in inputs]
    """
)


def test_a_model_that_fails_to_load_is_reported_with_its_log(cluster: Cluster, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    bomb = tmp_path / "bomb.py"
    bomb.write_text(BOMB)  # loads here; unpickling the function on the replica raises
    code, out, err = cluster(capsys, "deploy", f"{bomb}:predict", "--name", "bomb", "--version", "1",
                             "--input-type", "doubles")  # fmt: skip
    log = cluster.directory / "logs" / "bomb_1-1.log"
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"clipper: error: Model replica bomb_1-1 (pid ")
    assert f"exited with code 1. Its log: {log}; it ends with: " in err
    assert err.endswith("RuntimeError: cannot be loaded on a replica (-v shows the details)\n")
    # The replica is gone; its log stays, and `clipper logs` says where.
    assert cluster.json(capsys, "logs", "--model", "bomb") == [
        {"name": "bomb_1-1", "role": "model", "pid": 0, "alive": False, "log": str(log), "model": "bomb:1",
         "metrics": None, "state": "gone"}]  # fmt: skip
    assert "RuntimeError: cannot be loaded on a replica" in cluster.ok(capsys, "logs", "--model", "bomb", "--tail", "5")


def test_a_broken_cluster_is_named_with_its_dead_process(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    started = cli("start", "--free-ports", "--no-prometheus", "--cluster-name", "breaks", "--json")
    assert started.returncode == 0, started.stderr
    try:
        (qf,) = [p for p in json.loads(started.stdout)["processes"] if p["role"] == "query_frontend"]
        os.kill(qf["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not pid_gone(qf["pid"]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        code, _, err = run(capsys, "apps", "--cluster-name", "breaks")
        assert code == 1
        assert err == (f"clipper: error: cluster breaks is broken: its query frontend (pid {qf['pid']}) is not running "
                       f"(log: {qf['log']}). Stop it with `clipper stop --cluster-name breaks` and start it again\n")
        code, out, _ = run(capsys, "status")
        assert code == 1  # not everything listed is running
        assert sorted(r.split()[:2] for r in out.splitlines()[1:]) == [["breaks", "broken"], [CLUSTER, "running"]]
        logs = {e["name"]: e["state"] for e in json.loads(run(capsys, "logs", "--cluster-name", "breaks", "--json")[1])}
        assert {k: logs[k] for k in ("redis", "management_frontend", "query_frontend")} == {
            "redis": "alive", "management_frontend": "alive", "query_frontend": "DEAD"}
    finally:
        stopped = cli("stop", "--cluster-name", "breaks")
    assert stopped.returncode == 0
    logs_dir = cluster.home / "clusters" / "breaks" / "logs"
    assert stopped.stdout == (f"Stopped cluster breaks\nIts logs stay in {logs_dir} until it starts again: "
                              "`clipper logs --cluster-name breaks` lists them, "
                              "`clipper stop --cluster-name breaks --purge` removes them\n")
    # The logs of a stopped cluster are still listed (why did it stop?), until purged.
    code, out, _ = run(capsys, "logs", "--cluster-name", "breaks", "--json")
    assert code == 0
    assert {e["name"]: (e["state"], e["log"]) for e in json.loads(out)}["query_frontend"] == (
        "gone", str(logs_dir / "query_frontend.log"))
    code, out, _ = run(capsys, "stop", "--cluster-name", "breaks", "--purge", "--json")
    assert code == 0 and json.loads(out) == {"cluster_name": "breaks", "was_running": False, "logs_kept_in": None}
    code, _, err = run(capsys, "logs", "--cluster-name", "breaks")
    assert code == 1 and err.startswith("clipper: error: no cluster named breaks is running")


def test_main_restores_logging(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    assert main(["apps", "--cluster-name", CLUSTER, "-v"]) == 0
    assert root.handlers == handlers and root.level == level
    assert "Successfully connected" in capsys.readouterr().err
