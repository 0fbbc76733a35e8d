"""Fig. 2: SynFlow scores of all weights vs those kept by SynFlow's hard threshold vs its randomized mask (VGG-19).

Paper (§4 Fig. 2, §7): "Histogram of scores of NN before pruning and the weights chosen by SynFlow
with/without randomization" — VGG-19, "a subset of 1000 weights chosen uniformly at random".

What is computed (all data-free, so no data set is read; the input *shape* is Fashion-MNIST's
28×28 zero-padded to 32×32 with one channel, since CIFAR-10 is not available here):

* the score of every weight *before pruning*: one SynFlow pass on the dense network at
  initialisation (``R = 1ᵀ f(1; |θ|)`` in float64, BatchNorm in eval mode), ``|∂R/∂θ ⊙ θ|``;
* SynFlow as published: 100 rounds, exponential schedule, global hard threshold
  (``compute_scores("synflow", mode="global")`` then ``make_mask(..., "global")``);
* SynFlow + randomized mask (§7): the same rounds with the randomized masks of §7 at every round and
  at the end (``mode="randomized"``);
* a subset of ``--subset`` (1000) weights drawn uniformly without replacement among all prunable weights.

The histogram is over the subset: the scores before pruning of all its weights, of those kept by the
hard-threshold mask and of those kept by the randomized mask (same horizontal axis, log10 score).

CSV ``fig2.csv``: one row per subset weight: ``index`` (flat position among all prunable weights),
``layer``, ``score`` (before pruning), ``log10_score`` (drawn on the left), ``kept_synflow``,
``kept_synflow_randomized``, ``final_score`` (the threshold run's final-round SynFlow score),
``log10_final_score`` (drawn on the right), ``final_score_randomized_run`` (the randomized run's
final-round score). The JSON adds the overlap of the two masks over *all* weights (kept by both,
only by the threshold, only by the randomized mask).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .._progress import elapsed
from .common import COLORS, run_figure, seconds

__all__ = ["STEM", "FULL", "QUICK"]

STEM = "fig2"
FULL = dict(density=0.1, rounds=100, subset=1000, width=1.0, image_size=32)
QUICK = dict(density=0.1, rounds=5, subset=1000, width=0.125, image_size=32)


def _settings(args) -> dict:
    cfg = dict(QUICK if args.quick else FULL)
    for k in ("density", "rounds", "subset"):
        if getattr(args, k, None) is not None:
            cfg[k] = getattr(args, k)
    return cfg


def _flat(scores: dict, names) -> np.ndarray:
    return np.concatenate([scores[n].detach().double().cpu().flatten().numpy() for n in names])


def compute(args) -> tuple[pd.DataFrame, dict]:
    import torch  # noqa: PLC0415

    from sketchbound.dnn.pruning.inputs import make_input_source  # noqa: PLC0415
    from sketchbound.dnn.pruning.masks import kept_count, make_mask  # noqa: PLC0415
    from sketchbound.dnn.models import get_model  # noqa: PLC0415
    from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
    from sketchbound.dnn.pruning.scores import compute_scores  # noqa: PLC0415

    cfg = _settings(args)
    seed = int(args.seed)
    device = torch.device(args.device or "cpu")
    t0 = time.perf_counter()
    model = get_model("vgg19", in_channels=1, num_classes=10, image_size=cfg["image_size"], init="kaiming",
                      width=cfg["width"], seed=seed).to(device)
    names = [n for n, _ in prunable_parameters(model)]
    sizes = [p.numel() for _, p in prunable_parameters(model)]
    d = int(sum(sizes))
    src = make_input_source("ones", shape=(1, cfg["image_size"], cfg["image_size"]), batch_size=1)
    timings = {}
    t = time.perf_counter()
    before = compute_scores("synflow", model, src, density=1.0, rounds=1, generator=seed)
    timings["scores_before_s"] = seconds(t)
    masks, final = {}, {}
    for mode in ("global", "randomized"):
        t = time.perf_counter()
        with elapsed(f"SynFlow ({mode} mask), {cfg['rounds']} rounds", enabled=not args.quick):
            sc = compute_scores("synflow", model, src, density=cfg["density"], rounds=cfg["rounds"], mode=mode,
                                generator=seed)
        masks[mode] = make_mask(sc, cfg["density"], mode, rng=seed)
        final[mode] = sc
        timings[f"synflow_{mode}_s"] = seconds(t)
    rng = np.random.default_rng(seed + 2)
    if cfg["subset"] > d:
        raise ValueError(f"--subset {cfg['subset']} exceeds the {d} prunable weights")
    idx = np.sort(rng.choice(d, cfg["subset"], replace=False))
    layer_of = np.repeat(np.arange(len(names)), sizes)[idx]
    score = _flat(before, names)[idx]
    all_g = _flat(masks["global"], names) != 0
    all_r = _flat(masks["randomized"], names) != 0
    kept_g, kept_r = all_g[idx], all_r[idx]
    fin_g = _flat(final["global"], names)[idx]
    fin_r = _flat(final["randomized"], names)[idx]
    with np.errstate(divide="ignore"):
        log10, log10_fin = np.log10(score), np.log10(fin_g)
    df = pd.DataFrame(dict(index=idx, layer=[names[i] for i in layer_of], score=score, log10_score=log10,
                           kept_synflow=kept_g.astype(int), kept_synflow_randomized=kept_r.astype(int),
                           final_score=fin_g, log10_final_score=log10_fin, final_score_randomized_run=fin_r))
    overlap = {"kept_by_both": int((all_g & all_r).sum()), "only_threshold": int((all_g & ~all_r).sum()),
               "only_randomized": int((~all_g & all_r).sum()), "neither": int((~all_g & ~all_r).sum())}
    meta = dict(figure="2", seed=seed, quick=bool(args.quick), settings=cfg, device=str(device), d=d,
                model=f"VGG-19 (BatchNorm, CIFAR style, width {cfg['width']})",
                input="data-free all-ones input of shape 1x32x32 (Fashion-MNIST 28x28 padded to 32x32)",
                kept_total={m: kept_count(v) for m, v in masks.items()}, timings=timings,
                zero_scores_in_subset=int((score <= 0).sum()), overlap_all_weights=overlap, wall_s=seconds(t0))
    return df, meta


def caption(meta: dict) -> str:
    c = meta["settings"]
    return (f"Fig. 2 — VGG-19 (BN, width {c['width']:g}, {meta['d']:,} prunable weights), Kaiming init, seed "
            f"{meta['seed']}; data-free SynFlow (all-ones input 1×{c['image_size']}×{c['image_size']}: "
            f"Fashion-MNIST's shape, CIFAR-10 not available here), {c['rounds']} rounds, density {c['density']:.0%}. "
            f"Histogram of the SynFlow scores before pruning (dense network at init) of {c['subset']:,} weights drawn "
            f"uniformly (seed {meta['seed'] + 2}), and of those among them kept by each mask (left); right: the same "
            f"subset on the scores of the threshold run's final SynFlow round (round {c['rounds']}), split by which mask keeps them. "
            f"Over all weights: kept by both {meta['overlap_all_weights']['kept_by_both']:,}, only by the threshold "
            f"{meta['overlap_all_weights']['only_threshold']:,}, only by the randomized mask "
            f"{meta['overlap_all_weights']['only_randomized']:,}.")


def plot(df: pd.DataFrame, title: str = ""):
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    g = df["kept_synflow"].to_numpy() == 1
    r = df["kept_synflow_randomized"].to_numpy() == 1
    panels = [
        (axes[0], "log10_score", "log₁₀ SynFlow score before pruning (dense network at init)",
         [("all", np.ones(len(df), bool), "all weights of the subset"),
          ("synflow", g, "kept by SynFlow (hard threshold)"),
          ("synflow_randomized", r, "kept by SynFlow + randomized mask")]),
        (axes[1], "log10_final_score", "log₁₀ score in the threshold run's final SynFlow round",
         [("all", g & r, "kept by both"), ("synflow", g & ~r, "only by the threshold"),
          ("synflow_randomized", ~g & r, "only by the randomized mask")]),
    ]
    for ax, col, xlabel, groups in panels:
        x = df[col].to_numpy()
        finite = np.isfinite(x)
        bins = np.linspace(x[finite].min(), x[finite].max(), 41)
        zero = ~finite
        if zero.any():  # score 0 (log = -inf): one bin of its own left of the axis break, so every entry draws
            w = bins[1] - bins[0]
            zx = bins[0] - 3 * w
            x = np.where(finite, x, zx)
            bins = np.concatenate([[zx - w, zx + w], bins])
        for key, sel, label in groups:
            v = x[sel]
            n0 = int((sel & zero).sum())
            extra = f", {n0} with score 0" if n0 else ""
            kw = dict(color=COLORS[key], label=f"{label} (n = {sel.sum()}{extra})")
            if key == "all":
                ax.hist(v, bins=bins, alpha=0.35, **kw)
            else:
                ax.hist(v, bins=bins, histtype="step", lw=2, **kw)
        if zero.any():
            ax.axvline(bins[1] + (bins[2] - bins[1]) / 2, color="0.3", lw=0.8, ls=(0, (2, 2)))
            ax.annotate("score 0", (bins[0], 0.5), xycoords=("data", "axes fraction"), xytext=(-2, 0),
                        textcoords="offset points", ha="right", va="center", rotation=90, fontsize=7)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("number of weights")
        ax.set_yscale("log")
        ax.legend(loc="upper right" if zero.any() else "upper left", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8, wrap=True)
    fig.tight_layout()
    return fig


def run(args) -> dict:
    return run_figure(compute, caption, plot, STEM, args)
