"""Package version and default image registry, as the original exposes them."""

from __future__ import annotations

import os
from pathlib import Path

#: Contents of ``clipper_admin/VERSION.txt``; also the tag of the default images.
__version__: str = (Path(__file__).with_name("VERSION.txt")).read_text(encoding="utf-8").strip()

#: Registry (Docker Hub account) of the default images: env ``CLIPPER_REGISTRY`` or ``clipper``.
__registry__: str = os.environ.get("CLIPPER_REGISTRY", "clipper")
