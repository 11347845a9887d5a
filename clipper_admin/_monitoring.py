"""Statistical monitoring: the ``ClipperConnection`` methods that read and reset it on the query frontend."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from clipper_admin import _http
from clipper_admin._base import _ConnectionBase, requires_connection
from clipper_admin.exceptions import ClipperException
from clipper_protocol import monitoring_api as mapi

_TIMEOUT_S = 10.0


class _Monitoring(_ConnectionBase):
    @requires_connection
    def get_model_quality(self, app_name: str) -> dict[str, Any]:
        """What the query frontend measured of an application: drift, default rate, quality per model version.

        Returns
        -------
        dict
            ``GET /<app>/monitoring``, the shape of
            :class:`clipper_protocol.monitoring_api.AppMonitoring`
            (docs/monitoring.md): ``reference`` (the input reference window:
            ``size``, ``capacity``, ``complete``, ``started_at``, ``reason``),
            ``features`` (per input feature: ``psi``, ``ks``, ``reference``
            and ``recent`` summaries), ``type_mix`` (strings and bytes),
            ``defaults`` (``rate`` over the ``recent``/``reference``/``lifetime``
            windows, and reasons), and ``models``: per model version its
            ``outputs`` drift and ``quality`` (``kind`` classifier or
            regressor, ``feedback`` count, ``accuracy`` and ``mae`` per window,
            time ``buckets``). Figures not measured yet are None. With
            several query frontends, the figures are those of the frontend
            answering at :meth:`get_query_addr`.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
            An unknown application, or monitoring switched off on the frontend.
        """
        _check_name(app_name)
        path = mapi.monitoring_path(quote(app_name, safe=""))
        r = _http.query_frontend_get(self.cm.get_query_addr(), path, _TIMEOUT_S)
        result: dict[str, Any] = _http.response_json(self._ok(r), path)
        return result

    @requires_connection
    def reset_reference_window(self, app_name: str) -> dict[str, Any]:
        """Start new reference windows for an application, e.g. after retraining its model.

        Drift is then measured against the first samples (and quality
        against the first feedbacks) after this call. A deploy, a link or a
        change of current version does the same by itself.

        Returns
        -------
        dict
            ``{"app", "reset": True, "started_at"}`` (Unix seconds).

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
            An unknown application, or monitoring switched off on the frontend.
        """
        _check_name(app_name)
        addr = self.cm.get_query_addr()
        path = mapi.reset_path(quote(app_name, safe=""))
        try:
            r = requests.post(f"http://{addr}{path}", timeout=_TIMEOUT_S)
        except requests.RequestException as e:
            raise ClipperException(f"Could not reach the Clipper query frontend at {addr} "
                                   f"({type(e).__name__}: {e}). Is the cluster running?") from e
        result: dict[str, Any] = _http.response_json(self._ok(r), path)
        self.logger.info(f"Monitoring of {app_name}: new reference windows from {result.get('started_at')}")
        return result

    def _ok(self, r: requests.Response) -> requests.Response:
        if r.status_code != requests.codes.ok:
            msg = f"Received error status code: {r.status_code} and message: {_cause(r)}"
            self.logger.error(msg)
            raise ClipperException(msg)
        return r


def _cause(r: requests.Response) -> str:
    """The frontend's ``cause`` (its error bodies are ``{"error", "cause"}``), else the whole body."""
    try:
        doc = r.json()
    except ValueError:
        return r.text
    return str(doc["cause"]) if isinstance(doc, dict) and "cause" in doc else r.text


def _check_name(app_name: object) -> None:
    if not isinstance(app_name, str) or not app_name:
        raise ClipperException(f"app_name must be a non-empty string, got {app_name!r}")
