"""The runtime inside each model replica.

Models subclass :class:`ModelContainerBase` and are served by
:class:`RPCService` over Clipper's ZeroMQ RPC protocol (version 3). Ready-made
containers: ``python -m model_containers.python_closure_container`` and
``python -m model_containers.noop_container``.
"""

from model_containers.errors import ContainerConfigError, ModelContainerError, PredictionError
from model_containers.model import ModelContainerBase
from model_containers.rpc import RPCService
from model_containers.settings import ContainerSettings

__all__ = [
    "ModelContainerBase",
    "PredictionError",
    "RPCService",
    "ContainerConfigError",
    "ContainerSettings",
    "ModelContainerError",
]
