# clipper/python3X-closure-container (python311-, python313-, ...): serves the
# cloudpickled function /model/func.pkl (the deployer's model image COPYs it
# there) to the query frontend at CLIPPER_IP:CLIPPER_PORT. Prometheus metrics
# on 1390. BASE_IMAGE: the py-rpc of the Python that pickled the function
# (py-rpc for 3.11, py313-rpc for 3.13): pickles only load in their own Python.
ARG BASE_IMAGE=clipper/py-rpc:0.1.0
FROM ${BASE_IMAGE}
USER clipper
# The ready file lives in the user's home: the container does not run as root.
ENV CLIPPER_MODEL_PATH=/model \
    CLIPPER_READY_FILE=/home/clipper/model_is_ready.check
HEALTHCHECK --interval=3s --timeout=3s --start-period=60s --retries=1 CMD test -f "$CLIPPER_READY_FILE" || exit 1
EXPOSE 1390
ENTRYPOINT ["python", "-m", "model_containers.python_closure_container"]
