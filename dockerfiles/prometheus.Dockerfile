# clipper/prometheus: Debian's Prometheus, as the `prometheus` user, scraping
# the query frontend (/etc/prometheus/prometheus.yml; mount your own over it)
# with the lifecycle API on, so POST /-/reload re-reads the configuration.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
    # 210 MB of raw time-zone data; the web UI loads only moment-timezone-with-data.min.js
    /usr/share/javascript/moment-timezone/data \
 && mkdir -p /prometheus && chown prometheus:prometheus /prometheus
COPY prometheus.yml /etc/prometheus/prometheus.yml
LABEL org.opencontainers.image.title="clipper prometheus"
VOLUME /prometheus
WORKDIR /prometheus
USER prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", \
     "--web.listen-address=0.0.0.0:9090", "--web.enable-lifecycle", \
     "--web.console.libraries=/etc/prometheus/console_libraries", \
     "--web.console.templates=/etc/prometheus/consoles"]
