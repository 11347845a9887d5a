"""Admin API for model selection: set/get a policy, validation, multi-model links."""

from __future__ import annotations

import json

from clipper_protocol import selection_schema as ss

APP_BODY = {"app_name": "app"}


async def _app_with_models(admin, *models: str) -> None:
    assert (await admin.add_app("app")).status == 200
    for m in models:
        assert (await admin.add_model(m, "1")).status == 200


async def test_default_policy_keeps_the_one_link_rule(admin) -> None:
    await _app_with_models(admin, "a", "b")
    await admin.ok("add_model_links", {"app_name": "app", "model_names": ["a"]})
    text = await admin.error("add_model_links", {"app_name": "app", "model_names": ["b"]})
    assert text == "A model with name a is already linked to 'app'."
    text = await admin.error("add_model_links", {"app_name": "app", "model_names": ["a", "b"]})
    assert text == "Applications must be linked with at most one model. Attempted to add links to 2 models."


async def test_set_policy_allows_several_links_and_get_reports_it(admin, rdb) -> None:
    await _app_with_models(admin, "a", "b", "c")
    await admin.ok("add_model_links", {"app_name": "app", "model_names": ["a"]})
    text = await admin.ok("set_selection_policy", {"app_name": "app", "policy": "Exp4Policy",
                                                    "params": {"eta": 0.2}})
    assert text == "Successfully set the selection policy of application 'app' to 'Exp4Policy'"
    assert await admin.ok("add_model_links", {"app_name": "app", "model_names": ["b"]}) == \
        "Successfully linked model with name 'b' to application 'app'"
    await admin.ok("add_model_links", {"app_name": "app", "model_names": ["c"]})
    assert rdb(7).smembers("app") == {"a", "b", "c"}
    assert rdb(5).hget("app", "policy") == "Exp4Policy"
    assert json.loads(rdb(5).hget("app", ss.PARAMS_FIELD)) == {"eta": 0.2}
    rdb(1).hset("app:0:Exp4Policy", mapping={"logw:a": -1.5})
    got = await admin.json("get_selection_policy", APP_BODY)
    assert got == {"app_name": "app", "policy": "Exp4Policy", "params": {"eta": 0.2},
                   "linked_models": ["a", "b", "c"], "state": {"logw:a": -1.5}}
    assert await admin.error("add_model_links", {"app_name": "app", "model_names": ["a"]}) == \
        "The model with name 'a' is already linked to 'app'"
    # Back to the default policy only with one model linked.
    text = await admin.error("set_selection_policy", {"app_name": "app", "policy": ss.DEFAULT_POLICY})
    assert "links 3 models" in text and "Unlink all but one" in text
    await admin.ok("delete_model_links", {"app_name": "app", "model_names": ["b", "c"]})
    await admin.ok("set_selection_policy", {"app_name": "app", "policy": ss.DEFAULT_POLICY})
    # The original's get_application and state are untouched by all this.
    assert (await admin.json("get_application", {"name": "app"}))["linked_models"] == ["a"]


async def test_changing_policy_resets_learned_state_but_changing_params_does_not(admin, rdb) -> None:
    await _app_with_models(admin, "a")
    await admin.ok("add_model_links", {"app_name": "app", "model_names": ["a"]})
    await admin.ok("set_selection_policy", {"app_name": "app", "policy": "Exp3Policy"})
    rdb(1).hset("app:0:Exp3Policy", "logw:a", 2.0)
    rdb(1).hset("app:7:Exp3Policy", "logw:a", 1.0)
    rdb(1).set("app:0:0", '{"y_hat": "-1.0"}')
    await admin.ok("set_selection_policy", {"app_name": "app", "policy": "Exp3Policy", "params": {"gamma": 0.3}})
    assert float(rdb(1).hget("app:0:Exp3Policy", "logw:a")) == 2.0
    await admin.ok("set_selection_policy", {"app_name": "app", "policy": "EpsilonGreedyPolicy"})
    await admin.ok("set_selection_policy", {"app_name": "app", "policy": "Exp3Policy"})
    assert rdb(1).keys("app:*:Exp3Policy") == []
    assert rdb(1).get("app:0:0") == '{"y_hat": "-1.0"}'


async def test_ab_weights_validated_against_models(admin) -> None:
    await _app_with_models(admin, "a", "b")
    await admin.ok("set_selection_policy", {"app_name": "app", "policy": "ABSplitPolicy"})
    await admin.ok("add_model_links", {"app_name": "app", "model_names": ["a", "b"]})
    await admin.ok("set_selection_policy", {"app_name": "app", "policy": "ABSplitPolicy",
                                           "params": {"weights": {"a": 90, "b": 10, "a:1": 0}}})
    assert (await admin.json("get_selection_policy", APP_BODY))["params"] == \
        {"weights": {"a": 90.0, "b": 10.0, "a:1": 0.0}}
    text = await admin.error("set_selection_policy", {"app_name": "app", "policy": "ABSplitPolicy",
                                                      "params": {"weights": {"zzz": 1}}})
    assert "params.weights names model 'zzz', which does not exist" in text
    text = await admin.error("set_selection_policy", {"app_name": "app", "policy": "ABSplitPolicy",
                                                      "params": {"weights": {"a:9": 1}}})
    assert "version '9' of model 'a', which does not exist" in text


async def test_bad_requests_name_the_field(admin) -> None:
    await _app_with_models(admin)
    cases = [
        ({"app_name": "app", "policy": "Bogus"}, "Invalid value for JSON key policy: 'Bogus' is not one of"),
        ({"app_name": "app", "policy": "Exp3Policy", "params": {"gamma": 2}},
         "Invalid value for JSON key params: params.gamma must be in (0.0, 1.0]"),
        ({"app_name": "app", "policy": "Exp3Policy", "params": {"eta": 1}},
         "params.eta is not a parameter of Exp3Policy"),
        ({"app_name": "app", "policy": "Exp3Policy", "params": 3}, "params must be a JSON object"),
        ({"policy": "Exp3Policy"}, "JSON object does not have required key: app_name"),
        ({"app_name": "nope", "policy": "Exp3Policy"}, "No app with name 'nope' exists."),
    ]
    for body, message in cases:
        assert message in await admin.error("set_selection_policy", body), body
    assert await admin.error("get_selection_policy", {"app_name": "nope"}) == \
        "No application with name 'nope' exists."


async def test_multi_link_errors_for_selection_apps(admin) -> None:
    await _app_with_models(admin, "a")
    await admin.post("add_model", {"model_name": "s", "model_version": "1", "labels": [],
                                   "input_type": "strings", "container_name": "NO_CONTAINER",
                                   "model_data_path": "x", "batch_size": -1})
    await admin.ok("set_selection_policy", {"app_name": "app", "policy": "EpsilonGreedyPolicy"})
    assert await admin.error("add_model_links", {"app_name": "app", "model_names": ["a", "ghost"]}) == \
        "No model with name 'ghost' exists."
    assert await admin.error("add_model_links", {"app_name": "app", "model_names": ["s"]}) == \
        "Model with name 's' has incompatible input_type 'strings'. Requested app to link to has input_type 'doubles'."
    assert "Please provide the name" in await admin.error("add_model_links", {"app_name": "app", "model_names": []})


async def test_openapi_lists_the_selection_routes(admin) -> None:
    doc = json.loads((await admin.get("/admin/openapi.json")).text)
    assert {"/admin/set_selection_policy", "/admin/get_selection_policy"} <= set(doc["paths"])


async def test_delete_app_removes_its_learned_state_and_only_its(admin, rdb) -> None:
    await _app_with_models(admin, "a")
    await admin.ok("set_selection_policy", {"app_name": "app", "policy": "Exp3Policy"})
    rdb(1).hset("app:0:Exp3Policy", "logw:a", 2.0)
    rdb(1).hset("app:7:EpsilonGreedyPolicy", "pulls:a", 3.0)
    rdb(1).hset("app-b:0:Exp3Policy", "logw:a", 1.0)  # another app whose name starts alike
    await admin.ok("delete_app", {"name": "app"})
    assert rdb(1).exists("app:0:Exp3Policy", "app:7:EpsilonGreedyPolicy", "app:0:0") == 0
    assert rdb(1).hget("app-b:0:Exp3Policy", "logw:a") == "1.0"
