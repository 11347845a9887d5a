# clipper/management_frontend: the /admin/... REST API on 1338.
# Arguments follow the image: --redis_ip=HOST --redis_port=PORT ...
ARG BASE_IMAGE=clipper/py-rpc:0.1.0
FROM ${BASE_IMAGE}
USER clipper
EXPOSE 1338
ENTRYPOINT ["python", "-m", "management_frontend"]
