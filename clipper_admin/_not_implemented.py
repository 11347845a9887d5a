"""Placeholder behaviour shared by container managers whose platform side is not written yet."""

from __future__ import annotations

from clipper_admin.exceptions import ClipperException


def not_implemented(manager: str, method: str) -> ClipperException:
    """The error every unimplemented container-manager method raises."""
    return ClipperException(
        f"{manager}.{method} is not implemented yet; use LocalContainerManager (the default) for now"
    )
