"""Fig. 3: ``|w|`` at initialisation of the weights kept by SynFlow, IMP and a uniform random mask (VGG-19).

Paper (§4 Fig. 3, §7): "Weights histogram in sparse subnetworks at initialization for VGG-19 and
CIFAR-10 for 2% (left) and 5% remaining weights. SynFlow and IMP have bias to large magnitude weights
compared to a uniformly random mask."

Here (CIFAR-10 is not available): VGG-19 with BatchNorm on **Fashion-MNIST** (real data, 28×28
zero-padded to 32×32, one channel), one Kaiming initialisation θ₀ (``--seed``), and for each density:

* SynFlow as published: 100 rounds, all-ones input, global hard threshold (data-free);
* IMP: one run with rewinding to iteration ``--rewind-step`` (§7 uses 1000 for VGG-19), global
  magnitude, at most 20% of the remaining weights per level along the path 0.8, 0.64, ..., **5%**,
  4%, ..., **2%** (:func:`~sketchbound.figures.common.imp_path`), ``--epochs-per-level`` epochs of
  the §7 SGD recipe per level (milestones scaled) with random crop/flip;
* a uniform random mask (``compute_scores("random")`` + global threshold: uniformly random ``k`` weights).

All three keep exactly ``k = round(density·d)`` weights. The histogram is of ``|θ₀|`` over the kept
weights, on log-spaced bins shared by the three masks; it is stored binned (the CSV would otherwise hold
``3·k`` values per density) and drawn as those bin counts, normalised to fractions of ``k``.

CSV ``fig3.csv``: ``density``, ``method`` (synflow, imp, random), ``kind`` (``bin``: ``lo``, ``hi``,
``count``, ``fraction``; ``mean``: ``value`` = mean ``|θ₀|`` of the kept weights; ``kept``: ``value`` = k).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .._progress import elapsed
from .common import COLORS, imp_path, run_figure, seconds

__all__ = ["STEM", "METHODS", "LABELS", "FULL", "QUICK", "summarize"]

STEM = "fig3"
METHODS = ("synflow", "imp", "random")
LABELS = {"synflow": "SynFlow (hard threshold)", "imp": "IMP", "random": "uniform random mask"}
FULL = dict(densities=(0.02, 0.05), rounds=100, epochs_per_level=4, rewind_step=1000, prune_fraction=0.2,
            width=1.0, image_size=32, n_train=None, n_test=None, bins=60)
QUICK = dict(densities=(0.02, 0.05), rounds=5, epochs_per_level=1, rewind_step=4, prune_fraction=0.5,
             width=0.125, image_size=32, n_train=1024, n_test=256, bins=40)


def _settings(args) -> dict:
    cfg = dict(QUICK if args.quick else FULL)
    for k in ("rounds", "epochs_per_level", "rewind_step", "prune_fraction"):
        if getattr(args, k, None) is not None:
            cfg[k] = getattr(args, k)
    if getattr(args, "densities", None):
        cfg["densities"] = tuple(sorted(args.densities))
    return cfg


def compute(args) -> tuple[pd.DataFrame, dict]:
    import torch  # noqa: PLC0415

    from sketchbound.dnn.data import load_dataset  # noqa: PLC0415
    from sketchbound.dnn.pruning.inputs import make_input_source  # noqa: PLC0415
    from sketchbound.dnn.pruning.masks import make_mask  # noqa: PLC0415
    from sketchbound.dnn.models import get_model  # noqa: PLC0415
    from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
    from sketchbound.dnn.pruning.scores import compute_scores  # noqa: PLC0415
    from sketchbound.dnn.training import Schedule  # noqa: PLC0415

    cfg = _settings(args)
    seed = int(args.seed)
    device = torch.device(args.device or "cpu")
    t0 = time.perf_counter()
    ds = load_dataset("fashion-mnist", getattr(args, "data_root", None), pad_to=cfg["image_size"])
    if cfg["n_train"]:
        ds = ds.subset(cfg["n_train"], cfg["n_test"])
    model = get_model("vgg19", in_channels=1, num_classes=10, image_size=cfg["image_size"], init="kaiming",
                      width=cfg["width"], seed=seed).to(device)
    names = [n for n, _ in prunable_parameters(model)]
    absw0 = np.concatenate([p.detach().double().abs().cpu().flatten().numpy() for _, p in prunable_parameters(model)])
    d = absw0.size
    timings = {}

    def flat(mask):
        return np.concatenate([mask[n].detach().cpu().flatten().numpy() != 0 for n in names])

    kept = {}
    src = make_input_source("ones", shape=(1, cfg["image_size"], cfg["image_size"]), batch_size=1)
    for dens in cfg["densities"]:
        t = time.perf_counter()
        with elapsed(f"SynFlow, {cfg['rounds']} rounds, density {dens:g}", enabled=not args.quick):
            sc = compute_scores("synflow", model, src, density=dens, rounds=cfg["rounds"], mode="global",
                                generator=seed)
        kept[("synflow", dens)] = flat(make_mask(sc, dens, "global"))
        timings[f"synflow_{dens:g}_s"] = seconds(t)
        sc = compute_scores("random", model, generator=seed + 3)
        kept[("random", dens)] = flat(make_mask(sc, dens, "global", min_per_layer=0))
    # IMP last: it trains (and rewinds) the model in place
    t = time.perf_counter()
    path = imp_path(cfg["densities"], cfg["prune_fraction"])
    sched = Schedule.paper("fashion-mnist", epochs=cfg["epochs_per_level"], batch_size=args.batch_size or 128)
    from sketchbound.dnn.experiments.imp import imp  # noqa: PLC0415
    res = imp(model, ds, sched, densities=path, rewind_step=cfg["rewind_step"], seed=seed, device=device,
              augment=True, log=print if args.verbose else None, keep_masks=True, level_progress=not args.quick)
    trace = {"masks": res.level_masks, "levels": res.levels}
    timings["imp_s"] = seconds(t)
    for dens in cfg["densities"]:
        kept[("imp", dens)] = flat(trace["masks"][path.index(dens)])

    edges = np.geomspace(max(absw0[absw0 > 0].min(), 1e-8), absw0.max() * (1 + 1e-9), cfg["bins"] + 1)
    rows = []
    for dens in cfg["densities"]:
        for m in METHODS:
            sel = kept[(m, dens)]
            v = absw0[sel]
            counts, _ = np.histogram(v, bins=edges)
            k = int(sel.sum())
            rows += [dict(density=dens, method=m, kind="bin", lo=lo, hi=hi, count=int(c), fraction=c / k, value=np.nan)
                     for lo, hi, c in zip(edges[:-1], edges[1:], counts)]
            rows.append(dict(density=dens, method=m, kind="mean", lo=np.nan, hi=np.nan, count=k, fraction=np.nan,
                             value=float(v.mean())))
            rows.append(dict(density=dens, method=m, kind="kept", lo=np.nan, hi=np.nan, count=k, fraction=np.nan,
                             value=float(k)))
    df = pd.DataFrame(rows)
    meta = dict(figure="3", seed=seed, quick=bool(args.quick), settings={k: (list(v) if isinstance(v, tuple) else v)
                                                                        for k, v in cfg.items()},
                device=str(device), d=int(d), n_train=len(ds), imp_path=path, imp_levels=trace["levels"],
                model=f"VGG-19 (BatchNorm, CIFAR style, width {cfg['width']})",
                dataset="Fashion-MNIST (real, padded 28->32) for IMP; SynFlow and random are data-free",
                mean_abs_w0_all=float(absw0.mean()), timings=timings, wall_s=seconds(t0))
    return df, summarize(df, meta)


def summarize(df: pd.DataFrame, meta: dict) -> dict:
    """``meta`` with ``mean_abs_kept`` added, read from the CSV's ``mean`` rows; the caption states their order.

    Parameters
    ----------
    df : pandas.DataFrame
        Fig. 3's CSV (rows of ``kind`` ``bin``, ``mean``, ``kept``).
    meta : dict
        The figure's metadata (its JSON).

    Returns
    -------
    dict
        A copy of ``meta`` with ``mean_abs_kept``: density → method → mean |w0| of the kept weights.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame(dict(density=[0.02], method=["imp"], kind=["mean"], value=[0.06]))
    >>> summarize(df, {})["mean_abs_kept"]
    {'0.02': {'imp': 0.06}}
    """
    means: dict = {}
    for r in df[df.kind == "mean"].itertuples():
        means.setdefault(f"{r.density:g}", {})[r.method] = float(r.value)
    return {**meta, "mean_abs_kept": means}


_SHORT = {"synflow": "SynFlow", "imp": "IMP", "random": "random"}


def _ordering(meta: dict) -> str:
    """The measured order of the mean kept |w| at each density, and whether SynFlow's lies above IMP's
    as the paper's Fig. 3 (CIFAR-10) shows."""
    means = meta.get("mean_abs_kept") or {}
    if not means:
        return ""
    parts, reversed_ = [], []
    for dens, mv in means.items():
        order = sorted(mv, key=mv.get, reverse=True)
        parts.append(f"{float(dens):.0%}: " + " > ".join(f"{_SHORT.get(m, m)} {mv[m]:.3f}" for m in order))
        reversed_.append(mv.get("imp", 0) > mv.get("synflow", 0))
    note = (" IMP keeps larger |w| than SynFlow here, the reverse of the paper's Fig. 3 (CIFAR-10)." if all(reversed_)
            else " SynFlow keeps larger |w| than IMP, as in the paper's Fig. 3." if not any(reversed_)
            else " The order of SynFlow and IMP differs between densities.")
    return " Mean kept |w| at " + "; ".join(parts) + "." + note


def caption(meta: dict) -> str:
    c = meta["settings"]
    return (f"Fig. 3 — VGG-19 (BN, width {c['width']:g}, {meta['d']:,} prunable weights) on Fashion-MNIST "
            f"(real, 28→32 padded; CIFAR-10 not available here), Kaiming init, seed {meta['seed']}. Histogram of |w| "
            f"at initialisation (θ₀) of the weights kept by: SynFlow ({c['rounds']} rounds, data-free), IMP "
            f"(rewind to iteration {c['rewind_step']}, ≤{c['prune_fraction']:.0%} per level, {c['epochs_per_level']} "
            f"epoch(s)/level, {len(meta['imp_path'])} levels), a uniform random mask (seed {meta['seed'] + 3}). "
            f"Fractions of the k kept weights per log-spaced bin; dotted: means. The x-axis starts where the "
            f"smallest ~0.1% of kept |w| end (every bin is in the CSV)." + _ordering(meta))


def plot(df: pd.DataFrame, title: str = ""):
    import matplotlib.pyplot as plt  # noqa: PLC0415

    dens = sorted(df.density.unique())
    fig, axes = plt.subplots(1, len(dens), figsize=(5.2 * len(dens), 4.0), squeeze=False)
    for ax, dv in zip(axes[0], dens):
        sub = df[df.density == dv]
        for m in METHODS:
            b = sub[(sub.method == m) & (sub.kind == "bin")].sort_values("lo")
            mean = float(sub[(sub.method == m) & (sub.kind == "mean")].value.iloc[0])
            k = int(sub[(sub.method == m) & (sub.kind == "kept")].value.iloc[0])
            edges = np.append(b.lo.to_numpy(), b.hi.to_numpy()[-1])
            ax.stairs(b.fraction.to_numpy(), edges, color=COLORS[m], lw=1.8,
                      fill=(m == "random"), alpha=0.35 if m == "random" else 1.0,
                      label=f"{LABELS[m]}: mean |w| = {mean:.3g}")
            ax.axvline(mean, color=COLORS[m], ls=":", lw=1)
        ax.set_xscale("log")
        lo = sub[(sub.kind == "bin") & (sub["count"] > 0)]
        cum = lo.groupby("lo")["fraction"].sum().sort_index().cumsum() / len(METHODS)
        ax.set_xlim(left=float(cum.index[np.searchsorted(cum.to_numpy(), 1e-3)]))  # hide the empty far-left tail
        ax.set_xlabel("|w| at initialisation (log scale)")
        ax.set_ylabel(f"fraction of the k = {k:,} kept weights")
        ax.set_title(f"density {dv:.0%}")
        ax.legend(loc="upper left")
    if title:
        fig.suptitle(title, fontsize=8, wrap=True)
    fig.tight_layout()
    return fig


def run(args) -> dict:
    return run_figure(compute, caption, plot, STEM, args)
