"""Deploy a PySpark model with a prediction function, as the original's ``deployers.pyspark``.

The model directory holds ``func.pkl`` (the cloudpickled ``func``),
``pyspark_model_data/`` (the model as Spark saves it: ``model.save(path)``
for a fitted ``pyspark.ml`` model or PipelineModel, ``model.save(sc, path)``
for a ``pyspark.mllib`` model) and ``metadata.json``
(``{"model_class": "pyspark.mllib.classification.LogisticRegressionModel"}``).
The PySpark container (``model_containers.pyspark_container``) starts a
local SparkSession, loads the model once per replica and calls
``func(spark, model, inputs)`` on every batch (three arguments, as the
original); each output is sent back as ``str(output)``.

The default base image is ``{registry}/pyspark{major}{minor}-container:{version}``
(``pyspark311-container``; also tagged ``pyspark-container``). On Docker and
Kubernetes the image's PySpark (label ``ai.clipper.pyspark_version``) must
have the caller's major.minor; the local cluster serves the model with this
Python's ``pyspark`` and the host's Java.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clipper_admin import images
from clipper_admin._base import validate_versioned_model_name
from clipper_admin.deployers.deployer_utils import (
    builds_docker_images,
    check_framework_image,
    deploy_with_saved_model,
    new_application,
)
from clipper_admin.exceptions import ClipperException
from clipper_protocol.constants import DEFAULT_BATCH_SIZE

logger = logging.getLogger("clipper.admin.deployers")

PYSPARK_MODEL_RELATIVE_PATH = "pyspark_model_data"
METADATA_RELATIVE_PATH = "metadata.json"
#: What to install when PySpark is missing here (the images' version; PyPI has it as a source package only).
PYSPARK_INSTALL = "pip install pyspark==4.3.0"


def default_pyspark_image() -> str:
    """``{registry}/pyspark{major}{minor}-container:{version}`` for this interpreter."""
    return images.image(images.framework_container_name("pyspark"))


def import_pyspark(what: str) -> Any:
    """The ``pyspark`` module (with ``pyspark.ml``); ClipperException saying how to install it when missing."""
    try:
        import pyspark
        import pyspark.ml.base  # noqa: F401 - the model checks use pyspark.ml.base and pyspark.ml.util
        import pyspark.ml.util  # noqa: F401
    except ImportError as e:
        raise ClipperException(
            f"{what} needs PySpark installed in this Python: {PYSPARK_INSTALL} (the same version as the "
            f"pyspark image; Spark also needs Java 17 or later) ({e})"
        ) from e
    return pyspark


def model_class_path(pyspark: Any, model: Any) -> str:
    """``metadata.json``'s ``model_class`` for ``model``; refuses anything Spark cannot save and reload.

    A fitted ``pyspark.ml`` Transformer (a Model, a PipelineModel, a Tokenizer)
    or a ``pyspark.mllib`` model with ``save``/``load``.
    """
    cls = type(model)
    class_path = f"{cls.__module__}.{cls.__qualname__}"
    if not class_path.startswith("pyspark."):
        raise ClipperException(
            f"pyspark_model argument was not a pyspark object (got {class_path}): pass a fitted pyspark.ml model "
            "(a PipelineModel or another Transformer) or a trained pyspark.mllib model; for a plain Python "
            "function use clipper_admin.deployers.python.deploy_python_closure"
        )
    if class_path.startswith("pyspark.ml."):
        if isinstance(model, pyspark.ml.base.Estimator):
            raise ClipperException(f"pyspark_model is an unfitted {cls.__name__} (an Estimator): deploy the model "
                                   f"its fit(dataframe) returns")
        if isinstance(model, pyspark.ml.base.Transformer) and isinstance(model, pyspark.ml.util.MLWritable):
            return class_path
    elif class_path.startswith("pyspark.mllib.") and callable(getattr(model, "save", None)) \
            and callable(getattr(cls, "load", None)):
        return class_path
    raise ClipperException(
        f"pyspark_model is a {class_path}, which is not a model Spark can save and load: pass a fitted "
        "pyspark.ml model (a PipelineModel or another Transformer) or a trained pyspark.mllib model "
        "(what e.g. LogisticRegressionWithLBFGS.train(...) returns)"
    )


def _spark_context(pyspark: Any, sc: Any) -> Any:
    """The SparkContext mllib's ``save(sc, path)`` needs (a SparkSession gives its own)."""
    if isinstance(sc, pyspark.SparkContext):
        return sc
    context = getattr(sc, "sparkContext", None)
    if isinstance(context, pyspark.SparkContext):
        return context
    raise ClipperException(f"sc must be the SparkContext of the session that trained the mllib model (mllib saves "
                           f"with model.save(sc, path)), got {type(sc).__name__}")


def _check_func(func: Any) -> None:
    if not callable(func):
        raise ClipperException(f"func must be callable, got {type(func).__name__}")
    try:
        inspect.signature(func).bind(None, None, None)
    except ValueError:
        return  # no signature to inspect (a builtin): the container will tell
    except TypeError:
        raise ClipperException(f"func must take three arguments, func(spark, model, inputs), as the original's "
                               f"PySpark deployer; {getattr(func, '__name__', func)!r} does not") from None


def create_endpoint(
    clipper_conn: Any,
    name: str,
    input_type: str,
    func: Callable[[Any, Any, Any], list[Any]],
    pyspark_model: Any,
    sc: Any,
    default_output: str = "None",
    version: Any = 1,
    slo_micros: int = 3000000,
    labels: list[str] | None = None,
    registry: str | None = None,
    base_image: str = "default",
    num_replicas: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pkgs_to_install: list[str] | None = None,
    warmup_inputs: list[Any] | None = None,
) -> None:
    """Register an application, deploy a PySpark model and link the two (both named ``name``).

    See :func:`deploy_pyspark_model` for the model parameters; ``default_output``
    and ``slo_micros`` are the application's.
    """
    with new_application(clipper_conn, name, input_type, default_output, slo_micros):
        deploy_pyspark_model(
            clipper_conn, name, version, input_type, func, pyspark_model, sc, base_image, labels, registry,
            num_replicas, batch_size, pkgs_to_install, warmup_inputs=warmup_inputs,
        )  # fmt: skip
    clipper_conn.link_model_to_app(name, name)


def deploy_pyspark_model(
    clipper_conn: Any,
    name: str,
    version: Any,
    input_type: str,
    func: Callable[[Any, Any, Any], list[Any]],
    pyspark_model: Any,
    sc: Any,
    base_image: str = "default",
    labels: list[str] | None = None,
    registry: str | None = None,
    num_replicas: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pkgs_to_install: list[str] | None = None,
    warmup_inputs: list[Any] | None = None,
) -> None:
    """Deploy a Python function with a PySpark model; the container calls ``func(spark, model, inputs)``.

    Parameters
    ----------
    clipper_conn : :py:meth:`clipper_admin.ClipperConnection`
        A connected ClipperConnection.
    name, version, input_type
        As for :func:`clipper_admin.deployers.python.deploy_python_closure`.
    func : function
        ``func(spark, model, inputs)`` returns a list of as many outputs as
        inputs: ``spark`` is the container's SparkSession, ``model`` the
        loaded model, ``inputs`` a numpy array (one row per input) or a list
        of ``str``.
    pyspark_model : pyspark.ml Transformer or pyspark.mllib model
        A fitted ``pyspark.ml`` model (PipelineModel included), saved with
        ``model.save(path)``, or a ``pyspark.mllib`` model, saved with
        ``model.save(sc, path)``. Spark writes it through its default file
        system, so deploy from a session with a local master.
    sc : SparkContext
        The context of the session holding the model (needed by mllib; a
        SparkSession is accepted too).
    base_image : str, optional
        "default" picks ``{registry}/pyspark{major}{minor}-container:{version}``.
    labels, registry, num_replicas, batch_size, pkgs_to_install, warmup_inputs
        As for :func:`clipper_admin.deployers.python.deploy_python_closure`.

    Raises
    ------
    :py:exc:`clipper.ClipperException`
        Before anything is built: an invalid name or version, a ``func``
        that is not callable or does not take three arguments, a model that
        is not a pyspark model (or an unfitted Estimator), an mllib model
        without its SparkContext, PySpark not installed here, or (Docker,
        Kubernetes) a base image with another PySpark release. Later: a
        failed save, build or deploy.

    Example
    -------
    ::

        from pyspark.mllib.classification import LogisticRegressionWithLBFGS

        model = LogisticRegressionWithLBFGS.train(training_rdd, numClasses=10)

        def predict(spark, model, inputs):
            return [str(model.predict(x)) for x in inputs]

        deploy_pyspark_model(clipper_conn, "example", 1, "doubles", predict, model, spark.sparkContext)
    """
    version = str(version)
    validate_versioned_model_name(name, version)
    _check_func(func)
    pyspark = import_pyspark("deploy_pyspark_model")
    class_path = model_class_path(pyspark, pyspark_model)
    mllib = class_path.startswith("pyspark.mllib.")
    context = _spark_context(pyspark, sc) if mllib else None
    if base_image == "default":
        base_image = default_pyspark_image()
        logger.info(f"Using PySpark base image {base_image}")
    if builds_docker_images(clipper_conn):
        check_framework_image(base_image, images.PYSPARK_VERSION_LABEL, "PySpark", str(pyspark.__version__),
                              "pyspark", "requirements-pyspark.txt")

    def save(model_dir: str) -> None:
        data = Path(model_dir, PYSPARK_MODEL_RELATIVE_PATH)
        # A file: URI, so a session whose default file system is HDFS still writes here.
        if mllib:
            pyspark_model.save(context, data.as_uri())
        else:
            pyspark_model.save(data.as_uri())
        if not data.is_dir() or not any(data.iterdir()):
            raise ClipperException(f"Spark wrote nothing into {data}: deploy from a session with a local master "
                                   "(its executors write the model where they run)")
        with open(os.path.join(model_dir, METADATA_RELATIVE_PATH), "w") as f:
            json.dump({"model_class": class_path}, f)
        logger.info(f"Spark model saved ({class_path})")

    deploy_with_saved_model(
        clipper_conn, name, version, input_type, func, save, f"Could not save the PySpark model of {name}:{version}",
        base_image, labels, registry, num_replicas, batch_size, pkgs_to_install, warmup_inputs=warmup_inputs,
    )  # fmt: skip
