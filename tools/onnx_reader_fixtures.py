#!/usr/bin/env python3
"""Writes the small ONNX files that crates/convlab/tests/onnx_read.rs decodes.

Written with onnx 1.23.2, torch 2.15 and onnxscript 0.7.2 (the versions are recorded in
expected.json). Run from the repository root:

    pip install onnx numpy torch onnxscript
    python3 tools/onnx_reader_fixtures.py

Into crates/convlab/tests/fixtures/onnx/:

    tiny.onnx            Conv, Relu, Reshape, Constant and an If with subgraphs; weights in
                         raw_data and in float_data, an INT64 shape, a sparse initializer,
                         attributes of every common type, a symbolic batch dimension
    types.onnx           one initializer per element type, in raw_data and in the typed field
    external.onnx(.data) initializers in an external data file (onnx.save_model)
    torch.onnx(.data)    a small CNN exported by torch.onnx.export (the dynamo exporter),
                         its weights in external data as PyTorch writes them
    expected.json        every initializer's dims and values (as float, or int for the integer
                         types), by file and name, from onnx.numpy_helper
"""

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join("crates", "convlab", "tests", "fixtures", "onnx")


def values(n, scale=0.25, offset=-1.0):
    return (np.arange(n, dtype=np.float64) * scale + offset)


def tiny():
    w = numpy_helper.from_array(values(2 * 1 * 3 * 3).astype(np.float32).reshape(2, 1, 3, 3), "conv.weight")
    # float_data instead of raw_data.
    b = helper.make_tensor("conv.bias", TensorProto.FLOAT, [2], [0.5, -0.5], raw=False)
    shape = numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "shape")
    sparse = helper.make_sparse_tensor(
        helper.make_tensor("sparse", TensorProto.FLOAT, [2], [1.0, 2.0]),
        helper.make_tensor("sparse.idx", TensorProto.INT64, [2], [1, 3]),
        [4],
    )
    then_g = helper.make_graph(
        [helper.make_node("Identity", ["then.c"], ["then.out"])],
        "then",
        [],
        [helper.make_tensor_value_info("then.out", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(np.array([1.0], dtype=np.float32), "then.c")],
    )
    else_g = helper.make_graph(
        [helper.make_node("Constant", [], ["else.out"], value_floats=[2.0])],
        "else",
        [],
        [helper.make_tensor_value_info("else.out", TensorProto.FLOAT, [1])],
    )
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], group=1),
        helper.make_node("LeakyRelu", ["c"], ["r"], name="act", alpha=0.0),
        helper.make_node("Reshape", ["r", "shape"], ["flat"], name="flat"),
        helper.make_node("Constant", [], ["k"], name="k",
                         value=numpy_helper.from_array(np.array(3, dtype=np.int64), "k.value")),
        helper.make_node("Pad", ["flat", "k"], ["padded"], name="pad", mode="constant"),
        helper.make_node("ReduceSum", ["padded"], ["s"], name="sum", keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["cond"], name="cmp"),
        helper.make_node("If", ["cond"], ["y"], name="branch", then_branch=then_g, else_branch=else_g),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [w, b, shape, numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")],
        sparse_initializer=[sparse],
    )
    model = helper.make_model(graph, producer_name="onnx_reader_fixtures", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def types():
    inits = []
    arrays = {
        "double": values(3).astype(np.float64),
        "float16": values(4).astype(np.float16),
        "int8": np.array([-128, -1, 0, 127], dtype=np.int8),
        "uint8": np.array([0, 1, 255], dtype=np.uint8),
        "int16": np.array([-32768, 7], dtype=np.int16),
        "int32": np.array([-5, 0, 2147483647], dtype=np.int32),
        "int64": np.array([[-(2**40), 1], [2, 3]], dtype=np.int64),
        "uint64": np.array([2**63 - 1], dtype=np.uint64),
        "bool": np.array([True, False, True]),
    }
    for name, a in arrays.items():
        inits.append(numpy_helper.from_array(a, name + ".raw"))
        typed = numpy_helper.from_array(a, name + ".typed")
        if typed.data_type == TensorProto.FLOAT16:
            bits = a.view(np.uint16).astype(np.int32).flatten().tolist()
            typed = helper.make_tensor(name + ".typed", TensorProto.FLOAT16, a.shape, bits, raw=False)
        else:
            typed = helper.make_tensor(name + ".typed", typed.data_type, a.shape, a.flatten().tolist(), raw=False)
        inits.append(typed)
    # bfloat16 (1.0, -2.5, 0.15625) by its bits.
    bf = [0x3F80, 0xC020, 0x3E20]
    inits.append(helper.make_tensor("bfloat16.typed", TensorProto.BFLOAT16, [3], bf, raw=False))
    inits.append(helper.make_tensor("bfloat16.raw", TensorProto.BFLOAT16, [3],
                                    np.array(bf, dtype=np.uint16).tobytes(), raw=True))
    inits.append(helper.make_tensor("string", TensorProto.STRING, [2], [b"a", b"bc"]))
    inits.append(numpy_helper.from_array(np.zeros((0, 3), dtype=np.float32), "empty"))
    graph = helper.make_graph([], "types", [], [], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def external():
    a = numpy_helper.from_array(values(300).astype(np.float32).reshape(3, 100), "big")
    b = numpy_helper.from_array(values(5, 2.0, 0.0).astype(np.int64), "ints")
    c = numpy_helper.from_array(np.array([7.0], dtype=np.float32), "inline")
    graph = helper.make_graph([], "external", [], [], [a, b, c])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def torch_model(path):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, padding=1),
        torch.nn.BatchNorm2d(2),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(2 * 2 * 2, 40),
    ).eval()
    x = torch.randn(1, 1, 4, 4)
    torch.onnx.export(net, (x,), path, dynamo=True, external_data=True, optimize=False)
    # The exporter's node metadata stays (fields ConvLab skips), but not its stack traces,
    # which hold the paths of this machine's Python installation.
    model = onnx.load(path, load_external_data=False)
    for node in model.graph.node:
        keep = [p for p in node.metadata_props if p.key != "pkg.torch.onnx.stack_trace"]
        del node.metadata_props[:]
        node.metadata_props.extend(keep)
    onnx.save_model(model, path)
    return torch.__version__


def expected(path):
    model = onnx.load(path)
    out = {}
    for t in model.graph.initializer:
        if t.data_type == TensorProto.STRING:
            continue
        a = numpy_helper.to_array(t, base_dir=os.path.dirname(path))
        if a.dtype.kind in "iub":
            vals = [int(v) for v in a.flatten().tolist()]
        else:
            vals = [float(v) for v in a.astype(np.float64).flatten().tolist()]
        out[t.name] = {"dims": list(t.dims), "data_type": t.data_type, "values": vals}
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {}
    for name, model in [("tiny.onnx", tiny()), ("types.onnx", types())]:
        onnx.checker.check_model(model)
        path = os.path.join(OUT, name)
        onnx.save_model(model, path)
        files[name] = expected(path)
    path = os.path.join(OUT, "external.onnx")
    model = external()
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external.onnx.data", size_threshold=16)
    files["external.onnx"] = expected(path)
    path = os.path.join(OUT, "torch.onnx")
    torch_version = torch_model(path)
    files["torch.onnx"] = expected(path)
    meta = {"onnx_version": onnx.__version__, "torch_version": torch_version, "generator": "tools/onnx_reader_fixtures.py"}
    # One line per tensor.
    lines = []
    for file, tensors in sorted(files.items()):
        body = ",\n".join(f"    {json.dumps(name)}: {json.dumps(t, sort_keys=True)}" for name, t in sorted(tensors.items()))
        lines.append(f"  {json.dumps(file)}: {{\n{body}\n  }}")
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        f.write(f'{{"meta": {json.dumps(meta, sort_keys=True)},\n "files": {{\n' + ",\n".join(lines) + "\n }\n}\n")
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
