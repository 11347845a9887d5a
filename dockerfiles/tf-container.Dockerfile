# clipper/tf311-container (also tf-container): serves a TensorFlow model,
# /model/{func.pkl, tfmodel/} as the deployer writes them (a SavedModel
# directory, or tfmodel/keras_model.keras), to the query frontend at
# CLIPPER_IP:CLIPPER_PORT. Prometheus metrics on 1390.
#
# py-rpc (so every layer of the closure image is shared) plus one layer:
# tensorflow-cpu and keras with their dependencies in
# /opt/clipper-frameworks/tensorflow, appended to the venv's path. No CUDA,
# no headers. The Keras image (keras-container.Dockerfile) is this image with
# another entrypoint. Build context: build/framework-wheels (build_images.sh).
ARG BASE_IMAGE=clipper/py-rpc:0.1.0

FROM ${BASE_IMAGE} AS build
ARG TENSORFLOW_VERSION=2.21.0
ARG KERAS_VERSION=3.15.1
USER root
COPY requirements-tensorflow.txt /wheels/
COPY wheels/ /wheels/wheels/
RUN python -m pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /wheels/wheels \
        --no-deps --target /opt/clipper-frameworks/tensorflow -r /wheels/requirements-tensorflow.txt \
 && cd /opt/clipper-frameworks/tensorflow \
 && rm -rf bin tensorflow/include \
 && find . -name __pycache__ -type d -prune -exec rm -rf {} + \
 && PYTHONPATH=/opt/clipper-frameworks/tensorflow TF_CPP_MIN_LOG_LEVEL=2 python -c "import tensorflow as tf, keras; \
        import model_containers.tf_container, model_containers.keras_container; \
        assert tf.__version__ == '${TENSORFLOW_VERSION}', (tf.__version__, '${TENSORFLOW_VERSION}'); \
        assert keras.__version__ == '${KERAS_VERSION}', (keras.__version__, '${KERAS_VERSION}'); \
        assert not tf.config.list_physical_devices('GPU'), 'not a CPU build'" \
 && find . -name __pycache__ -type d -prune -exec rm -rf {} + \
 && python -c "import sysconfig, pathlib; d = pathlib.Path('/pth-stage' + sysconfig.get_path('purelib')); \
        d.mkdir(parents=True); (d / 'clipper-tensorflow.pth').write_text('/opt/clipper-frameworks/tensorflow\\n')"

FROM ${BASE_IMAGE}
ARG TENSORFLOW_VERSION=2.21.0
ARG KERAS_VERSION=3.15.1
COPY --from=build --chown=1000:1000 /opt/clipper-frameworks/tensorflow /opt/clipper-frameworks/tensorflow
# Only the .pth that appends the framework to the venv's path (the venv stays the user's, for pkgs_to_install).
COPY --from=build --chown=1000:1000 /pth-stage/opt/clipper/ /opt/clipper/
USER clipper
ENV CLIPPER_MODEL_PATH=/model \
    CLIPPER_READY_FILE=/home/clipper/model_is_ready.check \
    TF_CPP_MIN_LOG_LEVEL=1
LABEL ai.clipper.framework="tensorflow" \
      ai.clipper.tensorflow_version="${TENSORFLOW_VERSION}" \
      ai.clipper.keras_version="${KERAS_VERSION}" \
      org.opencontainers.image.title="clipper tf-container"
HEALTHCHECK --interval=3s --timeout=3s --start-period=60s --retries=1 CMD test -f "$CLIPPER_READY_FILE" || exit 1
EXPOSE 1390
ENTRYPOINT ["python", "-m", "model_containers.tf_container"]
