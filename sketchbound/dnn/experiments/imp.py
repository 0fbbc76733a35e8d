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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from sketchbound.dnn.data import TensorDataset, random_normal_like
from sketchbound.dnn.models.prunable import prunable_parameters
from sketchbound.seeds import stream_seed
from sketchbound.dnn.training import ConcurrentTrainer, Schedule, TrainJob

__all__ = ["IMPResult", "imp", "imp_densities", "IMP_DATA"]

IMP_DATA = ("real", "random")


@dataclass
class IMPResult:
    """``masks`` (binary, prunable weights), ``rewind_state`` (θ_k, a model state dict), ``rewind_step`` (k),
    and one record per level (``level``, ``density`` trained, ``test_accuracy``)."""

    masks: dict[str, torch.Tensor]
    rewind_state: dict[str, torch.Tensor]
    rewind_step: int
    levels: list[dict] = field(default_factory=list)
    densities: list[float] = field(default_factory=list)
    level_masks: list[dict[str, torch.Tensor]] = field(default_factory=list)


def imp_densities(target: float, prune_fraction: float = 0.2) -> list[float]:
    """Densities after each pruning level: ``(1-f), (1-f)², ...`` until ``target`` (the last is ``target``).

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


def _train_level(model, masks, data, schedule, seed, start_step, max_steps, trainer_kw, name):
    tr = ConcurrentTrainer([TrainJob(model, masks, seed, None, name, start_step)], data, schedule, **trainer_kw)
    return tr.run(max_steps=max_steps)[0], tr


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
    """
    import time  # noqa: PLC0415

    from sketchbound.dnn.pruning.masks import kept_count, make_mask  # noqa: PLC0415
    from sketchbound.dnn.pruning.scores import compute_scores  # noqa: PLC0415

    if data_mode not in IMP_DATA:
        raise ValueError(f"data_mode must be one of {IMP_DATA}, got {data_mode!r}")
    if not isinstance(rewind_step, int) or rewind_step < 0:
        raise ValueError(f"rewind_step must be an int >= 0, got {rewind_step!r}")
    if (density is None) == (densities is None):
        raise ValueError("give exactly one of density and densities")
    if densities is None:
        densities = imp_densities(density, prune_fraction)
    densities = [float(d) for d in densities]
    if not densities or any(not 0 < d <= 1 for d in densities) or any(b >= a for a, b in zip(densities, densities[1:])):
        raise ValueError(f"densities must be decreasing values in (0, 1], got {densities!r}")
    sched = level_schedule or schedule
    say = log or (lambda s: None)
    if data_mode == "random":
        g = torch.Generator().manual_seed(stream_seed(int(seed), "imp-random-data"))
        data = random_normal_like(data, len(data), g)
    trainer_kw = dict(trainer_kw)
    trainer_kw.setdefault("progress", False)
    bar = tqdm(total=len(densities) + 1, desc="IMP levels", unit="level", leave=False, disable=not level_progress)

    # level 0: dense training, recording θ_k on the way
    t0 = time.perf_counter()
    res, tr = _train_level(model, None, data, sched, seed, 0, rewind_step, trainer_kw, "imp-L0")
    model = tr.models[0]
    rewind_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    res = tr.run()[0]
    levels = [{"level": 0, "density": 1.0, "kept": None, "test_accuracy": res.test_accuracy,
               "seconds": time.perf_counter() - t0}]
    say(f"IMP level 0 (dense): test accuracy {res.test_accuracy}")
    bar.update(1)
    masks, level_masks = None, []
    gen = torch.Generator().manual_seed(stream_seed(int(seed), "imp-data-order"))
    for lvl, d in enumerate(densities, start=1):
        t0 = time.perf_counter()
        scores = compute_scores("imp", model, None, mask=masks)
        rng = int(torch.randint(0, 2**62, (1,), generator=gen))
        info: dict = {}
        masks = make_mask(scores, d, mask_mode, rng=rng, min_per_layer=min_per_layer, keep_rule=keep_rule, info=info)
        masks = {n: (m != 0).to(torch.float32).cpu() for n, m in masks.items()}
        if keep_masks:
            level_masks.append({n: m.bool() for n, m in masks.items()})
        model.load_state_dict(rewind_state)
        rec = {"level": lvl, "density": d, "kept": kept_count(masks), "test_accuracy": None, "mask_info": info}
        if lvl < len(densities):
            res, tr = _train_level(model, masks, data, sched, seed, rewind_step, None, trainer_kw, f"imp-L{lvl}")
            model = tr.models[0]
            rec["test_accuracy"] = res.test_accuracy
        rec["seconds"] = time.perf_counter() - t0
        levels.append(rec)
        say(f"IMP level {lvl} (density {d:.4f}, kept {rec['kept']}): test accuracy {rec['test_accuracy']}")
        bar.update(1)
    bar.close()
    with torch.no_grad():
        params = dict(prunable_parameters(model))
        for n, m in masks.items():
            params[n].mul_(m.to(params[n]))
    return IMPResult(masks=masks, rewind_state=rewind_state, rewind_step=rewind_step, levels=levels,
                     densities=densities, level_masks=level_masks)
