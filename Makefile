# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo demo-stop test install clean images bench settings-docs

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## Start a local cluster, deploy a model, query it, print the curl line.
demo: $(STAMP)
	$(PY) examples/demo.py

## Stop the demo cluster.
demo-stop: $(STAMP)
	$(VENV)/bin/clipper stop --cluster-name demo

## Install what the tests need and run them all.
test: $(STAMP)
	$(PY) -m mypy --strict clipper_protocol clipper_service query_frontend management_frontend model_containers clipper_admin
	$(PY) -m pytest

## Regenerate docs/settings.md from the settings declarations.
settings-docs: $(STAMP)
	$(PY) docs/generate_settings.py

## Build every Docker image (offline here; REGISTRY=..., ONLINE=1 for base images + PyPI).
images: $(STAMP)
	dockerfiles/build_images.sh $(if $(REGISTRY),--registry $(REGISTRY)) $(if $(ONLINE),--online)

## Clipper against LitServe, BentoML, Ray Serve, MLServer and bare aiohttp: writes
## docs/benchmarks.md and docs/img/ (~20 min; BENCH_ARGS=--quick for a smoke run).
bench: $(STAMP)
	bench/setup_venvs.sh
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache *.egg-info
