#!/usr/bin/env python3
"""Checks ONNX files exported by ConvLab with onnx's checker and ONNX Runtime.

From the repository root:

    # every zoo model at opsets 13 and 17 and with a dynamic batch, the imported fixtures, the specs
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
ConvLab's (``--only PREFIX`` checks some cases, ``--append`` keeps the report's others):
``max_abs`` is max|ort - convlab|, ``max_rel`` that divided by max|convlab|; a case
passes when the checker accepts it and ``max_rel`` <= 1e-5. A case whose model is an
imported fixture (``<file>.onnx`` from ``--originals``) also records ``vs_original``, ORT on the
exported file against ORT on the original, which must stay <= 1e-6, and its ``max_rel`` may
reach 1e-4: ConvLab and ORT differ that much on those deep models already on the original. The report (JSON) lists every case
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
# An imported fixture re-exported: ConvLab's arithmetic differs from ORT's by up to ~5e-5 on
# these deep models already on the original file (tests/onnx_import.rs allows 1e-4), so the
# export itself is judged by ORT on the exported file against ORT on the original.
IMPORTED_TOLERANCE = 1e-4
ORIGINAL_TOLERANCE = 1e-6


def check_case(folder, case, originals):
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
        if case["model"].endswith(".onnx"):
            original = os.path.join(originals, case["model"])
            result["vs_original"] = original_error(original, sess, opts, io["input"])
    except Exception as e:  # noqa: BLE001
        result["error"] = str(e).splitlines()[0]
    if case["model"].endswith(".onnx"):
        ok = result.get("max_rel", 1.0) <= IMPORTED_TOLERANCE and result.get("vs_original", 1.0) <= ORIGINAL_TOLERANCE
    else:
        ok = result.get("max_rel", 1.0) <= TOLERANCE
    result["pass"] = result["checker"] == "ok" and ok
    return result


def original_error(path, sess, opts, x):
    """max|ORT(exported) - ORT(original)| / max|ORT(original)| on ``x`` (sample by sample
    where the original fixes its batch)."""
    o = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    name = o.get_inputs()[0].name
    try:
        (want,) = o.run(None, {name: x})
    except Exception:  # noqa: BLE001 - a file exported for batch 1
        want = np.concatenate([o.run(None, {name: x[i : i + 1]})[0] for i in range(x.shape[0])])
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x})
    return float(np.max(np.abs(got - want))) / max(float(np.max(np.abs(want))), 1e-12)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="a folder written by the Rust test write_export_cases")
    p.add_argument("--report", help="where to write the JSON report (default: <folder>/report.json)")
    p.add_argument("--originals", default="crates/convlab/tests/fixtures/onnx",
                   help="where the imported fixtures (cases of a model *.onnx) come from")
    p.add_argument("--only", help="check only the cases whose names start with this")
    p.add_argument("--append", action="store_true",
                   help="keep the report's other cases (a case checked again replaces its entry)")
    args = p.parse_args()
    with open(os.path.join(args.folder, "manifest.json")) as f:
        cases = json.load(f)["cases"]
    results = []
    for case in cases:
        if args.only and not case["name"].startswith(args.only):
            continue
        r = check_case(args.folder, case, args.originals)
        results.append(r)
        status = "pass" if r["pass"] else "FAIL"
        print(f"{status} {r['name']}: checker {r['checker']}, max abs {r.get('max_abs')}, "
              f"max rel {r.get('max_rel')} {r.get('error', '')}", flush=True)
    out = args.report or os.path.join(args.folder, "report.json")
    if args.append and os.path.exists(out):
        with open(out) as f:
            checked = {r["name"] for r in results}
            results = [r for r in json.load(f)["results"] if r["name"] not in checked] + results
    report = {
        "tolerance": TOLERANCE,
        "imported_tolerance": IMPORTED_TOLERANCE,
        "original_tolerance": ORIGINAL_TOLERANCE,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "passed": sum(r["pass"] for r in results),
        "cases": len(results),
        "results": results,
    }
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(f"{report['passed']}/{len(results)} cases pass; report in {out}")
    sys.exit(0 if report["passed"] == len(results) else 1)


if __name__ == "__main__":
    main()
