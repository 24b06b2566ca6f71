#!/usr/bin/env python3
"""PyTorch side of `cargo bench -p convlab --bench conv`: the same conv2d workloads, the
same method (warm-up, time-bounded repeats, median), 2 threads. One JSON line per case:

    {"name": ..., "fwd_ms": ..., "bwd_ms": ..., "fwd_gflops": ..., "bwd_gflops": ...}

Backward = gradients of the input and the weight (what a hidden layer needs), 2x forward flops.
Usage: python3 bench/torch_conv.py [--filter NAME] [--quick]
"""

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

CASES = [
    # name, N, Cin, H, W, Cout, k, stride, pad
    ("lenet_conv1", 64, 1, 28, 28, 6, 5, 1, 2),
    ("lenet_conv2", 64, 6, 14, 14, 16, 5, 1, 0),
    ("resnet_s1", 32, 64, 56, 56, 64, 3, 1, 1),
    ("resnet_s2", 32, 128, 28, 28, 128, 3, 1, 1),
    ("resnet_stem", 8, 3, 224, 224, 64, 7, 2, 3),
    ("resnet_s3", 32, 256, 14, 14, 256, 3, 1, 1),
]


def measure(fn, budget_s, min_reps):
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < budget_s and len(times) < 1000):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--filter", default="")
    ap.add_argument("--quick", action="store_true", default=os.environ.get("CONVLAB_BENCH_QUICK") == "1")
    args = ap.parse_args()
    torch.set_num_threads(2)
    budget, reps = (0.2, 1) if args.quick else (1.5, 3)
    for name, n, cin, h, w, cout, k, s, p in CASES:
        if args.filter not in name:
            continue
        x = torch.randn(n, cin, h, w, requires_grad=True)
        wt = torch.randn(cout, cin, k, k, requires_grad=True)
        b = torch.randn(cout)
        with torch.no_grad():
            y = F.conv2d(x, wt, b, stride=s, padding=p)
        ho, wo = y.shape[2], y.shape[3]
        flops = 2 * n * cout * ho * wo * cin * k * k
        with torch.no_grad():
            fwd = measure(lambda: F.conv2d(x, wt, b, stride=s, padding=p), budget, reps)
        y = F.conv2d(x, wt, b, stride=s, padding=p)
        g = torch.randn_like(y)
        bwd = measure(lambda: torch.autograd.grad(y, (x, wt), g, retain_graph=True), budget, reps)
        print(json.dumps(dict(name=name, fwd_ms=fwd, bwd_ms=bwd, fwd_gflops=flops / fwd / 1e6, bwd_gflops=2 * flops / bwd / 1e6)), flush=True)


if __name__ == "__main__":
    main()
