#!/usr/bin/env python3
"""PyTorch <-> ConvLab weight interop for torchvision models (files too large to commit).

    pip install torch torchvision safetensors
    python3 tools/torchvision_interop.py export [DIR]   # torchvision -> DIR (default target/interop/)
    cargo test --release -p convlab --test interop      # loads them, compares logits, and writes
                                                        # ConvLab checkpoints DIR/rust_*.safetensors
    python3 tools/torchvision_interop.py check [DIR]    # ConvLab -> PyTorch: load_state_dict(strict=True)

export: for resnet18, vgg11_bn, densenet121 and alexnet, builds the torchvision model (random
init, seed 0), runs a few training-mode passes so the batch-norm statistics are not the
defaults, switches to eval mode, and writes

    DIR/<name>.safetensors      the state_dict (safetensors.torch.save_file), with ConvLab
                                metadata (model name and configuration) so `convlab run` knows it
    DIR/<name>.io.safetensors   a fixed input [2, 3, 224, 224] and the logits, as the fixtures
                                name them (tools/fixtures/common.py): <name>.in.x, <name>.out

check: for every DIR/rust_<name>.safetensors that ConvLab wrote (with rust_<name>.io.safetensors
holding its input <name>.in.x and ConvLab's logits <name>.out), builds the PyTorch model named
in its metadata, loads the file with load_state_dict(strict=True), and compares PyTorch's
logits with ConvLab's (relative error max|a-b|/max|b| < 1e-4). Exits 1 on any failure.

Set CONVLAB_INTEROP_DIR to use another directory (the Rust test honours it too).
"""

import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixtures.common import Writer  # noqa: E402
from fixtures.interop import MODELS as SMALL_MODELS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCHVISION = ["resnet18", "vgg11_bn", "densenet121", "alexnet"]
LIMIT = 1e-4


def default_dir():
    return os.environ.get("CONVLAB_INTEROP_DIR", os.path.join(ROOT, "target", "interop"))


def relative_error(got, want):
    return float((got - want).abs().max() / want.abs().max().clamp_min(1e-30))


def build(name, in_channels, num_classes):
    if name in SMALL_MODELS:
        return SMALL_MODELS[name][0](in_channels=in_channels, num_classes=num_classes)
    import torchvision

    if name not in TORCHVISION:
        raise SystemExit(f"unknown model {name!r}; the script knows {TORCHVISION + list(SMALL_MODELS)}")
    model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    if in_channels != 3:
        raise SystemExit(f"{name}: torchvision models take 3 input channels, the checkpoint says {in_channels}")
    return model


def export(out_dir):
    import torchvision

    os.makedirs(out_dir, exist_ok=True)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__} -> {out_dir}")
    for name in TORCHVISION:
        torch.manual_seed(0)
        model = build(name, 3, 1000)
        has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
        if has_bn:
            model.train()
            g = torch.Generator().manual_seed(1)
            with torch.no_grad():
                for _ in range(2):
                    model(torch.randn(4, 3, 224, 224, generator=g) * 0.5 + 0.2)
        model.eval()
        x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            logits = model(x)
        meta = {
            "model": json.dumps(name),
            "config": json.dumps({"in_channels": 3, "num_classes": 1000}),
            "torch_version": torch.__version__,
            "torchvision_version": torchvision.__version__,
        }
        path = os.path.join(out_dir, f"{name}.safetensors")
        save_file(model.state_dict(), path, metadata=meta)
        io = Writer(f"{name}.io", directory=out_dir, generator="tools/torchvision_interop.py export")
        io.add(name, {"model": name}, inputs={"x": x}, out=logits)
        io.save()
        print(f"  {name}: {len(model.state_dict())} tensors, {os.path.getsize(path) / 2**20:.1f} MiB")
    print("now: cargo test --release -p convlab --test interop -- --include-ignored --nocapture")


def check(in_dir):
    files = sorted(f for f in os.listdir(in_dir) if f.startswith("rust_") and f.endswith(".safetensors") and not f.endswith(".io.safetensors"))
    if not files:
        raise SystemExit(f"no rust_*.safetensors in {in_dir}; run: cargo test --release -p convlab --test interop")
    failed = 0
    for f in files:
        path = os.path.join(in_dir, f)
        from safetensors import safe_open

        with safe_open(path, "pt") as fh:
            meta = fh.metadata() or {}
        name = json.loads(meta["model"])
        config = json.loads(meta.get("config", "{}"))
        model = build(name, config.get("in_channels", 3), config.get("num_classes", 1000))
        state = load_file(path)
        model.load_state_dict(state, strict=True)
        model.eval()
        io = load_file(os.path.join(in_dir, f[: -len(".safetensors")] + ".io.safetensors"))
        with torch.no_grad():
            logits = model(io[f"{name}.in.x"])
        err = relative_error(logits, io[f"{name}.out"])
        nbt = [k for k, v in state.items() if k.endswith("num_batches_tracked")]
        dtypes = sorted({str(state[k].dtype) for k in nbt})
        ok = err < LIMIT
        failed += not ok
        extra = f", num_batches_tracked {dtypes}" if nbt else ""
        version = json.loads(meta.get("convlab_version", '"?"'))
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: load_state_dict(strict=True), {len(state)} tensors{extra}, "
              f"ConvLab vs PyTorch logits relative error {err:.2e} (written by ConvLab {version})")
    if failed:
        raise SystemExit(f"{failed} model(s) differ beyond {LIMIT}")


def main():
    args = sys.argv[1:]
    if not args or args[0] not in ("export", "check") or len(args) > 2:
        raise SystemExit(__doc__)
    directory = args[1] if len(args) == 2 else default_dir()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    export(directory) if args[0] == "export" else check(directory)


if __name__ == "__main__":
    main()
