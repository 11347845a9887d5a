# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BASE_STAMP := $(VENV)/.installed-base
# The MXNet client's virtualenv: MXNet 1.9.1 needs numpy<1.24, the test extra numpy>=1.26.
MXNET_VENV := build/mxnet-venv
MXNET_STAMP := $(MXNET_VENV)/.installed

.PHONY: demo demo-stop test install clean images bench settings-docs mxnet-venv chaos

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Versions pinned by constraints.txt, so a clone installs the same ones later.
$(BASE_STAMP): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install --quiet -c constraints.txt -e .
	touch $(BASE_STAMP)

$(STAMP): $(BASE_STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

## The library, the frontends and the `clipper` command, in .venv (no test tools, no frameworks).
install: $(BASE_STAMP)

## The MXNet client's own virtualenv (tests/frameworks/test_mxnet.py runs in it).
mxnet-venv: $(MXNET_STAMP)

$(MXNET_STAMP): pyproject.toml tests/frameworks/requirements-mxnet-venv.txt
	test -x $(MXNET_VENV)/bin/python || $(PYTHON) -m venv $(MXNET_VENV)
	$(MXNET_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MXNET_VENV)/bin/python -m pip install --quiet -e ".[mxnet]" -r tests/frameworks/requirements-mxnet-venv.txt
	touch $(MXNET_STAMP)

## Start a local cluster, deploy a model, query it, print the curl line.
demo: $(BASE_STAMP)
	$(PY) examples/demo.py

## Stop the demo cluster.
demo-stop: $(BASE_STAMP)
	$(VENV)/bin/clipper stop --cluster-name demo

## Install what the tests need and run them all.
test: $(STAMP) $(MXNET_STAMP)
	$(PY) -m mypy --strict clipper_protocol clipper_service query_frontend management_frontend model_containers clipper_admin
	$(PY) -m pytest

## Regenerate docs/settings.md from the settings declarations.
settings-docs: $(STAMP)
	$(PY) docs/generate_settings.py

## Build every Docker image (offline here; REGISTRY=..., ONLINE=1 for base images + PyPI).
images: $(STAMP)
	dockerfiles/build_images.sh $(if $(REGISTRY),--registry $(REGISTRY)) $(if $(ONLINE),--online)

## Clipper against LitServe, BentoML, Ray Serve, MLServer and bare aiohttp, then real models
## (bench/real_models.py: + KServe, Triton, TorchServe): writes docs/benchmarks.md and docs/img/
## (~20 + ~30 min; BENCH_ARGS=--quick for a smoke run).
bench: $(STAMP)
	bench/setup_venvs.sh
	$(PY) -m bench.run $(BENCH_ARGS)
	$(PY) -m bench.real_models $(BENCH_ARGS)

## Chaos: a local cluster under load while seeded random faults hit it (CHAOS_S seconds, default 1800;
## SEED=N replays a run); checks tests/chaos/invariants.py, report in build/chaos/report.json.
chaos: $(STAMP)
	$(PY) -m tests.chaos.run --seconds $${CHAOS_S:-1800} $(if $(SEED),--seed $(SEED))

clean:
	rm -rf $(VENV) $(MXNET_VENV) .pytest_cache .mypy_cache *.egg-info
