"""Small real models trained in a second or two on scikit-learn's digits, and their prediction functions.

The functions live here, in the project, so the deployers ship them (and
this module) by value, as they would a user's own module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.frameworks.support import digits


def train_mlp(seed: int, epochs: int, hidden: int = 32) -> Any:
    """A torch MLP 64 -> hidden -> 10 trained full-batch with Adam on all digits."""
    import torch

    torch.manual_seed(seed)
    x, y = digits()
    xt, yt = torch.from_numpy((x / 16.0).astype(np.float32)), torch.from_numpy(y)
    model = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        optimizer.step()
    return model.eval()


def torch_classes(model: Any, rows: np.ndarray) -> list[int]:
    """The model's own predictions, computed here."""
    import torch

    with torch.no_grad():
        return [int(c) for c in model(torch.from_numpy((rows / 16.0).astype(np.float32))).argmax(dim=1)]


def predict_torch(model: Any, inputs: Any) -> list[str]:
    """``func`` of the PyTorch deployer: the class of each input."""
    import torch

    x = torch.from_numpy((np.asarray(inputs, dtype=np.float64) / 16.0).astype(np.float32))
    return [str(int(c)) for c in model(x).argmax(dim=1)]


def predict_torch_original_style(model: Any, inputs: Any) -> list[str]:
    """As the original's examples wrote it: ``.data.numpy()`` on the output."""
    import torch

    out = model(torch.from_numpy((np.asarray(inputs) / 16.0).astype(np.float32))).data.numpy()
    return [str(int(np.argmax(row))) for row in out]


def predict_or_raise(model: Any, inputs: Any) -> list[str]:
    """Raises for an input with a negative feature (a model that fails on some batches)."""
    if (np.asarray(inputs) < 0).any():
        raise ValueError("negative pixel intensity")
    return predict_torch(model, inputs)


def predict_onnx(model: Any, inputs: Any) -> list[str]:
    """``func`` of the ONNX deployer, written as for the original's Caffe2 backend: ``model.run(array)``."""
    preds = model.run((np.asarray(inputs) / 16.0).astype(np.float32))
    return [str(int(np.argmax(p))) for p in preds[0]]


def train_booster(seed: int, rounds: int) -> Any:
    """An XGBoost multi-class booster (10 classes) on the digits."""
    import xgboost as xgb

    x, y = digits()
    return xgb.train({"objective": "multi:softmax", "num_class": 10, "max_depth": 3, "seed": seed,
                      "nthread": 1}, xgb.DMatrix(x, label=y), num_boost_round=rounds)


def booster_classes(booster: Any, rows: np.ndarray) -> list[int]:
    import xgboost as xgb

    return [int(c) for c in booster.predict(xgb.DMatrix(rows))]


def xgboost_closure(booster: Any) -> Any:
    """A closure over ``booster``, deployed with ``pkgs_to_install=['xgboost']`` as users write it."""

    def predict(inputs: Any) -> list[str]:
        import xgboost as xgb

        return [str(int(c)) for c in booster.predict(xgb.DMatrix(np.asarray(inputs)))]

    return predict


def train_keras(seed: int, epochs: int, hidden: int = 32) -> Any:
    """A Keras MLP 64 -> hidden -> 10 (logits) trained with Adam on all digits."""
    import keras

    keras.utils.set_random_seed(seed)
    x, y = digits()
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hidden, activation="relu"), keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x / 16.0, y, epochs=epochs, batch_size=64, verbose=0)
    return model


def keras_classes(model: Any, rows: np.ndarray) -> list[int]:
    """The Keras model's own predictions, computed here."""
    return [int(c) for c in model(np.asarray(rows / 16.0, dtype=np.float32)).numpy().argmax(axis=1)]


def predict_keras(model: Any, inputs: Any) -> list[str]:
    """``func`` of the Keras (and TensorFlow) deployer for a Keras model: the class of each input."""
    out = model(np.asarray(np.asarray(inputs) / 16.0, dtype=np.float32)).numpy()
    return [str(int(c)) for c in out.argmax(axis=1)]


def predict_keras_original_style(model: Any, inputs: Any) -> list[str]:
    """As the original's examples wrote it: ``model.predict``."""
    out = model.predict(np.asarray(inputs) / 16.0, verbose=0)
    return [str(int(np.argmax(row))) for row in out]


def train_tf_module(seed: int, steps: int) -> Any:
    """A ``tf.Module``: softmax regression on the digits trained with a GradientTape, ``__call__`` -> classes."""
    import tensorflow as tf

    class DigitsClassifier(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(tf.random.stateless_normal((64, 10), seed=(seed, 0), stddev=0.1))
            self.b = tf.Variable(tf.zeros((10,)))

        def logits(self, x: Any) -> Any:
            return tf.matmul(x, self.w) + self.b

        @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float64)])
        def __call__(self, pixels: Any) -> Any:
            return tf.argmax(self.logits(tf.cast(pixels / 16.0, tf.float32)), axis=1)

    model = DigitsClassifier()
    x, y = digits()
    xt, yt = tf.constant((x / 16.0).astype(np.float32)), tf.constant(y)
    optimizer = tf.keras.optimizers.Adam(0.05)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yt, model.logits(xt)))
        optimizer.apply_gradients(zip(tape.gradient(loss, [model.w, model.b]), [model.w, model.b]))
    return model


def tf_module_classes(model: Any, rows: np.ndarray) -> list[int]:
    return [int(c) for c in model(np.asarray(rows, dtype=np.float64)).numpy()]


def predict_tf_module(model: Any, inputs: Any) -> list[str]:
    """``func`` of the TensorFlow deployer for a restored SavedModel: its ``__call__`` tf.function."""
    return [str(int(c)) for c in model(np.asarray(inputs, dtype=np.float64)).numpy()]
