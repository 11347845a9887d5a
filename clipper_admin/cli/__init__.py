"""``clipper``: run and use a local Clipper cluster from the shell.

Every command works on one local cluster (``--cluster-name``, default
``$CLIPPER_CLUSTER_NAME`` or ``default-cluster``; its files under
``$CLIPPER_HOME/clusters/<name>`` or ``--cluster-dir``)::

    clipper start [--free-ports]          clipper stop
    clipper status                        clipper clusters
    clipper register-app hello --input-type doubles --default-output -1 --slo-micros 100000
    clipper deploy model.py:predict --name sum --version 1 --input-type doubles --app hello
    clipper predict hello '[1.0, 2.0]'
    clipper apps | models | replicas | metrics [APP] | logs [DIR]
    clipper set-version sum 2 | rollback sum | scale sum 3 | stop-model sum
    clipper link hello sum | unlink hello sum | delete-app hello

Output is a table (``--json``: JSON on stdout). The admin library's INFO
lines show with ``-v`` only. A failure prints one ``clipper: error: ...``
line on stderr and exits with status 1 (2 for a usage error).

Modules: ``_main`` (the parser and the error boundary), ``_cmd_cluster``,
``_cmd_apps`` and ``_cmd_models`` (the commands, each with its options),
``_clusters`` (finding and checking local clusters), ``_loading``
(``FILE.py:FUNCTION``), ``_metrics``, ``_errors``, ``_output``, ``_parser``.
"""

from __future__ import annotations

from clipper_admin.cli._errors import CliError
from clipper_admin.cli._loading import load_function
from clipper_admin.cli._main import build_parser, main

__all__ = ["CliError", "build_parser", "load_function", "main"]
