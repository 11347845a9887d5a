"""``python -m clipper_admin.cli``: the ``clipper`` command."""

from __future__ import annotations

import sys

from clipper_admin.cli import main

sys.exit(main())
