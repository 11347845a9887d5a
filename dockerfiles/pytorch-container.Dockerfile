# clipper/pytorch311-container (also pytorch-container): serves a PyTorch
# model, /model/{func.pkl, pytorch_model.pkl, pytorch_weights.pkl} as the
# deployer writes them, to the query frontend at CLIPPER_IP:CLIPPER_PORT.
# Prometheus metrics on 1390.
#
# py-rpc (so every layer of the closure image is shared) plus one layer: the
# CPU build of torch and its dependencies in /opt/clipper-frameworks/pytorch,
# appended to the venv's path. No CUDA, no headers, no test binaries.
# Build context: build/framework-wheels (dockerfiles/build_images.sh).
ARG BASE_IMAGE=clipper/py-rpc:0.1.0

FROM ${BASE_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
USER root
COPY requirements-pytorch.txt /wheels/
COPY wheels/ /wheels/wheels/
RUN python -m pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /wheels/wheels \
        --no-deps --target /opt/clipper-frameworks/pytorch -r /wheels/requirements-pytorch.txt \
 && cd /opt/clipper-frameworks/pytorch \
 && rm -rf torch/include torch/test torch/share/cmake bin \
 && find torch/bin -mindepth 1 -maxdepth 1 -not -name torch_shm_manager -exec rm -rf {} + \
 && find . -name __pycache__ -type d -prune -exec rm -rf {} + \
 && PYTHONPATH=/opt/clipper-frameworks/pytorch python -c "import torch, model_containers.pytorch_container; \
        v = torch.__version__.split('+')[0]; assert v == '${TORCH_VERSION}', (v, '${TORCH_VERSION}'); \
        assert not torch.cuda.is_available() and torch.version.cuda is None, 'not a CPU build'" \
 && python -c "import sysconfig, pathlib; d = pathlib.Path('/pth-stage' + sysconfig.get_path('purelib')); \
        d.mkdir(parents=True); (d / 'clipper-pytorch.pth').write_text('/opt/clipper-frameworks/pytorch\\n')"

FROM ${BASE_IMAGE}
ARG TORCH_VERSION=2.13.0
COPY --from=build --chown=1000:1000 /opt/clipper-frameworks/pytorch /opt/clipper-frameworks/pytorch
# Only the .pth that appends the framework to the venv's path (the venv stays the user's, for pkgs_to_install).
COPY --from=build --chown=1000:1000 /pth-stage/opt/clipper/ /opt/clipper/
USER clipper
ENV CLIPPER_MODEL_PATH=/model \
    CLIPPER_READY_FILE=/home/clipper/model_is_ready.check
LABEL ai.clipper.framework="pytorch" \
      ai.clipper.pytorch_version="${TORCH_VERSION}" \
      org.opencontainers.image.title="clipper pytorch-container"
HEALTHCHECK --interval=3s --timeout=3s --start-period=60s --retries=1 CMD test -f "$CLIPPER_READY_FILE" || exit 1
EXPOSE 1390
ENTRYPOINT ["python", "-m", "model_containers.pytorch_container"]
