"""Small real MXNet models trained in a second on scikit-learn's digits, and their prediction functions.

Imported only where MXNet is installed (``build/mxnet-venv``: MXNet 1.9.1
needs numpy<1.24). As ``models.py``, the functions live in the project, so
the deployer ships them (and this module) by value.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tests.frameworks.support import digits


def mxnet() -> Any:
    """``mxnet``, without the numpy/distutils DeprecationWarnings its import raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import mxnet as mx
    return mx


def _pixels(rows: Any) -> np.ndarray:
    return (np.asarray(rows, dtype=np.float64) / 16.0).astype(np.float32)


def train_module(seed: int, epochs: int, hidden: int = 32) -> Any:
    """A symbolic MLP 64 -> hidden -> 10 (SoftmaxOutput) fitted as an ``mx.mod.Module``, batches of 100."""
    mx = mxnet()
    mx.random.seed(seed)
    x, y = digits()
    data = mx.sym.Variable("data")
    hidden_layer = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=hidden, name="fc1"), act_type="relu")
    out = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(hidden_layer, num_hidden=10, name="fc2"), name="softmax")
    train = mx.io.NDArrayIter(_pixels(x), y.astype(np.float32), batch_size=100, label_name="softmax_label")
    module = mx.mod.Module(out, context=mx.cpu())
    module.fit(train, num_epoch=epochs, optimizer="adam", optimizer_params={"learning_rate": 0.01},
               initializer=mx.init.Xavier())
    return module


def provide_data(batch: int) -> Any:
    """A data iterator's ``provide_data`` (``DataDesc`` s) for digits in batches of ``batch``: the original's style."""
    mx = mxnet()
    return mx.io.NDArrayIter(_pixels(digits(batch)[0]), batch_size=batch).provide_data


def module_classes(module: Any, rows: np.ndarray) -> list[int]:
    """The Module's own predictions, computed here (its training binding, batches of 100, padded)."""
    mx = mxnet()
    out = module.predict(mx.io.NDArrayIter(_pixels(rows), batch_size=100, last_batch_handle="pad"))
    return [int(c) for c in out.asnumpy().argmax(axis=1)]


def predict_module(model: Any, inputs: Any) -> list[str]:
    """``func`` for a Module: pad the batch to the bound batch size (``predict`` drops the padding)."""
    mx = mxnet()
    bound = model.data_shapes[0].shape[0]
    out = model.predict(mx.io.NDArrayIter(_pixels(inputs), batch_size=bound, last_batch_handle="pad"))
    return [str(int(c)) for c in out.asnumpy().argmax(axis=1)]


def predict_module_or_raise(model: Any, inputs: Any) -> list[str]:
    """Raises for an input with a negative feature (a model that fails on some batches)."""
    if (np.asarray(inputs) < 0).any():
        raise ValueError("negative pixel intensity")
    return predict_module(model, inputs)


def train_block(seed: int, epochs: int, hidden: int = 32) -> Any:
    """A hybridized Gluon MLP 64 -> hidden -> 10 trained full-batch with Adam."""
    mx = mxnet()
    mx.random.seed(seed)
    x, y = digits()
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Dense(hidden, activation="relu"), mx.gluon.nn.Dense(10))
    net.initialize(mx.init.Xavier(), ctx=mx.cpu())
    net.hybridize()
    trainer = mx.gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.02})
    loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    xs, ys = mx.nd.array(_pixels(x)), mx.nd.array(y)
    net(xs)  # traces the graph, so that even epochs=0 gives an exportable block
    for _ in range(epochs):
        with mx.autograd.record():
            batch_loss = loss(net(xs), ys)
        batch_loss.backward()
        trainer.step(len(x))
    return net


def block_classes(block: Any, rows: np.ndarray) -> list[int]:
    """The block's own predictions, computed here."""
    mx = mxnet()
    return [int(c) for c in block(mx.nd.array(_pixels(rows))).asnumpy().argmax(axis=1)]


def predict_block(model: Any, inputs: Any) -> list[str]:
    """``func`` for a HybridBlock: the served ``SymbolBlock`` takes any batch size."""
    mx = mxnet()
    return [str(int(c)) for c in model(mx.nd.array(_pixels(inputs))).asnumpy().argmax(axis=1)]
