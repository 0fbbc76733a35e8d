"""Balanced tasks for a cluster: ``run.balance_chunks`` regroups the runs of the chunks that start
together on ``window`` workers so that their mask costs (``run.mask_cost``) are even.

The properties: only runs of one window move, and only among that window's chunks (so the windows, which
start one after another, keep their order, and so do the tables); chunk sizes are kept; inside a chunk the
runs keep their input order; the costliest chunk never gets costlier; windows that mix architectures or
trainer keys, or hold IMP runs, are left alone. The Dask path with ``balance`` gives the serial table.
"""
from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sketchbound.dnn.experiments import run as R
from sketchbound.dnn.experiments.config import RunConfig

RUN_METHODS_NO_IMP = ("dense", "random", "magnitude", "snip", "grasp", "synflow", "prospr")


def _runs(methods, masks=None, **kw):
    masks = masks or ["global"] * len(methods)
    return [RunConfig(method=m, mask=k, seed=i, **kw) for i, (m, k) in enumerate(zip(methods, masks))]


def _cost(ch):
    return sum(R.mask_cost(c) for c in ch)


def test_mask_cost_counts_scoring_passes():
    assert R.mask_cost(RunConfig(method="synflow", synflow_rounds=100)) == 100.0
    assert R.mask_cost(RunConfig(method="synflow", mask="randomized", synflow_rounds=10)) == 15.0
    assert R.mask_cost(RunConfig(method="snip", prune_batches=2)) == 2.0
    assert R.mask_cost(RunConfig(method="grasp")) == 2.0
    assert [R.mask_cost(RunConfig(method=m)) for m in ("dense", "random", "magnitude")] == [0.0] * 3
    assert R.mask_cost(RunConfig(method="imp")) == float("inf")


def test_the_dask_speedup_slice_is_evened_out():
    """The first 32 runs of table1_fmnist5k as the 4-GPU measurement chunks them (8 per task): tasks of 0,
    0, 4 and 8 SynFlow runs. Balanced over 4 workers every task gets 3 SynFlow runs: the costliest task
    drops from 800 to 300 scoring passes, and the runs inside each task stay in table order."""
    methods = ["dense"] * 5 + ["random"] * 15 + ["synflow"] * 12
    runs = _runs(methods)
    chunks = [runs[i:i + 8] for i in range(0, 32, 8)]
    out = R.balance_chunks(chunks, window=4)
    assert [_cost(ch) for ch in chunks] == [0, 0, 400, 800]
    assert [_cost(ch) for ch in out] == [300, 300, 300, 300]
    assert [len(ch) for ch in out] == [8] * 4
    assert sorted(c.seed for ch in out for c in ch) == list(range(32))
    assert all([c.seed for c in ch] == sorted(c.seed for c in ch) for ch in out)
    assert R.balance_chunks(chunks, window=1) == chunks  # one worker: nothing starts together


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(RUN_METHODS_NO_IMP), min_size=1, max_size=40), st.integers(1, 6), st.integers(1, 5),
       st.lists(st.sampled_from(["global", "randomized"]), min_size=40, max_size=40))
def test_balancing_moves_runs_only_inside_windows_and_never_raises_the_costliest(methods, size, window, masks):
    runs = _runs(methods, masks[:len(methods)])
    chunks = [runs[i:i + size] for i in range(0, len(runs), size)]
    out = R.balance_chunks(chunks, window=window)
    assert [len(ch) for ch in out] == [len(ch) for ch in chunks]
    for w in range(0, len(chunks), window):
        before, after = chunks[w:w + window], out[w:w + window]
        assert sorted(c.seed for ch in before for c in ch) == sorted(c.seed for ch in after for c in ch)
        assert max(_cost(ch) for ch in after) <= max(_cost(ch) for ch in before)
        if after != before:  # regrouped: strictly cheaper at the top
            assert max(_cost(ch) for ch in after) < max(_cost(ch) for ch in before)
    for ch in out:
        assert [c.seed for c in ch] == sorted(c.seed for c in ch)


def test_windows_that_mix_architectures_keys_or_imp_are_left_alone():
    syn, rnd = RunConfig(method="synflow"), RunConfig(method="random")
    mixed_model = [[syn, replace(syn, seed=1)], [replace(rnd, model="vgg19"), replace(rnd, model="vgg19", seed=1)]]
    assert R.balance_chunks(mixed_model, window=2) == mixed_model
    mixed_key = [[syn, replace(syn, seed=1)], [replace(rnd, epochs=3), replace(rnd, epochs=3, seed=1)]]
    assert R.balance_chunks(mixed_key, window=2) == mixed_key
    with_imp = [[syn, RunConfig(method="imp")], [rnd, replace(rnd, seed=1)]]
    assert R.balance_chunks(with_imp, window=2) == with_imp
    with pytest.raises(ValueError, match="window"):
        R.balance_chunks(with_imp, window=0)


def test_task_mask_seconds_script_on_the_recorded_runs(capsys, dnn_script):
    """benchmarks/scripts/task_mask_seconds.py on the recorded Fashion-MNIST-5k runs: the 4-GPU speed-up slice's
    tasks hold 0, ~0, 4 and 8 SynFlow runs; their summed mask time is the same planned or balanced, and
    balancing brings the slowest task down to the mean (medians of the runs' own mask_seconds)."""
    import json
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    mod = dnn_script("task_mask_seconds")
    assert mod.main(["--table", str(root / "dnn/configs/table1_fmnist5k.toml"), "--runs", "32", "--concurrent", "8",
                     "--gpus", "4", "--recorded", str(root / "dnn/results/table1_fmnist5k_runs")]) == 0
    out = json.loads(capsys.readouterr().out)
    planned, balanced = out["as planned"], out["balanced"]
    syn = out["median_mask_s"]["synflow/global"]
    assert planned["task_mask_s"][3] == pytest.approx(8 * syn, abs=0.1)
    assert planned["sum_s"] == pytest.approx(balanced["sum_s"], abs=0.2)
    assert max(balanced["task_mask_s"]) < max(planned["task_mask_s"]) / 2
    assert max(balanced["task_mask_s"]) == pytest.approx(balanced["sum_s"] / 4, abs=0.5)
    with pytest.raises(SystemExit) as e:
        mod.main(["--table", str(root / "dnn/configs/table1_fmnist5k.toml"), "--recorded", str(root / "nowhere")])
    assert e.value.code == 2 and "--recorded" in capsys.readouterr().err


def test_distinct_runs_is_the_tables_order_each_run_once():
    """table.distinct_runs: the slice the speed-up benchmark and task_mask_seconds.py take (a dense run fills
    one cell per density but is one run)."""
    from pathlib import Path

    from sketchbound.dnn.experiments.table import distinct_runs, expand, load_table
    spec = load_table(Path(__file__).resolve().parents[2] / "dnn/configs/table1_fmnist5k.toml")
    every = distinct_runs(spec)
    assert len(every) == len({c.run_name() for _, _, c in expand(spec)}) == 110
    assert [c.method for c in distinct_runs(spec, 32)] == ["dense"] * 5 + ["random"] * 15 + ["synflow"] * 12
    assert distinct_runs(spec, 32) == every[:32]
