"""Theory figures: every claim of the validator vs ``s``, and the sketches of the core compared.

``theory_claims`` — a ratio chart, one row per non-deterministic claim of :data:`sketchbound.claims.CLAIMS`
(the claims of ``validate --list`` but the §5 identities): for each ``s`` of :func:`~sketchbound.scenarios.s_grid`
(1%..50% of ``d``), :func:`~sketchbound.montecarlo.run_check` on the claim's default scenario
(``d = 512`` weights, ``n = 128`` examples, Kaiming ``w0``, ``w* = w0 ⊙ r`` with ``c = 1``) gives the
measured mean with its confidence interval (Student-t, Bonferroni over the engine's sequential looks),
the closed form (``exact``) and the paper's bound; drawn as measured / bound (bounds, log axis) or
measured / exact (equalities). The vector claims (one value per output) are drawn for the engine's worst
output: B.1 as measured − exact (the exact mean may be ~0), B.2 as measured / exact. A ``derived`` verdict
(closed form vs bound) is drawn as the closed form with the plain Monte-Carlo cross-check's interval.
The 5.1/5.2 claims are deterministic score identities (no ``s``) and are not drawn.

``theory_sketches`` — on one fixed ``X ~ N(0, I/n)`` and Kaiming ``w0``, with ``p0`` of eq. (2) from
``(X, w0)``, the error ``‖Xᵀw − Xᵀ(w ⊙ m)‖²`` of every sketch of :mod:`sketchbound.sampling` vs ``s``:
mean of ``--trials`` independent masks with a 95% Student-t interval, and the exact expectation where
:mod:`sketchbound.theory` has a closed form (Algorithm 1 with any ``p``: ``algorithm1_error``;
Bernoulli HT: ``bernoulli_error``; top-s is deterministic: ``mask_error``). Left: the mask applied to
``w0`` (Lemma 4.1's setting); right: applied to ``w* = w0 ⊙ r``, ``r ~ U[-1, 1]`` (Lemma 4.3 with X̃ = X).
"""
from __future__ import annotations

import textwrap
import time

import numpy as np
import pandas as pd
from scipy import stats

from .common import COLORS, publish, seconds

__all__ = ["STEMS", "FULL", "QUICK", "SKETCHES"]

STEMS = ("theory_claims", "theory_sketches")
FULL = dict(d=512, n=128, trials_claims=None, trials_sketches=4000)
QUICK = dict(d=64, n=16, trials_claims=2000, trials_sketches=200)

SKETCHES = {
    "algorithm1": "Algorithm 1, p of eq. (2)",
    "uniform_algorithm1": "Algorithm 1, uniform p",
    "top_s": "top-s threshold of p (binary)",
    "successive": "successive sampling w/o repl. (binary)",
    "systematic_ht": "systematic πps, Horvitz–Thompson",
    "bernoulli_ht": "Bernoulli (Poisson), Horvitz–Thompson",
    "priority": "priority sampling",
}


def _settings(args) -> dict:
    cfg = dict(QUICK if args.quick else FULL)
    for k in ("d", "n"):
        if getattr(args, k, None) is not None:
            cfg[k] = getattr(args, k)
    if getattr(args, "trials", None) is not None:
        cfg["trials_claims"] = cfg["trials_sketches"] = args.trials
    return cfg


def _s_values(d: int, quick: bool) -> list[int]:
    from ..scenarios import s_grid  # noqa: PLC0415

    g = s_grid(d)
    return [g[0], g[len(g) // 2], g[-1]] if quick else g


# --------------------------------------------------------------------------------------------------
def _ratio(r, c) -> dict:
    """What the chart draws for one check: the measured value over its reference (the paper's bound for
    a ``<=`` claim, the closed form for a ``=`` claim), with the interval over the same reference.

    A ``derived`` verdict's estimate *is* the closed form; its interval is then the plain Monte-Carlo
    cross-check's (``r.crosscheck``), so the chart never shows a closed form as a measurement. B.1's
    reference (an output's exact mean) may be ~0, so B.1 is drawn as measured − exact instead."""
    est, lo, hi, kind = r.estimate, r.ci_low, r.ci_high, "measured"
    if r.estimator == "derived" and r.crosscheck:
        lo, hi, kind = r.crosscheck["ci_low"], r.crosscheck["ci_high"], "closed form (derived)"
    if c.relation == "<=" and r.bound is not None and np.isfinite(r.bound):
        ref, ref_kind = float(r.bound), "bound"
    elif c.statistic == "output" and r.components > 1:
        return dict(ref_kind="exact (worst output), difference", ratio_kind=kind, ratio=est - r.exact,
                    ratio_lo=lo - r.exact, ratio_hi=hi - r.exact)
    else:
        ref, ref_kind = float(r.exact), "exact" + (" (worst output)" if r.components > 1 else "")
    a, b = sorted((lo / ref, hi / ref))
    return dict(ref_kind=ref_kind, ratio_kind=kind, ratio=est / ref, ratio_lo=a, ratio_hi=b)


def compute_claims(cfg: dict, seed: int, quick: bool) -> pd.DataFrame:
    """Every non-deterministic claim of ``validate --list`` at every ``s`` of the grid: one
    :func:`~sketchbound.montecarlo.run_check` each, with the ratio the chart draws (:func:`_ratio`).

    Parameters
    ----------
    cfg : dict
        ``d``, ``n`` (for claims that do not fix their own) and ``trials_claims`` (``None``: engine default).
    seed : int
        Seed of every check.
    quick : bool
        Three values of ``s`` (first, middle, last of the grid) instead of six.

    Returns
    -------
    pandas.DataFrame
        One row per (claim, s): verdict, estimator, estimate and interval, exact, bound, the derived
        verdicts' cross-check (``cc_*``), and ``ratio``/``ratio_lo``/``ratio_hi`` over ``ref_kind``.

    Examples
    --------
    >>> df = compute_claims(dict(d=32, n=8, trials_claims=200), 0, True)  # doctest: +SKIP
    """
    from ..claims import CLAIMS  # noqa: PLC0415
    from ..montecarlo import claim_scenario, run_check  # noqa: PLC0415

    try:
        from tqdm.auto import tqdm  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        tqdm = None
    claims = [c for c in CLAIMS if not c.deterministic]
    plan = []
    for c in claims:
        dim = getattr(c, "dimension", None)
        if dim is not None:  # d is implied by the claim's own scenario (e.g. Theorem 6.2's MLP): keep it
            base = claim_scenario(c)
            plan += [(c, s, {}) for s in _s_values(int(dim(base)), quick)]
        else:
            over = {"d": cfg["d"]} if "d" not in c.scenario else {}
            if "n" not in c.scenario:
                over["n"] = cfg["n"]
            plan += [(c, s, over) for s in _s_values(over.get("d", claim_scenario(c).d), quick)]
    bar = tqdm(total=len(plan), desc="claims x s", leave=False, disable=quick) if tqdm else None
    rows = []
    for c, s, over in plan:
        sc = claim_scenario(c, s=s, **over)
        r = run_check(c, sc, seed=seed, max_trials=cfg["trials_claims"])
        used = r.scenario  # what the engine ran (a claim's own dimension may override d)
        cc = r.crosscheck or {}
        rows.append(dict(claim=c.id, name=c.name, relation=c.relation, s=s, d=used.get("d", sc.d),
                         n=used.get("n", sc.n), x_mode=sc.x_mode, x_tilde=sc.x_tilde, verdict=r.verdict,
                         estimator=r.estimator, trials=r.trials, components=r.components,
                         estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high,
                         exact=np.nan if r.exact is None else r.exact, bound=np.nan if r.bound is None else r.bound,
                         cc_trials=cc.get("trials", 0), cc_mean=cc.get("mean", np.nan),
                         cc_low=cc.get("ci_low", np.nan), cc_high=cc.get("ci_high", np.nan),
                         within_hypotheses=bool(getattr(r, "within_hypotheses", True)), seed=seed, alpha=r.alpha,
                         **_ratio(r, c)))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows)


def _row_label(sub: pd.DataFrame) -> str:
    name = textwrap.shorten(sub.name.iloc[0], 58, placeholder="…")
    lo, hi = sub.ratio.min(), sub.ratio.max()
    span = "" if sub.ref_kind.iloc[0].endswith("difference") else f"; ratio {lo:.4g}–{hi:.4g}"
    return (f"{sub.claim.iloc[0]}  {name}\n{sub.x_mode.iloc[0]} X, d={sub.d.iloc[0]}, n={sub.n.iloc[0]}{span}"
            f" — {_verdicts(sub)}")


def _verdicts(sub: pd.DataFrame) -> str:
    counts = sub.verdict.value_counts()
    return ", ".join(f"{k} {v}" for v, k in counts.items())


def plot_claims(df: pd.DataFrame, title: str = ""):
    """The claims as a ratio chart: one row per claim, one point per ``s`` (colour), with its interval.

    Left: the equalities, measured / closed form (1 = agree), and B.1 as measured − exact. Right: the
    bounds, measured / the paper's bound on a log axis (≤ 1 = the bound holds); a diamond is a closed form
    (``derived`` verdict) with the plain Monte-Carlo cross-check as its interval. Each point is a
    ``Line2D`` labelled ``_<claim>@<s>`` (hidden from the legend) whose x is the CSV's ``ratio``.

    Parameters
    ----------
    df : pandas.DataFrame
        The rows of :func:`compute_claims` as read back from ``theory_claims.csv``.
    title : str
        The caption drawn above the chart.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_claims(compute_claims(dict(d=32, n=8, trials_claims=200), 0, True))  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.lines import Line2D  # noqa: PLC0415

    ids = list(dict.fromkeys(df.claim))
    diff = [c for c in ids if df[df.claim == c].ref_kind.iloc[0].endswith("difference")]
    eq = [c for c in ids if c not in diff and not df[df.claim == c].ref_kind.iloc[0].startswith("bound")]
    le = [c for c in ids if c not in diff and c not in eq]
    n_s = int(df.groupby("claim").s.nunique().max())
    cmap = plt.get_cmap("viridis")
    cols = [cmap(0.9 * i / max(n_s - 1, 1)) for i in range(n_s)]
    h_eq, h_le = len(eq) + 0.6 * len(diff) + 1.2, len(le) + 0.5
    fig = plt.figure(figsize=(15, 0.62 * max(h_eq, h_le) + 2.4))
    gs = fig.add_gridspec(2, 2, height_ratios=[max(len(eq), 1), max(len(diff), 0.01) + 0.6], width_ratios=[1, 1.15])
    ax_eq, ax_le = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[:, 1])
    ax_d = fig.add_subplot(gs[1, 0]) if diff else None
    panels = [(ax_eq, eq, 1.0, "measured / exact (closed form)   — 1 = agree"),
              (ax_le, le, 1.0, "measured / paper's bound (log)   — ≤ 1: the bound holds")]
    if ax_d is not None:
        panels.append((ax_d, diff, 0.0, "measured − exact of the worst output"))
    for ax, group, ref, xlabel in panels:
        for row, cid in enumerate(group):
            sub = df[df.claim == cid].sort_values("s")
            y0 = len(group) - 1 - row
            for i, r in enumerate(sub.itertuples()):
                y = y0 + 0.32 - 0.64 * i / max(len(sub) - 1, 1)
                derived = r.ratio_kind != "measured"
                ax.plot([r.ratio_lo, r.ratio_hi], [y, y], "-", color=cols[i], lw=1.6, solid_capstyle="butt")
                ax.plot([r.ratio], [y], "D" if derived else "o", ms=5 if derived else 4.5, color=cols[i],
                        mfc="white" if derived else cols[i], mew=1.3, label=f"_{cid}@{r.s}")
        ax.axvline(ref, color="k", lw=1, ls="--")
        ax.set_yticks(range(len(group)))
        ax.set_yticklabels([_row_label(df[df.claim == c]) for c in reversed(group)], fontsize=7)
        ax.set_ylim(-0.6, len(group) - 0.4)
        ax.set_xlabel(xlabel)
        ax.grid(axis="y", visible=False)
    ax_le.set_xscale("log")
    lo, hi = ax_le.get_xlim()
    ax_le.set_xlim(lo / 3, hi * 3)
    ax_eq.set_title("equalities", fontsize=9, loc="left")
    ax_le.set_title("bounds", fontsize=9, loc="left")
    one = df[df.claim == df.groupby("claim").s.nunique().idxmax()].sort_values("s")
    keys = [Line2D([], [], ls="-", marker="o", color=cols[i], label=f"s ≈ {100 * s / d:.2g}% of d (s = {s} at d = {d})")
            for i, (s, d) in enumerate(zip(one.s, one.d))]
    keys += [Line2D([], [], ls="", marker="o", color="0.3", label="Monte-Carlo mean, CI (engine's α)"),
             Line2D([], [], ls="", marker="D", color="0.3", mfc="white",
                    label="closed form (derived verdict); bar = plain Monte-Carlo cross-check")]
    fig.legend(handles=keys, loc="lower center", ncol=4, fontsize=7.5, frameon=False)
    if title:
        fig.suptitle(textwrap.fill(title, 190), fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    return fig


# --------------------------------------------------------------------------------------------------
def _masks(key: str, p: np.ndarray, s: int, trials: int, gen: np.random.Generator) -> np.ndarray:
    from .. import sampling as S  # noqa: PLC0415

    d = p.shape[0]
    if key == "algorithm1":
        return S.algorithm1(p, s, rng=gen, trials=trials)
    if key == "uniform_algorithm1":
        return S.uniform_algorithm1(d, s, rng=gen, trials=trials)
    if key == "top_s":
        return S.top_s(p, s)[None, :]
    if key == "successive":
        return S.without_replacement(p, s, rng=gen, design="successive", trials=trials)
    if key == "systematic_ht":
        return S.without_replacement(p, s, rng=gen, design="systematic", weighted=True, trials=trials)
    if key == "bernoulli_ht":
        return S.bernoulli(p, s, rng=gen, weighted=True, trials=trials)
    if key == "priority":
        return S.priority(p, s, rng=gen, trials=trials)
    raise ValueError(key)


def _exact(key: str, X, w, p, s, mask=None):
    from .. import theory as T  # noqa: PLC0415
    from ..probabilities import uniform_probabilities  # noqa: PLC0415
    from ..sampling import inclusion_probabilities  # noqa: PLC0415

    if key == "algorithm1":
        return T.algorithm1_error(X, w, p, s)
    if key == "uniform_algorithm1":
        return T.algorithm1_error(X, w, uniform_probabilities(p.shape[0]), s)
    if key == "top_s":
        return T.mask_error(X, w, mask)
    if key == "bernoulli_ht":
        return T.bernoulli_error(X, w, inclusion_probabilities(p, s))
    return np.nan  # successive (binary), systematic HT, priority: no closed form in sketchbound.theory


def compute_sketches(cfg: dict, seed: int, quick: bool) -> pd.DataFrame:
    from ..probabilities import optimal_probabilities  # noqa: PLC0415
    from ..scenarios import Scenario  # noqa: PLC0415

    try:
        from tqdm.auto import tqdm  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        tqdm = None
    sc = Scenario(d=cfg["d"], n=cfg["n"], x_mode="fixed", x_tilde="same")
    inst = sc.instance(seed)
    X, w0, ws = inst.X, inst.w0, inst.w_star
    p0 = optimal_probabilities(X, w0)
    gen = np.random.default_rng(seed + 10)
    T = cfg["trials_sketches"]
    svals = _s_values(cfg["d"], quick)
    rows = []
    combos = [(k, s) for k in SKETCHES for s in svals]
    for key, s in tqdm(combos, desc="sketches x s", leave=False, disable=quick) if tqdm else combos:
        M = _masks(key, p0, s, T, gen)
        for target, w in (("w0", w0), ("w_star", ws)):
            R = (w * (1.0 - M)) @ X
            err = np.einsum("tn,tn->t", R, R)
            t = err.shape[0]
            mean = float(err.mean())
            if t > 1:
                half = float(stats.t.ppf(0.975, t - 1) * err.std(ddof=1) / np.sqrt(t))
            else:  # top-s: deterministic
                half = 0.0
            ex = _exact(key, X, w, p0, s, M[0] if key == "top_s" else None)
            rows.append(dict(target=target, sketch=key, label=SKETCHES[key], s=s, d=sc.d, n=sc.n, trials=t,
                             mean=mean, ci_low=mean - half, ci_high=mean + half, exact=ex,
                             mean_nnz=float((M != 0).sum(axis=1).mean()), seed=seed))
    return pd.DataFrame(rows)


def plot_sketches(df: pd.DataFrame, title: str = ""):
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for ax, (target, lab) in zip(axes, (("w0", "mask applied to w0 (the weights it was found on)"),
                                         ("w_star", "mask applied to w* = w0 ⊙ r, r ~ U[−1, 1]"))):
        sub = df[df.target == target]
        for key in SKETCHES:
            g = sub[sub.sketch == key].sort_values("s")
            col = COLORS[key]
            ax.fill_between(g.s, g.ci_low, g.ci_high, color=col, alpha=0.2, lw=0)
            ax.plot(g.s, g["mean"], "o-", color=col, ms=3, lw=1.3, label=f"{g.label.iloc[0]}: measured")
            if g.exact.notna().all():
                ax.plot(g.s, g.exact, "--", color=col, lw=1, alpha=0.9, label="   exact")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("s (sample size / draws)")
        ax.set_title(lab)
    axes[0].set_ylabel("E ‖Xᵀw − Xᵀ(w ⊙ m)‖²  (mean, 95% CI)")
    axes[1].yaxis.set_tick_params(labelleft=True)
    h, lab = axes[0].get_legend_handles_labels()
    fig.legend(h, lab, loc="lower center", ncol=4, fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=8.5, wrap=True)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


def run(args) -> list[dict]:
    cfg = _settings(args)
    seed = int(args.seed)
    out = []
    t0 = time.perf_counter()
    dfc = compute_claims(cfg, seed, args.quick)
    meta = dict(figure="theory_claims", seed=seed, quick=bool(args.quick), settings=cfg, wall_s=seconds(t0))
    meta["caption"] = (f"Every non-deterministic claim of `validate --list` as a ratio, one row per claim, one point per s "
                       f"(1%..50% of d): Monte-Carlo mean (seed {seed}, up to "
                       f"{cfg['trials_claims'] or 'the engine default of 256,000 (X fixed) / 8,000 (X redrawn)'} trials, "
                       f"sequential stop; bar = Student-t CI at the engine's Bonferroni level, α = 0.01) over the closed "
                       f"form (equalities) or the paper's bound (bounds; ≤ 1 = holds). Diamonds: derived verdicts, where the "
                       f"point is the closed form, not a measurement, and the bar is the plain Monte-Carlo cross-check. "
                       f"Synthetic data: X ~ N(0, I/n), Kaiming w0, w* = w0 ⊙ r with c = 1; d = {cfg['d']}, n = {cfg['n']} "
                       f"unless the claim fixes its own (B.1/B.2: n = 4; 6.2/6.2b: Theorem 6.2's MLP, d = 2304). "
                       f"B.1 is per output: measured − exact of the output farthest from its exact value.")
    out.append(publish(dfc, lambda d: plot_claims(d, meta["caption"]), args.out, STEMS[0], meta))
    t0 = time.perf_counter()
    dfs = compute_sketches(cfg, seed, args.quick)
    meta2 = dict(figure="theory_sketches", seed=seed, quick=bool(args.quick), settings=cfg, wall_s=seconds(t0))
    meta2["caption"] = (f"Sketches of the core compared: one fixed X ~ N(0, I/n) (d = {cfg['d']}, n = {cfg['n']}), "
                        f"Kaiming w0, p of eq. (2) from (X, w0); instance seed {seed}, mask seed {seed + 10}; "
                        f"{cfg['trials_sketches']:,} masks per sketch and s, mean with 95% Student-t CI; dashed: exact "
                        f"expectation where sketchbound.theory has it (none for successive, systematic, priority).")
    out.append(publish(dfs, lambda d: plot_sketches(d, meta2["caption"]), args.out, STEMS[1], meta2))
    return out
