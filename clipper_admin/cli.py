"""``clipper``: drive a local Clipper cluster from the shell.

Every command works on one local cluster (``--cluster-name``, default
``default-cluster``; its files under ``$CLIPPER_HOME/clusters/<name>`` or
``--cluster-dir``)::

    clipper start [--free-ports]          clipper stop
    clipper status                        clipper logs [DIR]
    clipper register-app hello --input-type doubles --default-output -1 --slo-micros 100000
    clipper deploy model.py:predict --name sum --version 1 --input-type doubles --app hello
    clipper predict hello '[1.0, 2.0]'

Expected failures print ``error: <message>`` and exit with status 1.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clipper_admin.exceptions import ClipperException
from clipper_admin.local import LocalContainerManager, PortInUseError
from clipper_protocol.errors import ClipperError

if TYPE_CHECKING:
    from clipper_admin.clipper_admin import ClipperConnection

logger = logging.getLogger("clipper.cli")

_PORT_FLAGS = {
    "clipper_query_port": "--query-port",
    "clipper_management_port": "--management-port",
    "clipper_rpc_port": "--rpc-port",
    "redis_port": "--redis-port",
}


class CliError(ClipperError):
    """An expected failure: printed without a traceback, exit status 1."""


# ------------------------------------------------------------------ helpers


def _manager(args: argparse.Namespace, **ports: Any) -> LocalContainerManager:
    return LocalContainerManager(cluster_name=args.cluster_name, cluster_dir=args.cluster_dir, **ports)


def _connection(args: argparse.Namespace, connect: bool = True) -> ClipperConnection:
    from clipper_admin.clipper_admin import ClipperConnection

    conn = ClipperConnection(_manager(args))
    if connect:
        conn.connect()
    return conn


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False))


def load_function(spec: str) -> Callable[..., Any]:
    """The function named by ``FILE.py:FUNCTION``, pickled by value when deployed.

    The file is loaded as a module of its own; cloudpickle is told to copy
    that module's code into the pickle, since model containers cannot
    import the user's file.
    """
    path_text, sep, func_name = spec.rpartition(":")
    if not sep or not path_text or not func_name:
        raise CliError(f"expected FILE.py:FUNCTION, got {spec!r}")
    path = Path(path_text)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    module_name = f"_clipper_user_{path.stem.replace('-', '_')}_{digest}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise CliError(f"cannot load {path} as Python code")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(path.resolve().parent))
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:
        raise CliError(f"loading {path} failed: {type(e).__name__}: {e}") from e
    finally:
        sys.path.pop(0)
    func: object = getattr(module, func_name, None)
    if not callable(func):
        raise CliError(f"{path} has no function named {func_name}")
    import cloudpickle

    cloudpickle.register_pickle_by_value(module)
    return func


# ------------------------------------------------------------------ commands


def cmd_start(args: argparse.Namespace) -> int:
    from clipper_admin.clipper_admin import ClipperConnection

    explicit = [args.query_port, args.management_port, args.rpc_port, args.redis_port]
    if args.free_ports and any(p is not None for p in explicit):
        raise CliError("--free-ports cannot be combined with explicit port options")

    def port(value: int | None, default: int) -> int:
        return 0 if args.free_ports else (default if value is None else value)

    cm = _manager(
        args,
        clipper_query_port=port(args.query_port, 1337),
        clipper_management_port=port(args.management_port, 1338),
        clipper_rpc_port=port(args.rpc_port, 7000),
        redis_port=port(args.redis_port, 6379),
        redis_ip=args.redis_ip,
    )
    conn = ClipperConnection(cm)
    try:
        conn.start_clipper(cache_size=args.cache_size)
    except PortInUseError as e:
        flag = _PORT_FLAGS.get(e.argument, e.argument)
        raise CliError(
            f"port {e.port} for the {e.what} is already in use. Pick another one with {flag} <port>, "
            "or let Clipper choose free ports with --free-ports."
        ) from e
    print(f"Clipper cluster {cm.cluster_name} is running (files in {cm.cluster_dir})")
    print(f"  query frontend:      http://{cm.get_query_addr()}")
    print(f"  management frontend: http://{cm.get_admin_addr()}")
    print(f"  model RPC port:      {cm.clipper_rpc_port}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    cm = _manager(args)
    running = bool(cm.process_status())
    _connection(args, connect=False).stop_all()
    print(f"Stopped cluster {cm.cluster_name}" if running else f"Cluster {cm.cluster_name} was not running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    cm = _manager(args)
    statuses = cm.process_status()
    if not statuses:
        print(f"Cluster {cm.cluster_name} is not running ({cm.cluster_dir})")
        return 1
    problem = None
    try:
        cm.connect()
    except ClipperException as e:
        problem = str(e)
    print(f"Cluster {cm.cluster_name} ({cm.cluster_dir})")
    if problem is None:
        print(f"  query frontend:      http://{cm.get_query_addr()}")
        print(f"  management frontend: http://{cm.get_admin_addr()}")
        print(f"  model RPC port:      {cm.clipper_rpc_port}")
    print(f"{'PROCESS':<28} {'PID':>7}  {'STATE':<7} LOG")
    for s in statuses:
        print(f"{s.name:<28} {s.pid:>7}  {'alive' if s.alive else 'DEAD':<7} {s.log}")
    if problem is not None:
        print(f"\n{problem}", file=sys.stderr)
        return 1
    return 0 if all(s.alive for s in statuses) else 1


def cmd_apps(args: argparse.Namespace) -> int:
    _print_json(_connection(args).get_all_apps(verbose=True))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    _print_json(_connection(args).get_all_models(verbose=True))
    return 0


def cmd_replicas(args: argparse.Namespace) -> int:
    _print_json(_connection(args).get_all_model_replicas(verbose=True))
    return 0


def cmd_register_app(args: argparse.Namespace) -> int:
    _connection(args).register_application(args.name, args.input_type, args.default_output, args.slo_micros)
    print(f"Registered application {args.name}")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from clipper_admin.deployers.python import deploy_python_closure

    func = load_function(args.function)
    conn = _connection(args)
    if args.app is not None and conn.get_app_info(args.app) is None:
        conn.register_application(args.app, args.input_type, args.default_output, args.slo_micros)
    deploy_python_closure(
        conn,
        name=args.name,
        version=args.version,
        input_type=args.input_type,
        func=func,
        num_replicas=args.num_replicas,
        batch_size=args.batch_size,
        pkgs_to_install=args.pkg or None,
    )
    if args.app is not None:
        conn.link_model_to_app(args.app, args.name)
        print(f"Deployed {args.name}:{args.version} and linked it to application {args.app}")
    else:
        print(f"Deployed {args.name}:{args.version}")
    return 0


def cmd_link(args: argparse.Namespace) -> int:
    _connection(args).link_model_to_app(args.app, args.model)
    print(f"Linked model {args.model} to application {args.app}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import requests

    try:
        value = json.loads(args.input)
    except ValueError as e:
        raise CliError(f"JSON_INPUT is not valid JSON: {e}") from None
    conn = _connection(args)
    url = f"http://{conn.get_query_addr()}/{args.app}/predict"
    body = {"input_batch" if args.batch else "input": value}
    try:
        r = requests.post(url, json=body, timeout=args.timeout)
    except requests.RequestException as e:
        raise CliError(f"cannot reach the query frontend at {url}: {e}") from e
    try:
        _print_json(r.json())
    except ValueError:
        print(r.text)
    if r.status_code != 200:
        raise CliError(f"{url} answered HTTP {r.status_code}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    for path in _connection(args).get_clipper_logs(args.dir):
        print(path)
    return 0


# ------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--cluster-name",
        default=os.environ.get("CLIPPER_CLUSTER_NAME", "default-cluster"),
        help="cluster to act on (env CLIPPER_CLUSTER_NAME, default default-cluster)",
    )
    common.add_argument("--cluster-dir", default=None, help="cluster directory (default $CLIPPER_HOME/clusters/<name>)")
    common.add_argument("-q", "--quiet", action="store_true", help="only print warnings and errors")

    parser = argparse.ArgumentParser(prog="clipper", description="Run and use a local Clipper cluster.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("start", cmd_start, "start a local cluster")
    p.add_argument("--query-port", type=int, help="query frontend REST port (default 1337)")
    p.add_argument("--management-port", type=int, help="management frontend port (default 1338)")
    p.add_argument("--rpc-port", type=int, help="port model replicas connect to (default 7000)")
    p.add_argument("--redis-port", type=int, help="Redis port (default 6379)")
    p.add_argument("--free-ports", action="store_true", help="pick free ports for everything")
    p.add_argument("--redis-ip", default=None, help="use an existing Redis at this address instead of starting one")
    p.add_argument("--cache-size", type=int, default=33554432, help="prediction cache size in bytes")
    add("stop", cmd_stop, "stop the cluster and every model replica, removing its files")
    add("status", cmd_status, "show addresses and whether each process is alive")
    add("apps", cmd_apps, "list applications")
    add("models", cmd_models, "list models")
    add("replicas", cmd_replicas, "list model replicas connected to the query frontend")

    p = add("register-app", cmd_register_app, "register an application")
    p.add_argument("name")
    p.add_argument("--input-type", required=True, help="bytes, integers, floats, doubles or strings")
    p.add_argument("--default-output", required=True, help="output returned when no prediction is available in time")
    p.add_argument("--slo-micros", type=int, required=True, help="latency objective in microseconds")

    p = add("deploy", cmd_deploy, "deploy a Python function as a model")
    p.add_argument("function", metavar="FILE.py:FUNCTION")
    p.add_argument("--name", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--input-type", required=True)
    p.add_argument("--app", default=None, help="link the model to this application (registered if missing)")
    p.add_argument("--default-output", default="None", help="for an application registered by --app")
    p.add_argument("--slo-micros", type=int, default=3000000, help="for an application registered by --app")
    p.add_argument("--num-replicas", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=-1)
    p.add_argument("--pkg", action="append", help="pip package the model needs (repeatable)")

    p = add("link", cmd_link, "link a model to an application")
    p.add_argument("app")
    p.add_argument("model")

    p = add("predict", cmd_predict, "query an application")
    p.add_argument("app")
    p.add_argument("input", metavar="JSON_INPUT", help='the input, as JSON (e.g. "[1.0, 2.0]")')
    p.add_argument("--batch", action="store_true", help="JSON_INPUT is a list of inputs (input_batch)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the answer")

    p = add("logs", cmd_logs, "copy every process log into a directory")
    p.add_argument("dir", nargs="?", default="clipper_logs/")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-8s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger().setLevel(level)  # importing clipper_admin may have configured logging already
    try:
        return int(args.func(args))
    except (CliError, ClipperException) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        import requests

        if isinstance(e, requests.RequestException):
            print(f"error: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
