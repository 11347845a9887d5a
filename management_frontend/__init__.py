"""Clipper's management frontend: the admin REST API (port 1338) over Redis.

Run it with ``python -m management_frontend --redis_ip=HOST --redis_port=PORT``.
The API's endpoints and bodies are defined in :mod:`clipper_protocol.admin_api`.
Modules: :mod:`.settings` (configuration), :mod:`.protocol` (reading bodies
with the frontend's errors, answer records), :mod:`.state` and :mod:`.scripts`
(Redis access), :mod:`.service` and :mod:`.selection` (the admin operations'
rules), :mod:`.http` (handlers and error mapping), :mod:`.openapi` (the
generated API description), :mod:`.health` (the supervised Redis watcher),
:mod:`.server` (start-up and shutdown).
"""
