"""Clipper's management frontend: the admin REST API (port 1338) over Redis.

Run it with ``python -m management_frontend --redis_ip=HOST --redis_port=PORT``.
Modules: :mod:`.settings` (configuration), :mod:`.protocol` (request/response
JSON shapes), :mod:`.state` and :mod:`.scripts` (Redis access), :mod:`.service`
(the admin operations' rules), :mod:`.http` (handlers and error mapping),
:mod:`.server` (start-up and shutdown).
"""
