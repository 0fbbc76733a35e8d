"""The benchmark-only Triton grouped convolution (``benchmarks/triton_conv.py``).

Its arithmetic is checked by ``triton_conv_cases.py`` under Triton's interpreter, in a subprocess
(``TRITON_INTERPRET=1`` must be set before Triton is imported). Run with ``python -m pytest benchmarks/tests``
(``-m slow`` for the random-shape cases).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import triton_conv as tc

import sketchbound.dnn.training.triton_support as ts

HERE = Path(__file__).resolve().parent
NO_TRITON = pytest.mark.skipif(ts._triton()[0] is None, reason="Triton is not importable (it is in the test extra on "
                                                                "Linux x86-64 only)")


def _run_interpreted(marks: str):
    root = HERE.parents[1]
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=os.pathsep.join(
        [str(root)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-m", marks,
                        str(HERE / "triton_conv_cases.py")], env=env, capture_output=True, text=True, cwd=root,
                       timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "failed" not in r.stdout.splitlines()[-1]


@NO_TRITON
def test_triton_conv_default_cases_under_the_interpreter():
    """A smoke of the convolution under the interpreter: bias, float32, torch.compile, its refusals, and the
    GPU check script's errors."""
    _run_interpreted("not slow")


@NO_TRITON
@pytest.mark.slow
def test_triton_conv_slow_cases_under_the_interpreter():
    """Equal to F.conv2d with its gradients in float64 for random shapes, over several weight-gradient chunks,
    in its block-diagonal group form (group_block) and in the grouped-convolution benchmark's Triton form."""
    _run_interpreted("slow")


def test_triton_conv_refuses_a_cpu_tensor_without_the_interpreter(monkeypatch):
    """Without the interpreter (or without Triton) a CPU tensor is refused with a ValueError saying why."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    x, w = torch.randn(1, 32, 4, 4), torch.randn(32, 16, 3, 3)
    assert not ts.triton_available("cpu")
    with pytest.raises(ValueError, match="CUDA device|not importable"):
        tc.grouped_conv2d_triton(x, w, padding=1, groups=2)
