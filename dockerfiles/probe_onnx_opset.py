"""Print the highest default-domain ONNX opset the installed onnxruntime loads (build_images.sh labels the image).

Run in the ONNX image's build stage with onnx and onnxruntime importable.
"""

import onnx
import onnxruntime
from onnx import TensorProto, helper


def loads(opset: int) -> bool:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    for ir_version in sorted({onnx.IR_VERSION, 10, 9, 8}, reverse=True):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version)
        try:
            onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 - any refusal means "not with this IR version"
            continue
        return True
    return False


# From well above any released opset: onnxruntime refuses the ones it does not know.
print(next(v for v in range(max(64, onnx.defs.onnx_opset_version()), 0, -1) if loads(v)))
