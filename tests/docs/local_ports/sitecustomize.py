"""Loaded at start-up by the Python a README example runs in (this directory leads PYTHONPATH).

With ``CLIPPER_EXAMPLE_CLUSTER`` set, ``LocalContainerManager()`` as the
README writes it defaults to that cluster name and to ports the OS picks
(0) instead of 1337/1338/7000/6379, so an example runs unchanged next to
anything else on the machine; arguments an example passes are kept.
Without the variable this file does nothing.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any

_CLUSTER = os.environ.get("CLIPPER_EXAMPLE_CLUSTER")

if _CLUSTER:
    from clipper_admin.local import local_container_manager as _lcm

    _original = _lcm.LocalContainerManager.__init__
    _signature = inspect.signature(_original)
    _defaults = {"cluster_name": _CLUSTER, "clipper_query_port": 0, "clipper_management_port": 0,
                 "clipper_rpc_port": 0, "redis_port": 0, "prometheus_port": 0}

    @functools.wraps(_original)
    def _init(self: Any, *args: Any, **kwargs: Any) -> None:
        given = _signature.bind_partial(self, *args, **kwargs).arguments
        kwargs.update({k: v for k, v in _defaults.items() if k not in given})
        _original(self, *args, **kwargs)

    _lcm.LocalContainerManager.__init__ = _init  # type: ignore[method-assign]
