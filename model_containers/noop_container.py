"""``python -m model_containers.noop_container``: answers ``"1.0"`` to every input.

The original's noop image, used to measure the serving system without a model.
"""

from __future__ import annotations

import sys
from typing import Any

from model_containers.entry import configure_logging, serve
from model_containers.model import ModelContainerBase
from model_containers.rpc import RPCService


class NoopContainer(ModelContainerBase):
    """A model whose every prediction is ``"1.0"``."""

    def _predict(self, inputs: Any) -> list[str]:
        return ["1.0"] * len(inputs)

    predict_ints = _predict
    predict_floats = _predict
    predict_doubles = _predict
    predict_bytes = _predict
    predict_strings = _predict


def main() -> int:
    configure_logging()
    return serve(RPCService(), NoopContainer())


if __name__ == "__main__":
    sys.exit(main())
