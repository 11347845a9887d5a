"""``make chaos`` in ``make test``: five minutes (``CLIPPER_CHAOS_S``) of seeded faults under load, no invariant broken.

The seed is fixed (``CLIPPER_CHAOS_SEED`` to change it), so a failure here
replays with ``python -m tests.chaos.run --seed <seed> --seconds <s>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos.run import chaos_run, print_report

pytestmark = [pytest.mark.fault, pytest.mark.load, pytest.mark.slow]

SECONDS = float(os.environ.get("CLIPPER_CHAOS_S", "300"))
SEED = int(os.environ.get("CLIPPER_CHAOS_SEED", "20261204"))


@pytest.mark.timeout(SECONDS + 420)
async def test_chaos_keeps_every_invariant(tmp_path: Path) -> None:
    report = await chaos_run(tmp_path, SECONDS, SEED, rate=80.0)
    print_report(report)
    assert report["faults"].get("qf_kill", 0) + report["faults"].get("redis_kill", 0) > 0, report["faults"]
    assert not report["violations"], "\n".join(report["violations"])
