"""The scikit-learn deployer on a real DockerContainerManager cluster: a DecisionTreeClassifier served."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

from clipper_admin import ClipperConnection  # noqa: E402
from clipper_admin.deployers import sklearn as sklearn_deployer  # noqa: E402

from .test_deploy_python import conn, in_image, serve  # noqa: E402,F401 - the module's cluster fixture

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


def predict_labels(model: Any, inputs: list[Any]) -> list[str]:
    return [str(y) for y in model.predict(np.asarray(inputs))]


def test_decision_tree_is_served_with_the_callers_scikit_learn(conn: ClipperConnection, docker_client: Any) -> None:
    rng = np.random.default_rng(1)
    x = rng.random((300, 4))
    y = (x[:, 1] + x[:, 2] > 1.0).astype(int)
    model = DecisionTreeClassifier(max_depth=5, random_state=0).fit(x, y)
    queries = [[0.1, 0.9, 0.8, 0.0], [0.9, 0.1, 0.2, 0.5]]
    assert [int(p) for p in model.predict(np.asarray(queries))] == [1, 0]

    sklearn_deployer.create_endpoint(conn, "tree", "doubles", predict_labels, model, default_output="-1",
                                     slo_micros=2000000)
    assert [serve(conn, "tree", {"input": q}) for q in queries] == [1, 0]
    image = f"{conn.cm.cluster_identifier}-tree:1"
    assert in_image(docker_client, image, "import sklearn, os; print(sklearn.__version__, sorted(os.listdir('/model')))") \
        == f"{sklearn.__version__} ['func.pkl', 'sklearn_model.joblib', 'warmup_inputs.json']"
