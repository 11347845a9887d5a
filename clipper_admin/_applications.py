"""Applications and their model links: the ``ClipperConnection`` methods for them."""

from __future__ import annotations

import numbers
from typing import Any

from clipper_admin._base import requires_connection
from clipper_admin._selection import _Selection
from clipper_admin.exceptions import ClipperException
from clipper_protocol import admin_api as api
from clipper_protocol.names import application_name_problem


def _checked_slo(slo_micros: object) -> int:
    """``slo_micros`` as an int (numpy integers too), or ClipperException naming the argument."""
    value = slo_micros
    if isinstance(slo_micros, numbers.Integral) and not isinstance(slo_micros, bool):
        value = int(slo_micros)
    problem = api.slo_micros_problem(value)
    if problem is not None or not isinstance(value, int):
        raise ClipperException(f"Invalid value for argument slo_micros: {problem}")
    return value


class _Applications(_Selection):
    """Applications, their links, and (from ``_Selection``) their model-selection policy."""

    @requires_connection
    def register_application(
        self,
        name: str,
        input_type: str,
        default_output: str,
        slo_micros: int,
        *,
        cache: bool | None = None,
    ) -> None:
        """Register an application, creating its REST endpoint ``/<name>/predict``.

        Parameters
        ----------
        name : str
            The application's name; it is also the endpoint's path. Lower-case
            alphanumerics and '-', starting and ending with an alphanumeric
            (the rule of deployed model names).
        input_type : str
            What queries carry: one of "integers", "floats", "doubles", "bytes",
            "strings" (or an alias such as "ints", "double", "str").
        default_output : str
            Returned when no model answers within the latency objective.
        slo_micros : int
            The latency objective, in microseconds (1 to 2147483647), for
            queries to this application. A realistic value includes the
            queueing and model evaluation time, not only the network round trip.
        cache : bool, optional
            Accepted for compatibility with code written against forks that
            had it; it changes nothing: the prediction cache is always on
            (sized by ``start_clipper(cache_size=...)``).

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
            An invalid ``name`` or ``slo_micros`` (named in the message, before
            any request), or the management frontend's refusal.
        """
        name_problem = application_name_problem(name)
        if name_problem is not None:
            raise ClipperException(f"Invalid value for argument name: {name_problem}")
        slo = _checked_slo(slo_micros)
        if cache is False:
            self.logger.warning(
                "register_application(cache=False) has no effect: the prediction cache is always on"
            )
        self._admin_post(api.ADD_APP, api.AddAppRequest(name, input_type, default_output, slo))
        self.logger.info(f"Application {name} was successfully registered")

    @requires_connection
    def unregister_application(self, name: str) -> None:
        """Remove an application; its endpoint stops serving.

        Parameters
        ----------
        name : str
            The application to remove.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
            If no application of that name exists.
        """
        self._admin_post(api.DELETE_APP, api.AppNameRequest(name))
        self.logger.info(f"Application {name} was successfully unregistered")

    def delete_application(self, name: str) -> None:
        """Deprecated alias of :meth:`unregister_application`."""
        self.logger.warning("[DEPRECATED] Use 'unregister_application' API instead of this.")
        self.unregister_application(name)

    @requires_connection
    def link_model_to_app(self, app_name: str, model_name: str) -> None:
        """Route the application's queries to the current version of a model.

        With the default selection policy an application has at most one
        linked model; with another (:meth:`set_selection_policy`) it may link
        several, and its policy chooses among them. Setting a model's
        version (:meth:`set_model_version`, or deploying a new version) moves
        the application's traffic to it without re-linking.

        Parameters
        ----------
        app_name : str
            A registered application.
        model_name : str
            A registered model with the same input type as the application.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
            E.g. ``No model with name '<m>' exists.``
        """
        self._admin_post(api.ADD_MODEL_LINKS, api.ModelLinksRequest(app_name, [model_name]))
        self.logger.info(f"Model {model_name} is now linked to application {app_name}")

    @requires_connection
    def unlink_model_from_app(self, app_name: str, model_name: str) -> None:
        """Stop routing the application's queries to the model.

        Parameters
        ----------
        app_name : str
            A registered application.
        model_name : str
            The model linked to it.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
            If the application or the link does not exist.
        """
        self._admin_post(api.DELETE_MODEL_LINKS, api.ModelLinksRequest(app_name, [model_name]))
        self.logger.info(f"Model {model_name} is now removed to application {app_name}")

    @requires_connection
    def get_all_apps(self, verbose: bool = False) -> list[Any]:
        """All registered applications.

        Parameters
        ----------
        verbose : bool, optional
            False (default): a list of names. True: a list of dicts with keys
            "name", "input_type", "default_output", "latency_slo_micros" and
            "linked_models".

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        result: list[Any] = self._admin_query(api.GET_ALL_APPLICATIONS, api.VerboseRequest(verbose))
        return result

    @requires_connection
    def get_app_info(self, name: str) -> dict[str, Any] | None:
        """Details of one application.

        Parameters
        ----------
        name : str
            The application.

        Returns
        -------
        dict or None
            Keys "name", "input_type", "default_output", "latency_slo_micros",
            "linked_models"; None (with a logged warning) if it is not registered.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        app_info: dict[str, Any] = self._admin_query(api.GET_APPLICATION, api.AppNameRequest(name))
        if len(app_info) == 0:
            self.logger.warning(f"Application {name} is not registered with Clipper")
            return None
        return app_info

    @requires_connection
    def get_linked_models(self, app_name: str) -> list[str]:
        """Names of the models linked to an application (``[]`` if none).

        Parameters
        ----------
        app_name : str
            A registered application.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
            If no application of that name exists.
        """
        result: list[str] = self._admin_query(api.GET_LINKED_MODELS, api.AppNameFieldRequest(app_name))
        return result
