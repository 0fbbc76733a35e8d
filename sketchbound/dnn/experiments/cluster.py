"""The table runner on Dask: one task = one group of runs that one
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

Before the first task, :func:`prepare_workers` does each worker's one-time setup outside any task
(torch import, CUDA context, the datasets in the worker's cache, the mask samplers' kernels, one
forward/backward pass of each architecture), so that the first task on a fresh worker costs what
every later one does; :func:`run_table_on` calls it unless ``prepare=False``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import threading
import time
import warnings
from pathlib import Path
from typing import Sequence

from sketchbound._cli import die
from sketchbound.cluster import client_for, map_tasks

__all__ = ["visible_gpus", "make_cluster", "prepare_here", "prepare_workers", "run_table", "run_table_on"]


def visible_gpus() -> list[str]:
    """The ids of this machine's usable GPUs, as ``CUDA_VISIBLE_DEVICES`` names them (``[]`` without CUDA).

    Returns
    -------
    list of str

    Examples
    --------
    >>> import torch
    >>> visible_gpus() == [] or torch.cuda.is_available()
    True
    """
    import torch  # noqa: PLC0415
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    vis = os.environ.get("CUDA_VISIBLE_DEVICES")
    if vis is not None:
        return [v.strip() for v in vis.split(",") if v.strip()][:n]
    return [str(i) for i in range(n)]


def make_cluster(n_workers: int, gpus_per_worker: int = 1, *, gpu_ids: Sequence[str] | None = None,
                 dashboard: bool = True):
    """A local Dask cluster for a table.

    With GPUs, worker i is launched with ``CUDA_VISIBLE_DEVICES`` = its own ``gpus_per_worker`` cards, that
    many threads, the resource ``GPU=gpus_per_worker`` and ``cpu_count // n_workers`` threads for torch,
    numba and BLAS (``OMP_NUM_THREADS`` and friends); without GPUs, ``n_workers`` single-threaded CPU processes.

    Parameters
    ----------
    n_workers : int
        Worker processes.
    gpus_per_worker : int, optional
        Cards per worker (``n_workers * gpus_per_worker`` must be visible).
    gpu_ids : sequence of str, optional
        The cards to use (default :func:`visible_gpus`).
    dashboard : bool, optional
        Serve the dashboard on port 8787 (else on a free port).

    Returns
    -------
    distributed.SpecCluster or distributed.LocalCluster

    Examples
    --------
    >>> make_cluster(2, 2, gpu_ids=["0", "1"])
    Traceback (most recent call last):
    ...
    ValueError: --workers 2 x --gpus-per-worker 2 needs 4 GPUs; 2 visible (0,1)
    """
    ids = list(visible_gpus() if gpu_ids is None else gpu_ids)
    address = ":8787" if dashboard else ":0"
    k = int(gpus_per_worker)
    if ids and (k < 1 or n_workers * k > len(ids)):
        raise ValueError(f"--workers {n_workers} x --gpus-per-worker {k} needs {n_workers * k} GPUs; "
                         f"{len(ids)} visible ({','.join(ids)})")
    from distributed import LocalCluster, Nanny, Scheduler, SpecCluster  # noqa: PLC0415
    if not ids:
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=address)
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


def _absolute_roots(configs: Sequence) -> list:
    """``configs`` with relative ``data_root``s made absolute: workers may run in another folder or on another
    host. ``data_root`` is not part of a run's hash, so the run directories stay the same."""
    return [dataclasses.replace(c, data_root=str(Path(c.data_root).resolve()))
            if c.data_root and not Path(c.data_root).is_absolute() else c for c in configs]


# ------------------------------------------------------------------------------------------ worker setup
def _data_key(r) -> tuple:
    return (r.dataset, r.data_root, r.pad_to, r.train_subset)


def _mask_modes(r) -> list[tuple[str, str]]:
    """(mode, keep_rule) of every ``make_mask`` call a run makes (SynFlow's rounds use an intermediate mode)."""
    if r.method == "dense":
        return []
    out = [(r.mask, r.keep_rule)]
    if r.method == "synflow":
        inter = r.mask if r.mask in ("global", "layerwise", "randomized", "layerwise_randomized") else "randomized"
        out.append((inter, r.keep_rule if inter in ("global", "randomized") else "exact"))
    return list(dict.fromkeys(out))


def _setup_key(r) -> tuple:
    """What the setup of a run depends on: its data, its architecture (and batch) and its mask modes
    (Algorithm 1's kernels also depend on the number of draws, i.e. the density)."""
    modes = tuple(_mask_modes(r))
    return _data_key(r) + (r.model, r.width, r.batch_size, modes, r.min_per_layer,
                           r.density if any(m == "algorithm1" for m, _ in modes) else None)


def _devices(device: str | None) -> list:
    """The devices this worker's tasks will use (see :func:`_device_slot`)."""
    import torch  # noqa: PLC0415
    if device not in (None, "cuda"):
        return [torch.device(device)]
    if torch.cuda.is_available():
        return [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    if device == "cuda":
        raise RuntimeError(f"--device cuda but this worker ({os.uname().nodename}) sees no CUDA device")
    return [torch.device("cpu")]


def _warm_model(cfg, data, dev, amp: bool, channels_last: bool):
    """One training-like forward/backward pass of ``cfg``'s network on one batch (the trainer's dtype and
    memory format): loads the device's kernels, cuDNN/cuBLAS libraries and autotune-free heuristics once.
    Returns the (throw-away) model."""
    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415

    from sketchbound.dnn.experiments.run import build_model  # noqa: PLC0415
    model = build_model(cfg, data, dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    n = max(1, min(int(cfg.batch_size), len(data)))
    x = data.normalized(data.x_train[:n].to(dev))
    y = data.y_train[:n].to(dev)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp, cache_enabled=False):
        out = model(x)
    F.cross_entropy(out.float(), y).backward()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return model


def _warm_masks(cfg, model, dev) -> int:
    """``make_mask`` on placeholder scores of the network's layer shapes, on ``dev``, in every mode the run
    uses: compiles the samplers the run's mask step will call (numba kernels on CPU, whose serial or
    parallel twin depends on the layer sizes; the torch backend on GPU). Returns the number of calls."""
    import torch  # noqa: PLC0415

    from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
    from sketchbound.dnn.pruning.masks import make_mask  # noqa: PLC0415
    scores = {n: torch.linspace(1.0, 2.0, p.numel(), device=dev).reshape(p.shape)
              for n, p in prunable_parameters(model)}
    done = 0
    for mode, keep_rule in _mask_modes(cfg):
        make_mask(scores, cfg.density, mode, rng=0, min_per_layer=cfg.min_per_layer, keep_rule=keep_rule)
        done += 1
    return done


def prepare_here(configs: Sequence, device: str | None = None, *, amp: bool | None = None,
                 channels_last: bool | None = None, models: bool = True) -> dict:
    """The one-time setup of this process for training ``configs`` (what :func:`prepare_workers` runs on each
    worker): import torch, create the CUDA context of each device, load every distinct dataset into
    :data:`~sketchbound.dnn.experiments.data_cache.DATA_CACHE` (the key the tasks use), then per distinct
    architecture and device one forward/backward pass and the mask step's samplers on placeholder scores.

    Nothing a run computes depends on it: every random draw here uses its own generator or runs inside
    ``torch.random.fork_rng`` (the global RNG states are restored), the models are thrown away, and
    training does not autotune (``cudnn.benchmark`` off). A step that fails is skipped and reported in
    ``errors`` (the task that needs it then fails with its usual trace in the run directory).

    Parameters
    ----------
    configs : sequence of RunConfig
        The runs this process will train.
    device : str, optional
        ``"cpu"``, ``"cuda:1"``, ...; default: every GPU of the process, else the CPU.
    amp, channels_last : bool, optional
        The trainer's dtype and memory format (default: on for CUDA).
    models : bool, optional
        Also warm the architectures and samplers (else only devices and datasets).

    Returns
    -------
    dict
        ``seconds``, ``devices``, ``datasets``, ``models``, ``masks``, ``errors``.

    Examples
    --------
    >>> info = prepare_here([], device="cpu")
    >>> info["devices"], info["datasets"], info["errors"]
    (['cpu'], 0, [])
    """
    t0 = time.perf_counter()
    import torch  # noqa: PLC0415

    from sketchbound.dnn.experiments.data_cache import data_for  # noqa: PLC0415
    info: dict = {"devices": [], "datasets": 0, "models": 0, "masks": 0, "errors": []}

    def attempt(what, f):
        try:
            return f()
        except Exception as e:  # noqa: BLE001 - reported, never fatal
            info["errors"].append(f"{what}: {type(e).__name__}: {e}")
            return None

    devs = attempt("devices", lambda: _devices(device)) or []
    cuda_ids = [d.index for d in devs if d.type == "cuda"]
    with torch.random.fork_rng(devices=cuda_ids):
        for d in devs:
            if d.type == "cuda":  # the CUDA context (and the caching allocator) of this card
                attempt(f"CUDA context on {d}", lambda d=d: (torch.ones(1, device=d) + 1).cpu())
            info["devices"].append(torch.cuda.get_device_name(d) if d.type == "cuda" else str(d))
        data: dict = {}
        done: set = set()
        for c in configs:
            r = c.resolved()
            k = _data_key(r)
            if k not in data:
                data[k] = attempt(f"dataset {r.dataset} ({r.data_root})", lambda r=r: data_for(r))
                info["datasets"] += data[k] is not None
            if data[k] is None or not models:
                continue
            for d in devs:
                sk = (_setup_key(r), str(d))
                if sk in done:
                    continue
                done.add(sk)
                cuda = d.type == "cuda"
                with torch.cuda.device(d) if cuda else contextlib.nullcontext():
                    model = attempt(f"{r.model} x{r.width:g} on {d}", lambda r=r, d=d, cuda=cuda: _warm_model(
                        r, data[k], d, cuda if amp is None else bool(amp) and cuda,
                        cuda if channels_last is None else bool(channels_last) and cuda))
                    if model is None:
                        continue
                    info["models"] += 1
                    info["masks"] += attempt(f"masks {_mask_modes(r)} of {r.model} on {d}",
                                             lambda r=r, d=d, m=model: _warm_masks(r, m, d)) or 0
                    del model
    info["seconds"] = time.perf_counter() - t0
    return info


async def _prepare_async(*args, **kw) -> dict:
    # client.run calls a plain function on the worker's event loop, which then answers nothing (heartbeats
    # included) for as long as a dataset takes to load: run the setup on a thread instead
    import asyncio  # noqa: PLC0415
    return await asyncio.get_running_loop().run_in_executor(None, lambda: prepare_here(*args, **kw))


def prepare_workers(client, configs: Sequence, *, device: str | None = None, amp: bool | None = None,
                    channels_last: bool | None = None, models: bool = True, details: bool = False) -> dict:
    """Run :func:`prepare_here` on every worker of ``client`` now (``client.run``, outside any task), for
    one config per distinct data/architecture/mask setup of ``configs`` (relative ``data_root``s made
    absolute, as :func:`run_table_on` gives them to the tasks); a step that failed on a worker is a
    ``RuntimeWarning``.

    Parameters
    ----------
    client : distributed.Client
        The cluster.
    configs : sequence of RunConfig
        The runs to train.
    device, amp, channels_last, models :
        As in :func:`prepare_here`.
    details : bool, optional
        Return the whole :func:`prepare_here` dict per worker.

    Returns
    -------
    dict
        ``{worker address: seconds}`` (``details``: ``{worker address: dict}``).

    Examples
    --------
    >>> prepare_workers(None, [])  # no run: nothing to prepare, no worker asked
    {}
    """
    reps: dict = {}
    for c in _absolute_roots(configs):
        reps.setdefault(_setup_key(c.resolved()), c)
    if not reps:
        return {}
    out = client.run(_prepare_async, list(reps.values()), device, amp=amp, channels_last=channels_last,
                     models=models)
    for addr, res in out.items():
        for err in res["errors"]:
            warnings.warn(f"prepare_workers: {addr}: {err}", RuntimeWarning, stacklevel=2)
    return out if details else {addr: res["seconds"] for addr, res in out.items()}


def run_table_on(client, configs: Sequence, runs_dir, *, concurrent: int | None = None, device: str | None = None,
                 progress: bool = True, command: str | None = None, prepare: bool = True, balance: bool | int = False,
                 **trainer_kw) -> list[bool]:
    """Train every unfinished run of ``configs`` on ``client``: tasks = chunks of ``concurrent`` runs, each
    needing ``GPU=1`` on a GPU cluster; first (``prepare``, when there is anything to train)
    :func:`prepare_workers` for the runs to train. The results are the runs' files.

    Parameters
    ----------
    client : distributed.Client
        The cluster.
    configs : sequence of RunConfig
        The runs.
    runs_dir : str or Path
        The parent of the run directories (shared by the workers).
    concurrent : int, optional
        Runs per task (default 8 when the workers offer ``GPU`` resources, else 1).
    device : str, optional
        The tasks' device (default: the worker's GPU, else CPU).
    progress : bool, optional
        A bar over the runs.
    command : str, optional
        The command recorded in ``result.json``.
    prepare : bool, optional
        Run :func:`prepare_workers` first.
    balance : bool or int, optional
        Regroup the runs of the chunks that start together (one per worker; an ``int``: that many chunks)
        so that their mask costs are even (:func:`~sketchbound.dnn.experiments.planning.balance_chunks`;
        the start order of the runs across windows and every run's result are unchanged).
    **trainer_kw
        Passed to :func:`~sketchbound.dnn.experiments.run.run_configs`.

    Returns
    -------
    list of bool
        Per task, whether all its runs finished.

    Examples
    --------
    On a GPU cluster ``client`` comes from :func:`make_cluster`; here two one-epoch runs of a quarter-width
    LeNet-300-100 on a tiny MNIST written here, on an in-process (thread) cluster:

    >>> import os, tempfile, distributed, numpy as np
    >>> from sketchbound.dnn.experiments.config import RunConfig
    >>> from sketchbound.dnn.experiments.results import load_result
    >>> from sketchbound.data import write_idx_split
    >>> d = tempfile.TemporaryDirectory()
    >>> _ = write_idx_split(d.name, 8, 4)
    >>> cfgs = [RunConfig(model="lenet300100", dataset="mnist", data_root=d.name, method="magnitude", density=0.5,
    ...                   epochs=1, batch_size=4, width=0.25, seed=s) for s in (0, 1)]
    >>> runs = os.path.join(d.name, "runs")
    >>> with distributed.Client(processes=False, n_workers=1, dashboard_address=None) as client:
    ...     run_table_on(client, cfgs, runs, progress=False)
    [True, True]
    >>> [load_result(c, runs)["seed"] for c in cfgs]
    [0, 1]
    >>> d.cleanup()
    """
    from sketchbound.dnn.experiments.run import balance_chunks, plan_chunks  # noqa: PLC0415
    gpu = _has_gpu_workers(client)
    k = int(concurrent) if concurrent else (8 if gpu else 1)
    if k < 1:
        raise ValueError(f"concurrent must be >= 1, got {concurrent!r}")
    configs = _absolute_roots(configs)
    chunks = plan_chunks(configs, runs_dir, k)
    if balance:
        window = len(client.scheduler_info().get("workers", {})) if balance is True else int(balance)
        chunks = balance_chunks(chunks, window=max(1, window))
    if prepare and chunks:
        prepare_workers(client, [c for chunk in chunks for c in chunk], device=device,
                        amp=trainer_kw.get("amp"), channels_last=trainer_kw.get("channels_last"))
    runs = str(Path(runs_dir).resolve())
    items = [(chunk, runs, device, command, trainer_kw or None) for chunk in chunks]
    done = map_tasks(client, train_group, items, progress=progress, desc="run", weights=[len(c) for c in chunks],
                     chunksize=1, resources={"GPU": 1} if gpu else None)
    return [all(d) for d in done]


def run_table(configs: Sequence, runs_dir, *, workers: int | None = None, scheduler: str | None = None,
              gpus_per_worker: int | None = None, prog: str = "python -m sketchbound.dnn.table",
              dashboard: bool = True, **kw) -> list[bool]:
    """:func:`run_table_on` on the cluster that ``--workers`` / ``--scheduler`` / ``--gpus-per-worker``
    describe (a bad combination or a missing ``dask`` extra: one line, exit 2).

    Parameters
    ----------
    configs : sequence of RunConfig
        The runs.
    runs_dir : str or Path
        The parent of the run directories.
    workers : int, optional
        A local cluster of that many workers (:func:`make_cluster`).
    scheduler : str, optional
        The address or scheduler file of a running cluster.
    gpus_per_worker : int, optional
        Cards per local worker (needs ``workers``).
    prog : str, optional
        The command named in error lines.
    dashboard : bool, optional
        Serve the local cluster's dashboard on port 8787.
    **kw
        Passed to :func:`run_table_on`.

    Returns
    -------
    list of bool
        Per task, whether all its runs finished.

    Examples
    --------
    >>> run_table([], "runs", gpus_per_worker=2)
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
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
