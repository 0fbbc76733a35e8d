"""Theory figures: every claim of the validator vs ``s``, and the sketches of the core compared.

``theory_claims`` — one panel per non-deterministic claim of :data:`sketchbound.claims.CLAIMS`
(4.1, 4.2, 4.3, 4.3b, 4.4, 4.5, 4.5c, B.1, B.2): for each ``s`` of :func:`~sketchbound.scenarios.s_grid`
(1%..50% of ``d``), :func:`~sketchbound.montecarlo.run_check` on the claim's default scenario
(``d = 512`` weights, ``n = 128`` examples, Kaiming ``w0``, ``w* = w0 ⊙ r`` with ``c = 1``) gives the
measured mean with its confidence interval (Student-t, Bonferroni over the engine's sequential looks),
the closed form (``exact``) and the paper's bound. Scalar claims are drawn log–log; the vector claims
(one value per output) are drawn for the engine's worst output: B.1 as measured − exact (the exact mean
may be ~0), B.2 as measured / exact.
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
def compute_claims(cfg: dict, seed: int, quick: bool) -> pd.DataFrame:
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
        vector = r.components > 1
        if vector and c.statistic == "output":  # B.1: a mean that may be ~0: measured − exact of the worst output
            e = r.exact
            y, y_lo, y_hi, y_exact, y_bound = r.estimate - e, r.ci_low - e, r.ci_high - e, 0.0, np.nan
            y_kind = "measured − exact (worst output)"
        elif vector:  # B.2: a positive variance: measured / exact of the worst output
            e = r.exact
            lo, hi = sorted((r.ci_low / e, r.ci_high / e))
            y, y_lo, y_hi, y_exact, y_bound, y_kind = r.estimate / e, lo, hi, 1.0, np.nan, "measured / exact (worst output)"
        else:
            y, y_lo, y_hi = r.estimate, r.ci_low, r.ci_high
            y_exact = np.nan if r.exact is None else r.exact
            y_bound = np.nan if r.bound is None else r.bound
            y_kind = "E error"
        used = r.scenario  # what the engine ran (a claim's own dimension may override d)
        rows.append(dict(claim=c.id, name=c.name, relation=c.relation, s=s, d=used.get("d", sc.d),
                         n=used.get("n", sc.n), x_mode=sc.x_mode,
                         x_tilde=sc.x_tilde, verdict=r.verdict, trials=r.trials, components=r.components,
                         estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high,
                         exact=np.nan if r.exact is None else r.exact, bound=np.nan if r.bound is None else r.bound,
                         within_hypotheses=bool(getattr(r, "within_hypotheses", True)), seed=seed, alpha=r.alpha,
                         y_kind=y_kind, y=y, y_lo=y_lo, y_hi=y_hi, y_exact=y_exact, y_bound=y_bound))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows)


def plot_claims(df: pd.DataFrame, title: str = ""):
    import matplotlib.pyplot as plt  # noqa: PLC0415

    ids = list(dict.fromkeys(df.claim))
    cols = 3
    rows = int(np.ceil(len(ids) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.3 * rows), squeeze=False)
    for ax, cid in zip(axes.flat, ids):
        sub = df[df.claim == cid].sort_values("s")
        s = sub.s.to_numpy()
        ratio = sub.y_kind.iloc[0] != "E error"
        ax.fill_between(s, sub.y_lo, sub.y_hi, color=COLORS["measured"], alpha=0.3, lw=0, label="measured: CI")
        ax.plot(s, sub.y, "o-", color=COLORS["measured"], ms=3.5, label="measured mean")
        if sub.y_exact.notna().all():
            ax.plot(s, sub.y_exact, "--", color=COLORS["exact"], lw=1.2, label="exact (closed form)" if not ratio else f"exact (= {sub.y_exact.iloc[0]:g})")
        if sub.y_bound.notna().all():
            ax.plot(s, sub.y_bound, ":", color=COLORS["bound"], lw=2, label="paper's bound")
        ax.set_xscale("log")
        if not ratio:
            ax.set_yscale("log")
        ax.set_xlabel("s (draws of Algorithm 1)")
        ax.set_ylabel(sub.y_kind.iloc[0])
        verdicts = ", ".join(f"{v}×{k}" for v, k in sub.verdict.value_counts().items())
        flag = "" if sub.within_hypotheses.all() else " [outside hypotheses]"
        name = textwrap.shorten(sub.name.iloc[0], 62, placeholder="…")
        ax.set_title(f"{cid}: {name}\n{sub.x_mode.iloc[0]} X, X̃ {sub.x_tilde.iloc[0]}, "
                     f"d={sub.d.iloc[0]}, n={sub.n.iloc[0]} — {verdicts}{flag}", fontsize=7.5)
        ax.legend(fontsize=6.5)
    for ax in list(axes.flat)[len(ids):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=8.5, wrap=True)
    fig.tight_layout()
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
    meta["caption"] = (f"Claims of the validator vs s (log–log): measured mean (Monte-Carlo, seed {seed}, up to "
                       f"{cfg['trials_claims'] or 'the engine default of 256,000 (X fixed) / 8,000 (X redrawn)'} trials, "
                       f"sequential stop; band = Student-t CI at the engine's Bonferroni level, α = 0.01), "
                       f"the closed form and the paper's bound. Synthetic data: X ~ N(0, I/n), Kaiming w0, "
                       f"w* = w0 ⊙ r with c = 1; d = {cfg['d']}, n = {cfg['n']} (B.1/B.2: n = 4). "
                       f"B.1 (B.2) is per output and drawn as measured − exact (measured / exact) of the output farthest from its "
                       f"exact value.")
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
