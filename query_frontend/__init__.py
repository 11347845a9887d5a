"""query_frontend package."""
