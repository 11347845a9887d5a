"""Statistical performance monitoring: input and output drift, default rates, quality from feedback.

- :mod:`.recorder`: what the query path calls (O(1), bounded queues);
- :mod:`.monitor`: the owner of the windows, ticked off the query path;
- :mod:`.inputs`, :mod:`.outputs`, :mod:`.quality`: the figures of an
  application's inputs and defaults, of a version's answers, of its feedback;
- :mod:`.windows`, :mod:`.stats`: bounded windows and the statistics (PSI, KS);
- :mod:`.exposition`: the Prometheus families.

The JSON shapes are :mod:`clipper_protocol.monitoring_api`'s; docs/monitoring.md
explains every figure.
"""

from query_frontend.monitoring.limits import MonitoringLimits, parse_quality_kinds
from query_frontend.monitoring.monitor import Monitor
from query_frontend.monitoring.recorder import Recorder

__all__ = ["MonitoringLimits", "Monitor", "Recorder", "parse_quality_kinds"]
