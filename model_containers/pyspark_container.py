"""``python -m model_containers.pyspark_container``: serves a PySpark model with its function.

The deployer (``clipper_admin.deployers.pyspark``) writes, as the original's:
``func.pkl`` (the function ``func(spark, model, inputs)``),
``pyspark_model_data/`` (the model as Spark saves it) and ``metadata.json``
(``{"model_class": "pyspark.ml.classification.LogisticRegressionModel"}``).
At start the container opens a local SparkSession (``appName
"clipper-pyspark"``, no UI, driver on 127.0.0.1, heap and cores from
``CLIPPER_SPARK_DRIVER_MEMORY`` / ``CLIPPER_SPARK_CORES``, Spark's own log
in the container's format at ``CLIPPER_SPARK_LOG_LEVEL``), imports the
model class and loads the model once: ``ModelClass.load(path)`` for
``pyspark.ml`` models (PipelineModel included), ``ModelClass.load(sc, path)``
for ``pyspark.mllib`` ones. Every batch then runs ``func(spark, model,
inputs)``; the session stops when the container does.

Spark needs a Java runtime: without one the container exits with code 3 and
a one-line error saying what to install.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from model_containers.framework_container import (
    Framework,
    FrameworkLoadError,
    FrameworkRuntimeError,
    run_framework_container,
)
from model_containers.settings import PySparkSettings, pyspark_settings_from_env

logger = logging.getLogger("clipper.container")

METADATA_RELATIVE_PATH = "metadata.json"
MODEL_RELATIVE_PATH = "pyspark_model_data"
APP_NAME = "clipper-pyspark"
#: What to install when the container finds no Java (Debian's package; Spark 4 needs Java 17 or later).
JAVA_INSTALL = "apt-get install openjdk-17-jre-headless"


@dataclass(frozen=True)
class SparkModel:
    """The loaded model and the SparkSession it lives in: ``func`` gets both."""

    spark: Any
    model: Any


def find_java() -> str | None:
    """The ``java`` Spark will run: ``$JAVA_HOME/bin/java`` when JAVA_HOME is set (as spark-submit), else PATH's."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = os.path.join(java_home, "bin", "java")
        return candidate if os.access(candidate, os.X_OK) else None
    return shutil.which("java")


def require_java() -> str:
    if (java := find_java()) is not None:
        return java
    where = f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java" if os.environ.get("JAVA_HOME") \
        else "no java on PATH and JAVA_HOME unset"
    raise FrameworkRuntimeError(
        f"PySpark needs a Java runtime (17 or later) and this container has none ({where}): install one "
        f"({JAVA_INSTALL} on Debian/Ubuntu) or set JAVA_HOME, or serve the model from the pyspark-container image"
    )


# Spark's JVM logs to stderr in the container's format, at the level set, and without the notes its
# default profile prints at start; Hadoop's "no native library" warning (the Java code runs) is left out.
_LOG4J2 = """\
rootLogger.level = {level}
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{{yyyy-MM-dd HH:mm:ss.SSS}} %-7p [MODELCONTAINER] spark.%c{{1}}: %m%n%ex
logger.nativecode.name = org.apache.hadoop.util.NativeCodeLoader
logger.nativecode.level = ERROR
"""


def _log4j2_file(level: str) -> str:
    fd, path = tempfile.mkstemp(prefix="clipper-spark-log4j2-", suffix=".properties")
    with os.fdopen(fd, "w") as f:
        f.write(_LOG4J2.format(level=level))
    return path


def start_spark_session(settings: PySparkSettings) -> Any:
    """A local SparkSession for serving: no UI, driver on 127.0.0.1, scratch files under the temp dir."""
    from pyspark.sql import SparkSession

    tmp = tempfile.gettempdir()
    # Set before the JVM starts: no hostname lookup (a container's name may not resolve), and Spark's
    # scratch space in a writable place (SPARK_LOCAL_DIRS, which spark.local.dir would warn about).
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("SPARK_LOCAL_DIRS", tmp)
    logging.getLogger("py4j").setLevel(logging.WARNING)  # py4j logs each connection it opens or closes at INFO
    log4j2 = _log4j2_file(settings.spark_log_level)
    try:
        spark = (
            SparkSession.builder.appName(APP_NAME)
            .master(f"local[{settings.spark_cores}]")
            .config("spark.driver.memory", settings.spark_driver_memory)
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.warehouse.dir", os.path.join(tmp, "clipper-spark-warehouse"))
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log4j2}")
            .getOrCreate()
        )
    finally:
        os.unlink(log4j2)  # read once, as the JVM starts
    # Spark's start-up resets the level of an interactive session (as pyspark's is) to WARN.
    spark.sparkContext.setLogLevel(settings.spark_log_level)
    return spark


def model_class_path(path: str) -> str:
    """The ``model_class`` of ``<path>/metadata.json`` (a ``pyspark.`` class path)."""
    metadata = os.path.join(path, METADATA_RELATIVE_PATH)
    try:
        with open(metadata) as f:
            class_path = json.load(f)["model_class"]
    except (ValueError, KeyError, TypeError) as e:
        raise FrameworkLoadError(f"{metadata} is malformed: expected {{\"model_class\": \"pyspark....\"}} ({e})") from e
    if not isinstance(class_path, str) or not class_path.startswith("pyspark.") or "." not in class_path[8:]:
        raise FrameworkLoadError(f"{metadata}: model_class {class_path!r} is not a pyspark class path")
    return class_path


def load_pyspark_model(path: str, settings: Callable[[], PySparkSettings] = pyspark_settings_from_env) -> SparkModel:
    """Start the SparkSession and load the model of ``path`` as ``metadata.json`` says."""
    class_path = model_class_path(path)
    spark_settings = settings()  # a malformed CLIPPER_SPARK_* is reported before any JVM starts
    import pyspark  # noqa: F401 - ImportError (no PySpark here) before looking for Java

    require_java()
    spark = start_spark_session(spark_settings)
    try:
        module_name, _, class_name = class_path.rpartition(".")
        model_class = getattr(importlib.import_module(module_name), class_name, None)
        if model_class is None:
            raise FrameworkLoadError(f"{module_name} has no {class_name} (metadata.json names {class_path})")
        data = os.path.join(path, MODEL_RELATIVE_PATH)
        if class_path.startswith("pyspark.mllib."):
            model = model_class.load(spark.sparkContext, data)  # mllib's loaders take the SparkContext
        else:
            model = model_class.load(data)
    except BaseException:
        spark.stop()
        raise
    logger.info("loaded %s from %s", class_path, MODEL_RELATIVE_PATH)
    return SparkModel(spark, model)


def _call(func: Callable[..., Any], loaded: SparkModel, inputs: Any) -> Any:
    return func(loaded.spark, loaded.model, inputs)


def _stop(loaded: SparkModel) -> None:
    loaded.spark.stop()


def _pyspark_version() -> str:
    import pyspark

    return str(pyspark.__version__)


PYSPARK = Framework(
    "PySpark",
    load_pyspark_model,
    files=(METADATA_RELATIVE_PATH,),
    version=_pyspark_version,
    call=_call,
    close=_stop,
)


def main() -> int:
    return run_framework_container(PYSPARK)


if __name__ == "__main__":
    sys.exit(main())
