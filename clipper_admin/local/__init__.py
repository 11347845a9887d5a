"""The embedded default container manager: a Clipper cluster of local processes."""

from clipper_admin.local.launch import PortInUseError
from clipper_admin.local.local_container_manager import LocalContainerManager, ProcessStatus

__all__ = ["LocalContainerManager", "PortInUseError", "ProcessStatus"]
