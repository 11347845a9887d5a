"""Wire formats shared by every Clipper process.

Nothing in this package imports serving logic: the query frontend, the
management frontend, the model-container runtime and the admin library all
import these modules, so both ends of each wire always agree.

- :mod:`clipper_protocol.constants`: ports and defaults of the original.
- :mod:`clipper_protocol.input_types`: input-type names, aliases, wire codes.
- :mod:`clipper_protocol.rpc`: the ZeroMQ frames of RPC version 3.
- :mod:`clipper_protocol.redis_schema`: Redis databases, keys and records.
- :mod:`clipper_protocol.names`: validation rules for names and versions.
- :mod:`clipper_protocol.admin_api`: the admin REST API's endpoints and bodies,
  declared with :mod:`clipper_protocol.json_body` (strictly typed JSON objects).
- :mod:`clipper_protocol.user_metrics`: user-defined metrics (``clipper_admin.metrics``):
  their checks, and the hand-over to the model container's exporter.
- :mod:`clipper_protocol.errors`: :class:`ClipperError`, the root of every
  deliberate error of the Clipper packages.
"""
