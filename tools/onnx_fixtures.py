#!/usr/bin/env python3
"""Writes the ONNX import fixtures: torchvision models exported by PyTorch and run by ONNX Runtime.

Regenerate the committed set (crates/convlab/tests/fixtures/onnx/) from the repository root:

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.15.0 torchvision==0.29.2 onnx==1.23.2 \\
        onnxscript==0.7.2 onnxruntime==1.32.0 safetensors numpy
    /tmp/torchenv/bin/python tools/onnx_fixtures.py                 # every committed case
    /tmp/torchenv/bin/python tools/onnx_fixtures.py 'resnet_*'      # some (fnmatch patterns)
    /tmp/torchenv/bin/python tools/onnx_fixtures.py --full          # full-size models into
                                                                    # target/onnx-full/ (--dir DIR)
    /tmp/torchenv/bin/python tools/onnx_fixtures.py --count-ops     # op_type counts (--dir DIR)

The committed files were written with torch 2.15.0, torchvision 0.29.2, onnx 1.23.2, onnxscript
0.7.2 and onnxruntime 1.32.0 (Python 3.11); every file records the versions that wrote it. The
test suite reads the committed files and never needs these packages.

For every case the script builds the model (random init from a fixed seed; batch-norm affine
parameters random and running statistics those of one training-mode pass over 64 random inputs;
then eval mode), exports it, runs ``onnx.checker.check_model(path, full_check=True)``, runs it in
ONNX Runtime (CPU provider, default graph optimization level, one thread) on a fixed random input
and compares ORT's output with PyTorch's: relative error max|ort - torch| / max|torch| must stay
below 1e-4, otherwise the script exits 1 after writing everything. It writes

    <case>.onnx               the exported model (+ <case>.onnx.data where the weights are
                              external data: the exporter names that file in the model)
    <case>.io.safetensors     tensors <case>.in.x (the input), <case>.out (ORT's output) and
                              <case>.out.torch (PyTorch's output), named as in
                              tools/fixtures/common.py; metadata: the versions, the generator
                              and the case's facts as JSON under the case's name
    manifest.json             every case, also those that failed (with the stage and the
                              error's first line): model, constructor call, exporter, requested
                              and actual opset, input and output names and shapes, files and
                              sizes, op_type counts, ORT-vs-torch error, and how much the output
                              changes with another input (``input_sensitivity``)

Case names are ``<model>_<exporter>_op<opset>``: exporter ``dynamo`` is
``torch.onnx.export(..., dynamo=True)`` (the torch.export-based exporter), ``ts`` is
``dynamo=False`` (the TorchScript-based one); the opset is the file's. Exporters' default input
and output names are kept (``x``, ``input.1``, ...); the manifest gives them.

Exporters and opsets: ``ts`` at opsets 13 and 17; ``dynamo`` at 18 (its own opset), at 23 (the
highest it supports) for a few models, and asked for 13 and 17. For those it builds opset 18 and
converts with onnx's C converter after stripping the initializers, so axes held in initializers
look non-constant and the conversion fails; it then returns the opset-18 model. This script
then converts the exported model, initializers included, with ``onnx.version_converter``
(recorded as ``version_conversion``), and keeps the result only if the checker and ORT accept
it. With these versions that fails for nearly every model (onnx has no down-adapters for
Relu/Add/Mul-14, HardSwish, Split-18 or Pad-18, and 18 -> 17 leaves ReduceMean's
``noop_with_empty_axes``, which the checker rejects); the manifest records each failure.

The dynamo exporter's node metadata is removed (``pkg.torch.onnx.stack_trace`` holds the
exporting machine's file paths; the rest is about a third of a small file) except for
``keras_nhwc`` and ``ops_mix``, which keep all but the stack traces. A case whose graph is
byte-for-byte an earlier case's of the same model and exporter (the TorchScript exporter writes
most CNNs identically at opsets 13 and 17) is checked and recorded with ``same_graph_as`` but
its files are not written.

Models. The committed set uses narrow variants and small inputs so every file stays small:

- constructor arguments (torchvision's own widths parameters): DenseNet, MobileNetV2,
  MobileNetV3 small and large, EfficientNet-B0 (a width- and depth-reduced
  ``_efficientnet_conf``), ShuffleNetV2, MNASNet, RegNet (``BlockParams.from_init_params``),
  VGG (``make_layers`` of a small configuration; its classifier, whose widths the constructor
  fixes, replaced by the same Linear/ReLU/Dropout stack at small widths);
- ``divide_widths`` (torchvision's constructors fix the widths): AlexNet, ResNet (BasicBlock and
  Bottleneck), SqueezeNet 1.0 and 1.1, GoogLeNet. The torchvision class is built and every
  Conv2d, BatchNorm2d and Linear in it is replaced by one with the same kernel, stride, padding
  and bias whose channel counts are divided (the image's 3 channels and the class count kept);
  the module tree and ``forward`` are torchvision's, so the graph pattern is the same. The new
  layers get He-normal weights and small random biases;
- written here: ``keras_nhwc`` (a Keras-style NHWC graph as tf2onnx writes it: Transpose around
  every convolution and pooling, per-channel arithmetic and flatten in NHWC, MatMul + Add dense
  layer) and ``ops_mix`` (the remaining operators: ConvTranspose, LeakyReLU, ELU, SELU,
  Softplus, Tanh, exact GELU, constant and reflect Pad, Split, Slice with steps, Softmax,
  LogSoftmax, ReduceMean, Dropout and Identity modules, Sub/Div broadcasting, MatMul, Flatten
  and Reshape).

AlexNet needs a 223x223 input (its AdaptiveAvgPool2d((6, 6)) must see 6x6 for the TorchScript
exporter, which cannot export a non-integral adaptive pool); its input alone is 0.6 MB, so it
has one case; ``alexnet_narrow_63`` records what the exporters do with a 63x63 input (1x1 into
the 6x6 pool: dynamo writes GatherND and ReduceMean, ts fails). SqueezeNet at 40x40 and
GoogLeNet at 32x32 have ceil-mode max pools whose ceiling adds a window. One model
(``squeezenet1_1_narrow_dynbatch``) has a dynamic batch axis: exported at batch 2, run at 3.
One case (``shufflenet_v2_narrow_dynamo_op18``) keeps its weights as external data.

``--full`` writes the standard torchvision models (default widths, 1x3x224x224, exporters dynamo
at opset 18 with external data and ts at opset 17) into ``--dir`` (default target/onnx-full/,
never committed) for the ignored tests; patterns select by full-size case name (``resnet18_*``).
"""

import argparse
import fnmatch
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from fixtures.common import FIXTURE_DIR, Writer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONNX_DIR = os.path.normpath(os.path.join(FIXTURE_DIR, "onnx"))
FULL_DIR = os.path.join(ROOT, "target", "onnx-full")
GENERATOR = "tools/onnx_fixtures.py"
LIMIT = 1e-4
NUM_CLASSES = 5

# Exporter and requested opset of each case; EXTRA adds the highest opset the dynamo exporter
# supports (23) for a few models.
MATRIX = (("dynamo", 13), ("dynamo", 17), ("dynamo", 18), ("ts", 13), ("ts", 17))
EXTRA = (("dynamo", 23),)
FULL_MATRIX = (("dynamo", 18), ("ts", 17))


# --- narrowing --------------------------------------------------------------------------------


def divide_widths(model, divisor, hidden=None):
    """Replaces every Conv2d, BatchNorm2d and Linear of ``model`` by a freshly initialized one
    with the same settings and narrower channels: convolution and batch-norm channel counts and
    the first Linear's input features are divided by ``divisor``, the other Linear widths by
    ``hidden`` (default ``divisor``). The image's 3 input channels and the ``NUM_CLASSES``
    outputs are kept. The model's other modules and its ``forward`` stay as they are."""
    hidden = hidden or divisor
    first_linear = [True]

    def div(c, d, keep):
        return c if c in keep else max(1, c // d)

    def narrow(m):
        if isinstance(m, nn.Conv2d):
            assert m.groups == 1, "divide_widths handles ungrouped convolutions only"
            return nn.Conv2d(div(m.in_channels, divisor, (3,)), div(m.out_channels, divisor, (NUM_CLASSES,)),
                             m.kernel_size, m.stride, m.padding, m.dilation, bias=m.bias is not None,
                             padding_mode=m.padding_mode)
        if isinstance(m, nn.BatchNorm2d):
            return nn.BatchNorm2d(div(m.num_features, divisor, ()), m.eps, m.momentum, m.affine, m.track_running_stats)
        if isinstance(m, nn.Linear):
            d_in = divisor if first_linear[0] else hidden
            first_linear[0] = False
            return nn.Linear(div(m.in_features, d_in, ()), div(m.out_features, hidden, (NUM_CLASSES,)), bias=m.bias is not None)
        return None

    def walk(parent):
        for name, child in parent.named_children():
            new = narrow(child)
            if new is None:
                walk(child)
            else:
                setattr(parent, name, new)

    walk(model)
    # Variance-preserving random weights (He init) and small random biases: the narrow models'
    # activations keep their scale through the layers, so the output depends on the input
    # rather than on the last biases and rounding is not amplified.
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.uniform_(m.bias, -0.1, 0.1)
    return model


# --- models written here ----------------------------------------------------------------------


class KerasNHWC(nn.Module):
    """A small Keras-style classifier as tf2onnx exports it: the input is NHWC, each convolution
    and pooling is wrapped in Transpose to NCHW and back, the rest (bias-free batch norm as
    scale and shift, ReLU6, flatten, a Dense layer as MatMul + Add) works on NHWC tensors.
    [N, 16, 16, 3] -> [N, 5]."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.scale = nn.Parameter(torch.rand(8) + 0.5)
        self.shift = nn.Parameter(torch.randn(8) * 0.1)
        self.pointwise = nn.Conv2d(8, 16, 1)
        self.dense_w = nn.Parameter(torch.randn(16 * 4 * 4, NUM_CLASSES) * 0.05)
        self.dense_b = nn.Parameter(torch.randn(NUM_CLASSES) * 0.1)

    @staticmethod
    def nchw(f, x):
        return f(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    def forward(self, x):
        y = torch.relu(self.nchw(self.conv1, x))
        y = self.nchw(self.depthwise, y) * self.scale + self.shift
        y = torch.clamp(y, 0.0, 6.0)
        y = self.nchw(lambda t: F.max_pool2d(t, 2), y)
        y = torch.relu(self.nchw(self.pointwise, y))
        y = self.nchw(lambda t: F.avg_pool2d(t, 2), y)
        y = y.reshape(y.shape[0], -1)  # flattens in NHWC order, as Keras' Flatten does
        return torch.softmax(y @ self.dense_w + self.dense_b, dim=-1)


class OpsMix(nn.Module):
    """The operators the torchvision models do not cover. [N, 3, 12, 12] -> [N, 240]."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
        self.mean = nn.Parameter(torch.randn(1, 4, 1, 1) * 0.1)
        self.std = nn.Parameter(torch.rand(1, 4, 1, 1) + 0.5)
        self.drop = nn.Dropout(0.3)
        self.ident = nn.Identity()
        self.proj = nn.Parameter(torch.randn(4, 6) * 0.5)
        self.flatten = nn.Flatten()

    def forward(self, x):
        n = x.shape[0]
        y = F.leaky_relu(self.conv(x), 0.1)                     # [N, 8, 12, 12]
        y = F.pad(y, (1, 2, 0, 1), mode="constant", value=0.5)  # [N, 8, 13, 15]
        y = F.pad(y, (1, 1, 1, 1), mode="reflect")              # [N, 8, 15, 17]
        y = y[:, :, 1:-2, 2::2]                                 # [N, 8, 12, 8]
        a, b = torch.split(y, [3, 5], dim=1)
        y = torch.cat([F.softplus(F.elu(a)), torch.tanh(F.selu(b))], dim=1)
        y = F.gelu(y)                                           # exact (erf) GELU
        y = self.up(y)                                          # [N, 4, 24, 16]
        y = (y - self.mean) / self.std
        y = y - y.mean(dim=(2, 3), keepdim=True)
        y = self.ident(self.drop(y))
        y = F.avg_pool2d(y, 4)                                  # [N, 4, 6, 4]
        t = y.flatten(2).transpose(1, 2) @ self.proj            # [N, 24, 6]
        p = torch.softmax(t, dim=-1)
        q = torch.log_softmax(t[:, :16], dim=1)                 # [N, 16, 6]
        return torch.cat([self.flatten(p), q.reshape(n, -1)], dim=1)


# --- the models -------------------------------------------------------------------------------


def with_classifier(model, widths):
    """Replaces ``model.classifier`` (VGG's, whose widths its constructor fixes) by the same
    Linear, ReLU, Dropout stack with the given widths."""
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers += [nn.ReLU(True), nn.Dropout()]
    model.classifier = nn.Sequential(*layers)
    return model


def efficientnet(conf, **kwargs):
    """torchvision's EfficientNet from ``_efficientnet_conf``'s (setting, last_channel)."""
    import torchvision.models.efficientnet as e

    return e.EfficientNet(conf[0], dropout=0.2, last_channel=conf[1], **kwargs)


def namespace():
    """What the ``call`` strings of MODELS are evaluated in."""
    import torchvision.models as tv

    return {"tv": tv, "divide_widths": divide_widths, "with_classifier": with_classifier,
            "efficientnet": efficientnet, "KerasNHWC": KerasNHWC, "OpsMix": OpsMix}


class Model:
    """One model: ``call`` is the Python expression that builds it (evaluated in ``namespace()``,
    recorded in every file), ``shape`` the input shape, ``narrowing`` how it was made small,
    ``full`` the ``torchvision.models.get_model`` name and arguments of its full-size version."""

    def __init__(self, name, call, shape, narrowing, matrix=MATRIX, extra=(), seed=0, dynamic=False, full=None):
        self.name, self.call, self.shape, self.narrowing = name, call, tuple(shape), narrowing
        self.matrix, self.seed, self.dynamic, self.full = tuple(matrix) + tuple(extra), seed, dynamic, full


C = "constructor arguments"
D = "divide_widths (torchvision class, channel counts divided)"
W = "written in tools/onnx_fixtures.py"
ALEXNET = "divide_widths(tv.AlexNet(num_classes=5), 16, hidden=256)"
SQUEEZENET_1_1 = "divide_widths(tv.SqueezeNet('1_1', num_classes=5), 16)"
GOOGLENET = "divide_widths(tv.GoogLeNet(num_classes=5, aux_logits=False, transform_input={}, init_weights=True), 16)"
GOOGLENET_FULL = {"aux_logits": False, "init_weights": True}
MODELS = [
    Model("alexnet_narrow", ALEXNET, (1, 3, 223, 223), D, matrix=(("ts", 13),), seed=1, full=("alexnet", {})),
    Model("alexnet_narrow_63", ALEXNET, (1, 3, 63, 63), D, matrix=(("dynamo", 18), ("ts", 17)), seed=1),
    Model("vgg_narrow", "with_classifier(tv.VGG(tv.vgg.make_layers([8, 'M', 16, 16, 'M'], batch_norm=True), "
          "num_classes=5), [16 * 7 * 7, 16, 16, 5])", (1, 3, 28, 28), C, seed=2, full=("vgg11_bn", {})),
    Model("resnet_basic_narrow", "divide_widths(tv.ResNet(tv.resnet.BasicBlock, [1, 1, 1, 1], num_classes=5), 16)",
          (2, 3, 32, 32), D, extra=EXTRA, seed=3, full=("resnet18", {})),
    Model("resnet_bottleneck_narrow", "divide_widths(tv.ResNet(tv.resnet.Bottleneck, [1, 1, 1, 1], num_classes=5), 32)",
          (1, 3, 32, 32), D, seed=4, full=("resnet50", {})),
    Model("densenet_narrow", "tv.DenseNet(growth_rate=8, block_config=(2, 2, 2), num_init_features=16, bn_size=2, num_classes=5)",
          (1, 3, 32, 32), C, seed=5, full=("densenet121", {})),
    Model("squeezenet1_0_narrow", "divide_widths(tv.SqueezeNet('1_0', num_classes=5), 16)",
          (1, 3, 40, 40), D, seed=6, full=("squeezenet1_0", {})),
    Model("squeezenet1_1_narrow", SQUEEZENET_1_1, (2, 3, 40, 40), D, seed=7, full=("squeezenet1_1", {})),
    Model("squeezenet1_1_narrow_dynbatch", SQUEEZENET_1_1, (3, 3, 40, 40), D,
          matrix=(("dynamo", 18), ("ts", 17)), seed=7, dynamic=True),
    Model("googlenet_narrow", GOOGLENET.format(False), (1, 3, 32, 32), D, seed=8, full=("googlenet", GOOGLENET_FULL)),
    Model("googlenet_tin_narrow", GOOGLENET.format(True), (1, 3, 32, 32), D, matrix=(("ts", 13),), seed=8,
          full=("googlenet", {**GOOGLENET_FULL, "transform_input": True})),
    Model("mobilenet_v2_narrow", "tv.MobileNetV2(num_classes=5, width_mult=0.25, "
          "inverted_residual_setting=[[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2]])",
          (1, 3, 32, 32), C, seed=9, full=("mobilenet_v2", {})),
    Model("mobilenet_v3_small_narrow", "tv.mobilenet_v3_small(width_mult=0.1, reduced_tail=True, num_classes=5)",
          (2, 3, 32, 32), C, extra=EXTRA, seed=10, full=("mobilenet_v3_small", {})),
    Model("mobilenet_v3_large_narrow", "tv.mobilenet_v3_large(width_mult=0.1, reduced_tail=True, num_classes=5)",
          (1, 3, 32, 32), C, seed=11, full=("mobilenet_v3_large", {})),
    Model("efficientnet_b0_narrow", "efficientnet(tv.efficientnet._efficientnet_conf('efficientnet_b0', width_mult=0.1, "
          "depth_mult=0.25), num_classes=5)", (1, 3, 32, 32), C, seed=12, full=("efficientnet_b0", {})),
    Model("shufflenet_v2_narrow", "tv.ShuffleNetV2(stages_repeats=[2, 2, 2], stages_out_channels=[8, 16, 32, 64, 128], num_classes=5)",
          (1, 3, 32, 32), C, extra=EXTRA, seed=13, full=("shufflenet_v2_x1_0", {})),
    Model("mnasnet_narrow", "tv.MNASNet(alpha=0.01, num_classes=5)", (1, 3, 32, 32), C, seed=14, full=("mnasnet1_0", {})),
    Model("regnet_narrow", "tv.RegNet(tv.regnet.BlockParams.from_init_params(depth=6, w_0=8, w_a=4.0, w_m=2.0, "
          "group_width=4, se_ratio=0.25), num_classes=5, stem_width=8)", (2, 3, 32, 32), C, seed=15, full=("regnet_y_400mf", {})),
    Model("keras_nhwc", "KerasNHWC()", (2, 16, 16, 3), W, extra=EXTRA, seed=16),
    Model("ops_mix", "OpsMix()", (2, 3, 12, 12), W, extra=EXTRA, seed=17),
]

# The one committed case whose weights are external data (the dynamo exporter's default).
EXTERNAL_DATA_CASE = "shufflenet_v2_narrow_dynamo_op18"
# Models whose dynamo files keep the exporter's node metadata (all but the stack traces).
KEEP_NODE_METADATA = {"keras_nhwc", "ops_mix"}


# --- building, exporting, checking ------------------------------------------------------------


def prepare(model, shape, seed, batch=64):
    """Random batch-norm affine parameters, running statistics from one training-mode pass on
    ``batch`` random inputs (momentum 1: the statistics of that batch), then eval mode. Large
    batches keep the narrow models well conditioned (small batches give tiny variances in the
    1x1 layers, which amplify rounding)."""
    g = torch.Generator().manual_seed(seed + 101)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(torch.rand(bn.weight.shape, generator=g) + 0.5)
            bn.bias.copy_(torch.randn(bn.bias.shape, generator=g) * 0.1)
        if bns:
            saved = [bn.momentum for bn in bns]
            for bn in bns:
                bn.momentum = 1.0
            model.train()
            model(torch.randn((batch,) + tuple(shape[1:]), generator=g))
            for bn, mom in zip(bns, saved):
                bn.momentum = mom
    return model.eval()


def relative_error(got, want):
    return float((got - want).abs().max() / want.abs().max().clamp_min(1e-30))


def default_opset(proto):
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage().splitlines()[0])


class StageError(Exception):
    def __init__(self, stage, message):
        super().__init__(message)
        self.stage = stage


def strip_node_metadata(path, keep_metadata):
    """Drops the dynamo exporter's node metadata: ``pkg.torch.onnx.stack_trace`` always (it holds
    the absolute paths of the exporting machine's source files), the rest (module names, FX
    nodes: about a third of a small file) unless ``keep_metadata``."""
    import onnx

    proto = onnx.load(path, load_external_data=False)
    for node in proto.graph.node:
        keep = [p for p in node.metadata_props if keep_metadata and p.key != "pkg.torch.onnx.stack_trace"]
        del node.metadata_props[:]
        node.metadata_props.extend(keep)
    onnx.save(proto, path)


def export(model, x, exporter, opset, path, external_data, dynamic, facts, keep_metadata=False):
    """Writes ``path`` (and ``path + '.data'`` with external data), recording in ``facts`` how."""
    import onnx

    facts.update({"opset_requested": opset, "version_conversion": None})
    if exporter == "ts":
        kw = {"input_names": ["x"], "dynamic_axes": {"x": {0: "batch"}}} if dynamic else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), path, dynamo=False, opset_version=opset, **kw)
        return
    kw = {"dynamic_shapes": {"x": {0: torch.export.Dim("batch")}}} if dynamic else {}
    capture = _Capture()
    loggers = [logging.getLogger(n) for n in ("onnxscript", "torch.onnx")]
    for lg in loggers:
        lg.addHandler(capture)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (x,), dynamo=True, opset_version=opset, external_data=external_data,
                                        verbose=False, **kw)
    finally:
        for lg in loggers:
            lg.removeHandler(capture)
    got = default_opset(program.model_proto)
    if got == opset:
        program.save(path, external_data=external_data)
        strip_node_metadata(path, keep_metadata)
        facts["post_processing"] = ("node metadata pkg.torch.onnx.stack_trace removed" if keep_metadata
                                    else "node metadata removed")
        return
    # torch.onnx kept its own opset: convert the model as exported, initializers included.
    reason = next((line for line in capture.lines if "Error" in line or "Failed" in line or "fail" in line), None)
    facts["version_conversion"] = (f"torch.onnx.export returned opset {got}" + (f" ({reason})" if reason else "")
                                   + f"; converted to {opset} with onnx.version_converter.convert_version")
    try:
        proto = onnx.version_converter.convert_version(program.model_proto, opset)
    except Exception as e:
        raise StageError("version_conversion", first_line(e)) from e
    onnx.save(proto, path)
    strip_node_metadata(path, keep_metadata)


def op_counts(proto):
    counts = Counter()

    def graph(g):
        for n in g.node:
            counts[n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}::{n.op_type}"] += 1
            for a in n.attribute:
                if a.g.node:
                    graph(a.g)
                for sub in a.graphs:
                    graph(sub)

    graph(proto.graph)
    for f in proto.functions:
        for n in f.node:
            counts[n.op_type] += 1
    return counts


def versions():
    import onnx
    import onnxruntime
    import onnxscript
    import torchvision

    return {"torch_version": torch.__version__, "torchvision_version": torchvision.__version__,
            "onnx_version": onnx.__version__, "onnxruntime_version": onnxruntime.__version__,
            "onnxscript_version": onnxscript.__version__}


def full_name(spec):
    name, kwargs = spec.full
    return name + ("_tin" if kwargs.get("transform_input") else "")


def run_case(spec, exporter, opset, out_dir, full):
    """Exports, checks and runs one case, writes its files and returns its manifest entry."""
    import onnx
    import onnxruntime as ort

    torch.manual_seed(spec.seed)
    if full:
        name_tv, kw = spec.full
        call = f"tv.get_model({name_tv!r}, weights=None{''.join(f', {k}={v!r}' for k, v in kw.items())})"
        shape, base = (1, 3, 224, 224), full_name(spec)
    else:
        call, shape, base = spec.call, spec.shape, spec.name
    model = eval(call, namespace())
    prepare(model, shape, spec.seed, batch=8 if full else 64)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(spec.seed + 1000))
    with torch.no_grad():
        want = model(x)
        # how much the output depends on the input: a fixture whose output is all bias tests little
        other = model(torch.randn(shape, generator=torch.Generator().manual_seed(spec.seed + 2000)))
    export_x = x[:2] if spec.dynamic else x  # the dynamic-batch case is exported at batch 2, run at 3

    entry = {"model": base, "constructor": call, "narrowing": "none (standard torchvision widths)" if full else spec.narrowing,
             "exporter": exporter, "exporter_call": f"torch.onnx.export(model, (x,), path, dynamo={exporter == 'dynamo'}, opset_version={opset})",
             "input_shape": list(shape), "dynamic_batch": spec.dynamic, "seed": spec.seed,
             "input_sensitivity": relative_error(other, want)}
    if spec.dynamic:
        entry["export_input_shape"] = list(export_x.shape)
    external = exporter == "dynamo" and (full or f"{base}_dynamo_op{opset}" == EXTERNAL_DATA_CASE)
    name = entry["name"] = f"{base}_{exporter}_op{opset}"
    with tempfile.TemporaryDirectory() as tmp:
        # Exported under its final name: an external data file's name is written in the model.
        tmp_path = os.path.join(tmp, f"{name}.onnx")
        stage = "export"
        try:  # failures are recorded, not fatal: the exporters' limits are facts too
            export(model, export_x, exporter, opset, tmp_path, external, spec.dynamic, entry,
                   keep_metadata=spec.name in KEEP_NODE_METADATA)
            proto = onnx.load(tmp_path, load_external_data=False)
            assert default_opset(proto) == opset, f"the file has opset {default_opset(proto)}"
            stage = "onnx.checker"
            onnx.checker.check_model(tmp_path, full_check=True)
            stage = "onnxruntime"
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            sess = ort.InferenceSession(tmp_path, opts, providers=["CPUExecutionProvider"])
            (inp,), outs = sess.get_inputs(), sess.get_outputs()
            got_out = torch.from_numpy(sess.run(None, {inp.name: x.numpy()})[0])
        except Exception as e:
            entry.update({"status": "failed", "failed_at": getattr(e, "stage", stage), "error": first_line(e)})
            return entry
        path = os.path.join(out_dir, f"{name}.onnx")
        files = []
        for suffix in ("", ".data"):
            if os.path.exists(tmp_path + suffix):
                shutil.copyfile(tmp_path + suffix, path + suffix)
                files.append(os.path.basename(path + suffix))
    err = relative_error(got_out, want)
    entry.update({
        "opset": default_opset(proto), "opset_imports": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
        "ir_version": proto.ir_version, "producer": f"{proto.producer_name} {proto.producer_version}",
        "external_data": len(files) > 1,
        "input_name": inp.name, "input_dims": [d if isinstance(d, int) else str(d) for d in inp.shape],
        "output_name": outs[0].name, "output_shape": list(want.shape), "outputs": len(outs),
        "ort_vs_torch": err, "status": "ok" if err < LIMIT else "mismatch",
        "op_types": dict(sorted(op_counts(proto).items())),
    })
    io_name = f"{name}.io"
    w = Writer(io_name, directory=out_dir, generator=GENERATOR)
    facts = {k: entry[k] for k in ("model", "constructor", "narrowing", "exporter", "opset", "opset_requested",
                                   "version_conversion", "input_shape", "input_name", "output_name", "dynamic_batch",
                                   "external_data", "ort_vs_torch")}
    w.add(name, facts, inputs={"x": x}, out=got_out, outs={"torch": want})
    w.meta.update(versions())
    save_file(w.tensors, os.path.join(out_dir, f"{io_name}.safetensors"), metadata=w.meta)
    files.append(f"{io_name}.safetensors")
    entry["files"] = {f: os.path.getsize(os.path.join(out_dir, f)) for f in files}
    return entry


def first_line(e):
    if isinstance(e, StageError):
        return str(e)
    lines = [line for line in str(e).strip().splitlines() if line.strip()]
    return f"{type(e).__name__}: {lines[0] if lines else ''}"[:400]


def drop_if_same_graph(entry, out_dir, earlier):
    """Removes the files of ``entry`` when its graph is byte-for-byte that of an earlier case of
    the same model and exporter (so the files differ only in the opset number: the TorchScript
    exporter writes most CNNs identically at opsets 13 and 17). The manifest keeps the case,
    with ``same_graph_as`` naming the written one. Returns that name, or None."""
    import onnx

    path = os.path.join(out_dir, f"{entry['name']}.onnx")
    graph = onnx.load(path, load_external_data=False).graph.SerializeToString()
    for name, g in earlier:
        if g == graph:
            for f in entry["files"]:
                os.remove(os.path.join(out_dir, f))
            entry.update({"same_graph_as": name, "files": {}})
            return name
    earlier.append((entry["name"], graph))
    return None


def count_ops(directory):
    import onnx

    total, per_file = Counter(), 0
    for f in sorted(os.listdir(directory)):
        if f.endswith(".onnx"):
            total.update(op_counts(onnx.load(os.path.join(directory, f), load_external_data=False)))
            per_file += 1
    print(f"op_type counts over {per_file} files in {os.path.relpath(directory)}:")
    for op, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {op:24} {n}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("patterns", nargs="*", help="fnmatch patterns of the cases (or models) to write; default all")
    ap.add_argument("--full", action="store_true", help="the full-size models (into --dir, default "
                    f"{os.path.relpath(FULL_DIR, ROOT)}/) instead of the committed narrow set")
    ap.add_argument("--count-ops", action="store_true", help="print the op_type counts of the .onnx files in --dir")
    ap.add_argument("--dir", help=f"the folder to write (or count); default {os.path.relpath(ONNX_DIR, ROOT)}/, "
                    f"with --full {os.path.relpath(FULL_DIR, ROOT)}/")
    args = ap.parse_args()
    full = args.full
    out_dir = os.path.abspath(args.dir or (FULL_DIR if full else ONNX_DIR))
    if args.count_ops:
        return count_ops(out_dir)
    torch.set_num_threads(1)
    os.makedirs(out_dir, exist_ok=True)
    vs = versions()
    print(", ".join(f"{k[:-8]} {v}" for k, v in vs.items()), "->", os.path.relpath(out_dir))

    cases = []
    for spec in MODELS:
        if full and spec.full is None:
            continue
        for exporter, opset in (FULL_MATRIX if full else spec.matrix):
            label = f"{full_name(spec) if full else spec.name}_{exporter}_op{opset}"
            if not args.patterns or any(fnmatch.fnmatch(label, p) or fnmatch.fnmatch(spec.name, p) for p in args.patterns):
                cases.append((spec, exporter, opset))

    manifest_path = os.path.join(out_dir, "manifest.json")
    old = []
    if args.patterns and os.path.exists(manifest_path):
        with open(manifest_path) as fh:
            old = json.load(fh)["cases"]
    elif not args.patterns:  # a full run starts from an empty folder
        for f in os.listdir(out_dir):
            if f.endswith((".onnx", ".onnx.data", ".io.safetensors")) or f == "manifest.json":
                os.remove(os.path.join(out_dir, f))

    entries, graphs = [], {}
    for spec, exporter, opset in cases:
        entry = run_case(spec, exporter, opset, out_dir, full)
        entries.append(entry)
        if entry["status"] == "failed":
            print(f"  FAILED   {entry['name']} ({entry['failed_at']}): {entry['error']}")
            continue
        same = drop_if_same_graph(entry, out_dir, graphs.setdefault((entry["model"], exporter), []))
        if same:
            print(f"  same     {entry['name']:44} graph as {same} (not written), ORT vs torch {entry['ort_vs_torch']:.2e}")
            continue
        size = sum(entry["files"].values())
        conv = " (onnx.version_converter)" if entry.get("version_conversion") else ""
        print(f"  {'ok      ' if entry['status'] == 'ok' else 'MISMATCH'} {entry['name']:44} {size / 1024:7.1f} KiB  "
              f"ORT vs torch {entry['ort_vs_torch']:.2e}, input sensitivity {entry['input_sensitivity']:.2f}{conv}")

    names = {e["name"] for e in entries}
    merged = sorted([e for e in old if e["name"] not in names] + entries, key=lambda e: e["name"])
    manifest = {"generator": GENERATOR, "command": f"python3 {GENERATOR}" + (" --full" if full else ""),
                **vs, "limit": LIMIT, "error": "max|ort - torch| / max|torch|", "cases": merged}
    with open(manifest_path, "w") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=False)
        fh.write("\n")
    written = [e for e in entries if e["status"] != "failed" and e["files"]]
    print(f"{len(written)} cases written, {sum(bool(e.get('same_graph_as')) for e in entries)} with an earlier case's graph, "
          f"{sum(e['status'] == 'failed' for e in entries)} failures; "
          f"{sum(sum(e['files'].values()) for e in written) / 2**20:.2f} MiB; manifest {os.path.relpath(manifest_path)}")
    bad = [e for e in entries if e["status"] == "mismatch"]
    if bad:
        for e in bad:
            print(f"MISMATCH {e['name']}: ORT vs torch {e['ort_vs_torch']:.2e} (limit {LIMIT}), checker: {e['checker']}")
        sys.exit(1)


if __name__ == "__main__":
    main()
