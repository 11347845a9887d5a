"""XGBoost as the original has it: a closure with pkgs_to_install=['xgboost'] (served by xgboost-cpu), local cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("xgboost")

from clipper_admin import ClipperConnection  # noqa: E402
from clipper_admin.deployers import python as python_deployer  # noqa: E402
from clipper_admin.deployers.packages import pip_requirement, requirement_name  # noqa: E402
from tests.frameworks import models  # noqa: E402
from tests.frameworks.support import SLO_MICROS, digits, local_cluster, served  # noqa: E402

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClipperConnection]:
    yield from local_cluster(tmp_path_factory, "xgb")


def test_xgboost_is_mapped_to_the_cpu_wheel() -> None:
    assert pip_requirement("xgboost") == "xgboost-cpu"
    assert pip_requirement("xgboost==3.2.0") == "xgboost-cpu==3.2.0"
    assert requirement_name("XGBoost") == "xgboost-cpu"


def test_booster_served_switched_and_rolled_back(conn: ClipperConnection) -> None:
    x, _ = digits()
    one, batch = x[7:8], x[300:332]
    b1, b2 = models.train_booster(0, rounds=20), models.train_booster(1, rounds=1)
    want1, want2 = models.booster_classes(b1, batch), models.booster_classes(b2, batch)
    assert want1 != want2
    python_deployer.create_endpoint(conn, "boost", "doubles", models.xgboost_closure(b1), default_output="-1",
                                    slo_micros=SLO_MICROS, pkgs_to_install=["xgboost"])
    assert served(conn, "boost", one) == models.booster_classes(b1, one)
    assert served(conn, "boost", batch) == want1
    python_deployer.deploy_python_closure(conn, "boost", 2, "doubles", models.xgboost_closure(b2),
                                          pkgs_to_install=["xgboost"])
    assert served(conn, "boost", batch, expected=want2) == want2
    conn.set_model_version("boost", "1")
    assert served(conn, "boost", batch, expected=want1) == want1
