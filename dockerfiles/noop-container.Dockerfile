# clipper/noop-container: a model container that answers every input at once
# (for benchmarks and smoke tests). Prometheus metrics on 1390.
ARG BASE_IMAGE=clipper/py-rpc:0.1.0
FROM ${BASE_IMAGE}
USER clipper
ENV CLIPPER_MODEL_PATH=/model \
    CLIPPER_READY_FILE=/home/clipper/model_is_ready.check
HEALTHCHECK --interval=3s --timeout=3s --start-period=60s --retries=1 CMD test -f "$CLIPPER_READY_FILE" || exit 1
EXPOSE 1390
ENTRYPOINT ["python", "-m", "model_containers.noop_container"]
