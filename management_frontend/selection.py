"""Admin operations for model selection: an app's policy, its parameters, multi-model links.

``POST /admin/set_selection_policy`` ``{"app_name", "policy", "params"}``
writes the app hash's ``policy`` and ``selection_params`` fields (DB 5) in
one Lua script, which also refuses to go back to the default policy while
several models are linked and clears the learned state (DB 1) when the
policy changes. ``POST /admin/get_selection_policy`` ``{"app_name"}``
answers the policy, its parameters and the learned state of uid 0.

Links: an app with the default policy keeps the original's rule (one model;
``Applications must be linked with at most one model...``); an app with
another policy may link several (``scripts.ADD_MODEL_LINKS``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from clipper_protocol import selection_schema as ss
from clipper_protocol.redis_schema import RedisDB
from management_frontend import scripts
from management_frontend.errors import BadRequestError, StoreError
from management_frontend.protocol import Request, _schema, get_str
from management_frontend.state import RedisStateStore, ScriptResult, _guard

logger = logging.getLogger("clipper.management_frontend.selection")

SET_SELECTION_POLICY = scripts._PRELUDE + """
-- KEYS[1] app hash (DB 5), KEYS[2] app's link set (DB 7)
-- ARGV[6] policy, ARGV[7] params JSON, ARGV[8] default policy name,
-- ARGV[9] KEYS pattern of the new policy's learned states (DB 1), ARGV[10] params field
redis.call('SELECT', APPS_DB)
if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_app'} end
local old = redis.call('HGET', KEYS[1], 'policy') or ARGV[8]
if ARGV[6] == ARGV[8] then
  redis.call('SELECT', LINKS_DB)
  local n = redis.call('SCARD', KEYS[2])
  if n > 1 then return {'too_many_links', tostring(n)} end
end
if old ~= ARGV[6] then
  -- A new policy learns from scratch, even if the app once had it.
  redis.call('SELECT', STATE_DB)
  for _, key in ipairs(redis.call('KEYS', ARGV[9])) do redis.call('DEL', key) end
end
redis.call('SELECT', APPS_DB)
redis.call('HSET', KEYS[1], 'policy', ARGV[6], ARGV[10], ARGV[7])
return {'ok', old}
"""

@dataclass(frozen=True, slots=True)
class SetSelectionPolicyRequest(Request):
    app_name: str
    policy: str
    params: ss.SelectionParams

    SCHEMA: ClassVar[str] = _schema(
        ("app_name", "string"),
        ("policy", " | ".join(ss.POLICIES)),
        ("params", "object (optional; the policy's parameters)"),
    )

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "SetSelectionPolicyRequest":
        app_name, policy = get_str(body, "app_name"), get_str(body, "policy")
        if policy not in ss.POLICIES:
            raise BadRequestError(
                f"Invalid value for JSON key policy: '{policy}' is not one of {', '.join(ss.POLICIES)}"
            )
        try:
            params = ss.parse_params(policy, body.get("params"))
        except ss.SelectionParamsError as e:
            raise BadRequestError(f"Invalid value for JSON key params: {e}") from None
        return cls(app_name, policy, params)


@dataclass(frozen=True, slots=True)
class GetSelectionPolicyRequest(Request):
    app_name: str

    SCHEMA: ClassVar[str] = _schema(("app_name", "string"))

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "GetSelectionPolicyRequest":
        return cls(app_name=get_str(body, "app_name"))


# -- Redis access (the store's connections, the store's error translation) ----


def _run(store: RedisStateStore, source: str, keys: list[str], args: list[object]) -> Any:
    # A script object per call: admin calls are rare and registering is a local SHA1.
    script = store._clients[RedisDB.APPLICATIONS].register_script(source)
    return store._run(script, keys, args)


@_guard
async def _set_policy(store: RedisStateStore, app: str, policy: str, params_json: str) -> ScriptResult:
    result: ScriptResult = await _run(
        store, SET_SELECTION_POLICY, [app, app],
        [policy, params_json, ss.DEFAULT_POLICY, ss.state_key_pattern(app, policy), ss.PARAMS_FIELD],
    )
    return result


@_guard
@_guard
async def _read_policy(store: RedisStateStore, app: str) -> tuple[dict[str, str], dict[str, str]] | None:
    # The store's clients decode responses: keys and values are str.
    raw: dict[str, str] = await store._clients[RedisDB.APPLICATIONS].hgetall(app)  # type: ignore[assignment]
    if not raw:
        return None
    policy = raw.get("policy", ss.DEFAULT_POLICY)
    state: dict[str, str] = await store._clients[RedisDB.STATE].hgetall(  # type: ignore[assignment]
        ss.state_key(app, 0, policy)
    )
    return raw, state


class SelectionOperations:
    """The selection admin operations, mixed into ``ManagementService``."""

    store: RedisStateStore

    async def set_selection_policy(self, req: SetSelectionPolicyRequest) -> str:
        app = req.app_name
        await self._check_weight_targets(req)
        params_json = json.dumps(req.params.to_json(), separators=(",", ":"))
        try:
            result = await _set_policy(self.store, app, req.policy, params_json)
        except StoreError:
            logger.exception("setting the selection policy of %r failed", app)
            raise BadRequestError(f"Error setting the selection policy of '{app}' in Redis") from None
        match result.status:
            case "ok":
                logger.info("application %r now selects models with %s %s (was %s)",
                            app, req.policy, params_json, result.details[0])
                return f"Successfully set the selection policy of application '{app}' to '{req.policy}'"
            case "no_app":
                raise BadRequestError(f"No app with name '{app}' exists.")
            case "too_many_links":
                raise BadRequestError(
                    f"Application '{app}' links {result.details[0]} models; {ss.DEFAULT_POLICY} "
                    "serves one. Unlink all but one model first."
                )
        raise RuntimeError(f"set_selection_policy: unexpected script result {result}")

    async def _check_weight_targets(self, req: SetSelectionPolicyRequest) -> None:
        """A/B weights must name registered models (and existing versions).

        A model need not be linked yet: weights may be set first, so that an
        app can switch from the default policy and then link its second
        model. Until it is linked, the query frontend leaves it out.
        """
        if not req.params.weights:
            return
        targets = [ss.parse_target(t) for t in req.params.weights]
        current = await self.store.get_current_versions([m for m, _ in targets])
        for model, version in targets:
            if current.get(model) is None:
                raise BadRequestError(
                    f"Invalid value for JSON key params: params.weights names model '{model}', which does not exist"
                )
            if version is not None and await self.store.get_model(model, version) is None:
                raise BadRequestError(
                    f"Invalid value for JSON key params: params.weights names version '{version}' "
                    f"of model '{model}', which does not exist"
                )

    async def get_selection_policy(self, req: GetSelectionPolicyRequest) -> dict[str, Any]:
        found = await _read_policy(self.store, req.app_name)
        if found is None:
            raise BadRequestError(f"No application with name '{req.app_name}' exists.")
        raw, state = found
        try:
            params = json.loads(raw.get(ss.PARAMS_FIELD) or "{}")
        except ValueError:
            params = raw.get(ss.PARAMS_FIELD)
        return {
            "app_name": req.app_name,
            "policy": raw.get("policy", ss.DEFAULT_POLICY),
            "params": params,
            "linked_models": await self.store.get_linked_models(req.app_name),
            "state": {k: float(v) for k, v in sorted(state.items())},
        }



__all__ = [
    "GetSelectionPolicyRequest",
    "SelectionOperations",
    "SetSelectionPolicyRequest",
]
