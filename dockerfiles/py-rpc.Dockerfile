# clipper/py-rpc: the Python runtime every Clipper service image builds on
# (Python 3.11); clipper/py310-rpc, py312-rpc, py313-rpc: the same runtime on
# another Python, for that Python's closure image.
# A virtualenv at /opt/clipper holding this project and its runtime
# dependencies, owned by the non-root user `clipper` (uid 1000) so that a model
# image can `pip install` its pkgs_to_install without root.
#
# Build context: a wheelhouse directory (dockerfiles/build_images.sh makes it
# at build/wheelhouse) holding
#   requirements.txt   this folder's pinned runtime dependencies (for Python 3.10
#                      merged with requirements-py310.txt)
#   project/           the project wheel (`pip wheel --no-deps .`)
#   deps/              offline builds only: the wheels of requirements.txt
#   online:  docker build -f dockerfiles/py-rpc.Dockerfile build/wheelhouse
#   offline: ... --build-arg PIP_OPTIONS="--no-index --find-links /wheels/deps"
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG PIP_OPTIONS=""
# A venv, so no Debian python3-* package can stand in for a pinned requirement.
RUN python3 -m venv /opt/clipper
# Dependencies first: their layer stays cached while only the project changes.
COPY requirements.txt /wheels/
COPY deps/ /wheels/deps/
RUN /opt/clipper/bin/pip install --no-cache-dir --disable-pip-version-check ${PIP_OPTIONS} \
        -r /wheels/requirements.txt
COPY project/ /wheels/project/
# --ignore-requires-python: the project's requires-python (3.11) is the admin
# client's; the runtime installed here also runs on 3.10, which the imports
# below check.
RUN /opt/clipper/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps --ignore-requires-python \
        /wheels/project/clipper_serving-*.whl \
 && /opt/clipper/bin/python -c "import importlib; [importlib.import_module(m) for m in ( \
        'query_frontend.__main__', 'management_frontend.__main__', \
        'model_containers.python_closure_container', 'model_containers.noop_container')]"

FROM ${BASE_IMAGE}
# major.minor of the base image's Python; build_images.sh passes the value it
# reads from the base image, and the check below refuses a mismatch.
ARG PYTHON_VERSION=3.11
RUN actual="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
 && if [ "$actual" != "$PYTHON_VERSION" ]; then \
        echo "PYTHON_VERSION=$PYTHON_VERSION but the base image has Python $actual" >&2; exit 1; fi \
 && useradd --uid 1000 --user-group --create-home --shell /bin/sh clipper
COPY --from=build --chown=1000:1000 /opt/clipper /opt/clipper
ENV VIRTUAL_ENV=/opt/clipper \
    PATH=/opt/clipper/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
LABEL ai.clipper.python_version="${PYTHON_VERSION}" \
      org.opencontainers.image.title="clipper py-rpc" \
      org.opencontainers.image.description="Python runtime of the Clipper services and model containers"
WORKDIR /home/clipper
USER clipper
