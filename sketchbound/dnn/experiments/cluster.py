"""The table runner on Dask (issue 15): one task = one group of runs that one
:class:`~sketchbound.dnn.training.ConcurrentTrainer` trains together (8 models per GPU by default).

``python -m sketchbound.dnn.table CONFIG --workers 4`` starts one worker process per GPU, each pinned
to its own card (``CUDA_VISIBLE_DEVICES``) and offering the resource ``GPU=1`` (``--gpus-per-worker K``:
K cards, K threads and ``GPU=K`` per worker); without GPUs, N single-threaded CPU workers.
``--scheduler ADDRESS`` runs on a running cluster instead (workers started with
``dask worker ADDRESS --nthreads 1 --resources GPU=1`` per card, or by dask-jobqueue / dask-kubernetes);
the runs folder must then be shared by the workers.

Results come back as the runs' files: a task writes only inside its runs' hashed directories, each
file atomically, under each run's :class:`~sketchbound.dnn.experiments.run.RunLock`, and checks
``result.json`` under the lock before training. A killed worker therefore loses at most the epoch in
progress: Dask reschedules the task, the lock of the dead process is taken over, finished runs are
skipped and the others resume from their last checkpoint (bit-identical to an uninterrupted run).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import threading
from pathlib import Path
from typing import Sequence

from sketchbound._cli import die
from sketchbound.cluster import client_for, map_tasks

__all__ = ["visible_gpus", "make_cluster", "train_group", "run_table", "run_table_on"]


def visible_gpus() -> list[str]:
    """The ids of this machine's usable GPUs, as ``CUDA_VISIBLE_DEVICES`` names them (``[]`` without CUDA)."""
    import torch  # noqa: PLC0415
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    vis = os.environ.get("CUDA_VISIBLE_DEVICES")
    if vis is not None:
        return [v.strip() for v in vis.split(",") if v.strip()][:n]
    return [str(i) for i in range(n)]


def make_cluster(n_workers: int, gpus_per_worker: int = 1, *, gpu_ids: Sequence[str] | None = None,
                 dashboard: bool = True):
    """A local Dask cluster for a table: with GPUs (``gpu_ids``, default :func:`visible_gpus`), worker i
    is launched with ``CUDA_VISIBLE_DEVICES`` = its own ``gpus_per_worker`` cards, that many threads and
    the resource ``GPU=gpus_per_worker`` and ``cpu_count // n_workers`` threads for torch, numba and BLAS
    (``OMP_NUM_THREADS`` and friends); without GPUs, ``n_workers`` single-threaded CPU processes."""
    from distributed import LocalCluster, Nanny, Scheduler, SpecCluster  # noqa: PLC0415
    ids = list(visible_gpus() if gpu_ids is None else gpu_ids)
    address = ":8787" if dashboard else ":0"
    if not ids:
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=address)
    k = int(gpus_per_worker)
    if k < 1 or n_workers * k > len(ids):
        raise ValueError(f"--workers {n_workers} x --gpus-per-worker {k} needs {n_workers * k} GPUs; "
                         f"{len(ids)} visible ({','.join(ids)})")
    # each worker gets its share of the host's cores for torch/numba/BLAS: with the libraries' defaults every
    # worker would start one thread per core, and N workers' CPU phases (scores, masks, data) thrash
    threads = str(max(1, (os.cpu_count() or 1) // n_workers))
    cpu_env = {v: threads for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}
    workers = {f"gpu-{','.join(ids[i * k:(i + 1) * k])}": {
        "cls": Nanny,
        "options": {"nthreads": k, "resources": {"GPU": k},
                    "env": {"CUDA_VISIBLE_DEVICES": ",".join(ids[i * k:(i + 1) * k]), **cpu_env}}} for i in range(n_workers)}
    return SpecCluster(workers=workers, scheduler={"cls": Scheduler, "options": {"dashboard_address": address}},
                       name="sketchbound-gpus")


_SLOTS: "queue.Queue[int] | None" = None
_SLOTS_GUARD = threading.Lock()


@contextlib.contextmanager
def _device_slot(device: str | None):
    """The device of one task: ``device`` when it names one (``cpu``, ``cuda:1``); else one of this
    worker's GPUs not used by another of its threads (a worker with K cards runs K tasks), else CPU."""
    global _SLOTS
    import torch  # noqa: PLC0415
    if device not in (None, "cuda"):
        yield torch.device(device)
        return
    if not torch.cuda.is_available():
        if device == "cuda":
            raise RuntimeError(f"--device cuda but this worker ({os.uname().nodename}) sees no CUDA device")
        yield torch.device("cpu")
        return
    with _SLOTS_GUARD:
        if _SLOTS is None:
            _SLOTS = queue.Queue()
            for i in range(torch.cuda.device_count()):
                _SLOTS.put(i)
    i = _SLOTS.get()
    try:
        with torch.cuda.device(i):
            yield torch.device("cuda", i)
    finally:
        _SLOTS.put(i)


def train_group(configs: list, runs_dir: str, device: str | None = None, command: str | None = None,
                trainer_kw: dict | None = None) -> list[bool]:
    """One Dask task: train ``configs`` (one :func:`~sketchbound.dnn.experiments.run.plan_chunks` chunk)
    together on this worker's device; returns, per run, whether its result.json exists afterwards."""
    from sketchbound.dnn.experiments.run import run_configs  # noqa: PLC0415
    with _device_slot(device) as dev:
        res = run_configs(configs, runs_dir, device=dev, concurrent=len(configs), progress=False, command=command,
                          **(trainer_kw or {}))
    return [r is not None for r in res]


def _has_gpu_workers(client, wait_s: float = 600) -> bool:
    info = client.scheduler_info().get("workers", {})
    if not info:
        client.wait_for_workers(1, timeout=wait_s)
        info = client.scheduler_info().get("workers", {})
    return any(w.get("resources", {}).get("GPU") for w in info.values())


def run_table_on(client, configs: Sequence, runs_dir, *, concurrent: int | None = None, device: str | None = None,
                 progress: bool = True, command: str | None = None, **trainer_kw) -> list[bool]:
    """Train every unfinished run of ``configs`` on ``client``: tasks = chunks of ``concurrent`` runs
    (default 8 when the workers offer ``GPU`` resources, else 1), each needing ``GPU=1`` on a GPU
    cluster. Returns, per task, whether all its runs finished (the results are the runs' files)."""
    from sketchbound.dnn.experiments.run import plan_chunks  # noqa: PLC0415
    gpu = _has_gpu_workers(client)
    k = int(concurrent) if concurrent else (8 if gpu else 1)
    if k < 1:
        raise ValueError(f"concurrent must be >= 1, got {concurrent!r}")
    # workers may run in another folder or on another host: give them absolute (shared) paths; data_root
    # is not part of a run's hash, so the run directories stay the same
    configs = [dataclasses.replace(c, data_root=str(Path(c.data_root).resolve()))
               if c.data_root and not Path(c.data_root).is_absolute() else c for c in configs]
    chunks = plan_chunks(configs, runs_dir, k)
    runs = str(Path(runs_dir).resolve())
    items = [(chunk, runs, device, command, trainer_kw or None) for chunk in chunks]
    done = map_tasks(client, train_group, items, progress=progress, desc="run", weights=[len(c) for c in chunks],
                     chunksize=1, resources={"GPU": 1} if gpu else None)
    return [all(d) for d in done]


def run_table(configs: Sequence, runs_dir, *, workers: int | None = None, scheduler: str | None = None,
              gpus_per_worker: int | None = None, prog: str = "python -m sketchbound.dnn.table",
              dashboard: bool = True, **kw) -> list[bool]:
    """:func:`run_table_on` on the cluster that ``--workers`` / ``--scheduler`` / ``--gpus-per-worker``
    describe (a bad combination or a missing ``dask`` extra: one line, exit 2)."""
    if gpus_per_worker is not None and workers is None:
        die(prog, "--gpus-per-worker needs --workers (on a running cluster each worker says its GPUs: "
                  "dask worker ADDRESS --nthreads K --resources GPU=K)")

    def make(n):
        return make_cluster(n, gpus_per_worker or 1, dashboard=dashboard)

    with client_for(workers, scheduler, prog=prog, make_cluster=make, dashboard=dashboard) as client:
        from distributed import KilledWorker  # noqa: PLC0415 (client_for has checked that it is installed)
        try:
            return run_table_on(client, configs, runs_dir, **kw)
        except KilledWorker as e:
            die(prog, f"a task killed its worker again and again ({e}); finished runs and checkpoints are kept: "
                      "the same command resumes", code=1)
        except TimeoutError:
            die(prog, f"no Dask worker joined {scheduler or 'the local cluster'} within 10 minutes", code=1)
