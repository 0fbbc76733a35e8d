"""Fault injection: kill -9 at random moments of `dnn.run` and of `validate --all --save`.

After every kill the state on disk is consistent: every result/checkpoint/mask file that exists is
complete and verifies (no half-written file), and the run, started again, resumes and finishes with
exactly the accuracy and weights of an uninterrupted run (same machine, same thread count). For the
validator, every report file that exists parses after every kill, and a final uninterrupted run leaves
the full set. Kill times are drawn from a seeded generator, so the test is reproducible.
Slow (≈ 3–6 min on 2 cores): run by CI with `-m slow`.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow
KILLS = 20


def _popen(args, env=None):
    e = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1", **(env or {}))
    return subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=e,
                            start_new_session=True)


def _kill_after(p, seconds):
    try:
        p.wait(timeout=seconds)
        return False  # finished before the kill
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return True


def _check_run_dir(d: Path):
    from sketchbound.dnn.training.checkpoint import load_verified
    if not d.is_dir():
        return
    name = d.name
    seed = int(name.split("-s")[-1].split("-")[0])
    if (d / "mask.pt").exists():
        load_verified(d / "mask.pt", identity={"kind": "mask", "run": name})
    if (d / "checkpoint.pt").exists():
        load_verified(d / "checkpoint.pt", identity={"kind": "checkpoint", "name": name, "seed": seed})
    if (d / "result.json").exists():
        assert json.loads((d / "result.json").read_text())["accuracy"] is not None
    for f in ("config.json",):
        if (d / f).exists():
            json.loads((d / f).read_text())


def test_kill_dnn_run_anywhere_then_resume_bit_identically(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent / "dnn"))
    from test_runner import _write_cifar10
    root = tmp_path / "data"
    _write_cifar10(root, n=200)
    base = ["sketchbound.dnn.run", "--model", "lenet300100", "--dataset", "cifar10", "--method", "magnitude",
            "--mask", "randomized", "--density", "0.3", "--width", "0.25", "--epochs", "12", "--batch-size", "16",
            "--data-root", str(root), "--no-progress", "--seed", "1"]
    ref = _popen(base + ["--runs-dir", str(tmp_path / "ref")])
    assert ref.wait(timeout=600) == 0, ref.stderr.read().decode()[-2000:]
    ref_dir = next((tmp_path / "ref").iterdir())
    t_full = json.loads((ref_dir / "result.json").read_text())["wall_s"] + 3.0  # + interpreter start
    rng = np.random.default_rng(2026)
    runs = tmp_path / "runs"
    killed = attempts = 0
    while killed < KILLS and attempts < 3 * KILLS:
        attempts += 1
        p = _popen(base + ["--runs-dir", str(runs)])
        killed += _kill_after(p, float(rng.uniform(0.5, 0.8 * t_full)))
        for d in runs.glob("*"):
            _check_run_dir(d)
        if any(runs.glob("*/result.json")):  # it finished between kills: start again from scratch
            import shutil
            shutil.rmtree(runs)
    assert killed == KILLS
    p = _popen(base + ["--runs-dir", str(runs)])
    assert p.wait(timeout=600) == 0, p.stderr.read().decode()[-2000:]
    d = next(runs.iterdir())
    got, want = json.loads((d / "result.json").read_text()), json.loads((ref_dir / "result.json").read_text())
    assert got["accuracy"] == want["accuracy"] and got["test_loss"] == want["test_loss"]
    assert got["kept_per_layer"] == want["kept_per_layer"] and got["resume_note"] is None
    from sketchbound.dnn.training.checkpoint import load_verified
    a, _ = load_verified(d / "checkpoint.pt", identity={"kind": "checkpoint", "name": d.name, "seed": 1})
    b, _ = load_verified(ref_dir / "checkpoint.pt", identity={"kind": "checkpoint", "name": d.name, "seed": 1})
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"])


def test_kill_validate_save_leaves_only_complete_files(tmp_path):
    out = tmp_path / "val"
    args = ["sketchbound.validate", "--all", "--save", str(out), "--no-progress"]
    t0 = time.time()
    p = _popen(args)
    p.wait(timeout=900)
    t_full = time.time() - t0
    first = sorted(f.name for f in out.iterdir() if not f.name.startswith("."))
    assert first, "the uninterrupted run wrote nothing"
    rng = np.random.default_rng(7)
    for _ in range(KILLS):
        p = _popen(args)
        _kill_after(p, float(rng.uniform(0.3, t_full)))
        for f in out.iterdir():
            if f.name.startswith("."):
                continue  # a temp file or build folder of the killed run: never read
            if f.suffix == ".json":
                json.loads(f.read_text())
            elif f.suffix in (".csv", ".md"):
                assert f.read_text().strip(), f
        assert sorted(f.name for f in out.iterdir() if not f.name.startswith(".")) == first
    p = _popen(args)
    p.wait(timeout=900)
    assert sorted(f.name for f in out.iterdir() if not f.name.startswith(".")) == first
