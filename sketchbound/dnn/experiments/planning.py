"""Which runs of a sweep train together: :func:`plan_chunks` groups the unfinished runs by trainer, and
:func:`balance_chunks` evens out the mask cost (:func:`mask_cost`) of the chunks a cluster starts at once."""
from __future__ import annotations

import math
from typing import Sequence

from sketchbound.dnn.experiments.config import RunConfig
from sketchbound.dnn.experiments.results import RESULT_FILE
from sketchbound.dnn.training.fused import FUSION_CHOICES

__all__ = ["plan_chunks", "mask_cost", "balance_chunks"]


def plan_chunks(configs: Sequence[RunConfig], runs_dir="runs", concurrent: int = 1,
                force: bool = False, fusion: str = "off") -> list[list[RunConfig]]:
    """The unfinished runs of ``configs`` (deduplicated; ``force`` deletes finished results first) in
    chunks of at most ``concurrent`` runs sharing :meth:`RunConfig.trainer_key`: one chunk is what one
    :class:`~sketchbound.dnn.training.ConcurrentTrainer` trains at once (and one Dask task). With
    ``fusion`` other than ``"off"``, runs of the same architecture (model, width) are put next to each
    other (stable order otherwise), so that a chunk fuses as many of them as possible.

    Parameters
    ----------
    configs : sequence of RunConfig
        The runs of a sweep.
    runs_dir : str or Path, optional
        The parent of the run directories (a run with ``result.json`` there is finished).
    concurrent : int, optional
        The most runs of a chunk.
    force : bool, optional
        Delete the finished runs' ``result.json``, ``checkpoint.pt`` and ``mask.pt`` first (they train again).
    fusion : {"off", "on", "auto"}, optional
        Whether runs are ordered by architecture for the fused trainer.

    Returns
    -------
    list of list of RunConfig

    Examples
    --------
    >>> rs = [RunConfig(method="random", seed=i) for i in range(3)]
    >>> [len(ch) for ch in plan_chunks(rs + rs[:1], "no/such/runs", concurrent=2)]
    [2, 1]
    """
    if fusion not in FUSION_CHOICES:
        raise ValueError(f"fusion must be one of {FUSION_CHOICES}, got {fusion!r}")
    pending = []
    seen = set()
    for c in (c.resolved() for c in configs):
        name = c.run_name()
        if name in seen:
            continue
        seen.add(name)
        d = c.run_dir(runs_dir)
        if force and (d / RESULT_FILE).is_file():
            for f in (RESULT_FILE, "checkpoint.pt", "mask.pt"):
                (d / f).unlink(missing_ok=True)
        if not (d / RESULT_FILE).is_file():
            pending.append(c)
    groups: dict[tuple, list[RunConfig]] = {}
    for c in pending:
        groups.setdefault(c.trainer_key(), []).append(c)
    if fusion != "off":
        groups = {k: sorted(g, key=lambda c: (c.model, c.width)) for k, g in groups.items()}
    return [group[i:i + concurrent] for group in groups.values() for i in range(0, len(group), concurrent)]


def mask_cost(c: RunConfig) -> float:
    """Relative cost of computing ``c``'s mask before training, in scoring passes over the network: SynFlow
    ``synflow_rounds`` passes, SNIP ``prune_batches``, GraSP twice that (a Hessian-vector product), ProsPr
    four times (its meta-steps); dense, random and magnitude none. A randomized mask costs 1.5× (SynFlow
    samples a mask at every round; recorded SynFlow runs of ``table1_fmnist5k``: median 2.27 s threshold,
    3.44 s randomized). IMP is ``inf``: its levels are trainings, never rebalanced. Used by
    :func:`balance_chunks` to even out tasks, so only the ratios matter.

    Parameters
    ----------
    c : RunConfig
        The run.

    Returns
    -------
    float

    Examples
    --------
    >>> mask_cost(RunConfig(method="synflow", mask="global")), mask_cost(RunConfig(method="random"))
    (100.0, 0.0)
    """
    passes = {"synflow": c.synflow_rounds, "snip": c.prune_batches, "grasp": 2 * c.prune_batches,
              "prospr": 4 * c.prune_batches, "imp": float("inf")}.get(c.method, 0)
    return float(passes) * (1.5 if "randomized" in c.mask else 1.0)


def balance_chunks(chunks: Sequence[Sequence[RunConfig]], window: int, cost=mask_cost) -> list[list[RunConfig]]:
    """Even out the mask cost of the chunks that start together on ``window`` workers.

    The chunks are taken ``window`` at a time in order, the chunks a cluster of ``window`` workers starts
    at the same moment, so regrouping inside one window changes neither which runs start first nor the
    order of the windows (tables still train in the order listed). A window is regrouped only when all its
    runs share one trainer key and one architecture (fusion and IMP's lockstep are untouched) and no cost
    is infinite: its runs are dealt, costliest first, to the cheapest chunk that has room (sizes kept),
    and the result is kept only if its costliest chunk is cheaper than before. Inside each chunk the runs
    keep their input order. A run's result does not depend on which runs share its chunk, so regrouping
    changes when runs finish, never what they produce.

    Parameters
    ----------
    chunks : sequence of sequence of RunConfig
        The chunks of :func:`plan_chunks`, in start order.
    window : int
        How many chunks start together (the number of workers), at least 1.
    cost : callable, optional
        A run's mask cost (default :func:`mask_cost`).

    Returns
    -------
    list of list of RunConfig
        The same runs in chunks of the same sizes.

    Examples
    --------
    >>> rs = [RunConfig(method=m, seed=i) for i, m in enumerate(["random"] * 4 + ["synflow"] * 4)]
    >>> [[c.method for c in ch] for ch in balance_chunks([rs[:4], rs[4:]], window=2)]
    [['random', 'random', 'synflow', 'synflow'], ['random', 'random', 'synflow', 'synflow']]
    """
    if int(window) < 1:
        raise ValueError(f"window must be >= 1, got {window!r}")
    window = int(window)
    out: list[list[RunConfig]] = []
    for i in range(0, len(chunks), window):
        group = [list(ch) for ch in chunks[i:i + window]]
        runs = [c for ch in group for c in ch]
        same = len({(c.trainer_key(), c.model, c.width) for c in runs}) == 1
        costs = [cost(c) for c in runs]
        if len(group) < 2 or not same or not all(math.isfinite(x) for x in costs):
            out += group
            continue
        sizes = [len(ch) for ch in group]
        order = sorted(range(len(runs)), key=lambda j: (-costs[j], j))
        load, members = [0.0] * len(group), [[] for _ in group]
        for j in order:
            k = min((b for b in range(len(group)) if len(members[b]) < sizes[b]), key=lambda b: (load[b], b))
            members[k].append(j)
            load[k] += costs[j]
        starts = [sum(sizes[:b]) for b in range(len(group))]
        before = max(sum(costs[o:o + n]) for o, n in zip(starts, sizes))
        if max(load) < before:
            out += [[runs[j] for j in sorted(m)] for m in members]
        else:
            out += group
    return out
