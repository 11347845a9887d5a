"""MLServer runtimes for the real models; adaptive batching is set in each model-settings.json.

``lr`` and ``rf``: MLServer's own scikit-learn runtime (``mlserver_sklearn.SKLearnModel``,
loading the joblib file from ``parameters.uri``), with only a batch counter
added. ``mlp`` and ``onnx``: a custom runtime around the shared loader.
"""

from __future__ import annotations

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver_sklearn import SKLearnModel

from real_models_common import BatchCounter, peer_batch_dir, predictor


class CountingSKLearnModel(SKLearnModel):  # type: ignore[misc]
    async def load(self) -> bool:
        self._counter = BatchCounter(self.name, peer_batch_dir())
        return bool(await super().load())

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        self._counter.add(int(payload.inputs[0].shape[0]))
        return await super().predict(payload)


class RealModel(MLModel):  # type: ignore[misc]
    async def load(self) -> bool:
        self._predict = predictor(self.name)
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        rows = NumpyCodec.decode_input(payload.inputs[0])
        out = NumpyCodec.encode_output("predict", np.asarray(self._predict(rows)).reshape(-1, 1))
        return InferenceResponse(model_name=self.name, outputs=[out])
