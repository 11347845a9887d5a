"""Run a Clipper cluster on Kubernetes."""
