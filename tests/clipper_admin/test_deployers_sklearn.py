"""The scikit-learn deployer: lazy model loading in a fresh process, pinning, and serving on a local cluster."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import requests

sklearn = pytest.importorskip("sklearn")
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

from clipper_admin import ClipperConnection, ClipperException  # noqa: E402
from clipper_admin.deployers import sklearn as sklearn_deployer  # noqa: E402
from clipper_admin.deployers.deployer_utils import serialize_object  # noqa: E402
from clipper_admin.deployers.packages import pip_requirement, pip_requirements, requirement_name  # noqa: E402
from clipper_admin.local import LocalContainerManager  # noqa: E402

pytestmark = pytest.mark.timeout(240)

CLOSURE_IMAGE = "clipper/python311-closure-container:develop"


def tree() -> DecisionTreeClassifier:
    """Class 1 exactly when the first feature exceeds 0.5."""
    rng = np.random.default_rng(0)
    x = rng.random((200, 3))
    y = (x[:, 0] > 0.5).astype(int)
    return DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)


def predict_labels(model: Any, inputs: list[Any]) -> list[str]:
    return [str(y) for y in model.predict(np.asarray(inputs))]


def test_pip_names_are_mapped_and_normalized() -> None:
    assert pip_requirement("sklearn") == "scikit-learn"
    assert pip_requirement("SKLearn>=1.4,<2") == "scikit-learn>=1.4,<2"
    assert pip_requirement("sympy==1.1.*") == "sympy==1.1.*"
    assert pip_requirements(["sklearn", " ", "numpy>=2"]) == ["scikit-learn", "numpy>=2"]
    assert requirement_name("Scikit_Learn==1.0") == "scikit-learn"
    assert requirement_name("sklearn") == "scikit-learn"


def test_scikit_learn_is_pinned_unless_the_caller_names_it() -> None:
    pinned = f"scikit-learn=={sklearn.__version__}"
    assert sklearn_deployer._with_sklearn(None) == [pinned]
    assert sklearn_deployer._with_sklearn(["pandas"]) == [pinned, "pandas"]
    assert sklearn_deployer._with_sklearn(["sklearn>=1"]) == ["sklearn>=1"]


def test_the_closure_loads_the_model_file_lazily_in_a_fresh_python(tmp_path: Path) -> None:
    model = tree()
    pkl = tmp_path / "func.pkl"
    # As the deployer does: this (local) test module travels by value.
    pkl.write_bytes(serialize_object(sklearn_deployer.model_loading_closure(predict_labels)))
    script = textwrap.dedent(f"""
        import os, pickle, sys
        with open({str(pkl)!r}, "rb") as f:
            predict = pickle.load(f)          # no model file yet: loading is deferred
        joblib_file = os.path.join(os.environ["CLIPPER_MODEL_PATH"], {sklearn_deployer.SKLEARN_MODEL_FILENAME!r})
        assert not os.path.exists(joblib_file)
        print("unpickled", flush=True)
        sys.stdin.read()                      # the test writes the model file now
        print(predict([[0.9, 0.0, 0.0], [0.1, 0.0, 0.0]]))
        assert "clipper_admin" not in sys.modules, "the closure must not need clipper_admin"
    """)
    env = {**os.environ, "CLIPPER_MODEL_PATH": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", script], cwd="/", env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "unpickled"
    joblib.dump(model, tmp_path / sklearn_deployer.SKLEARN_MODEL_FILENAME)
    out, err = proc.communicate("go", timeout=60)
    assert proc.returncode == 0, err
    assert out.strip() == "['1', '0']"


def test_invalid_arguments_are_refused_before_any_work() -> None:
    conn = ClipperConnection(LocalContainerManager(cluster_name="never-started"))
    with pytest.raises(ClipperException, match="a model name must be a valid DNS-1123"):
        sklearn_deployer.deploy_sklearn_model(conn, "Bad_Name", 1, "doubles", predict_labels, tree())
    with pytest.raises(ClipperException, match="func must be callable"):
        sklearn_deployer.deploy_sklearn_model(conn, "tree", 1, "doubles", "not-callable", tree())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClipperConnection]:
    manager = LocalContainerManager(
        cluster_name="sklearn", clipper_query_port=0, clipper_management_port=0, clipper_rpc_port=0,
        redis_port=0, prometheus_port=None, cluster_dir=tmp_path_factory.mktemp("local") / "cluster",
    )  # fmt: skip
    connection = ClipperConnection(manager)
    connection.start_clipper()
    try:
        yield connection
    finally:
        connection.stop_all(graceful=False)


def test_create_endpoint_serves_a_decision_tree(conn: ClipperConnection) -> None:
    model = tree()
    # The replica loads the estimator on its first call; the default warm-up (a row of zeros) makes that
    # happen before the deploy returns, so the very first query is answered within a tight SLO.
    sklearn_deployer.create_endpoint(conn, "tree", "doubles", predict_labels, model, default_output="-1",
                                     slo_micros=1000000, base_image=CLOSURE_IMAGE)
    models = conn.get_all_models(verbose=True)
    assert [(m["model_name"], m["model_version"], m["is_current_version"]) for m in models] == [("tree", "1", True)]
    url = f"http://{conn.get_query_addr()}/tree/predict"
    r = requests.post(url, json={"input_batch": [[0.9, 0.2, 0.2], [0.2, 0.9, 0.9]]}, timeout=10).json()
    assert [b["default"] for b in r["batch_predictions"]] == [False, False], r
    logs = conn.cm.cluster_dir / "logs"  # type: ignore[attr-defined]
    assert "warm-up batch of 1 input(s) answered" in "".join(p.read_text() for p in logs.glob("tree_1-*.log"))
    assert [b["output"] for b in r["batch_predictions"]] == [1, 0]
