"""What a verdict rests on, said next to it: the exact check of a closed form against its law, the tail
of rarely drawn indices, and the assumptions of the interval.

* :func:`law_check` — the closed form that a derived or Rao-Blackwell verdict uses (``claim.exact``,
  or the statistic's ``given_x``), compared with exact enumeration of the claim's *own* mask law on
  small instances (resolution ~1e-9 relative, finer than any gap a verdict rests on);
* :func:`tail_note` / :func:`bound_slack` — the rarely drawn indices (:mod:`sketchbound.tails`): how the
  sample covered them, and how much unseen mass a ``holds`` could absorb;
* :func:`rests_on_line` — the assumptions of the interval, in words, for the verdict line.

The functions take the engine's per-check setup (``sketchbound.montecarlo._Setup``).
"""
from __future__ import annotations

import numpy as np

from . import exact as exact_enum
from .sampling import as_generator, inclusion_probabilities
from .tails import RARE_SEEN
from .trials import draw_inputs as _draw_inputs
from .trials import mask_p as _mask_p
from .trials import statistic_values
from .trials import target as _target

__all__ = ["LAW_CHECK", "law_outcomes"]


#: the small instances on which a closed form is compared with exact enumeration of the claim's law
LAW_CHECK = dict(d=5, s=3, instances=3)


def law_outcomes(law: str, p, s: int):
    """Every outcome of the diagonal mask law ``law`` with probabilities ``p`` and size ``s``, with its
    probability (:mod:`sketchbound.exact`); ``None`` where no exact enumeration exists (``priority``, the
    sketch laws).

    Parameters
    ----------
    law : str
        A mask law (:data:`sketchbound.laws.MASK_LAWS`).
    p : ndarray, ``(d,)``
        The claim's probabilities (normalised here).
    s : int
        Sample size.

    Returns
    -------
    tuple of ndarray or None
        ``(masks, probs)``: masks ``K x d`` as the engine draws them, their probabilities ``(K,)``.

    Examples
    --------
    >>> masks, probs = law_outcomes("bernoulli", np.array([0.5, 0.5]), 1)
    >>> masks.tolist(), probs.tolist()
    ([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]], [0.25, 0.25, 0.25, 0.25])
    """
    p = np.asarray(p, dtype=float)
    p = p / p.sum()
    if law == "algorithm1":
        return exact_enum.outcomes_algorithm1(p, s)
    if law == "bernoulli":  # the core's bernoulli: π = min(1, κ p), Σ π = s, m = 1/π on kept
        return exact_enum.outcomes_bernoulli(inclusion_probabilities(p, s), weighted=True)
    if law == "without-replacement":  # the engine's design: systematic πps with Horvitz–Thompson weights
        return exact_enum.outcomes_systematic(p, s, weighted=True)
    return None


def law_check(st) -> dict:
    """The closed form a derived / Rao-Blackwell verdict uses, compared with exact enumeration of the
    claim's own mask law (its probabilities on its X̃) on small instances: a resolution of
    ``EXACT_RTOL`` relative, finer than any gap. ``ok`` is False when they differ; a closed form that
    cannot be evaluated on such instances is said so (``ok`` stays True: nothing contradicts it)."""
    claim, sc = st.claim, st.sc
    small = sc.replace(d=LAW_CHECK["d"], s=LAW_CHECK["s"], n=min(sc.n, 3), x_mode="fixed")
    rb = sc.x_mode == "redrawn"
    worst = 0.0
    if law_outcomes(claim.mask_law, np.full(small.d, 1.0 / small.d), small.s) is None:
        return dict(ok=True, worst=None, line=f"no exact enumeration of mask law {claim.mask_law!r} exists here: the closed "
                                              "form rests on the claims it names (and the Monte-Carlo cross-check)")
    try:
        for k in range(LAW_CHECK["instances"]):
            g = as_generator(10_000 + k)
            if rb:
                inst = small.instance(g)
                X, Xt = _draw_inputs(claim, small, g)
                p = _mask_p(claim, Xt, inst.w0)
                closed = claim.statistic.given_x(X, _target(claim, inst), p / p.sum(), small.s)
            else:
                inst = small.instance(g)
                X, Xt = inst.X, inst.X_tilde
                closed = claim.exact(inst, small)
            masks, probs = law_outcomes(claim.mask_law, _mask_p(claim, Xt, inst.w0), small.s)
            enum = exact_enum.expectation(statistic_values(claim, X, _target(claim, inst), masks), probs)
            scale = max(float(np.max(np.abs(enum))), 1e-300)
            worst = max(worst, float(np.max(np.abs(np.asarray(closed, dtype=float) - enum))) / scale)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
        return dict(ok=True, worst=None, line=f"the closed form could not be compared with enumeration of this law on "
                                              f"small instances ({type(e).__name__}); the check rests on its proof")
    ok = worst <= 1e-7
    what = "E_m given X" if rb else "the closed form"
    return dict(ok=ok, worst=worst, line=(
        f"{what} vs exact enumeration of this claim's mask law on {LAW_CHECK['instances']} instances "
        f"(d={LAW_CHECK['d']}, s={LAW_CHECK['s']}): max relative difference {worst:.2g} — "
        + ("agree (resolution ~1e-9, finer than any gap)" if ok else "they DIFFER: the closed form does not cover this law")))


def bound_slack(st, lo, hi):
    """How much an unseen mass may shift the mean before a ``holds`` at this look would be wrong."""
    if st.claim.relation == "<=":
        return float(st.bd) - hi
    ex = np.asarray(st.ex, dtype=float)
    scale = np.abs(ex) if st.scale is None else np.asarray(st.scale, dtype=float)
    return st.precision * np.maximum(scale, 1e-300) - np.maximum(hi - ex, ex - lo)


def tail_note(st, seq: dict, est: float) -> str:
    """What the check did about rarely drawn indices (empty when there were none)."""
    tp = st.tail
    if tp is None:
        return ""
    head = (f"; tail: {tp['count']} index(es) with total p = {tp['p_rare']:.3g} are expected in fewer than "
            f"{tp['threshold']:g} trials of the first look")
    if tp["mode"] in ("exact", "known"):
        U = float(np.max(np.abs(tp["unseen"])))
        share = f" ({U / abs(est):.3g} of the estimate)" if est else ""
        if tp["mode"] == "exact":
            return head + (f"; their unseen mass |U| = {U:.6g}{share} is exact (closed form): trials are drawn "
                           "given none of them is drawn and record value + U")
        head += (f"; their unseen mass |U| = {U:.6g}{share} (closed form of {', '.join(tp['unseen_from'])}, which this "
                 "claim checks: plain trials, U only refuses 'holds' where it could close the gap)")
    elif tp["mode"] == "bounded":
        head += f"; event statistic: {tp['line']}"
    elif tp["mode"] == "strata":
        head += ("; each trial averages a draw without and a draw with one of them, weighted by the exact "
                 f"probability {tp['strata'].pi_R:.3g} of drawing one")
    else:
        head += f"; mask law {st.claim.mask_law}: no estimator covers them"
    if seq.get("tail_blocked"):
        head += "; inconclusive (tail): the sample does not cover them, and their share of the mean could close the gap"
    return head


def rests_on_line(st, estimator: str) -> str:
    """The assumptions a verdict of the sequential interval rests on, said on the verdict line."""
    base = "finite variance and the t-interval's coverage at this sample size (Cochran: n >= 25 skew²)"
    if estimator == "rao-blackwell":
        return base + " of the per-X closed form; no mask is sampled"
    if st.sc.x_mode == "redrawn":
        return base + "; no index-level tail check for redrawn data (the mask law changes with X)"
    if st.tail is None:
        return base + f"; every index is expected in >= {RARE_SEEN:g} trials of the first look"
    return base + "; rare indices: " + {"exact": "covered exactly (closed-form unseen mass)",
                                        "known": "their closed-form unseen mass is below the slack",
                                        "strata": "covered by stratification", "bounded": st.tail.get("line", ""),
                                        "guard": "not covered ('holds' refused until they are seen)"}[st.tail["mode"]]
