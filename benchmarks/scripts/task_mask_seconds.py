"""How unequal are the tasks of a table slice? Each task's mask time, estimated from recorded runs.

The Dask speed-up measurement (``gpu_dask_speedup.py``) trains the first ``--runs`` runs of a table in
tasks of ``--concurrent`` runs: once one after another on 1 GPU (its time is the sum of the tasks), once
one task per GPU (its time is the slowest task). A run computes its mask before training (SynFlow: 100
scoring rounds), so tasks of SynFlow runs take longer than tasks of random masks. This script prints,
per task, the sum of its runs' mask times, each run's time being the median ``mask_seconds`` of the
recorded runs (``--recorded``) with the same method and mask mode, for the tasks as the table runner
plans them and as ``--balance`` regroups them over ``--gpus`` workers. No GPU, no training.

    python benchmarks/scripts/task_mask_seconds.py --table dnn/configs/table1_fmnist5k.toml --runs 32 --concurrent 8 --gpus 4 --recorded dnn/results/table1_fmnist5k_runs
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", required=True)
    ap.add_argument("--runs", type=int, default=32, help="first RUNS distinct runs of the table")
    ap.add_argument("--concurrent", type=int, default=8, help="runs per task")
    ap.add_argument("--gpus", type=int, default=4, help="workers whose first tasks start together")
    ap.add_argument("--recorded", required=True, help="a runs folder with result.json files (mask_seconds)")
    a = ap.parse_args(argv)
    for name in ("runs", "concurrent", "gpus"):
        if getattr(a, name) < 1:
            ap.error(f"--{name} must be >= 1; got {getattr(a, name)}")
    rec = Path(a.recorded)
    files = sorted(rec.glob("*/result.json"))
    if not files:
        ap.error(f"--recorded {str(rec)!r}: no */result.json there")

    from sketchbound.dnn.experiments.run import balance_chunks, plan_chunks
    from sketchbound.dnn.experiments.table import distinct_runs, load_table

    secs: dict[tuple, list[float]] = {}
    for f in files:
        r = json.loads(f.read_text())
        if r.get("mask_seconds") is not None:
            secs.setdefault((r["config"]["method"], r["config"]["mask"]), []).append(float(r["mask_seconds"]))
    median = {k: statistics.median(v) for k, v in secs.items()}
    try:
        cfgs = distinct_runs(load_table(a.table), a.runs)
    except (ValueError, FileNotFoundError) as e:
        ap.error(" ".join(str(e).split()))
    missing = sorted({(c.method, c.mask) for c in cfgs} - set(median) - {("dense", c.mask) for c in cfgs})
    if missing:
        ap.error(f"--recorded {str(rec)!r} has no mask_seconds for {missing[0]}")

    def est(c):
        return 0.0 if c.method == "dense" else median[(c.method, c.mask)]

    with tempfile.TemporaryDirectory() as empty:  # the tasks as the table runner plans them (nothing finished)
        chunks = plan_chunks(cfgs, empty, a.concurrent)
    out = {"table": a.table, "runs": len(cfgs), "concurrent": a.concurrent, "gpus": a.gpus, "recorded": str(rec),
           "median_mask_s": {f"{m}/{k}": round(v, 2) for (m, k), v in sorted(median.items())}}
    for name, plan in (("as planned", chunks), ("balanced", balance_chunks(chunks, window=a.gpus))):
        task_s = [round(sum(est(c) for c in ch), 1) for ch in plan]
        windows = [task_s[i:i + a.gpus] for i in range(0, len(task_s), a.gpus)]
        out[name] = {"task_mask_s": task_s, "sum_s": round(sum(task_s), 1),
                     "slowest_per_window_s": [max(w) for w in windows],
                     "mean_per_window_s": [round(sum(w) / len(w), 1) for w in windows]}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
