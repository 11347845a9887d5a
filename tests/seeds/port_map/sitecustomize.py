"""Loaded at start-up by every Python a seed test runs (its directory leads PYTHONPATH).

With ``CLIPPER_SEED_CLUSTER`` set it makes the articles' code, unchanged,
use that test's own cluster (see :mod:`seed_ports`):

* ``DockerContainerManager()`` defaults to that cluster name and to ports
  picked when each container is published (0) instead of ``default-cluster``
  on 1337/1338/7000/9090; arguments a sample passes are kept as they are;
* a TCP connection to ``localhost`` on 1337, 1338, 7000 or 9090 goes to the
  port that cluster published for it.

Nothing is imported early: the manager is patched when the sample first
imports it. Without the variable this file does nothing.
"""

from __future__ import annotations

import errno
import functools
import importlib.abc
import inspect
import os
import socket
import sys
from typing import Any

import seed_ports

MANAGER_MODULE = "clipper_admin.docker.docker_container_manager"


def _manager_defaults(cluster: str) -> dict[str, Any]:
    return {"cluster_name": cluster, "clipper_query_port": 0, "clipper_management_port": 0,
            "clipper_rpc_port": 0, "prometheus_port": 0}


def _patch_manager(module: Any, cluster: str) -> None:
    cls = module.DockerContainerManager
    original = cls.__init__
    signature = inspect.signature(original)
    defaults = _manager_defaults(cluster)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        given = signature.bind_partial(self, *args, **kwargs).arguments
        for name, value in defaults.items():
            if name not in given:
                kwargs[name] = value
        original(self, *args, **kwargs)

    cls.__init__ = __init__


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Lets the manager's module load as usual, then patches it."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != MANAGER_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module
        cluster = self.cluster

        def exec_and_patch(module: Any) -> None:
            exec_module(module)
            _patch_manager(module, cluster)

        spec.loader.exec_module = exec_and_patch
        return spec


def _redirect(cluster: str) -> None:
    def mapped(address: Any) -> Any:
        """The address standing for ``address``; None: the test's cluster does not serve that port."""
        if (isinstance(address, tuple) and len(address) >= 2 and address[0] in seed_ports.LOOPBACK
                and address[1] in seed_ports.DEFAULT_PORTS):
            port = seed_ports.host_port(cluster, address[1])
            # Not published (not started yet, or stopped): as if nothing listened there,
            # never whatever else holds the default port on this machine.
            return None if port is None else (address[0], port, *address[2:])
        return address

    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def patched_connect(self: socket.socket, address: Any) -> None:
        target = mapped(address)
        if target is None:
            raise ConnectionRefusedError(errno.ECONNREFUSED, f"{os.strerror(errno.ECONNREFUSED)} "
                                         f"(the seed test's cluster {cluster} does not publish {address[1]})")
        return connect(self, target)

    def patched_connect_ex(self: socket.socket, address: Any) -> int:
        target = mapped(address)
        return errno.ECONNREFUSED if target is None else connect_ex(self, target)

    socket.socket.connect = patched_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = patched_connect_ex  # type: ignore[method-assign]


_cluster = seed_ports.current_cluster()
if _cluster:
    sys.meta_path.insert(0, _PatchOnImport(_cluster))
    _redirect(_cluster)
