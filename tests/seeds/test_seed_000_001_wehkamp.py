"""Seeds 000 and 001: "Ship ahoy! Serving machine learning models using Clipper" (Wehkamp).

Both seeds are renderings of one article. 000's rendering lost text: its
``deploy_python_closure(``, ``register_application(`` and
``link_model_to_app(`` calls end at the opening parenthesis (a SyntaxError
as printed), so its samples are taken from 001, which has them complete;
the code of the two is otherwise identical.

Run as written, against ``DockerContainerManager`` (the article's "quick
start" set-up: ``ClipperConnection(DockerContainerManager())`` and
``start_clipper()``, which the article refers to without showing):

* ``model = joblib.load('./model.pkl')``: the article's ``model.pkl`` is not
  shown, so the test makes one first: a scikit-learn text pipeline
  (CountVectorizer + LogisticRegression), since the model takes "strings".
* ``deploy_python_closure(..., input_type="strings", pkgs_to_install=["sklearn"], func=model.predict)``:
  ``sklearn`` is mapped to ``scikit-learn`` (the ``sklearn`` pip name no
  longer installs), fetched on the host and installed in the model image.
* ``register_application(name="pipeline", ...)`` and ``link_model_to_app(...)``.
* "Finally, we can get our predictions!" shows no code; the test queries
  ``/pipeline/predict`` and expects the model's labels, not ``-1.0``.

Cannot run as written on any modern stack: ``from sklearn.externals import
joblib``. ``sklearn.externals.joblib`` was deprecated in scikit-learn 0.21
and removed in 0.23 (2020); the test checks that it fails here, then runs
the nearest faithful variant, ``import joblib`` (the same library, now
imported directly), and nothing else changed.

Out of scope (Kubernetes, another issue): ``kubectl proxy``,
``ClipperConnection(KubernetesContainerManager(kubernetes_proxy_addr=..., useInternalIP=True))``,
the ``kubectl create secret`` / ``kubectl patch serviceaccount`` steps, the
``deploy_python_closure(..., registry="yourdomain.io/yourregistry")`` call
(a push to the private registry of that Kubernetes set-up) and
``kubectl describe service query-frontend``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.seeds.seed_support import SeedCluster, predict_until_served, run_failing_script, run_script

pytestmark = pytest.mark.timeout(900)

QUICKSTART_SETUP = """\
from clipper_admin import ClipperConnection, DockerContainerManager
clipper_conn = ClipperConnection(DockerContainerManager())
clipper_conn.start_clipper()
"""

# The article's samples, in order (001's rendering; quotes fixed).
ARTICLE_JOBLIB_AS_WRITTEN = """\
from sklearn.externals import joblib
model = joblib.load('./model.pkl')
"""
# Nearest faithful variant of the line above (see the module docstring).
ARTICLE_JOBLIB_MODERN = """\
import joblib
model = joblib.load('./model.pkl')
"""
ARTICLE_DEPLOY = """\
from clipper_admin.deployers import python as python_deployer
python_deployer.deploy_python_closure(
clipper_conn,
name="test-model",
version="1",
input_type="strings",
pkgs_to_install=["sklearn"],
func=model.predict)
"""
ARTICLE_REGISTER_AND_LINK = """\
clipper_conn.register_application(
name="pipeline",
input_type="strings",
default_output="-1.0",
slo_micros=100000)
clipper_conn.link_model_to_app(
app_name="pipeline",
model_name="test-model")
"""


def make_model_pkl(path: Path) -> Any:
    """The data scientist's pickle the article starts from: a small text classifier."""
    import joblib
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = ["red dress summer", "blue summer dress", "red shoes", "winter coat wool", "warm wool scarf",
             "winter boots warm"] * 3
    labels = [1, 1, 1, 0, 0, 0] * 3
    model = make_pipeline(CountVectorizer(), LogisticRegression()).fit(texts, labels)
    joblib.dump(model, path)
    return model


def test_sklearn_externals_joblib_is_gone(tmp_path: Path) -> None:
    stderr = run_failing_script(tmp_path, "as_written.py", ARTICLE_JOBLIB_AS_WRITTEN)
    assert "ImportError: cannot import name 'joblib' from 'sklearn.externals'" in stderr


def test_article_deploys_and_serves_the_pickled_model(seed_cluster: SeedCluster, tmp_path: Path) -> None:
    model = make_model_pkl(tmp_path / "model.pkl")
    run_script(tmp_path, "ship_ahoy.py",
               QUICKSTART_SETUP + ARTICLE_JOBLIB_MODERN + ARTICLE_DEPLOY + ARTICLE_REGISTER_AND_LINK)
    queries = ["red summer dress", "warm winter wool"]
    expected = [int(y) for y in model.predict(queries)]
    assert expected == [1, 0]
    got = [predict_until_served(seed_cluster.query_url, "pipeline", {"input": q})["output"] for q in queries]
    assert got == expected
    # The model image: tagged {cluster}-{name}:{version}; "sklearn" became scikit-learn, installed from
    # wheels fetched on the host (unpinned, as the article asks: the newest release).
    image = seed_cluster.image("test-model", "1")
    out = seed_cluster.client.containers.run(image, entrypoint=["python", "-c", "import sklearn; print(sklearn.__version__)"],
                                         remove=True, network_disabled=True)
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", out.decode().strip())
