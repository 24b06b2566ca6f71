#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures used by ConvLab's tests.

Every module in tools/fixtures/ (other than common.py) defines ``make()``, which writes one
safetensors file into crates/convlab/tests/fixtures/. The test suite reads those committed
files and never needs torch. Run from the repository root:

    pip install torch safetensors numpy
    python3 tools/make_fixtures.py            # all families
    python3 tools/make_fixtures.py conv pool  # some

Tensor names, in every family (tools/fixtures/common.py writes them):

    <case>.in.<name>     an input, by the name the Rust call gives it (x, weight, bias,
                         target, ...; 0, 1, ... for positional operands)
    <case>.out           the output
    <case>.out.<name>    a further result (max-pooling indices, running statistics, ...)
    <case>.grad_out      the upstream gradient: gradients are those of (out * grad_out).sum()
    <case>.grad.<name>   the gradient with respect to input <name>

The metadata holds ``torch_version``, ``generator`` and each case's parameters as JSON under
the case's name. A new case is one ``Writer.run(case, params, fn, {"x": x}, seed)`` in its
family's module; the Rust test that checks it is one ``check(&fx, case, |t| ...)`` line
(crates/convlab/tests/common/mod.rs).
"""

import importlib
import os
import pkgutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import fixtures  # noqa: E402


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    wanted = set(sys.argv[1:])
    names = sorted(m.name for m in pkgutil.iter_modules(fixtures.__path__) if m.name != "common")
    unknown = wanted - set(names)
    if unknown:
        sys.exit(f"unknown fixture families {sorted(unknown)}; have {names}")
    print(f"torch {torch.__version__}")
    for name in names:
        if wanted and name not in wanted:
            continue
        importlib.import_module(f"fixtures.{name}").make()


if __name__ == "__main__":
    main()
