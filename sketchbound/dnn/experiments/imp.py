"""Iterative magnitude pruning with rewinding (Frankle & Carbin; paper §7, Table II).

Level 0 trains the dense network from its initialisation θ₀ and records the weights θ_k at iteration
``k`` (the warm-up: §7 uses k = 1000 for VGG-19, 2000 for ResNet-20 on CIFAR-10 and 6000 for
ResNet-20 on CIFAR-100). Every level then prunes ``prune_fraction`` (20%) of the *remaining*
prunable weights by global magnitude of the trained weights (:func:`~sketchbound.dnn.pruning.scores.imp_scores`,
mask mode ``"global"``; ``"randomized"`` gives "IMP + rand. mask"), rewinds the surviving weights to
θ_k and trains again from iteration k, until the target density is reached (the last level prunes
exactly to it: densities 0.8, 0.64, ..., target). The final mask is returned together with θ_k; the
final training run (from θ_k with that mask) is the caller's — :mod:`sketchbound.dnn.run` does it
with the same trainer as every other method.

"IMP + rand. data" (Table II) trains the levels on random images drawn from a normal distribution with
the dataset's per-channel mean and standard deviation and uniformly random labels
(:func:`~sketchbound.dnn.data.random_normal_like`); the final training always uses the real data.

The full protocol trains every level for the whole schedule (18 levels to reach 2%); ``level_schedule``
shortens the levels (e.g. ``Schedule.paper(epochs=20)``). Levels are not checkpointed (a killed IMP
restarts its search); the final training is.

:func:`imp_many` searches the masks of several runs together, level by level: at every level the runs
that still train are the jobs of one :class:`~sketchbound.dnn.training.ConcurrentTrainer` (on a GPU,
N models at once instead of one after the other). Each job of a ``ConcurrentTrainer`` is independent
(its own model, mask, data-order generator and, for "IMP + rand. data", its own random dataset), and
every per-run random stream is seeded exactly as in :func:`imp` (:func:`~sketchbound.seeds.stream_seed`
of the run's seed), so on CPU ``imp_many(models, ...)[i]`` equals ``imp(models[i], ...)`` bit for bit;
:func:`imp` *is* ``imp_many`` of one run.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from sketchbound.dnn.data import TensorDataset, random_normal_like
from sketchbound.dnn.models.prunable import prunable_parameters
from sketchbound.seeds import stream_seed
from sketchbound.dnn.training import ConcurrentTrainer, Schedule, TrainJob

__all__ = ["IMPResult", "imp", "imp_many", "imp_densities", "IMP_DATA"]

IMP_DATA = ("real", "random")


@dataclass
class IMPResult:
    """The result of one IMP search (§7, Table II).

    Parameters
    ----------
    masks : dict of str to Tensor
        The final binary masks of the prunable weights.
    rewind_state : dict of str to Tensor
        θ_k, the model's state dict at the rewind step.
    rewind_step : int
        k, the iteration training restarts from.
    levels : list of dict
        One record per level: ``level``, ``density`` trained, ``kept``, ``test_accuracy``, ``seconds``.
    densities : list of float
        The densities of the levels.
    level_masks : list of dict
        Every level's (boolean, CPU) mask, with ``keep_masks``; else empty.

    Examples
    --------
    >>> r = IMPResult(masks={}, rewind_state={}, rewind_step=2)
    >>> r.rewind_step, r.levels
    (2, [])
    """

    masks: dict[str, torch.Tensor]
    rewind_state: dict[str, torch.Tensor]
    rewind_step: int
    levels: list[dict] = field(default_factory=list)
    densities: list[float] = field(default_factory=list)
    level_masks: list[dict[str, torch.Tensor]] = field(default_factory=list)


def imp_densities(target: float, prune_fraction: float = 0.2) -> list[float]:
    """Densities after each pruning level: ``(1-f), (1-f)², ...`` until ``target`` (the last is ``target``).

    Parameters
    ----------
    target : float
        The final density, in (0, 1].
    prune_fraction : float, optional
        f, the fraction of the remaining weights pruned per level, in (0, 1).

    Returns
    -------
    list of float
        Decreasing, ending at ``target``.

    Examples
    --------
    >>> [round(d, 4) for d in imp_densities(0.5)]
    [0.8, 0.64, 0.512, 0.5]
    """
    if not (isinstance(target, (int, float)) and 0 < target <= 1):
        raise ValueError(f"density must be in (0, 1], got {target!r}")
    if not (isinstance(prune_fraction, (int, float)) and 0 < prune_fraction < 1):
        raise ValueError(f"prune_fraction must be in (0, 1), got {prune_fraction!r}")
    out, d = [], 1.0
    while d > target * (1 + 1e-12):
        d = max(target, d * (1 - prune_fraction))
        out.append(d)
    return out


def _per_run(name: str, value, n: int, scalar: type | None = None) -> list:
    """``value`` for each of ``n`` runs: a sequence of length ``n``, or (when ``scalar`` is given) one
    value of that type (or None) for all."""
    if scalar is not None and (value is None or isinstance(value, scalar)):
        return [value] * n
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        one = f"one {scalar.__name__} or " if scalar is not None else ""
        raise ValueError(f"{name} must be {one}a sequence of one value per run, got {value!r}")
    if len(value) != n:
        raise ValueError(f"{name} has {len(value)} entries for {n} run(s)")
    return list(value)


def _level_densities(density, densities, prune_fraction: float) -> list[float]:
    """The checked, decreasing densities of one run's levels (:func:`imp_densities` of ``density``, or ``densities``)."""
    if (density is None) == (densities is None):
        raise ValueError("give exactly one of density and densities")
    if densities is None:
        densities = imp_densities(density, prune_fraction)
    densities = [float(d) for d in densities]
    if not densities or any(not 0 < d <= 1 for d in densities) or any(b >= a for a, b in zip(densities, densities[1:])):
        raise ValueError(f"densities must be decreasing values in (0, 1], got {densities!r}")
    return densities


def _level_data(data: TensorDataset, data_mode: str, seed: int) -> TensorDataset:
    """The data a run's levels train on: ``data`` itself, or (``"random"``, "IMP + rand. data" of Table II)
    matched-normal random images with random labels drawn from the run's ``imp-random-data`` stream."""
    if data_mode == "random":
        g = torch.Generator().manual_seed(stream_seed(int(seed), "imp-random-data"))
        return random_normal_like(data, len(data), g)
    return data


def _train_level(models, masks, datas, schedule, seeds, start_step, max_steps, trainer_kw, name):
    """Train one level of several runs as the jobs of one :class:`ConcurrentTrainer` (the first run's
    data is the trainer's; a run whose data differs, e.g. its own random images, brings it in its job)."""
    shared = datas[0]
    jobs = [TrainJob(m, mk, s, None, name, start_step, data=None if d is shared else d)
            for m, mk, s, d in zip(models, masks, seeds, datas)]
    tr = ConcurrentTrainer(jobs, shared, schedule, **trainer_kw)
    return tr.run(max_steps=max_steps), tr


def imp(model: nn.Module, data: TensorDataset, schedule: Schedule, *, density: float | None = None,
        rewind_step: int, densities: Sequence[float] | None = None, seed: int = 0, prune_fraction: float = 0.2,
        data_mode: str = "real", mask_mode: str = "global", level_schedule: Schedule | None = None,
        log: Callable[[str], None] | None = None, keep_masks: bool = False, level_progress: bool = False,
        min_per_layer: int = 1, keep_rule: str = "exact", **trainer_kw) -> IMPResult:
    """Find an IMP mask of ``density`` for ``model`` (modified in place: it ends at θ_k ⊙ mask).

    Parameters
    ----------
    model : the initialised network θ₀.
    data : training data (real); ``data_mode="random"`` replaces it by matched-normal random images.
    schedule : the schedule of the levels (``level_schedule`` overrides it).
    density : target fraction of prunable weights kept; the levels are :func:`imp_densities`.
    densities : instead of ``density``, the explicit decreasing densities of the levels (e.g. a path
        that stops at several targets, Fig. 3); the last one is the result.
    rewind_step : k, the iteration the surviving weights are rewound to (§7's warm-up iterations).
    seed : data order of every level (and the randomized masks).
    mask_mode : ``"global"`` (magnitude threshold, as published) or ``"randomized"`` (§7's mask
        randomization applied at every level) — any mode of :func:`~sketchbound.dnn.pruning.masks.make_mask`.
    keep_masks : also return every level's (boolean, CPU) mask in ``level_masks``.
    min_per_layer, keep_rule : passed to :func:`~sketchbound.dnn.pruning.masks.make_mask` at every level; what
        the guard did at each level is recorded in ``levels[i]["mask_info"]``.
    level_progress : a tqdm bar over the levels.
    trainer_kw : passed to :class:`~sketchbound.dnn.training.ConcurrentTrainer` (device, augment, progress, ...).

    Level 0 trains the dense model from θ₀ and records θ_k at iteration ``rewind_step``; each level
    scores the trained weights by magnitude (previously pruned ones score 0), keeps exactly
    ``round(density·d)`` weights, rewinds to θ_k and trains again from iteration k. The last level's
    mask is not trained. ``levels`` holds ``{level, density, kept, test_accuracy, seconds}`` per level.
    This is :func:`imp_many` of the one run.

    Returns
    -------
    IMPResult

    Examples
    --------
    It trains every level, so only its argument check runs here:

    >>> imp(None, None, None, rewind_step=0)
    Traceback (most recent call last):
    ...
    ValueError: give exactly one of density and densities
    """
    if (density is None) == (densities is None):
        raise ValueError("give exactly one of density and densities")
    return imp_many([model], data, schedule, rewind_step=rewind_step,
                    density_list=None if density is None else [density],
                    densities_list=None if densities is None else [densities], seeds=[seed],
                    prune_fraction=prune_fraction, data_modes=data_mode, mask_modes=mask_mode,
                    level_schedule=level_schedule, logs=log, keep_masks=keep_masks, level_progress=level_progress,
                    min_per_layer=min_per_layer, keep_rule=keep_rule, **trainer_kw)[0]


def imp_many(models: Sequence[nn.Module], data: TensorDataset, schedule: Schedule, *, rewind_step: int,
             seeds: Sequence[int], density_list: Sequence[float] | None = None,
             densities_list: Sequence[Sequence[float]] | None = None, prune_fraction: float = 0.2,
             data_modes: str | Sequence[str] = "real", mask_modes: str | Sequence[str] = "global",
             level_schedule: Schedule | None = None,
             logs: Callable[[str], None] | Sequence[Callable[[str], None] | None] | None = None,
             keep_masks: bool = False, level_progress: bool = False, min_per_layer: int | Sequence[int] = 1,
             keep_rule: str | Sequence[str] = "exact", **trainer_kw) -> list[IMPResult]:
    """:func:`imp` for several runs at once, their levels trained together (§7, Table II).

    The runs share the data, the level schedule and the rewind step k, so their levels are in
    lockstep: level 0 trains every dense model from θ₀ (recording each θ_k at iteration k), and level
    ``l`` trains, as the jobs of one :class:`~sketchbound.dnn.training.ConcurrentTrainer`, every run that
    has more than ``l`` levels. A run whose target is reached (its last level's mask is not trained)
    drops out, so runs of different target densities (11 levels to 10%, 18 to 2% with f = 0.2) share
    the levels they have in common. Nothing is shared between the jobs but the lockstep loop: each
    run's masks, rewind state and level records equal those of ``imp(models[i], ...)`` with the same
    arguments, bit for bit on CPU (the ``seconds`` of a level are the group's wall time for it).

    Parameters
    ----------
    models : the initialised networks θ₀, one per run (each modified in place: it ends at θ_k ⊙ mask).
    data : the real training data; a run with data mode ``"random"`` trains its levels on its own
        matched-normal random images (drawn from its seed's ``imp-random-data`` stream, as in :func:`imp`).
    schedule, level_schedule, rewind_step, prune_fraction, keep_masks, level_progress, trainer_kw :
        shared by all runs, as in :func:`imp`.
    seeds : one seed per run (data order of its levels, its random data, its randomized masks).
    density_list : one target density per run; or ``densities_list``: one explicit decreasing list of
        level densities per run (exactly one of the two).
    data_modes, mask_modes, min_per_layer, keep_rule : one value for all runs, or one per run (see :func:`imp`).
    logs : one callable for all runs, or one per run (None: silent), receiving the run's level lines.

    Returns
    -------
    list of IMPResult
        In the order of ``models``.

    Examples
    --------
    It trains every level, so only its argument check runs here:

    >>> imp_many([None, None], None, None, rewind_step=0, seeds=[0])
    Traceback (most recent call last):
    ...
    ValueError: seeds has 1 entries for 2 run(s)
    """
    import time  # noqa: PLC0415

    from sketchbound.dnn.pruning.masks import kept_count, make_mask  # noqa: PLC0415
    from sketchbound.dnn.pruning.scores import compute_scores  # noqa: PLC0415

    models = list(models)
    n = len(models)
    if n == 0:
        raise ValueError("models must be a non-empty sequence of networks")
    if not isinstance(rewind_step, int) or isinstance(rewind_step, bool) or rewind_step < 0:
        raise ValueError(f"rewind_step must be an int >= 0, got {rewind_step!r}")
    seeds = [int(s) for s in _per_run("seeds", seeds, n)]
    data_modes = _per_run("data_modes", data_modes, n, str)
    for i, m in enumerate(data_modes):
        if m not in IMP_DATA:
            raise ValueError(f"data_mode must be one of {IMP_DATA}, got {m!r}" + (f" (run {i})" if n > 1 else ""))
    mask_modes = _per_run("mask_modes", mask_modes, n, str)
    min_per_layer = _per_run("min_per_layer", min_per_layer, n, int)
    keep_rule = _per_run("keep_rule", keep_rule, n, str)
    logs = [logs] * n if logs is None or callable(logs) else _per_run("logs", logs, n)
    if (density_list is None) == (densities_list is None):
        raise ValueError("give exactly one of density_list and densities_list")
    targets = [None] * n if density_list is None else _per_run("density_list", density_list, n)
    paths = [None] * n if densities_list is None else _per_run("densities_list", densities_list, n)
    dens = [_level_densities(t, p, prune_fraction) for t, p in zip(targets, paths)]
    sched = level_schedule or schedule
    says = [log or (lambda s: None) for log in logs]
    total = sched.epochs * (len(data) // sched.batch_size)
    if rewind_step >= total:  # legal (a smoke test with a tiny subset) but no IMP: say so loudly
        msg = (f"IMP rewind step k = {rewind_step} is not before the end of the level schedule ({total} steps): "
               "θ_k is the end of level 0 and the later levels do not train (shorten the rewind step)")
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        for say in says:
            say(f"warning: {msg}")
    datas = [_level_data(data, m, s) for m, s in zip(data_modes, seeds)]
    trainer_kw = dict(trainer_kw)
    trainer_kw.setdefault("progress", False)
    n_levels = max(len(d) for d in dens)
    bar = tqdm(total=n_levels + 1, desc="IMP levels" + (f" x{n}" if n > 1 else ""), unit="level", leave=False,
               disable=not level_progress)

    # level 0: dense training of every run, recording θ_k on the way
    t0 = time.perf_counter()
    _, tr = _train_level(models, [None] * n, datas, sched, seeds, 0, rewind_step, trainer_kw, "imp-L0")
    models = list(tr.models)
    rewind_states = [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in models]
    results = tr.run()
    seconds = time.perf_counter() - t0
    levels: list[list[dict]] = []
    for i, res in enumerate(results):
        levels.append([{"level": 0, "density": 1.0, "kept": None, "test_accuracy": res.test_accuracy,
                        "seconds": seconds}])
        says[i](f"IMP level 0 (dense): test accuracy {res.test_accuracy}")
    bar.update(1)
    masks: list[dict | None] = [None] * n
    level_masks: list[list] = [[] for _ in range(n)]
    gens = [torch.Generator().manual_seed(stream_seed(s, "imp-data-order")) for s in seeds]
    for lvl in range(1, n_levels + 1):
        t0 = time.perf_counter()
        active = [i for i in range(n) if lvl <= len(dens[i])]
        recs = {}
        for i in active:
            d = dens[i][lvl - 1]
            scores = compute_scores("imp", models[i], None, mask=masks[i])
            rng = int(torch.randint(0, 2**62, (1,), generator=gens[i]))
            info: dict = {}
            mk = make_mask(scores, d, mask_modes[i], rng=rng, min_per_layer=min_per_layer[i],
                           keep_rule=keep_rule[i], info=info)
            masks[i] = {k: (m != 0).to(torch.float32).cpu() for k, m in mk.items()}
            if keep_masks:
                level_masks[i].append({k: m.bool() for k, m in masks[i].items()})
            models[i].load_state_dict(rewind_states[i])
            recs[i] = {"level": lvl, "density": d, "kept": kept_count(masks[i]), "test_accuracy": None,
                       "mask_info": info}
        train = [i for i in active if lvl < len(dens[i])]
        if train:
            results, tr = _train_level([models[i] for i in train], [masks[i] for i in train],
                                       [datas[i] for i in train], sched, [seeds[i] for i in train], rewind_step,
                                       None, trainer_kw, f"imp-L{lvl}")
            for i, m, res in zip(train, tr.models, results):
                models[i] = m
                recs[i]["test_accuracy"] = res.test_accuracy
        seconds = time.perf_counter() - t0
        for i in active:
            rec = recs[i]
            rec["seconds"] = seconds
            levels[i].append(rec)
            says[i](f"IMP level {lvl} (density {rec['density']:.4f}, kept {rec['kept']}): "
                    f"test accuracy {rec['test_accuracy']}")
        bar.update(1)
    bar.close()
    out = []
    for i in range(n):
        with torch.no_grad():
            params = dict(prunable_parameters(models[i]))
            for k, m in masks[i].items():
                params[k].mul_(m.to(params[k]))
        out.append(IMPResult(masks=masks[i], rewind_state=rewind_states[i], rewind_step=rewind_step,
                             levels=levels[i], densities=dens[i], level_masks=level_masks[i]))
    return out
