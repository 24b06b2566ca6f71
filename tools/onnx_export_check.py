#!/usr/bin/env python3
"""Checks ONNX files exported by ConvLab with onnx's checker and ONNX Runtime.

From the repository root:

    # every zoo model at opsets 13 and 17 and with a dynamic batch, and the spec models
    cargo test --release -p convlab --test onnx_export -- --ignored write_export_cases
    /tmp/torchenv/bin/python tools/onnx_export_check.py target/onnx-export \\
        --report crates/convlab/tests/fixtures/onnx_export/report.json

(``CONVLAB_EXPORT_OUT`` names another folder for the Rust side, ``CONVLAB_EXPORT_ONLY`` a
prefix of the cases to write.) The folder holds ``manifest.json`` (the cases: name, model,
opset, dynamic_batch, input shape) and for every case ``<case>.onnx`` and
``<case>.io.safetensors`` with ``input`` and ConvLab's ``output`` (for a dynamic batch also
``input_b3`` / ``output_b3`` at batch 3). For every case the script runs
``onnx.checker.check_model(path, full_check=True)`` (strict shape inference included), runs the
model in ONNX Runtime (CPU provider, one thread) on each input, and compares ORT's output with
ConvLab's: ``max_abs`` is max|ort - convlab|, ``max_rel`` that divided by max|convlab|; a case
passes when the checker accepts it and ``max_rel`` <= 1e-5. The report (JSON) lists every case
with the onnx and onnxruntime versions; the script exits 1 when any case fails.

Written with onnx 1.23.2 and onnxruntime 1.32.0 (see tools/onnx_fixtures.py for the venv).
"""

import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import load_file

TOLERANCE = 1e-5


def check_case(folder, case):
    name = case["name"]
    path = os.path.join(folder, name + ".onnx")
    result = {k: case[k] for k in ("name", "model", "opset", "dynamic_batch", "input")}
    try:
        onnx.checker.check_model(path, full_check=True)
        result["checker"] = "ok"
    except Exception as e:  # noqa: BLE001 - the report records any failure
        result["checker"] = str(e).splitlines()[0]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        io = load_file(os.path.join(folder, name + ".io.safetensors"))
        pairs = [("input", "output")]
        if case["dynamic_batch"]:
            pairs.append(("input_b3", "output_b3"))
        max_abs, max_rel = 0.0, 0.0
        for x, y in pairs:
            (got,) = sess.run(None, {sess.get_inputs()[0].name: io[x]})
            want = io[y]
            if got.shape != want.shape:
                raise ValueError(f"ORT's output has shape {got.shape}, ConvLab's {want.shape}")
            err = float(np.max(np.abs(got - want)))
            scale = max(float(np.max(np.abs(want))), 1e-12)
            max_abs, max_rel = max(max_abs, err), max(max_rel, err / scale)
        result["max_abs"] = max_abs
        result["max_rel"] = max_rel
        result["batches"] = [int(io[x].shape[0]) for x, _ in pairs]
    except Exception as e:  # noqa: BLE001
        result["error"] = str(e).splitlines()[0]
    result["pass"] = result["checker"] == "ok" and result.get("max_rel", 1.0) <= TOLERANCE
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="a folder written by the Rust test write_export_cases")
    p.add_argument("--report", help="where to write the JSON report (default: <folder>/report.json)")
    p.add_argument("--only", help="check only the cases whose names start with this")
    args = p.parse_args()
    with open(os.path.join(args.folder, "manifest.json")) as f:
        cases = json.load(f)["cases"]
    results = []
    for case in cases:
        if args.only and not case["name"].startswith(args.only):
            continue
        r = check_case(args.folder, case)
        results.append(r)
        status = "pass" if r["pass"] else "FAIL"
        print(f"{status} {r['name']}: checker {r['checker']}, max abs {r.get('max_abs')}, "
              f"max rel {r.get('max_rel')} {r.get('error', '')}", flush=True)
    report = {
        "tolerance": TOLERANCE,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "passed": sum(r["pass"] for r in results),
        "cases": len(results),
        "results": results,
    }
    out = args.report or os.path.join(args.folder, "report.json")
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(f"{report['passed']}/{len(results)} cases pass; report in {out}")
    sys.exit(0 if report["passed"] == len(results) else 1)


if __name__ == "__main__":
    main()
