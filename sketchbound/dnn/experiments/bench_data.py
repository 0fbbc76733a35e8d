"""The workload of the training benchmark (``python -m sketchbound.dnn.bench_train``): synthetic
device-resident data, jobs of randomly masked models, and the data path of a trainer's step (the per-epoch
augmentation and the per-step gather of every job) timed on its own."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from sketchbound.dnn.data import TensorDataset, augment_epoch
from sketchbound.dnn.training import TrainJob
from sketchbound.dnn.training.fused_conv_choice import cuda_sync as sync  # the one device wait

__all__ = ["synthetic_data", "bench_model", "random_jobs", "sync", "timed", "data_seconds"]


def synthetic_data(n: int, c: int, size: int, k: int, seed: int = 0) -> TensorDataset:
    """Random uint8 images and labels (the benchmark's data; its test set is the first 1000 images).

    Parameters
    ----------
    n, c, size, k : int
        Images, channels, side, classes.
    seed : int, optional
        The generator's seed.

    Returns
    -------
    TensorDataset

    Examples
    --------
    >>> d = synthetic_data(8, 3, 4, 10)
    >>> tuple(d.x_train.shape), d.num_classes
    ((8, 3, 4, 4), 10)
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, c, size, size), dtype=torch.uint8, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    return TensorDataset("synthetic", x, y, x[:1000], y[:1000], k, (0.5,) * c, (0.25,) * c)


def bench_model(name: str, data: TensorDataset, width: float, seed: int) -> torch.nn.Module:
    """The network ``name`` for ``data``'s shape (Kaiming init, ``seed``), on the CPU.

    Parameters
    ----------
    name : str
        The architecture (``get_model``).
    data : TensorDataset
        Gives the channels, classes and image size.
    width : float
        Channel multiplier.
    seed : int
        The init's seed.

    Returns
    -------
    torch.nn.Module

    Examples
    --------
    >>> type(bench_model("lenet300100", synthetic_data(4, 1, 28, 10), 0.25, 0)).__name__
    'LeNet300100'
    """
    from sketchbound.dnn.models import get_model  # noqa: PLC0415
    return get_model(name, data.in_channels, data.num_classes, data.image_size, "kaiming", width=width, seed=seed)


def random_jobs(model_name: str, data: TensorDataset, n: int, *, width=1.0, density=0.1, prefix="bench",
                checkpoint_dir=None) -> list[TrainJob]:
    """``n`` masked models of one architecture with random masks, seeds 0..n−1 (the jobs every throughput
    measurement trains).

    Parameters
    ----------
    model_name : str
        The architecture.
    data : TensorDataset
        Gives the networks' shape.
    n : int
        Jobs.
    width : float, optional
        Channel multiplier.
    density : float, optional
        Each weight kept with this probability (independently).
    prefix : str, optional
        Job j is named ``<prefix><j>``.
    checkpoint_dir : str or Path, optional
        Give job j the checkpoint file ``<dir>/<prefix><j>.pt``.

    Returns
    -------
    list of TrainJob

    Examples
    --------
    >>> [j.name for j in random_jobs("lenet300100", synthetic_data(4, 1, 28, 10), 2, width=0.25)]
    ['bench0', 'bench1']
    """
    from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
    js = []
    for j in range(n):
        m = bench_model(model_name, data, width, j)
        g = torch.Generator().manual_seed(j)
        masks = {name: (torch.rand(p.shape, generator=g) < density).float() for name, p in prunable_parameters(m)}
        ck = Path(checkpoint_dir) / f"{prefix}{j}.pt" if checkpoint_dir is not None else None
        js.append(TrainJob(m, masks, seed=j, name=f"{prefix}{j}", checkpoint=ck))
    return js


def timed(step, warmup: int, steps: int, dev: torch.device) -> tuple[float, float]:
    """``(setup seconds, timed seconds)`` of ``warmup`` then ``steps`` calls of ``step(i)``.

    Parameters
    ----------
    step : callable
        Takes the step index.
    warmup, steps : int
        Untimed calls (setup: graph capture, compilation, ...), then timed calls.
    dev : torch.device
        Synchronised before each clock reading.

    Returns
    -------
    tuple of float

    Examples
    --------
    >>> calls = []
    >>> setup, dt = timed(calls.append, 2, 3, torch.device("cpu"))
    >>> calls, dt >= 0
    ([0, 1, 2, 3, 4], True)
    """
    t0 = time.perf_counter()
    for i in range(warmup):
        step(i)
    sync(dev)
    t = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    sync(dev)
    return t - t0, time.perf_counter() - t


def data_seconds(tr, reps: int = 20) -> dict:
    """Seconds per lockstep round spent on data, measured on their own: the per-epoch permutation + crop +
    flip of every job (divided by the steps per epoch) and the per-step gather + normalise of every
    job (on CUDA replayed from a CUDA graph, as inside the training graph).

    Parameters
    ----------
    tr : ConcurrentTrainer or FusedTrainer
        A trainer that has run (its jobs' batch positions are restored afterwards).
    reps : int, optional
        Gathers timed per job.

    Returns
    -------
    dict
        ``augment_s_per_round`` and ``gather_s_per_round``.

    Examples
    --------
    ``bench_train`` divides them by the step time for the "data share of step" column; here a trainer of two
    masked quarter-width LeNet-300-100 models that ran two steps on the CPU:

    >>> from sketchbound.dnn.training import ConcurrentTrainer, Schedule
    >>> data = synthetic_data(16, 1, 28, 10)
    >>> tr = ConcurrentTrainer(random_jobs("lenet300100", data, 2, width=0.25), data,
    ...                        Schedule(epochs=1, batch_size=4, milestones=()), device="cpu", progress=False)
    >>> _ = tr.run(max_steps=2)
    >>> d = data_seconds(tr, reps=2)
    >>> sorted(d), all(v > 0 for v in d.values())
    (['augment_s_per_round', 'gather_s_per_round'], True)
    """
    dev = tr.device
    units = getattr(tr, "cohorts", None) or tr.states
    gathers = [u.batch if hasattr(u, "batch") else u._normalized_batch for u in units]
    saved = [u.step.clone() for u in units]
    for u in units:  # a valid batch position (after run() the counter may sit at the epoch's end)
        u.step.zero_()
    x, y = tr.data.x_train, tr.data.y_train
    out_x, out_y = torch.empty_like(x), torch.empty_like(y)
    g = torch.Generator(device=dev).manual_seed(0)
    sync(dev)
    t = time.perf_counter()
    for _ in tr.states:
        augment_epoch(x, y, g, padding=tr.padding if tr.augment else 0, flip=tr.augment and tr.flip, crop=tr.augment,
                      out_x=out_x, out_y=out_y)
    sync(dev)
    aug = (time.perf_counter() - t) / tr.steps_per_epoch
    del out_x, out_y
    if dev.type == "cuda" and tr.cuda_graphs:
        s = torch.cuda.Stream(device=dev)
        s.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(s):
            for f in gathers:
                f()
        torch.cuda.current_stream(dev).wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=s):
            for _ in range(reps):
                for f in gathers:
                    f()
        graph.replay()
        sync(dev)
        t = time.perf_counter()
        for _ in range(5):
            graph.replay()
        sync(dev)
        gather = (time.perf_counter() - t) / (5 * reps)
        del graph
    else:
        for f in gathers:
            f()
        t = time.perf_counter()
        for _ in range(reps):
            for f in gathers:
                f()
        sync(dev)
        gather = (time.perf_counter() - t) / reps
    for u, v in zip(units, saved):
        u.step.copy_(v)
    return {"augment_s_per_round": aug, "gather_s_per_round": gather}
