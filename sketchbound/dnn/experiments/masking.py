"""The pruning half of a run: the network at initialisation, its scores and mask (§5, §7), and IMP's masks
searched together for the runs that share their data and level schedule (§7, Table II)."""
from __future__ import annotations

import time
from typing import Sequence

import torch

from sketchbound.dnn.data import TensorDataset
from sketchbound.dnn.experiments.config import RunConfig
from sketchbound.dnn.experiments.data_cache import data_for
from sketchbound.seeds import stream_seed

__all__ = ["compute_mask", "compute_imp_masks", "imp_group_key", "mask_identity", "build_model", "prune_at_init"]


def _batch_source(cfg: RunConfig, data: TensorDataset, device: torch.device):
    from sketchbound.dnn.pruning.inputs import make_input_source  # noqa: PLC0415
    shape = (data.in_channels, data.image_size, data.image_size)
    # SynFlow's objective R = 1ᵀ f(x; |θ|) takes one input (§5.1, eq. (3)/(4)); a batch of identical
    # all-ones inputs only rescales the scores, and for χ inputs one fresh draw per round is §7's protocol
    batch = 1 if cfg.method == "synflow" else cfg.prune_batch_size
    kw = dict(shape=shape, batch_size=batch, num_classes=data.num_classes)
    if cfg.inputs in ("real", "normal"):
        g = torch.Generator().manual_seed(stream_seed(cfg.seed, "pruning-inputs"))
        n = min(len(data), max(10000, cfg.prune_batch_size))
        idx = torch.randperm(len(data), generator=g)[:n]
        xs = data.normalized(data.x_train[idx.to(data.x_train.device)]).cpu()
        kw["data"] = (xs, data.y_train[idx.to(data.y_train.device)].cpu())
    return make_input_source(cfg.inputs, **kw)


def compute_mask(cfg: RunConfig, model: torch.nn.Module, data: TensorDataset, device: torch.device, log,
                 progress: bool = False) -> dict:
    """Mask (and IMP rewind state) of one run; returns ``{"masks", "start_step", "init_state", "extra"}``."""
    cfg = cfg.resolved()
    out = {"masks": None, "start_step": 0, "init_state": None, "extra": {}}
    if cfg.method == "dense":
        return out
    if cfg.method == "imp":
        return compute_imp_masks([cfg], [model], data, device, [log], progress=progress)[0]
    t0 = time.perf_counter()
    from sketchbound.dnn.pruning.masks import make_mask  # noqa: PLC0415
    from sketchbound.dnn.pruning.scores import compute_scores  # noqa: PLC0415
    source = _batch_source(cfg, data, device)
    kw: dict = {"generator": cfg.seed}
    mask_info: dict = {}  # whether min_per_layer fired and how many weights it kept → result.json
    if cfg.method == "synflow":
        inter = cfg.mask if cfg.mask in ("global", "layerwise", "randomized", "layerwise_randomized") else "randomized"
        kw.update(density=cfg.density, rounds=cfg.synflow_rounds, mode=inter, min_per_layer=cfg.min_per_layer,
                  keep_rule=cfg.keep_rule, info=mask_info)
    elif cfg.method == "snip":
        kw.update(loss=cfg.snip_loss, num_batches=cfg.prune_batches)
    elif cfg.method == "grasp":
        kw.update(num_batches=cfg.prune_batches, variant=cfg.grasp_variant, samples_per_class=cfg.grasp_samples_per_class)
    elif cfg.method == "prospr":
        kw.update(loss=cfg.snip_loss)
    from sketchbound._progress import elapsed  # noqa: PLC0415
    what = f" ({cfg.synflow_rounds} rounds)" if cfg.method == "synflow" else ""
    with elapsed(f"mask: {cfg.method}{what} on {cfg.model}, density {cfg.density}", enabled=progress):
        scores = compute_scores(cfg.method, model, source, **kw)
        law = _bridge_law(cfg, model)
        masks = make_mask(scores, cfg.density, cfg.mask, rng=stream_seed(cfg.seed, "mask"),
                          min_per_layer=cfg.min_per_layer, keep_rule=cfg.keep_rule, info=mask_info, **law)
    out["masks"] = {k: v.detach().cpu() for k, v in masks.items()}
    out["extra"]["mask_info"] = mask_info
    if cfg.bridge_record:  # the theory's predicted error of this mask at init (sketchbound.dnn.theory.bridge)
        from sketchbound.dnn.theory.bridge import predicted_errors, probe_batch  # noqa: PLC0415
        out["extra"]["bridge"] = predicted_errors(model, masks, law["constants"], probe_batch(data, device=device))
    return _mask_done(cfg, out, time.perf_counter() - t0, log)


def _bridge_law(cfg: RunConfig, model: torch.nn.Module) -> dict:
    """``make_mask``'s keyword arguments of the bridge's laws: ``beta``, and ``w0``/``constants`` from
    ``bridge_constants`` (read when set)."""
    from sketchbound.dnn.pruning.bridge_laws import read_constants  # noqa: PLC0415
    from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
    consts = read_constants(cfg.bridge_constants) if cfg.bridge_constants is not None else None
    return {"beta": cfg.beta, "w0": {n: p.detach() for n, p in prunable_parameters(model)}, "constants": consts}


def _mask_done(cfg: RunConfig, out: dict, seconds: float, log) -> dict:
    out["extra"]["mask_seconds"] = seconds
    log(f"mask: method {cfg.method} inputs {cfg.inputs} mode {cfg.mask} density {cfg.density} ({seconds:.1f}s)")
    return out


def imp_group_key(cfg: RunConfig) -> tuple:
    """IMP runs with equal keys can search their masks together: same data (the :func:`data_for` key),
    level schedule and rewind step k (their level trainings are then in lockstep, §7)."""
    r = cfg.resolved()
    return (r.dataset, r.data_root, r.pad_to, r.train_subset, r.imp_schedule(), r.imp_rewind, r.augment)


def compute_imp_masks(cfgs: Sequence[RunConfig], models: Sequence[torch.nn.Module], data: TensorDataset,
                      device: torch.device, logs: Sequence, progress: bool = False) -> list[dict]:
    """The IMP masks (§7, Table II) of several runs, their levels trained together by
    :func:`~sketchbound.dnn.experiments.imp.imp_many`; one :func:`compute_mask` result per run.

    Parameters
    ----------
    cfgs : IMP runs with the same data, level schedule (``imp_epochs``, ``epochs``, ...) and ``imp_rewind``
        (``ValueError`` otherwise); their densities, ``prune_fraction``, seeds, ``imp_data``, ``mask``,
        ``min_per_layer`` and ``keep_rule`` may differ (a run leaves the lockstep when its target is reached).
    models : each run's network at initialisation (:func:`build_model`); modified in place, as by ``imp``.
    data : the runs' training data (:func:`data_for`).
    logs : one log callable per run.

    Each result equals what :func:`compute_mask` gives for that run alone (bit-identical on CPU),
    except that ``mask_seconds`` and the levels' ``seconds`` are the group's wall time.
    """
    from sketchbound.dnn.experiments.imp import imp_densities, imp_many  # noqa: PLC0415
    cfgs = [c.resolved() for c in cfgs]
    if not cfgs or len(models) != len(cfgs) or len(logs) != len(cfgs):
        raise ValueError(f"need one model and one log per config, got {len(cfgs)} config(s), {len(models)} "
                         f"model(s), {len(logs)} log(s)")
    if any(c.method != "imp" for c in cfgs):
        raise ValueError(f"compute_imp_masks takes IMP runs only, got methods {sorted({c.method for c in cfgs})}")
    if len({imp_group_key(c) for c in cfgs}) != 1:
        raise ValueError("IMP runs searched together must share dataset, data_root, pad_to, train_subset, the level "
                         "schedule (imp_epochs, epochs, batch_size, lr, momentum, weight_decay), imp_rewind and augment")
    c0 = cfgs[0]
    c0.check_imp_rewind(len(data))
    if len(cfgs) > 1:
        for log in logs:
            log(f"mask: IMP levels searched together with {len(cfgs) - 1} other run(s) in one trainer "
                "(mask_seconds and level seconds are the group's wall time)")
    t0 = time.perf_counter()
    results = imp_many(models, data, c0.schedule(), rewind_step=c0.imp_rewind, seeds=[c.seed for c in cfgs],
                       densities_list=[imp_densities(c.density, c.prune_fraction) for c in cfgs],
                       data_modes=[c.imp_data for c in cfgs], mask_modes=[c.mask for c in cfgs],
                       level_schedule=c0.imp_schedule(), logs=list(logs), device=device, progress=progress,
                       min_per_layer=[c.min_per_layer for c in cfgs], keep_rule=[c.keep_rule for c in cfgs],
                       augment=c0.augment)  # the levels train with the run's own augmentation setting
    seconds = time.perf_counter() - t0
    return [_mask_done(c, {"masks": res.masks, "start_step": res.rewind_step,
                           "init_state": {k: v.cpu() for k, v in res.rewind_state.items()},
                           "extra": {"imp_levels": res.levels}}, seconds, log)
            for c, res, log in zip(cfgs, results, logs)]


def mask_identity(cfg: RunConfig) -> dict:
    """The identity a run's ``mask.pt`` is saved and verified with: a mask of another run is refused."""
    return {"kind": "mask", "run": cfg.resolved().run_name()}


def build_model(cfg: RunConfig, data: TensorDataset, device: torch.device) -> torch.nn.Module:
    """The run's network at initialisation (``get_model(..., init, seed=seed)``), on ``device``."""
    from sketchbound.dnn.models import get_model  # noqa: PLC0415
    cfg = cfg.resolved()
    return get_model(cfg.model, data.in_channels, data.num_classes, data.image_size, cfg.init, width=cfg.width,
                     seed=cfg.seed).to(device)


def prune_at_init(cfg: RunConfig, device: torch.device | str = "cpu", *, log=lambda msg: None,
                  progress: bool = False, data: TensorDataset | None = None):
    """The pruning half of a run, without training: ``(model, saved, data)`` where ``saved`` is what
    :func:`compute_mask` returns. Used by :func:`prepare_job` and by ``python -m sketchbound.dnn.prune``,
    so the CLI shows exactly the mask a run would train."""
    device = torch.device(device)
    cfg = cfg.resolved()
    data = data_for(cfg) if data is None else data
    model = build_model(cfg, data, device)
    return model, compute_mask(cfg, model, data, device, log, progress=progress), data
