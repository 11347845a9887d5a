"""``/metrics/prometheus`` stays parseable whatever names Redis holds.

An old admin (or anything writing Redis directly) may store application and
model names that are not valid in Prometheus metric names: spaces, quotes,
backslashes, non-ASCII letters, a leading digit. Every metric name on the
page must still be valid and unique and every label value escaped, while
the original exporter's names stay as they were where they are valid
(and are left out where they are not: the labelled families carry them).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from prometheus_client.parser import text_string_to_metric_families

from tests.query_frontend.conftest import RunningFrontend

WEIRD_APPS = ["Bad App", 'quo"te', "back\\slash", "ünïcode", "9lives", "a-b", "a_b"]
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


async def test_names_from_redis_never_break_the_page(qf: RunningFrontend, cluster_state) -> None:
    model = 'bad "model"\\1'
    cluster_state.add_model(model, "1")
    for app in [*WEIRD_APPS, "good"]:
        cluster_state.add_app(app, slo_micros=1_000_000)
        cluster_state.link(app, model)
    for app in [*WEIRD_APPS, "good"]:
        await qf.wait_app(app)
    qf.container(model)
    await qf.wait_replicas(model, "1", 1)
    for app in [*WEIRD_APPS, "good"]:
        async with qf.session.post(f"{qf.url}/{quote(app)}/predict", json={"input": [1.0]}) as resp:
            assert resp.status == 200, (app, await resp.text())
    async with qf.session.get(f"{qf.url}/metrics/prometheus") as resp:
        assert resp.status == 200
        text = await resp.text()

    families = list(text_string_to_metric_families(text))  # raises on an invalid page
    names = [s.name for f in families for s in f.samples]
    assert all(_NAME.fullmatch(n) for n in names)
    assert len({f.name for f in families}) == len(families), "a metric name appears twice"
    # The original's names where they are valid and unique; the others only in the labelled families.
    assert "app_good_num_predictions_count" in names
    assert "app_a_b_num_predictions_count" in names  # "a_b" keeps it; "a-b" (same name once "-" is "_") has none
    assert "app_9lives_num_predictions_count" in names
    assert not any("Bad" in n or "lives_num_predictions_count_" in n for n in names)
    assert not any(n.startswith("model_") for n in names)  # the model's name is not valid in a metric name
    apps = {s.labels["app"] for f in families if f.name == "clipper_app_predictions" for s in f.samples}
    assert apps == {*WEIRD_APPS, "good"}
    models = {s.labels["model"] for f in families if f.name == "clipper_model_predictions" for s in f.samples}
    assert models == {model}
