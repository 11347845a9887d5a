"""Ports and defaults, with the values the original Clipper uses."""

QUERY_FRONTEND_PORT = 1337
MANAGEMENT_FRONTEND_PORT = 1338
RPC_SERVICE_PORT = 7000
METRIC_PORT = 1390
REDIS_PORT = 6379
REDIS_ADDRESS = "localhost"

DEFAULT_PREDICTION_CACHE_SIZE_BYTES = 33554432
DEFAULT_BATCH_SIZE = -1
DEFAULT_USER_ID = 0
DEFAULT_SLO_MICROS = 100000

CONTAINERLESS_MODEL_IMAGE = "NO_CONTAINER"
DEFAULT_SELECTION_POLICY = "DefaultOutputSelectionPolicy"

ITEM_DELIMITER = ","
ITEM_PART_CONCATENATOR = ":"

# Default-output explanations, byte for byte as the original writes them.
NO_CONNECTED_MODELS_EXPLANATION = "No connected models found for query"
SLO_EXCEEDED_EXPLANATION = (
    "Failed to retrieve a prediction response within the specified latency SLO"
)

#: The name this project is published under (the import names are ``clipper_admin``, ``query_frontend``, ...):
#: ``clipper-py`` belongs to an unrelated project on PyPI.
DISTRIBUTION = "clipper-serving"
