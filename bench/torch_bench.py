#!/usr/bin/env python3
"""The peers' side of `convlab bench --compare`: the same workloads as `convlab bench`, in
PyTorch (NCHW and channels-last, both reported) and, for inference, ONNX Runtime, at their
best: glibc malloc tuned so large buffers are reused (the script re-executes itself with
GLIBC_TUNABLES set), 2 threads, the same method (warm-up, time-bounded repeats, median).

One JSON object per line: {"name", "peer", "layout", "median_ms", "gflops", "images_per_s"}.
GFLOP/s only for the conv2d workloads (backward = input and weight gradients, 2x forward).

    python3 bench/torch_bench.py [--filter NAME] [--quick] [--threads 2] [--budget 2]
    python3 bench/torch_bench.py --serve     # reads workload names on stdin, ends each with {"done": name}

With --serve, a line may instead be a model request (from `convlab bench --model`), JSON:
{"name", "model": zoo name or null, "onnx": absolute path or null, "batch", "input": [C, H, W]}.
ONNX Runtime runs the ONNX file itself; PyTorch runs a zoo model this script can build.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings

TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=4294967296"
if os.environ.get("GLIBC_TUNABLES") != TUNABLES:
    os.environ["GLIBC_TUNABLES"] = TUNABLES
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

warnings.filterwarnings("ignore")

CONV_SHAPES = [
    # name, N, Cin, H, W, Cout, k, stride, pad (as crates/convlab/src/bench.rs)
    ("lenet_conv1", 64, 1, 28, 28, 6, 5, 1, 2),
    ("lenet_conv2", 64, 6, 14, 14, 16, 5, 1, 0),
    ("resnet_s1", 32, 64, 56, 56, 64, 3, 1, 1),
    ("resnet_s2", 32, 128, 28, 28, 128, 3, 1, 1),
    ("resnet_stem", 8, 3, 224, 224, 64, 7, 2, 3),
    ("resnet_s3", 32, 256, 14, 14, 256, 3, 1, 1),
]
MODELS = [
    # name, model, batch, train step?, input side
    ("lenet5_train_step/b64", "lenet5", 64, True, 28),
    ("lenet5_infer/b1000", "lenet5", 1000, False, 28),
    ("resnet18_cifar_train_step/b64", "resnet18_cifar", 64, True, 32),
    ("resnet18_cifar_infer/b256", "resnet18_cifar", 256, False, 32),
    ("resnet18_infer/b1", "resnet18", 1, False, 224),
    ("resnet18_infer/b8", "resnet18", 8, False, 224),
]
NAMES = [f"conv2d_{d}/{c[0]}" for d in ("fwd", "bwd") for c in CONV_SHAPES] + [m[0] for m in MODELS]


def measure(fn, budget_s, min_reps):
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < budget_s and len(times) < 1000):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def build(model):
    import torchvision
    if model == "lenet5":
        return lenet5(), 1, 10
    if model == "resnet18_cifar":
        m = torchvision.models.resnet18(num_classes=10)
        m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        m.maxpool = nn.Identity()
        return m, 3, 10
    return torchvision.models.resnet18(), 3, 1000


def conv_rows(name, budget, reps):
    direction, shape = name[len("conv2d_"):].split("/")
    _, n, cin, h, w, cout, k, s, p = next(c for c in CONV_SHAPES if c[0] == shape)
    rows = []
    for layout in ("nchw", "channels_last"):
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        x = torch.randn(n, cin, h, w).to(memory_format=fmt).requires_grad_()
        wt = torch.randn(cout, cin, k, k).to(memory_format=fmt).requires_grad_()
        b = torch.randn(cout)
        with torch.no_grad():
            y = F.conv2d(x, wt, b, stride=s, padding=p)
        flops = 2 * n * cout * y.shape[2] * y.shape[3] * cin * k * k
        if direction == "fwd":
            with torch.no_grad():
                ms = measure(lambda: F.conv2d(x, wt, b, stride=s, padding=p), budget, reps)
        else:
            y = F.conv2d(x, wt, b, stride=s, padding=p)
            g = torch.randn_like(y).contiguous(memory_format=fmt)
            ms = measure(lambda: torch.autograd.grad(y, (x, wt), g, retain_graph=True), budget, reps)
            flops *= 2
        rows.append(dict(name=name, peer="torch", layout=layout, median_ms=ms, gflops=flops / ms / 1e6, images_per_s=None))
    return rows


def model_rows(name, budget, reps, threads):
    _, model, batch, train, side = next(m for m in MODELS if m[0] == name)
    rows = []
    net, cin, classes = build(model)
    x0 = torch.randn(batch, cin, side, side)
    targets = torch.arange(batch) % classes
    for layout in ("nchw", "channels_last"):
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        m = net.to(memory_format=fmt)
        x = x0.contiguous(memory_format=fmt)
        if train:
            m.train()
            if model == "lenet5":
                opt = torch.optim.Adam(m.parameters(), lr=1e-3)
            else:
                opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)

            def step():
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(m(x), targets).backward()
                opt.step()
            ms = measure(step, budget, reps)
        else:
            m.eval()
            with torch.no_grad():
                ms = measure(lambda: m(x), budget, reps)
        rows.append(dict(name=name, peer="torch", layout=layout, median_ms=ms, gflops=None, images_per_s=batch / ms * 1e3))
    if not train:
        rows += ort_rows(name, net.eval().to(memory_format=torch.contiguous_format), x0, batch, budget, reps, threads)
    return rows


def ort_rows(name, net, x, batch, budget, reps, threads):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        try:
            torch.onnx.export(net, (x,), path, input_names=["x"], output_names=["y"], dynamo=False)
        except Exception:  # older/newer exporters: fall back to the default one
            torch.onnx.export(net, (x,), path, input_names=["x"], output_names=["y"])
        return ort_file_rows(name, path, x, batch, budget, reps, threads)


def ort_file_rows(name, path, x, batch, budget, reps, threads):
    try:
        import onnxruntime as ort
    except ImportError:
        print(f"onnxruntime not importable: skipping it for {name} (pip install onnxruntime onnx onnxscript)", file=sys.stderr)
        return []
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x.numpy()}
    ms = measure(lambda: sess.run(None, feed), budget, reps)
    return [dict(name=name, peer="onnxruntime", layout="nchw", median_ms=ms, gflops=None, images_per_s=batch / ms * 1e3)]


def request_rows(req, args):
    """The peers on a model request: ONNX Runtime on the file, PyTorch on a known zoo model."""
    budget, reps = (0.0, 1) if args.quick else (args.budget, 3)
    name, batch = req["name"], req["batch"]
    x = torch.randn(batch, *req["input"])
    if req.get("onnx"):
        return ort_file_rows(name, req["onnx"], x, batch, budget, reps, args.threads)
    if req.get("model") in ("lenet5", "resnet18_cifar", "resnet18"):
        net, _, _ = build(req["model"])
        net.eval()
        with torch.no_grad():
            ms = measure(lambda: net(x), budget, reps)
        rows = [dict(name=name, peer="torch", layout="nchw", median_ms=ms, gflops=None, images_per_s=batch / ms * 1e3)]
        return rows + ort_rows(name, net, x, batch, budget, reps, args.threads)
    print(f"{name}: no peer for this model (an ONNX file or lenet5/resnet18/resnet18_cifar)", file=sys.stderr)
    return []


def rows_for(name, args):
    budget, reps = (0.0, 1) if args.quick else (args.budget, 3)
    if name.startswith("conv2d_"):
        return conv_rows(name, budget, reps)
    return model_rows(name, budget, reps, args.threads)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--filter", default="")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true", help="JSON lines (the only output format; accepted for symmetry)")
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=2.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.serve:
        for line in sys.stdin:
            name = line.strip()
            if not name:
                continue
            req = json.loads(name) if name.startswith("{") else None
            name = req["name"] if req else name
            try:
                rows = request_rows(req, args) if req else rows_for(name, args) if name in NAMES else []
                for r in rows:
                    print(json.dumps(r), flush=True)
            except Exception as e:  # report and go on: one failing peer must not end the run
                print(f"{name}: {e!r}", file=sys.stderr)
            print(json.dumps({"done": name}), flush=True)
        return
    for name in NAMES:
        if args.filter in name:
            for r in rows_for(name, args):
                print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
