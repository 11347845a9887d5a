"""Model selection: the ``ClipperConnection`` methods that set an application's policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clipper_admin._base import _ConnectionBase, requires_connection
from clipper_admin.exceptions import ClipperException
from clipper_protocol import admin_api as api
from clipper_protocol import selection_schema as ss


class _Selection(_ConnectionBase):
    @requires_connection
    def set_selection_policy(self, app_name: str, policy: str, params: Mapping[str, Any] | None = None) -> None:
        """Choose how an application picks and combines its linked models.

        Takes effect on every query frontend within milliseconds. Changing
        to another policy starts its learning afresh; changing only the
        parameters keeps what it learnt. An application with a policy other
        than the default may link several models (:meth:`link_model_to_app`).

        Parameters
        ----------
        app_name : str
            A registered application.
        policy : str
            ``"DefaultOutputSelectionPolicy"`` (the original's: one model),
            ``"ABSplitPolicy"`` (weighted split across models or versions),
            ``"EpsilonGreedyPolicy"``, ``"Exp3Policy"`` (one model per query,
            learnt from feedback), ``"Exp4Policy"`` (every model, answers
            combined with learnt weights) or ``"CascadePolicy"`` (models
            asked cheapest first until one is confident, within the SLO).
        params : dict, optional
            The policy's parameters (see ``docs/model-selection.md``):
            ``weights`` (A/B: ``{"model" or "model:version": weight}``),
            ``epsilon``, ``gamma``, ``eta``, ``loss_scale``, ``combine``
            (``"auto"``, ``"mean"``, ``"vote"``), ``personalize``, ``seed``,
            ``stages`` (cascade: ``[{"model": "lr", "threshold": 0.9},
            {"model": "forest"}]``; each stage but the last needs a
            ``threshold``, any may give ``latency_ms``).

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
            An unknown policy or parameter (named in the message), or the
            management frontend's refusal, e.g. going back to the default
            policy while several models are linked.
        """
        if not isinstance(app_name, str) or not app_name:
            raise ClipperException(f"app_name must be a non-empty string, got {app_name!r}")
        if policy not in ss.POLICIES:
            raise ClipperException(f"policy must be one of {', '.join(ss.POLICIES)}; got {policy!r}")
        if params is not None and not isinstance(params, Mapping):
            raise ClipperException(f"params must be a dict or None, got {type(params).__name__}")
        body_params = dict(params or {})
        try:
            ss.parse_params(policy, body_params)
        except ss.SelectionParamsError as e:
            raise ClipperException(f"Invalid params for {policy}: {e}") from None
        self._admin_post(api.SET_SELECTION_POLICY, api.SetSelectionPolicyRequest(app_name, policy, body_params))
        self.logger.info(f"Application {app_name} now selects models with {policy}")

    @requires_connection
    def get_selection_policy(self, app_name: str) -> dict[str, Any]:
        """An application's selection policy, its parameters and what it has learnt.

        Returns
        -------
        dict
            ``{"app_name", "policy", "params", "linked_models", "state"}``;
            ``state`` holds the learnt statistics of the whole application
            (uid 0), e.g. ``{"logw:forest": 3.2, "logw:tree": -0.4}`` for Exp3.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
            If no application of that name exists.
        """
        result: dict[str, Any] = self._admin_query(api.GET_SELECTION_POLICY, api.GetSelectionPolicyRequest(app_name))
        return result

    @requires_connection
    def set_model_weights(self, app_name: str, weights: Mapping[str, float]) -> None:
        """Split an application's traffic across models or versions (an A/B test).

        Switches the application to ``ABSplitPolicy`` if needed, keeping its
        other A/B parameters (its ``seed``).

        Parameters
        ----------
        app_name : str
            A registered application; the named models must be linked to it.
        weights : dict
            ``{"<model>": weight}`` or ``{"<model>:<version>": weight}``;
            relative, e.g. ``{"tree": 90, "forest": 10}``.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        if not isinstance(weights, Mapping) or not weights:
            raise ClipperException(f"weights must be a non-empty dict of target -> weight, got {weights!r}")
        current = self.get_selection_policy(app_name)
        params: dict[str, Any] = {}
        if current.get("policy") == ss.AB_SPLIT_POLICY and isinstance(current.get("params"), dict):
            params = dict(current["params"])
        params["weights"] = dict(weights)
        self.set_selection_policy(app_name, ss.AB_SPLIT_POLICY, params)
