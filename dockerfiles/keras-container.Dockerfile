# clipper/keras311-container (also keras-container): serves a Keras model,
# /model/{func.pkl, keras_model.keras or keras_model.h5}, with Keras on
# TensorFlow's CPU build. It is the TensorFlow image (tf-container.Dockerfile)
# with the Keras entrypoint: no layer of its own.
ARG BASE_IMAGE=clipper/tf311-container:0.1.0

FROM ${BASE_IMAGE}
USER clipper
LABEL ai.clipper.framework="keras" \
      org.opencontainers.image.title="clipper keras-container"
ENTRYPOINT ["python", "-m", "model_containers.keras_container"]
