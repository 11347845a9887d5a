"""Run a Clipper cluster as Docker containers."""
