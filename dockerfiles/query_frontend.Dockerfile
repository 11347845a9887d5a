# clipper/query_frontend: REST predictions on 1337, ZeroMQ RPC for model
# containers on 7000, metrics at /metrics (JSON) and /metrics/prometheus.
# Arguments follow the image: --redis_ip=HOST --redis_port=PORT ...
ARG BASE_IMAGE=clipper/py-rpc:0.1.0
FROM ${BASE_IMAGE}
USER clipper
EXPOSE 1337 7000
ENTRYPOINT ["python", "-m", "query_frontend"]
