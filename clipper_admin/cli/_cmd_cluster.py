"""Cluster commands: start, stop, status, clusters, logs."""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

from clipper_admin.cli._clusters import (
    RUNNING,
    STOPPED,
    ClusterSummary,
    Process,
    all_clusters,
    manager,
    require_running,
    summarize,
)
from clipper_admin.cli._errors import CliError, cluster_flag
from clipper_admin.cli._output import print_json, print_table
from clipper_admin.cli._parser import Registry
from clipper_admin.local import PortInUseError
from clipper_admin.local.cluster_state import ROLE_MODEL, ClusterPaths
from clipper_admin.local.processes import log_tail
from clipper_protocol.constants import DEFAULT_PREDICTION_CACHE_SIZE_BYTES

_PORT_FLAGS = {
    "clipper_query_port": "--query-port",
    "clipper_management_port": "--management-port",
    "clipper_rpc_port": "--rpc-port",
    "redis_port": "--redis-port",
    "prometheus_port": "--prometheus-port",
}


def cmd_start(args: argparse.Namespace) -> int:
    from clipper_admin.clipper_admin import ClipperConnection

    explicit = [args.query_port, args.management_port, args.rpc_port, args.redis_port]
    if args.free_ports and any(p is not None for p in explicit):
        raise CliError("--free-ports cannot be combined with explicit port options")
    if args.no_prometheus and args.prometheus_port is not None:
        raise CliError("--no-prometheus cannot be combined with --prometheus-port")

    def port(value: int | None, default: int) -> int:
        return 0 if args.free_ports else (default if value is None else value)

    prometheus: dict[str, int | None] = {}  # the manager's default unless asked otherwise
    if args.no_prometheus or args.prometheus_port is not None:
        prometheus["prometheus_port"] = None if args.no_prometheus else args.prometheus_port
    elif args.free_ports:
        prometheus["prometheus_port"] = 0
    cm = manager(
        args,
        clipper_query_port=port(args.query_port, 1337),
        clipper_management_port=port(args.management_port, 1338),
        clipper_rpc_port=port(args.rpc_port, 7000),
        redis_port=port(args.redis_port, 6379),
        redis_ip=args.redis_ip,
        **prometheus,
    )
    current = summarize(args.cluster_name, cm.cluster_dir)
    if current.state == RUNNING:
        raise CliError(
            f"cluster {args.cluster_name} is already running (query frontend at http://{current.query_address}): "
            f"use it as it is, stop it first with `clipper stop{cluster_flag(args.cluster_name)}`, "
            "or start another one with --cluster-name NAME"
        )
    try:
        ClipperConnection(cm).start_clipper(cache_size=args.cache_size)
    except PortInUseError as e:
        flag = _PORT_FLAGS.get(e.argument, e.argument)
        raise CliError(
            f"port {e.port} for the {e.what} is already in use. Pick another one with {flag} <port>, "
            "or let Clipper choose free ports with --free-ports."
        ) from e
    summary = summarize(args.cluster_name, cm.cluster_dir)
    if args.json:
        print_json(summary.to_json())
        return 0
    print(f"Clipper cluster {cm.cluster_name} is running (files in {cm.cluster_dir})")
    _print_addresses(summary)
    return 0


def _print_addresses(s: ClusterSummary) -> None:
    print(f"  query frontend:      http://{s.query_address}")
    print(f"  management frontend: http://{s.management_address}")
    print(f"  model RPC port:      {s.rpc_port}")
    if s.prometheus_address is not None:
        print(f"  Prometheus:          http://{s.prometheus_address}")


def cmd_stop(args: argparse.Namespace) -> int:
    from clipper_admin.clipper_admin import ClipperConnection

    cm = manager(args)
    running = bool(cm.process_status())
    ClipperConnection(cm).stop_all()
    purge = getattr(cm, "purge", None)
    if args.purge and callable(purge):
        purge()
    logs_dir = ClusterPaths(cm.cluster_dir).logs_dir
    kept = logs_dir if logs_dir.is_dir() and any(logs_dir.glob("*.log")) else None
    if args.json:
        print_json({"cluster_name": cm.cluster_name, "was_running": running,
                    "logs_kept_in": None if kept is None else str(kept)})
        return 0
    print(f"Stopped cluster {cm.cluster_name}" if running else f"Cluster {cm.cluster_name} was not running")
    if kept is not None:
        flag = cluster_flag(args.cluster_name)
        print(f"Its logs stay in {kept} until it starts again: `clipper logs{flag}` lists them, "
              f"`clipper stop{flag} --purge` removes them")
    return 0


def _cluster_rows(clusters: list[ClusterSummary]) -> list[list[object]]:
    return [
        [c.name, c.state, c.query_address or "-", c.management_address or "-", c.rpc_port or "-",
         c.replicas if c.state != STOPPED else "-", c.directory]
        for c in clusters
    ]  # fmt: skip


_CLUSTER_HEADERS = ["NAME", "STATE", "QUERY_FRONTEND", "MANAGEMENT", "RPC_PORT", "REPLICAS", "DIR"]


def cmd_status(args: argparse.Namespace) -> int:
    if not args.cluster_chosen:
        running = [c for c in all_clusters() if c.state != STOPPED]
        if args.json:
            print_json([c.to_json() for c in running])
        else:
            print_table(_CLUSTER_HEADERS, _cluster_rows(running),
                        empty="No cluster is running. Start one with `clipper start`.")
        return 0 if running and all(c.state == RUNNING for c in running) else 1
    cm = manager(args)
    s = summarize(args.cluster_name, cm.cluster_dir)
    if args.json:
        print_json(s.to_json())
    elif s.state == STOPPED:
        print(f"Cluster {s.name} is not running ({s.directory})")
    else:
        print(f"Cluster {s.name} ({s.directory}): {s.state}")
        _print_addresses(s)
        print_table(["PROCESS", "PID", "STATE", "METRICS", "LOG"],
                    [[p.name, p.pid, "alive" if p.alive else "DEAD", p.metrics or "-", p.log] for p in s.processes])
    return 0 if s.state == RUNNING and all(p.alive for p in s.processes) else 1


def cmd_clusters(args: argparse.Namespace) -> int:
    clusters = all_clusters()
    if args.json:
        print_json([c.to_json() for c in clusters])
    else:
        print_table(_CLUSTER_HEADERS, _cluster_rows(clusters),
                    empty="No local clusters. Start one with `clipper start`.")
    return 0


_REPLICA_LOG = re.compile(r"^(?P<name>[^_]+)_(?P<version>[^_]+)-\d+$")


def _log_entries(args: argparse.Namespace) -> list[Process]:
    """Every log file of the cluster, with the process it belongs to (``gone`` if no longer recorded)."""
    cm = manager(args)
    summary = summarize(args.cluster_name, cm.cluster_dir)
    logs_dir = ClusterPaths(cm.cluster_dir).logs_dir
    if summary.state == STOPPED and not logs_dir.is_dir():
        require_running(args, cm)  # raises with advice
    recorded = {Path(p.log).name: p for p in summary.processes}
    entries = []
    for log in sorted(logs_dir.glob("*.log")):
        entry = recorded.get(log.name)
        if entry is None:  # a replica that exited (its record is dropped; its log stays)
            m = _REPLICA_LOG.match(log.stem)
            entry = Process(log.stem, ROLE_MODEL, 0, False, str(log), f"{m['name']}:{m['version']}" if m else None)
        entries.append(entry)
    if args.model:
        entries = [e for e in entries if e.model is not None and args.model in (e.model, e.model.split(":")[0])]
    return entries


def cmd_logs(args: argparse.Namespace) -> int:
    entries = _log_entries(args)
    if args.dir is not None:
        out = Path(args.dir)
        out.mkdir(parents=True, exist_ok=True)
        copies = []
        for e in entries:
            shutil.copyfile(e.log, out / Path(e.log).name)
            copies.append(str(out / Path(e.log).name))
        if args.json:
            print_json(copies)
        else:
            print("\n".join(copies))
        return 0
    if args.json:
        print_json([{**e.to_json(), "state": _state(e)} for e in entries])
    elif args.tail:
        for i, e in enumerate(entries):
            if i:
                print()
            print(f"==> {e.log} ({e.name}, {_state(e)}) <==")
            text = log_tail(Path(e.log), args.tail)
            if text:
                print(text)
    else:
        print_table(["PROCESS", "MODEL", "STATE", "LOG"], [[e.name, e.model or "-", _state(e), e.log] for e in entries],
                    empty="No logs found.")
    return 0


def _state(e: Process) -> str:
    return "gone" if e.pid == 0 else ("alive" if e.alive else "DEAD")


def register(r: Registry) -> None:
    p = r.add("start", cmd_start, "start a local cluster", [
        "clipper start",
        "clipper start --free-ports --cluster-name dev",
        "clipper start --query-port 8080 --management-port 8081 --rpc-port 7001 --redis-port 6380",
    ], details="Starts Redis, the management frontend and the query frontend as local processes "
               "(no Docker), which keep running after this command returns.")
    p.add_argument("--query-port", type=int, help="query frontend REST port; 0 picks a free one (default: 1337)")
    p.add_argument("--management-port", type=int, help="management frontend port; 0 picks a free one (default: 1338)")
    p.add_argument("--rpc-port", type=int, help="port model replicas connect to; 0 picks a free one (default: 7000)")
    p.add_argument("--redis-port", type=int, help="Redis port; 0 picks a free one (default: 6379)")
    p.add_argument("--free-ports", action="store_true", help="pick free ports for everything")
    p.add_argument("--redis-ip", default=None,
                   help="use the existing Redis at this address instead of starting one (default: start one)")
    p.add_argument("--prometheus-port", type=int, default=None,
                   help="port of the cluster's Prometheus; 0 picks a free one, and a port given here needs the "
                        "prometheus binary (default: 9090, or a free port if taken; none if prometheus is not "
                        "installed)")
    p.add_argument("--no-prometheus", action="store_true", help="run without Prometheus")
    p.add_argument("--cache-size", type=int, default=DEFAULT_PREDICTION_CACHE_SIZE_BYTES,
                   help="prediction cache size in bytes")

    p = r.add("stop", cmd_stop, "stop the cluster and every model replica, removing its files but the logs",
              ["clipper stop", "clipper stop --cluster-name dev --purge"])
    p.add_argument("--purge", action="store_true", help="also remove the logs the stopped cluster leaves")
    r.add("status", cmd_status, "show running clusters, or one cluster's addresses and processes", [
        "clipper status                      # every running cluster",
        "clipper status --cluster-name dev   # one cluster: addresses, processes, logs",
        "clipper status --json",
    ], details="Without --cluster-name (or $CLIPPER_CLUSTER_NAME, or --cluster-dir), lists every running or broken "
               "cluster under $CLIPPER_HOME/clusters. Exit status 0 when everything shown is running.")
    r.add("clusters", cmd_clusters, "list every local cluster under $CLIPPER_HOME/clusters, running or not",
          ["clipper clusters", "clipper clusters --json"],
          details="STATE is running (every core process alive), broken (a core process is gone: "
                  "`clipper stop` it) or stopped (a directory without a running cluster).")
    p = r.add("logs", cmd_logs, "say where each process's log is, show their tails, or copy them", [
        "clipper logs                        # every log and its location",
        "clipper logs --model sum --tail 30  # why did model sum fail?",
        "clipper logs ./clipper_logs         # copy every log there",
    ], details="A model's failures (exceptions, import errors) are only in its replica logs "
               "(logs/<model>_<version>-<n>.log in the cluster directory); they stay after the replica is gone, "
               "and after `clipper stop`.")
    p.add_argument("dir", nargs="?", default=None,
                   help="copy the logs into this directory (default: list them where they are)")
    p.add_argument("--model", default=None, metavar="NAME[:VERSION]",
                   help="only the logs of this model's replicas (default: every process)")
    p.add_argument("--tail", type=int, default=0, metavar="N", help="print the last N lines of each log (default: 0)")
