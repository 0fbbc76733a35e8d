"""The Triton masked SGD kernel under the interpreter, and the GPU check scripts on a CPU.

The kernels' arithmetic is checked by ``triton_interp_cases.py`` under Triton's interpreter, in a subprocess
(``TRITON_INTERPRET=1`` must be set before Triton is imported); what runs here is what needs no interpreter.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sketchbound.dnn.training.triton_support as ts

HERE = Path(__file__).resolve().parent


def _run_interpreted(marks: str):
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=os.pathsep.join(
        [str(HERE.parents[1])] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-m", marks,
                        str(HERE / "triton_interp_cases.py")], env=env, capture_output=True, text=True,
                       cwd=HERE.parents[1], timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "failed" not in r.stdout.splitlines()[-1]


NO_TRITON = pytest.mark.skipif(ts._triton()[0] is None, reason="Triton is not importable (it is in the test extra on "
                                                                "Linux x86-64 only)")


@NO_TRITON
@pytest.mark.slow
def test_triton_default_cases_under_the_interpreter():
    """Runs triton_interp_cases.py's default cases (the masked SGD kernel equal to the foreach step, its weight
    copies rounded as torch rounds) in a subprocess with TRITON_INTERPRET=1; every case there must pass."""
    _run_interpreted("not slow")


@NO_TRITON
@pytest.mark.slow
def test_triton_slow_cases_under_the_interpreter():
    """Runs triton_interp_cases.py's slow cases: both trainers with the Triton SGD kernel equal the foreach ones
    and keep masks exact, resume after a kill is bit-identical with it, and the weight copies change nothing,
    eager and under torch.compile."""
    _run_interpreted("slow")


def test_gpu_checks_cli_on_a_cpu(tmp_path, capsys, dnn_script, monkeypatch):
    """gpu_checks.py: triton-conv and sgd-kernel without a GPU or the interpreter exit 2 with one line saying why;
    choose-fusion on a CPU writes the default answer (streams, nothing timed) with the options it was given."""
    mod = dnn_script("gpu_checks")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert mod.main(["triton-conv", "--device", "cpu", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("CUDA device" in err[0] or "not importable" in err[0])
    assert mod.main(["sgd-kernel", "--device", "cpu", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("CUDA device" in err[0] or "not importable" in err[0])
    assert not (tmp_path / "sgd_kernel_check.json").exists()
    assert mod.main(["choose-fusion", "--device", "cpu", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "choose_fusion.json").read_text())
    assert res["choices"][0]["trainer"] == "streams" and res["choices"][0]["fused_kw"]["conv_gemm"] == "strided"
    assert res["command"].startswith("python benchmarks/scripts/gpu_checks.py choose-fusion")


def test_grouped_conv_bench_only_keeps_the_matching_cases(tmp_path, dnn_script):
    """--only S keeps the cases whose name contains S (here the five GEMM forms of the fixed cases) and is
    recorded in the JSON."""
    mod = dnn_script("grouped_conv_bench")
    assert mod.main(["--device", "cpu", "--models", "2", "--batch-size", "2", "--size-div", "8", "--iters", "1",
                     "--only", " GEMM", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "grouped_conv_bench.json").read_text())
    assert len(res["cases"]) == 5 and all(k.endswith(" GEMM") for k in res["cases"]) and res["only"] == " GEMM"


def test_grouped_conv_bench_refuses_forms_without_a_model_and_an_empty_selection(tmp_path, capsys, dnn_script):
    """--forms other than the default needs --model, and --only matching nothing is refused: each exits 2 with
    one line naming the flag, before anything is timed."""
    mod = dnn_script("grouped_conv_bench")
    for argv, flag in ((["--forms", "cudnn,triton"], "--forms"), (["--only", "no such layer"], "--only")):
        with pytest.raises(SystemExit) as e:
            mod.main(["--device", "cpu", "--models", "2", "--out", str(tmp_path)] + argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2 and flag in err[-1]
    assert not (tmp_path / "grouped_conv_bench.json").exists()
