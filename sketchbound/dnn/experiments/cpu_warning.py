"""A clear warning, with a measured estimate, when a GPU-sized training job starts on the CPU.

The estimate is ``total SGD steps × seconds per step``, where the seconds per step are *measured now*
on a copy of the job's model (one warm-up step and two timed steps of forward + backward + SGD on a
random batch of the job's shape). Only jobs with at least :data:`MIN_STEPS` steps are timed, so small
runs (tests, smoke runs) start without delay, and only estimates above ``threshold_s`` print.
"""
from __future__ import annotations

import copy
import sys
import time

import torch
import torch.nn.functional as F

from sketchbound._progress import format_seconds

__all__ = ["seconds_per_step", "warn_if_long_on_cpu", "MIN_STEPS", "THRESHOLD_S"]

#: jobs with fewer SGD steps in total are not timed (and not warned about)
MIN_STEPS = 500
#: estimated wall time above which the warning prints
THRESHOLD_S = 300.0


def seconds_per_step(model: torch.nn.Module, shape: tuple[int, ...], num_classes: int, batch_size: int,
                     repeats: int = 2) -> float:
    """Measured seconds of one SGD step (forward, backward, update) of a copy of ``model`` on the CPU.

    Parameters
    ----------
    model : torch.nn.Module
        The network (copied; the original is untouched).
    shape : tuple of int
        One input's shape, e.g. ``(1, 28, 28)``.
    num_classes : int
        The number of classes.
    batch_size : int
        The batch of one step.
    repeats : int, optional
        Steps timed after one warm-up step (their mean is returned).

    Returns
    -------
    float

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> seconds_per_step(net, (1, 2, 2), 2, 8) > 0
    True
    """
    m = copy.deepcopy(model).to("cpu").train()
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    x = torch.randn((batch_size, *shape), generator=g)
    y = torch.randint(0, num_classes, (batch_size,), generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(m(x), y).backward()
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - t) / repeats


def warn_if_long_on_cpu(jobs, *, what: str, hint: str, threshold_s: float = THRESHOLD_S, file=None) -> float | None:
    """Print one warning when the jobs would take longer than ``threshold_s`` on this CPU.

    Parameters
    ----------
    jobs : iterable of tuple
        ``(steps, make_model, shape, num_classes, batch_size, key)`` per job; the time per step is measured
        once per distinct ``key`` (e.g. the model name and width).
    what : str
        What the jobs are, said in the warning.
    hint : str
        How to make the job shorter, said in the warning.
    threshold_s : float, optional
        Warn from this many estimated seconds (default :data:`THRESHOLD_S`).
    file : file, optional
        Where the warning goes (default stderr).

    Returns
    -------
    float or None
        The estimate in seconds; ``None`` when the jobs have fewer than :data:`MIN_STEPS` steps (not timed).

    Examples
    --------
    >>> warn_if_long_on_cpu([(10, None, (1, 2, 2), 2, 8, "tiny")], what="1 run", hint="shorten it") is None
    True
    """
    file = sys.stderr if file is None else file
    jobs = list(jobs)
    total_steps = sum(int(j[0]) for j in jobs)
    if total_steps < MIN_STEPS:
        return None
    per_key: dict = {}
    est = 0.0
    for steps, make_model, shape, k, bs, key in jobs:
        if key not in per_key:
            per_key[key] = seconds_per_step(make_model(), tuple(shape), int(k), int(bs))
        est += int(steps) * per_key[key]
    if est >= threshold_s:
        gpu = "no GPU found" if not torch.cuda.is_available() else "running on the CPU"
        rates = ", ".join(f"{key}: {s:.2f} s/step" for key, s in per_key.items())
        print(f"warning: {gpu}: {what} = {total_steps:,} SGD steps here would take about {format_seconds(est)} "
              f"on this CPU (measured {rates}); this is a GPU-sized job. Run it on a CUDA machine "
              f"(--device cuda), or {hint}.", file=file, flush=True)
    return est
