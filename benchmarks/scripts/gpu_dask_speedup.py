"""Speed-up of a real table slice on N GPUs through Dask over the same slice on 1 GPU, in one call.

Both phases go through the same code path (``sketchbound.dnn.experiments.cluster``: one worker per GPU,
``CUDA_VISIBLE_DEVICES`` pinning, resource ``GPU=1``, one task = one ConcurrentTrainer group of
``--concurrent`` runs), into two separate runs folders, so the only difference is the number of GPUs.
Worker start-up is timed apart from the table itself: ``start_s`` = process spawn, torch import, CUDA
context and the workers' one-time preparation (``prepare_s``: ``cluster.prepare_workers``, i.e. the
datasets in each worker's cache, the mask samplers' kernels, one forward/backward pass per architecture),
so that every task, the first on each worker included, costs the same in ``table_s``; ``speedup_total``
(start-up included) hides nothing. ``--no-prepare``: the old measurement (each worker pays its setup
inside its first task). Prints one JSON object (and writes it to ``--out``/dask_speedup.json).

Run from the repository root on the GPU machine (no internet there: install the carried wheels first)::

    pip install --no-index --find-links .whl "dask[distributed]"     # only if `import distributed` fails
    python benchmarks/scripts/gpu_dask_speedup.py --gpus 4 --runs 64 --epochs 1 --seeds 3 --data-root .data/fashion-mnist --out "$OUT"
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # run from a checkout without installing it: workers need the path too
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [x for x in [os.environ.get("PYTHONPATH")] if x])


FUSION = "off"


def _warm():
    """Import torch and create the CUDA context on a worker (outside the timed table)."""
    import torch
    dev = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: only for --cpu-smoke
    x = torch.ones(256, 256, device=dev)
    (x @ x).sum().item()
    return torch.cuda.get_device_name(0) if dev == "cuda" else "cpu", os.environ.get("CUDA_VISIBLE_DEVICES")


def phase(n_gpus: int, cfgs, runs_dir: Path, concurrent: int, prepare: bool = True, balance: int = 0) -> dict:
    """One cluster of ``n_gpus`` workers: start-up (spawn, CUDA context, ``prepare_workers``) timed apart from
    the table."""
    from distributed import Client

    from sketchbound.dnn.experiments.cluster import make_cluster, prepare_workers, run_table_on
    t0 = time.perf_counter()
    cluster = make_cluster(n_gpus, 1, dashboard=False)
    try:
        with Client(cluster) as client:
            client.wait_for_workers(n_gpus, timeout=300)
            cards = client.run(_warm)
            tp = time.perf_counter()
            # the same (absolute-root) configs the tasks get; every run of the slice is to be trained
            prep = prepare_workers(client, cfgs, details=True) if prepare else {}
            t1 = time.perf_counter()
            ok = run_table_on(client, cfgs, runs_dir, concurrent=concurrent, progress=False, fusion=FUSION,
                              prepare=False, balance=balance)
            t2 = time.perf_counter()
    finally:
        cluster.close()
    return {"gpus": n_gpus, "tasks": len(ok), "tasks_ok": sum(ok), "start_s": round(t1 - t0, 2),
            "prepare_s": round(t1 - tp, 2) if prepare else None,
            "prepare_worker_s": sorted(round(v["seconds"], 2) for v in prep.values()),
            "prepare_errors": [e for v in prep.values() for e in v["errors"]],
            "table_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2),
            "workers": sorted(f"{v[1]}:{v[0]}" for v in cards.values())}


def _run_times(results) -> dict:
    """Wall, mask and end time of each finished run (``result.json`` records; ``None``: not finished)."""
    rs = [r for r in results if r]
    return {"wall_s": [round(r["wall_s"], 2) for r in rs], "mask_s": [round(r.get("mask_seconds") or 0.0, 2) for r in rs],
            "date": [r.get("date") for r in rs]}


def _provenance(a, argv) -> dict:
    import dask
    import distributed
    import torch
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or None
    except OSError:
        commit = None
    return {"device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu", "torch": torch.__version__,
            "dask": dask.__version__, "distributed": distributed.__version__,
            "commit": os.environ.get("SKETCHBOUND_COMMIT") or commit,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": "python benchmarks/scripts/gpu_dask_speedup.py "
                       + " ".join(sys.argv[1:] if argv is None else argv)}


def compare_balance(a, cfgs, work: Path, n: int, argv=None) -> int:
    """The N-GPU phase in the order off, on, on, off (``--balance`` = ``run.balance_chunks`` with a window of
    N): a paired measurement of what balance alone changes, drift in time cancelling out of the ABBA order.
    Writes OUT/dask_balance_ab.json; exit 1 unless every phase finished every run with the same accuracies."""
    from sketchbound._io import atomic_write
    from sketchbound.dnn.experiments.run import load_result
    order = [False, True, True, False]
    phases, accs = [], []
    for i, on in enumerate(order):
        d = work / f"ab{i}_{'on' if on else 'off'}"
        ph = phase(n, cfgs, d, a.concurrent, prepare=not a.no_prepare, balance=n if on else 0)
        rs = [load_result(c, d) for c in cfgs]
        ph.update(balance=on, finished=sum(r is not None for r in rs), runs=_run_times(rs))
        phases.append(ph)
        accs.append([r["accuracy"] if r else None for r in rs])
        print(f"phase {i} balance={on}: table {ph['table_s']} s, {ph['finished']}/{len(cfgs)} runs", file=sys.stderr)
    off = [p["table_s"] for p in phases if not p["balance"]]
    on_ = [p["table_s"] for p in phases if p["balance"]]
    same = all(x == accs[0] for x in accs) and None not in accs[0]
    out = {"what": f"{a.table} slice: {len(cfgs)} runs ({a.model}, {cfgs[0].resolved().epochs} epoch(s)), "
                   f"{a.concurrent} runs per task, {n} GPUs, balance off/on/on/off",
           "table_s_off": off, "table_s_on": on_,
           "ratio_off_over_on": round(sum(off) / sum(on_), 3),
           "identical_accuracies": same, "phases": phases, **_provenance(a, argv)}
    text = json.dumps(out, indent=2)
    print(text)
    atomic_write(Path(a.out) / "dask_balance_ab.json", text + "\n")
    return 0 if same and all(p["finished"] == len(cfgs) for p in phases) else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default="dnn/configs/table1_fmnist.toml")
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--runs", type=int, default=64, help="first RUNS runs of the table (a multiple of concurrent x gpus)")
    ap.add_argument("--epochs", type=int, default=None, help="override the table's epochs (default: the file's)")
    ap.add_argument("--seeds", type=int, default=None, help="use seeds 0..N-1 (default: the file's seed list)")
    ap.add_argument("--keep-runs", action="store_true",
                    help="also pack the N-GPU phase's finished runs (result/config/log files) into OUT/runs_gpuN.tgz")
    ap.add_argument("--train-subset", type=int, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a run field (repeatable), e.g. --set checkpoint_every_s=60")
    ap.add_argument("--concurrent", type=int, default=8, help="runs per ConcurrentTrainer group (= per task)")
    ap.add_argument("--gpus", type=int, default=None, help="GPUs of the second phase (default: all visible)")
    ap.add_argument("--data-root", default=".data/fashion-mnist")
    ap.add_argument("--work", default="/tmp/dask_speedup", help="scratch runs folders (wiped first)")
    ap.add_argument("--fusion", default="off", choices=["auto", "on", "off"],
                    help="horizontal fusion of the runs of a task (default off: one CUDA graph per run on its own stream)")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--cpu-smoke", action="store_true", help="no GPU: CPU workers instead (checks the script only)")
    ap.add_argument("--no-prepare", action="store_true",
                    help="no worker preparation before the table (each worker pays its setup in its first task)")
    ap.add_argument("--balance", action="store_true",
                    help="both phases train the same tasks regrouped so that the tasks starting together on the N GPUs "
                         "have even mask costs (run.balance_chunks with a window of N)")
    ap.add_argument("--compare-balance", action="store_true",
                    help="no 1-GPU phase: the N-GPU phase four times, without/with/with/without --balance (ABBA, "
                         "fresh cluster and runs folder each), to measure what balance alone changes")
    ap.add_argument("--inprocess-baseline", action="store_true",
                    help="also time the same slice in this process on one GPU without Dask (today's default path)")
    a = ap.parse_args(argv)
    global FUSION
    FUSION = a.fusion

    import distributed  # noqa: F401  (fail here, before any work, when Dask is missing)
    import torch

    from sketchbound.dnn.experiments.cluster import visible_gpus
    from sketchbound.dnn.experiments.table import distinct_runs, load_table, parse_overrides

    n = a.gpus or len(visible_gpus()) or (2 if a.cpu_smoke else 0)
    if not visible_gpus() and not a.cpu_smoke:
        sys.exit("no GPU visible (--cpu-smoke runs the script on CPU workers)")
    over = {"data_root": a.data_root, "model": a.model}
    if a.epochs:
        over["epochs"] = a.epochs
    if a.train_subset:
        over["train_subset"] = a.train_subset
    over.update(parse_overrides(a.set))
    cfgs = distinct_runs(load_table(a.table, overrides=over, seeds=a.seeds), a.runs)  # a dense run: one cell per density
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    if a.compare_balance:
        return compare_balance(a, cfgs, work, n, argv)
    bal = n if a.balance else 0  # the same regrouped tasks in both phases
    one = phase(1, cfgs, work / "gpu1", a.concurrent, prepare=not a.no_prepare, balance=bal)
    many = phase(n, cfgs, work / f"gpu{n}", a.concurrent, prepare=not a.no_prepare, balance=bal)
    inproc = None
    if a.inprocess_baseline:
        from sketchbound.dnn.experiments.run import run_configs
        t0 = time.perf_counter()
        run_configs(cfgs, work / "inprocess", device="cuda" if torch.cuda.is_available() else "cpu",
                    concurrent=a.concurrent, progress=False)
        inproc = {"table_s": round(time.perf_counter() - t0, 2)}
        inproc["speedup_n_dask_over_inprocess"] = round(inproc["table_s"] / many["table_s"], 3)

    from sketchbound.dnn.experiments.run import load_result
    acc1 = [load_result(c, work / "gpu1") for c in cfgs]
    accn = [load_result(c, work / f"gpu{n}") for c in cfgs]
    finished = [sum(r is not None for r in acc1), sum(r is not None for r in accn)]
    diffs = [abs(x["accuracy"] - y["accuracy"]) for x, y in zip(acc1, accn) if x and y]
    # per run, in the order trained: a task's runs finish together, so the first task of each worker, or
    # tasks slowed by their neighbours, show here (table_s alone cannot tell those apart)
    runs = {ph: _run_times(rs) for ph, rs in (("1", acc1), (str(n), accn))}
    out = {
        "what": f"{a.table} slice: {len(cfgs)} runs ({a.model}, {cfgs[0].resolved().epochs} epoch(s)), {a.concurrent} runs per task",
        "speedup_table": round(one["table_s"] / many["table_s"], 3),
        "speedup_total": round(one["total_s"] / many["total_s"], 3),
        "prepared": not a.no_prepare, "balanced": a.balance,
        "efficiency": round(one["table_s"] / many["table_s"] / n, 3),
        "one_gpu": one, "n_gpu": many, "inprocess_one_gpu": inproc, "finished": {"1": finished[0], str(n): finished[1], "expected": len(cfgs)},
        "runs": runs,
        "max_abs_accuracy_diff_1_vs_n": max(diffs) if diffs else None,
        "identical_accuracies": bool(diffs) and max(diffs) == 0.0,
        **_provenance(a, argv),
    }
    Path(a.out).mkdir(parents=True, exist_ok=True)
    if a.keep_runs:
        import tarfile
        with tarfile.open(Path(a.out) / f"runs_gpu{n}.tgz", "w:gz") as tar:
            for c in cfgs:
                d = c.run_dir(work / f"gpu{n}")
                for f in ("result.json", "config.json", "config.toml", "log.txt"):
                    if (d / f).is_file():
                        tar.add(d / f, arcname=f"{d.name}/{f}")
    text = json.dumps(out, indent=2)
    print(text)
    from sketchbound._io import atomic_write
    atomic_write(Path(a.out) / "dask_speedup.json", text + "\n")  # creates the folder; readable per the umask
    return 0 if finished == [len(cfgs)] * 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
