# clipper/mxnet311-container (also mxnet-container): serves an MXNet model,
# /model/{func.pkl, mxnet_model-symbol.json, mxnet_model-0000.params,
# mxnet_model_metadata.json} as the deployer writes them, to the query frontend
# at CLIPPER_IP:CLIPPER_PORT. Prometheus metrics on 1390.
#
# py-rpc plus Debian's libgomp1 and libquadmath0 (what the wheel's libmxnet.so
# and bundled libgfortran.so.3 link against; the slim base lacks them) and
# MXNet 1.9.1 (retired upstream; the CPU build with its bundled OpenBLAS) with
# its own numpy 1.23.5 in /opt/clipper-frameworks/mxnet. That directory goes
# FIRST on the venv's sys.path (a .pth "import" line, idempotent: Debian's site
# reads the venv's .pth files twice), so MXNet's numpy
# shadows py-rpc's numpy 2 in this image; the build stage checks that and that
# a real container serves on it (probe_mxnet.py). No headers, no tests.
# Build context: build/framework-wheels (dockerfiles/build_images.sh).
ARG BASE_IMAGE=clipper/py-rpc:0.1.0

# Both later stages start from this one, so the libraries are fetched once and cached.
FROM ${BASE_IMAGE} AS runtime
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 libquadmath0 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log /var/cache/debconf/*-old

FROM runtime AS build
ARG MXNET_VERSION=1.9.1
ARG NUMPY_VERSION=1.23.5
COPY requirements-mxnet.txt probe_mxnet.py /wheels/
# Only this image's wheels (the context holds every framework's).
COPY wheels/mxnet-*.whl wheels/numpy-*.whl wheels/graphviz-*.whl wheels/requests-*.whl wheels/certifi-*.whl \
     wheels/charset_normalizer-*.whl wheels/urllib3-*.whl /wheels/wheels/
RUN python -m pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /wheels/wheels \
        --no-deps --target /opt/clipper-frameworks/mxnet -r /wheels/requirements-mxnet.txt \
 && cd /opt/clipper-frameworks/mxnet \
 && rm -rf bin mxnet/include numpy/core/include \
 && find . -name tests -type d -path './numpy/*' -prune -exec rm -rf {} + \
 && python -c "import sysconfig, pathlib; d = pathlib.Path('/pth-stage' + sysconfig.get_path('purelib')); \
        d.mkdir(parents=True); (d / 'clipper-mxnet.pth').write_text( \
        'import sys; p = \"/opt/clipper-frameworks/mxnet\"; p in sys.path or sys.path.insert(0, p)\\n')" \
 && cp -r /pth-stage/opt/clipper/. /opt/clipper/ \
 && PYTHONDONTWRITEBYTECODE=1 python /wheels/probe_mxnet.py "${MXNET_VERSION}" "${NUMPY_VERSION}" \
 && find . -name __pycache__ -type d -prune -exec rm -rf {} +

FROM runtime
ARG MXNET_VERSION=1.9.1
ARG NUMPY_VERSION=1.23.5
COPY --from=build --chown=1000:1000 /opt/clipper-frameworks/mxnet /opt/clipper-frameworks/mxnet
# Only the .pth that puts the framework first on the venv's path (the venv stays the user's, for pkgs_to_install).
COPY --from=build --chown=1000:1000 /pth-stage/opt/clipper/ /opt/clipper/
USER clipper
ENV CLIPPER_MODEL_PATH=/model \
    CLIPPER_READY_FILE=/home/clipper/model_is_ready.check \
    MXNET_SUBGRAPH_VERBOSE=0
LABEL ai.clipper.framework="mxnet" \
      ai.clipper.mxnet_version="${MXNET_VERSION}" \
      ai.clipper.numpy_version="${NUMPY_VERSION}" \
      org.opencontainers.image.title="clipper mxnet-container"
HEALTHCHECK --interval=3s --timeout=3s --start-period=60s --retries=1 CMD test -f "$CLIPPER_READY_FILE" || exit 1
EXPOSE 1390
ENTRYPOINT ["python", "-m", "model_containers.mxnet_container"]
