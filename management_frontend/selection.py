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
from typing import Any

from clipper_protocol import selection_schema as ss
from clipper_protocol.admin_api import GetSelectionPolicyRequest, SetSelectionPolicyRequest, SelectionPolicyInfo
from clipper_protocol.redis_schema import APP_POLICY_FIELD
from management_frontend.errors import BadRequestError, StoreError
from management_frontend.scripts import ScriptResult
from management_frontend.state import RedisStateStore

logger = logging.getLogger("clipper.management_frontend.selection")


class SelectionOperations:
    """The selection admin operations, mixed into ``ManagementService``."""

    store: RedisStateStore

    async def set_selection_policy(self, req: SetSelectionPolicyRequest) -> str:
        app = req.app_name
        params = req.selection_params
        await self._check_weight_targets(params)
        params_json = json.dumps(params.to_json(), separators=(",", ":"))
        try:
            outcome = await self.store.set_selection_policy(app, req.policy, params_json)
        except StoreError:
            logger.exception("setting the selection policy of %r failed", app)
            raise BadRequestError(f"Error setting the selection policy of '{app}' in Redis") from None
        match outcome.result:
            case ScriptResult.OK:
                logger.info("application %r now selects models with %s %s (was %s)",
                            app, req.policy, params_json, outcome.details[0])
                return f"Successfully set the selection policy of application '{app}' to '{req.policy}'"
            case ScriptResult.NO_APP:
                raise BadRequestError(f"No app with name '{app}' exists.")
            case ScriptResult.TOO_MANY_LINKS:
                raise BadRequestError(
                    f"Application '{app}' links {outcome.details[0]} models; {ss.DEFAULT_POLICY} "
                    "serves one. Unlink all but one model first."
                )
        raise RuntimeError(f"set_selection_policy: unexpected script result {outcome}")

    async def _check_weight_targets(self, params: ss.SelectionParams) -> None:
        """A/B weights and cascade stages must name registered models (and existing versions).

        A model need not be linked yet: weights may be set first, so that an
        app can switch from the default policy and then link its second
        model. Until it is linked, the query frontend leaves it out.
        """
        named = [("params.weights", t) for t in params.weights]
        named += [(f"params.stages[{i}].model", s.model) for i, s in enumerate(params.stages)]
        if not named:
            return
        targets = [(where, *ss.parse_target(t)) for where, t in named]
        current = await self.store.get_current_versions([m for _, m, _ in targets])
        for where, model, version in targets:
            if current.get(model) is None:
                raise BadRequestError(
                    f"Invalid value for JSON key params: {where} names model '{model}', which does not exist"
                )
            if version is not None and await self.store.get_model(model, version) is None:
                raise BadRequestError(
                    f"Invalid value for JSON key params: {where} names version '{version}' "
                    f"of model '{model}', which does not exist"
                )

    async def get_selection_policy(self, req: GetSelectionPolicyRequest) -> dict[str, Any]:
        found = await self.store.get_selection(req.app_name)
        if found is None:
            raise BadRequestError(f"No application with name '{req.app_name}' exists.")
        raw, state = found
        try:
            params = json.loads(raw.get(ss.PARAMS_FIELD) or "{}")
        except ValueError:
            params = raw.get(ss.PARAMS_FIELD)
        return SelectionPolicyInfo(
            app_name=req.app_name,
            policy=raw.get(APP_POLICY_FIELD, ss.DEFAULT_POLICY),
            params=params,
            linked_models=await self.store.get_linked_models(req.app_name),
            state={k: float(v) for k, v in sorted(state.items())},
        ).to_json()
