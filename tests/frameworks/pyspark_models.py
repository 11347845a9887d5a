"""PySpark models trained in a test SparkSession, and their prediction functions ``func(spark, model, inputs)``.

The functions live here, in the project, so the deployer ships them (and
this module) by value, as it would a user's own module. One SparkSession
serves the PySpark tests (``local[1]``, 512m, no UI); ``stop_session`` ends
it and its JVM once they are done (the ``spark`` fixture of
``tests/frameworks``), so no idle JVM shares the CPUs with later tests.
"""

from __future__ import annotations

import functools
import logging
import subprocess
from typing import Any

import numpy as np

from tests.frameworks.support import digits

#: The pipeline's training sentences (label 1.0: about Spark), after the Spark ML guide's example.
SENTENCES = [
    ("a b c d e spark", 1.0), ("b d", 0.0), ("spark f g h", 1.0), ("hadoop mapreduce", 0.0),
    ("spark is fast", 1.0), ("map reduce on disks", 0.0), ("i love spark", 1.0), ("b d hadoop", 0.0),
]  # fmt: skip
#: Queries of the pipeline: words it saw with both labels and words it never saw.
QUERIES = ["spark i j k", "l m n", "spark hadoop spark", "apache hadoop", "b d spark", "mapreduce spark"] * 6


@functools.cache
def session() -> Any:
    """The tests' SparkSession (created once per process); skips locally, fails under CI=true, without Java."""
    from pyspark.sql import SparkSession

    from model_containers.pyspark_container import find_java
    from tests.support.ci import skip_or_fail

    if find_java() is None:
        skip_or_fail("no Java runtime for Spark (apt-get install openjdk-17-jre-headless)")

    # py4j logs at INFO as its connections close, also at exit, when pytest has closed the streams.
    logging.getLogger("py4j").setLevel(logging.WARNING)

    spark = (
        SparkSession.builder.appName("clipper-tests").master("local[1]")
        .config("spark.driver.memory", "512m").config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "1")
        .getOrCreate()
    )  # fmt: skip
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def stop_session() -> None:
    """Stop the tests' SparkSession, if one was made, and wait for its JVM to exit."""
    if session.cache_info().currsize == 0:
        return
    from pyspark import SparkContext

    spark = session()
    session.cache_clear()
    gateway = SparkContext._gateway
    spark.stop()
    if gateway is None:
        return
    proc = getattr(gateway, "proc", None)
    gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if proc is not None:
        # The gateway JVM exits when its stdin closes (the driver is gone).
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _digits_frame(spark: Any, n: int) -> Any:
    from pyspark.ml.linalg import Vectors

    x, y = digits(n)
    return spark.createDataFrame([(Vectors.dense(r), float(c)) for r, c in zip(x, y)], ["features", "label"])


def train_ml_logistic(spark: Any, max_iter: int, n: int = 600) -> Any:
    """A pyspark.ml multinomial LogisticRegressionModel on the first ``n`` digits."""
    from pyspark.ml.classification import LogisticRegression

    return LogisticRegression(maxIter=max_iter, regParam=0.01).fit(_digits_frame(spark, n))


def train_mllib_logistic(spark: Any, iterations: int, n: int = 600) -> Any:
    """A pyspark.mllib LogisticRegressionModel (10 classes, L-BFGS) on the first ``n`` digits."""
    from pyspark.mllib.classification import LogisticRegressionWithLBFGS
    from pyspark.mllib.regression import LabeledPoint

    x, y = digits(n)
    points = spark.sparkContext.parallelize([LabeledPoint(float(c), r) for r, c in zip(x, y)])
    return LogisticRegressionWithLBFGS.train(points, iterations=iterations, numClasses=10)


def train_text_pipeline(spark: Any) -> Any:
    """A PipelineModel on strings: Tokenizer, HashingTF, LogisticRegression."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import HashingTF, Tokenizer

    stages: list[Any] = [Tokenizer(inputCol="text", outputCol="words"),
              HashingTF(inputCol="words", outputCol="features", numFeatures=256),
              LogisticRegression(maxIter=20, regParam=0.001)]
    return Pipeline(stages=stages).fit(spark.createDataFrame(SENTENCES, ["text", "label"]))


# ---------------------------------------------------------------- the models' own predictions


def ml_classes(spark: Any, model: Any, rows: np.ndarray) -> list[int]:
    return [int(c) for c in predict_ml(spark, model, rows)]


def mllib_classes(model: Any, rows: np.ndarray) -> list[int]:
    return [int(model.predict(r)) for r in rows]


def pipeline_classes(spark: Any, model: Any, texts: list[str]) -> list[int]:
    return [int(float(p)) for p in predict_pipeline(spark, model, texts)]


# ---------------------------------------------------------------- the deployed functions


def predict_ml(spark: Any, model: Any, inputs: Any) -> list[str]:
    """``func`` for a pyspark.ml model on feature rows: one DataFrame per batch, ``transform``."""
    from pyspark.ml.linalg import Vectors

    frame = spark.createDataFrame([(Vectors.dense(r),) for r in np.asarray(inputs, dtype=np.float64)], ["features"])
    return [str(int(row.prediction)) for row in model.transform(frame).select("prediction").collect()]


def predict_mllib(spark: Any, model: Any, inputs: Any) -> list[str]:
    """``func`` as the original's mllib examples wrote it: ``model.predict`` per input."""
    return [str(model.predict(x)) for x in inputs]


def predict_pipeline(spark: Any, model: Any, inputs: list[str]) -> list[str]:
    """``func`` for the text PipelineModel: inputs are ``str``."""
    frame = spark.createDataFrame([(t,) for t in inputs], ["text"])
    return [str(row.prediction) for row in model.transform(frame).select("prediction").collect()]


def predict_or_raise(spark: Any, model: Any, inputs: Any) -> list[str]:
    """Raises for an input with a negative feature (a model that fails on some batches)."""
    if (np.asarray(inputs) < 0).any():
        raise ValueError("negative pixel intensity")
    return predict_mllib(spark, model, inputs)
