# clipper/onnx-container (also caffe2-onnx-container, the original's name):
# serves /model/model.onnx with onnxruntime (the original's Caffe2 backend no
# longer exists) and /model/func.pkl, to the query frontend at
# CLIPPER_IP:CLIPPER_PORT. Prometheus metrics on 1390.
#
# py-rpc plus one layer: onnxruntime (CPU) in /opt/clipper-frameworks/onnx.
# The build stage also reports the highest ONNX opset this onnxruntime runs
# (`python /probe_opset.py`); build_images.sh puts it in the label
# ai.clipper.onnx_max_opset, which the deployer checks before a build.
# Build context: build/framework-wheels (dockerfiles/build_images.sh).
ARG BASE_IMAGE=clipper/py-rpc:0.1.0

FROM ${BASE_IMAGE} AS build
USER root
COPY requirements-onnx.txt requirements-wheelhouse.txt probe_onnx_opset.py /wheels/
COPY wheels/ /wheels/wheels/
RUN python -m pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /wheels/wheels \
        --no-deps --target /opt/clipper-frameworks/onnx -r /wheels/requirements-onnx.txt \
 && find /opt/clipper-frameworks/onnx -name __pycache__ -type d -prune -exec rm -rf {} + \
 && rm -rf /opt/clipper-frameworks/onnx/bin \
 && python -m pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /wheels/wheels \
        --no-deps --target /opt/onnx-probe onnx ml_dtypes \
 && PYTHONPATH=/opt/clipper-frameworks/onnx python -c "import onnxruntime, model_containers.onnx_container" \
 && python -c "import sysconfig, pathlib; d = pathlib.Path('/pth-stage' + sysconfig.get_path('purelib')); \
        d.mkdir(parents=True); (d / 'clipper-onnx.pth').write_text('/opt/clipper-frameworks/onnx\\n')"

FROM ${BASE_IMAGE}
ARG ONNXRUNTIME_VERSION=""
ARG ONNX_MAX_OPSET=""
COPY --from=build --chown=1000:1000 /opt/clipper-frameworks/onnx /opt/clipper-frameworks/onnx
# Only the .pth that appends the framework to the venv's path (the venv stays the user's, for pkgs_to_install).
COPY --from=build --chown=1000:1000 /pth-stage/opt/clipper/ /opt/clipper/
USER clipper
ENV CLIPPER_MODEL_PATH=/model \
    CLIPPER_READY_FILE=/home/clipper/model_is_ready.check
LABEL ai.clipper.framework="onnx" \
      ai.clipper.onnxruntime_version="${ONNXRUNTIME_VERSION}" \
      ai.clipper.onnx_max_opset="${ONNX_MAX_OPSET}" \
      org.opencontainers.image.title="clipper onnx-container"
HEALTHCHECK --interval=3s --timeout=3s --start-period=60s --retries=1 CMD test -f "$CLIPPER_READY_FILE" || exit 1
EXPOSE 1390
ENTRYPOINT ["python", "-m", "model_containers.onnx_container"]
