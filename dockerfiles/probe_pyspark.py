"""Build-time check of the PySpark image (pyspark-container.Dockerfile): the pruned Spark still serves.

Starts the container's own SparkSession, then saves, reloads and runs a
pyspark.ml PipelineModel (Tokenizer, HashingTF, LogisticRegression: JSON and
Parquet I/O, a DataFrame job) and a pyspark.mllib model (``save(sc, path)``),
as the deployer and the container do. Any jar removed that Spark needs for
that fails here, not in a user's replica.

    python probe_pyspark.py 4.3.0   # also checks the version installed
"""

from __future__ import annotations

import sys
import tempfile

from model_containers.pyspark_container import start_spark_session
from model_containers.settings import PySparkSettings


def main() -> int:
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import HashingTF, Tokenizer
    from pyspark.mllib.classification import LogisticRegressionModel, LogisticRegressionWithLBFGS
    from pyspark.mllib.regression import LabeledPoint

    spark = start_spark_session(PySparkSettings(spark_driver_memory="512m", spark_cores="1"))
    try:
        docs = spark.createDataFrame([("spark is fast", 1.0), ("hadoop map reduce", 0.0)] * 4, ["text", "label"])
        pipeline = Pipeline(stages=[Tokenizer(inputCol="text", outputCol="words"),
                                    HashingTF(inputCol="words", outputCol="features", numFeatures=64),
                                    LogisticRegression(maxIter=5)]).fit(docs)
        points = spark.sparkContext.parallelize([LabeledPoint(i % 2, [float(i % 2), i / 8]) for i in range(8)])
        mllib = LogisticRegressionWithLBFGS.train(points, iterations=5)
        with tempfile.TemporaryDirectory() as d:
            pipeline.save(f"{d}/ml")
            mllib.save(spark.sparkContext, f"{d}/mllib")
            rows = PipelineModel.load(f"{d}/ml").transform(docs.select("text")).select("prediction").collect()
            assert [r.prediction for r in rows[:2]] == [1.0, 0.0], rows
            assert LogisticRegressionModel.load(spark.sparkContext, f"{d}/mllib").predict([1.0, 0.5]) == 1
        import pyspark

        if len(sys.argv) > 1 and pyspark.__version__ != sys.argv[1]:
            print(f"pyspark {pyspark.__version__} installed, {sys.argv[1]} expected", file=sys.stderr)
            return 1
        print(f"pyspark {pyspark.__version__}: ml and mllib models save, load and predict")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
