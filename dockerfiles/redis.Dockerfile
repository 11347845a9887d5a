# clipper/redis: Debian's redis-server, as the `redis` user, data in /data
# with append-only persistence, fsynced before every write is answered
# (appendfsync always: an acknowledged admin call survives a machine crash;
# docs/reliability.md). The query frontend turns on the keyspace
# notifications it follows (CONFIG SET notify-keyspace-events) itself.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
 && mkdir -p /data && chown redis:redis /data
LABEL org.opencontainers.image.title="clipper redis"
VOLUME /data
WORKDIR /data
USER redis
EXPOSE 6379
# REDIS_PASSWORD (set by DockerContainerManager, per cluster) becomes
# --requirepass; REDISCLI_AUTH beside it lets redis-cli in the container in.
ENTRYPOINT ["sh", "-c", "exec redis-server \"$@\" ${REDIS_PASSWORD:+--requirepass \"$REDIS_PASSWORD\"}", "redis-server"]
CMD ["--port", "6379", "--bind", "0.0.0.0", "--protected-mode", "no", \
     "--dir", "/data", "--appendonly", "yes", "--appendfsync", "always"]
