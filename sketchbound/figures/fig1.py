"""Fig. 1: norm of the weights kept by IMP's winning tickets vs random masks (LeNet-300-100, Fashion-MNIST).

Paper (§3, Fig. 1): "Pruning a fully connected NN with Fashion-MNIST: (left) Norms of winning lottery
tickets and random masks with multiple sparsities. (right) Winning tickets norms vs. 10,000 random
masks with 1.2% density."

Definition used: the *norm of a mask* ``m`` is ``‖w₀ ⊙ m‖₂`` over all prunable weights (the three
fully connected weight matrices; biases excluded), with ``w₀`` the weights at initialisation (Kaiming
normal). The winning ticket at each density is the mask of one IMP run with rewinding to θ₀
(Frankle & Carbin's LeNet protocol), pruning 20% of the remaining weights per level by global
magnitude, down to 1.2%. Random masks keep the same number of weights: ``random_uniform`` picks them
uniformly among all prunable weights; ``random_layer_matched`` keeps IMP's count in each layer,
uniformly inside the layer (it removes the effect of IMP's allocation across layers, whose
initialisation scales differ).

CSV ``fig1.csv`` (tidy): ``panel`` (left/right), ``mask`` (imp, random_uniform,
random_layer_matched), ``density``, ``kept``, ``stat`` (value, mean, q01, q99, sample), ``draw``
(index of a random mask, right panel), ``value`` (a norm).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .common import COLORS, imp_path, run_figure, seconds

__all__ = ["STEM", "FULL", "QUICK", "random_norms"]

STEM = "fig1"
FULL = dict(target=0.012, prune_fraction=0.2, epochs_per_level=2, rewind_step=0, n_random=1000, n_hist=10_000,
            width=1.0, n_train=None, n_test=None)
QUICK = dict(target=0.012, prune_fraction=0.5, epochs_per_level=1, rewind_step=0, n_random=200, n_hist=2000,
             width=0.5, n_train=2048, n_test=512)


def _settings(args) -> dict:
    base = dict(QUICK if args.quick else FULL)
    for k in ("prune_fraction", "epochs_per_level", "rewind_step"):
        if getattr(args, k, None) is not None:
            base[k] = getattr(args, k)
    if getattr(args, "density", None) is not None:
        base["target"] = args.density
    if getattr(args, "n_random", None) is not None:
        base["n_random"] = args.n_random
    if getattr(args, "n_hist", None) is not None:
        base["n_hist"] = args.n_hist
    return base


def random_norms(w2_layers: list[np.ndarray], counts: list[int] | int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` norms ``‖w₀ ⊙ m‖₂`` of random masks (the grey histogram of Fig. 1).

    Parameters
    ----------
    w2_layers : list of numpy.ndarray
        The squared weights ``w₀²`` of each layer, flattened.
    counts : int or list of int
        An int: that many weights uniformly among all layers; a list: that many in each layer, uniformly
        inside it (``random_layer_matched``).
    n : int
        How many random masks.
    rng : numpy.random.Generator
        The randomness.

    Returns
    -------
    numpy.ndarray, shape (n,)
        The norms.

    Examples
    --------
    >>> w2 = [np.ones(4), np.full(2, 4.0)]
    >>> random_norms(w2, [4, 0], 2, np.random.default_rng(0))   # all of layer 1: √4
    array([2., 2.])
    """
    flat = np.concatenate(w2_layers)
    out = np.empty(n)
    for t in range(n):
        if isinstance(counts, (int, np.integer)):
            out[t] = flat[rng.choice(flat.size, int(counts), replace=False, shuffle=False)].sum()
        else:
            out[t] = sum(w2[rng.choice(w2.size, int(k), replace=False, shuffle=False)].sum()
                         for w2, k in zip(w2_layers, counts) if k)
    return np.sqrt(out)


def compute(args) -> tuple[pd.DataFrame, dict]:
    import torch  # noqa: PLC0415

    from sketchbound.dnn.data import load_dataset  # noqa: PLC0415
    from sketchbound.dnn.models import get_model  # noqa: PLC0415
    from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
    from sketchbound.dnn.training import Schedule  # noqa: PLC0415

    cfg = _settings(args)
    seed = int(args.seed)
    t0 = time.perf_counter()
    from sketchbound.data import find_dataset  # noqa: PLC0415
    root = getattr(args, "data_root", None)
    ds = load_dataset("fashion-mnist", root)
    where = find_dataset("fashion-mnist", root)
    if cfg["n_train"]:
        ds = ds.subset(cfg["n_train"], cfg["n_test"])
    model = get_model("lenet300100", in_channels=1, num_classes=10, image_size=28, init="kaiming",
                      width=cfg["width"], seed=seed)
    names = [n for n, _ in prunable_parameters(model)]
    w0 = {n: p.detach().to(torch.float64).cpu().clone() for n, p in prunable_parameters(model)}
    sched = Schedule.paper("fashion-mnist", epochs=cfg["epochs_per_level"], batch_size=args.batch_size or 128)
    densities = imp_path([cfg["target"]], cfg["prune_fraction"])
    from sketchbound.dnn.experiments.imp import imp  # noqa: PLC0415
    res = imp(model, ds, sched, densities=densities, rewind_step=cfg["rewind_step"], seed=seed, device=args.device,
              augment=False, log=print if args.verbose else None, keep_masks=True, level_progress=not args.quick)
    trace = {"masks": res.level_masks, "levels": res.levels}

    w2_layers = [w0[n].flatten().numpy() ** 2 for n in names]
    rng = np.random.default_rng(seed + 1)
    rows = []
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        tqdm = lambda x, **k: x  # noqa: E731
    for d, mask in tqdm(list(zip(densities, trace["masks"])), desc="random masks", leave=False, disable=args.quick):
        per_layer = [int(mask[n].sum()) for n in names]
        kept = sum(per_layer)
        ticket = float(np.sqrt(sum(float((w0[n][mask[n]] ** 2).sum()) for n in names)))
        rows.append(dict(panel="left", mask="imp", density=d, kept=kept, stat="value", draw=-1, value=ticket))
        for kind, counts in (("random_uniform", kept), ("random_layer_matched", per_layer)):
            r = random_norms(w2_layers, counts, cfg["n_random"], rng)
            for stat, v in (("mean", r.mean()), ("q01", np.quantile(r, 0.01)), ("q99", np.quantile(r, 0.99))):
                rows.append(dict(panel="left", mask=kind, density=d, kept=kept, stat=stat, draw=-1, value=float(v)))
    # right panel: the ticket at the target density vs n_hist random masks of the same size
    d, mask = densities[-1], trace["masks"][-1]
    per_layer = [int(mask[n].sum()) for n in names]
    kept = sum(per_layer)
    ticket = float(np.sqrt(sum(float((w0[n][mask[n]] ** 2).sum()) for n in names)))
    rows.append(dict(panel="right", mask="imp", density=d, kept=kept, stat="value", draw=-1, value=ticket))
    for kind, counts in (("random_uniform", kept), ("random_layer_matched", per_layer)):
        r = random_norms(w2_layers, counts, cfg["n_hist"], rng)
        rows += [dict(panel="right", mask=kind, density=d, kept=kept, stat="sample", draw=i, value=float(v))
                 for i, v in enumerate(r)]
    df = pd.DataFrame(rows)
    meta = dict(figure="1", seed=seed, quick=bool(args.quick), settings=cfg, device=str(args.device or "cpu"),
                dataset=f"Fashion-MNIST (real, {where})", model="LeNet-300-100",
                n_train=len(ds), d=int(sum(w.size for w in w2_layers)),
                imp_levels=trace["levels"], per_layer_final={n: int(trace["masks"][-1][n].sum()) for n in names},
                wall_s=seconds(t0))
    return df, meta


def caption(meta: dict) -> str:
    c = meta["settings"]
    return (f"Fig. 1 — LeNet-300-100 on Fashion-MNIST (real data, {meta['n_train']} training images), Kaiming init, "
            f"seed {meta['seed']}. Norm = ‖w₀ ⊙ m‖₂ over all {meta['d']} prunable weights at initialisation. "
            f"IMP: global magnitude, {c['prune_fraction']:.0%} of the remaining weights per level, rewind to θ₀ "
            f"(k={c['rewind_step']}), {c['epochs_per_level']} epoch(s) of SGD per level, down to {c['target']:.1%}. "
            f"Random masks keep the same number of weights: {c['n_random']} per density (left), "
            f"{c['n_hist']:,} at {c['target']:.1%} (right); mask RNG seed {meta['seed'] + 1}.")


def plot(df: pd.DataFrame, title: str = ""):
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.9))
    left = df[df.panel == "left"]
    imp = left[left["mask"] == "imp"].sort_values("density")
    a.plot(imp.density, imp.value, "o-", color=COLORS["imp"], ms=3.5, label="IMP winning ticket")
    for kind, label in (("random_uniform", "random, uniform over all weights"),
                        ("random_layer_matched", "random, IMP's per-layer counts")):
        sub = left[left["mask"] == kind]
        piv = sub.pivot(index="density", columns="stat", values="value").sort_index()
        a.plot(piv.index, piv["mean"], "-", color=COLORS[kind], label=f"{label}: mean")
        a.fill_between(piv.index, piv["q01"], piv["q99"], color=COLORS[kind], alpha=0.25, lw=0,
                       label=f"{label}: 1%–99% quantiles")
    a.set_xscale("log")
    a.set_yscale("log")
    a.invert_xaxis()
    a.set_xlabel("density (fraction of weights kept, log scale)")
    a.set_ylabel("‖w₀ ⊙ m‖₂ (weights kept, at initialisation)")
    a.set_title("Norm of the kept weights vs density")
    a.legend(loc="lower left")

    right = df[df.panel == "right"]
    ticket = float(right[right["mask"] == "imp"].value.iloc[0])
    dens = float(right.density.iloc[0])
    samples = {k: right[(right["mask"] == k) & (right.stat == "sample")].value.to_numpy()
               for k in ("random_uniform", "random_layer_matched")}
    allv = np.concatenate(list(samples.values()) + [[ticket]])
    bins = np.linspace(allv.min(), allv.max(), 80)
    for kind, label in (("random_uniform", "random (uniform)"), ("random_layer_matched", "random (IMP's per-layer counts)")):
        v = samples[kind]
        z = (ticket - v.mean()) / v.std(ddof=1)
        b.hist(v, bins=bins, color=COLORS[kind], alpha=0.6, label=f"{len(v):,} {label}; ticket at z = {z:.1f}")
    b.axvline(ticket, color=COLORS["imp"], lw=2, label=f"IMP winning ticket ({ticket:.3g})")
    b.set_xlabel("‖w₀ ⊙ m‖₂")
    b.set_ylabel("number of random masks")
    b.set_title(f"Density {dens:.1%}: winning ticket vs random masks")
    b.legend(loc="upper center")
    if title:
        fig.suptitle(title, fontsize=8.5, wrap=True)
    fig.tight_layout()
    return fig


def run(args) -> dict:
    return run_figure(compute, caption, plot, STEM, args)
