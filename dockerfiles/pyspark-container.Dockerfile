# clipper/pyspark311-container (also pyspark-container): serves a PySpark model,
# /model/{func.pkl, metadata.json, pyspark_model_data/} as the deployer writes them,
# to the query frontend at CLIPPER_IP:CLIPPER_PORT. Prometheus metrics on 1390.
#
# py-rpc (so every layer of the closure image is shared) plus two layers:
# Debian's Java 17 runtime (openjdk-17-jre-headless, from the Debian mirror), and
# pyspark with py4j in /opt/clipper-frameworks/pyspark, appended to the venv's
# path. Left out of Spark: examples, sample data, and the jars of what a
# local-mode serving session never starts (Hive, Kubernetes and YARN cluster
# managers, Spark Connect and the REPL, the RocksDB status store, ZooKeeper
# recovery, macOS/Windows natives); the build stage checks that a session
# still saves, loads and runs ml and mllib models (probe_pyspark.py).
# Build context: build/framework-wheels (dockerfiles/build_images.sh).
ARG BASE_IMAGE=clipper/py-rpc:0.1.0

# Both later stages start from this one, so the JRE is fetched once and cached.
FROM ${BASE_IMAGE} AS jre
ARG JAVA_VERSION=17
USER root
# (man1 exists for the JRE's update-alternatives links: the slim base excludes man pages.)
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends "openjdk-${JAVA_VERSION}-jre-headless" \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log /var/cache/debconf/*-old \
 && java -version

FROM jre AS build
ARG PYSPARK_VERSION=4.3.0
COPY requirements-pyspark.txt probe_pyspark.py /wheels/
# Only this image's wheels (the context holds every framework's).
COPY wheels/pyspark-*.whl wheels/py4j-*.whl /wheels/wheels/
RUN python -m pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /wheels/wheels \
        --no-deps --target /opt/clipper-frameworks/pyspark -r /wheels/requirements-pyspark.txt \
 && cd /opt/clipper-frameworks/pyspark \
 && rm -rf bin pyspark/examples pyspark/data pyspark/sbin pyspark/jars/connect-repl \
 && cd pyspark/jars \
 && rm -f rocksdbjni-*.jar \
        hive-*.jar spark-hive*.jar derby*.jar datanucleus-*.jar javax.jdo-*.jar jdo-api-*.jar libthrift-*.jar \
        libfb303-*.jar HikariCP-*.jar commons-dbcp-*.jar commons-pool-*.jar jpam-*.jar transaction-api-*.jar \
        jta-*.jar javolution-*.jar \
        kubernetes-*.jar volcano-*.jar vertx-*.jar zjsonpatch-*.jar spark-kubernetes_*.jar spark-yarn_*.jar \
        spark-connect_*.jar spark-repl_*.jar scala-compiler-*.jar jline-*.jar \
        zookeeper-*.jar curator-*.jar \
        *-osx-*.jar *-windows-*.jar \
 && cd /opt/clipper-frameworks/pyspark \
 && find . -name __pycache__ -type d -prune -exec rm -rf {} + \
 && PYTHONPATH=/opt/clipper-frameworks/pyspark PYTHONDONTWRITEBYTECODE=1 \
        python /wheels/probe_pyspark.py "${PYSPARK_VERSION}" \
 && python -c "import sysconfig, pathlib; d = pathlib.Path('/pth-stage' + sysconfig.get_path('purelib')); \
        d.mkdir(parents=True); (d / 'clipper-pyspark.pth').write_text('/opt/clipper-frameworks/pyspark\\n')"

FROM jre
ARG PYSPARK_VERSION=4.3.0
ARG JAVA_VERSION=17
COPY --from=build --chown=1000:1000 /opt/clipper-frameworks/pyspark /opt/clipper-frameworks/pyspark
# Only the .pth that appends the framework to the venv's path (the venv stays the user's, for pkgs_to_install).
COPY --from=build --chown=1000:1000 /pth-stage/opt/clipper/ /opt/clipper/
USER clipper
ENV CLIPPER_MODEL_PATH=/model \
    CLIPPER_READY_FILE=/home/clipper/model_is_ready.check
LABEL ai.clipper.framework="pyspark" \
      ai.clipper.pyspark_version="${PYSPARK_VERSION}" \
      ai.clipper.java_version="${JAVA_VERSION}" \
      org.opencontainers.image.title="clipper pyspark-container"
HEALTHCHECK --interval=3s --timeout=3s --start-period=120s --retries=1 CMD test -f "$CLIPPER_READY_FILE" || exit 1
EXPOSE 1390
ENTRYPOINT ["python", "-m", "model_containers.pyspark_container"]
