"""The skeleton every Clipper process is built on.

- :mod:`clipper_service.settings`: one settings loader (flags, environment,
  defaults) and the generated documentation of every setting;
- :mod:`clipper_service.supervisor`: supervised background work (asyncio
  tasks and threads) with crash logging, restart with backoff, readiness and
  ordered shutdown;
- :mod:`clipper_service.process`: logging in one format and the process entry
  (signals, event loop) shared by the frontends and the model containers.
"""
