"""Train the runs of several table files on one Dask cluster (one worker per GPU), in the files' order.

One cluster serves all the tables, so the GPUs stay busy across table boundaries; tasks are the table
runner's groups (``plan_chunks``: runs sharing a trainer key, ``--concurrent`` at a time), submitted in
the order the files list them (Dask starts them in that order as GPUs free up). Finished runs are
skipped, so the same command resumes. Aggregate afterwards, per table, with
``python -m sketchbound.dnn.table FILE --no-train --stats --runs-dir RUNS``. Before the first task every
worker is prepared (``cluster.prepare_workers``: datasets, mask samplers, one pass per architecture);
``tables_dask.json`` reports that time as ``prepare_s`` (inside ``start_s``, outside ``table_s``).

    python dnn/scripts/gpu_tables_dask.py --workers 4 --runs-dir runs --data-root .data/fashion-mnist \\
        dnn/configs/table1_fmnist5k.toml dnn/configs/table4_fmnist5k_inits.toml
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [x for x in [os.environ.get("PYTHONPATH")] if x])


FUSION = "off"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tables", nargs="+")
    ap.add_argument("--workers", type=int, required=True)
    ap.add_argument("--runs-dir", default="runs")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--epochs", type=int, default=None, help="override every table's epochs")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field (repeatable)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 for every table")
    ap.add_argument("--concurrent", type=int, default=8)
    ap.add_argument("--fusion", default="off", choices=["auto", "on", "off"],
                    help="horizontal fusion of the runs of a task (default off: one CUDA graph per run on its own stream)")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    a = ap.parse_args(argv)
    global FUSION
    FUSION = a.fusion

    import torch
    from distributed import Client

    from sketchbound.dnn.experiments.cluster import make_cluster, prepare_workers, run_table_on
    from sketchbound.dnn.experiments.run import plan_chunks
    from sketchbound.dnn.experiments.table import _parse_value, expand, load_table

    over = {}
    if a.data_root:
        over["data_root"] = a.data_root
    if a.epochs:
        over["epochs"] = a.epochs
    for item in a.set:
        k, v = item.split("=", 1)
        over[k.strip()] = _parse_value(v.strip())
    cfgs, seen, per_table = [], set(), {}
    for t in a.tables:
        spec = load_table(t, overrides=over or None, seeds=a.seeds)
        n = 0
        for _, _, c in expand(spec):
            name = c.run_name()
            if name not in seen:
                seen.add(name)
                cfgs.append(c)
                n += 1
        per_table[t] = n
    command = "python dnn/scripts/gpu_tables_dask.py " + " ".join(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    cluster = make_cluster(a.workers, 1, dashboard=False)
    try:
        with Client(cluster) as client:
            client.wait_for_workers(a.workers, timeout=300)
            tp = time.perf_counter()
            # the runs left to train (finished ones are skipped: their data need not be read)
            todo = [c for chunk in plan_chunks(cfgs, a.runs_dir, a.concurrent) for c in chunk]
            prep = prepare_workers(client, todo, details=True) if todo else {}
            t1 = time.perf_counter()
            ok = run_table_on(client, cfgs, a.runs_dir, concurrent=a.concurrent, progress=False, command=command,
                              fusion=FUSION, prepare=False)
            t2 = time.perf_counter()
    finally:
        cluster.close()
    out = {"tables": per_table, "runs": len(cfgs), "tasks": len(ok), "tasks_ok": sum(ok),
           "start_s": round(t1 - t0, 2), "prepare_s": round(t1 - tp, 2),
           "prepare_worker_s": sorted(round(v["seconds"], 2) for v in prep.values()),
           "prepare_errors": [e for v in prep.values() for e in v["errors"]],
           "table_s": round(t2 - t1, 2), "workers": a.workers,
           "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu", "torch": torch.__version__,
           "commit": os.environ.get("SKETCHBOUND_COMMIT"), "command": command,
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    text = json.dumps(out, indent=2)
    print(text)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "tables_dask.json").write_text(text + "\n")
    return 0 if all(ok) else 1


if __name__ == "__main__":
    raise SystemExit(main())
