"""One trial of a claim: draw the data and the mask under the claim's laws, evaluate its statistic.

The engine (:mod:`sketchbound.montecarlo`) decides; this module only produces per-trial values:

* :func:`measure` — ``T`` i.i.d. values of the claim's statistic: masks from the claim's mask law
  (:data:`sketchbound.laws.MASK_LAWS`: Algorithm 1, Poisson/Horvitz–Thompson, priority, systematic
  without replacement, or the CountSketch / Gaussian sketches) with the claim's probabilities, on fixed data or data redrawn from the claim's
  data law (``Claim.data``, default ``N(0, I/n)``);
* :func:`tail_plan` / :func:`tail_sampler` — the same values made tail-aware where some indices are
  rarely drawn (:mod:`sketchbound.tails`);
* every call of user code (statistic, exact, bound, data law) goes through :func:`call_user`, so a
  user callable that raises or returns NaN is a ``ValueError`` naming the claim and the callable
  (the CLI's one line and exit status 2), never a traceback or a verdict.
"""
from __future__ import annotations

import numpy as np

from . import exact as exact_enum
from . import sampling
from .claims import Claim
from .laws import SKETCH_LAWS, draw_law
from .scenarios import Instance, Scenario
from .tails import RARE_SEEN, draw_stratified, make_strata, seen_per_trial

__all__ = ["measure", "call_user", "draw_masks", "tail_plan"]

#: above this many mask entries per call (trials x d) the dense masks are drawn in blocks
DENSE_LIMIT = 1 << 26
#: Algorithm 1's masks are drawn in blocks of this many entries: its rows come one after the other from
#: the generator (:func:`sketchbound.sampling.algorithm1_counts`), so the blocks give the very same values
#: as one call, with far less memory (and time spent faulting it in)
ALGORITHM1_BLOCK = 1 << 21


def call_user(claim: Claim, what: str, fn, *args):
    """``fn(*args)``, with any exception of a claim's callable turned into a one-line ``ValueError``.

    Parameters
    ----------
    claim : Claim
        Whose callable it is (named in the message).
    what : str
        Which callable, in words (``"statistic"``, ``"bound"``, ...).
    fn : callable
        The callable.
    *args
        Its arguments.

    Returns
    -------
    object
        What ``fn`` returns.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> call_user(get_claim("4.1"), "bound", lambda: 1 / 0)
    Traceback (most recent call last):
    ...
    ValueError: claim '4.1': its bound raised ZeroDivisionError: division by zero
    """
    try:
        return fn(*args)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as e:  # noqa: BLE001 - user code may raise anything: say which callable and what
        msg = " ".join(str(e).split()) or "no message"
        raise ValueError(f"claim {claim.id!r}: its {what} raised {type(e).__name__}: {msg}") from None


def statistic_values(claim: Claim, X, w, M) -> np.ndarray:
    """The claim's statistic on the masks ``M`` (rows), checked: one row (scalar or ``k``-vector) per
    mask and finite. A failure is a ``ValueError`` naming the claim and what came back."""
    vals = np.asarray(call_user(claim, "statistic", claim.statistic, X, w, M), dtype=float)
    T = M.shape[0]
    if vals.ndim not in (1, 2) or vals.shape[0] != T:
        raise ValueError(f"claim {claim.id!r}: its statistic must return shape ({T},) or ({T}, k) for {T} masks; "
                         f"got shape {vals.shape}")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"claim {claim.id!r}: its statistic returned a non-finite value (NaN or inf) on finite "
                         "inputs; it must return finite numbers")
    return vals


def target(claim: Claim, inst: Instance) -> np.ndarray:
    return inst.w0 if claim.target == "w0" else inst.w_star


def mask_p(claim: Claim, Xt, w0) -> np.ndarray:
    return np.asarray(call_user(claim, "probabilities", claim.probabilities, Xt, w0), dtype=float)


def draw_masks(claim: Claim, p, s: int, gen, trials: int | None = None) -> np.ndarray:
    """Masks of the claim's law (``trials`` rows, or one vector) with probabilities ``p`` and size ``s``.

    Parameters
    ----------
    claim : Claim
        Its ``mask_law``: Algorithm 1 (paper §3), Bernoulli/Horvitz–Thompson, priority, systematic, or a
        sketch law (:func:`sketchbound.laws.draw_law`).
    p : numpy.ndarray
        Probabilities.
    s : int
        Draws (sample size).
    gen : numpy.random.Generator
        The random stream.
    trials : int, optional
        Rows; one vector when ``None``.

    Returns
    -------
    numpy.ndarray
        ``(trials, d)`` masks, or ``(d,)``; sketch laws: ``(trials, s, d)`` sketches.

    Examples
    --------
    >>> import numpy as np
    >>> from sketchbound.claims import get_claim
    >>> draw_masks(get_claim("4.1"), np.array([0.5, 0.5]), 2, np.random.default_rng(0), 3).shape
    (3, 2)
    """
    return draw_law(claim, p, s, gen, trials)


def draw_inputs(claim: Claim, sc: Scenario, gen, size: int | None = None):
    """A fresh ``X`` (``size`` of them) from the claim's data law and the ``X̃`` the mask is found on
    (the same ``X`` when ``x_tilde="same"`` or when the mask law ignores data)."""
    def one_law():
        if claim.data is None:
            return sc.draw_x(gen, size=size)
        draws = [np.asarray(call_user(claim, "data law", claim.data, sc, gen), dtype=float)
                 for _ in range(1 if size is None else size)]
        for x in draws:
            if x.shape != (sc.d, sc.n) or not np.all(np.isfinite(x)):
                raise ValueError(f"claim {claim.id!r}: its data law must return a finite ({sc.d}, {sc.n}) array; "
                                 f"got shape {x.shape}")
        return draws[0] if size is None else np.stack(draws)
    X = one_law()
    Xt = X if (sc.x_tilde == "same" or not claim.mask_uses_data) else one_law()
    return X, Xt


def measure(claim: Claim, sc: Scenario, inst: Instance, gen: np.random.Generator, trials: int) -> np.ndarray:
    """``trials`` i.i.d. draws of the claim's statistic (rows), using the core samplers for masks.

    Parameters
    ----------
    claim : Claim
        The statistic, mask law, probabilities and data law.
    sc : Scenario
        The scenario (``x_mode="redrawn"``: a fresh ``X`` per trial).
    inst : Instance
        The fixed parts (``w0``, ``w*``, and ``X``, ``X̃`` when fixed).
    gen : numpy.random.Generator
        The random stream.
    trials : int
        How many values.

    Returns
    -------
    numpy.ndarray
        ``(trials,)`` or ``(trials, k)`` values.

    Examples
    --------
    >>> import numpy as np
    >>> from sketchbound.claims import get_claim
    >>> from sketchbound.scenarios import Scenario
    >>> sc = Scenario(d=8, n=2, s=2)
    >>> measure(get_claim("4.1"), sc, sc.instance(0), np.random.default_rng(0), 5).shape
    (5,)
    """
    w = target(claim, inst)
    sketch = claim.mask_law in SKETCH_LAWS  # a sketch ignores p: only d (and k = s per trial) matter
    if sc.x_mode == "fixed":
        p = np.empty(w.shape[0]) if sketch else mask_p(claim, inst.X_tilde, inst.w0)
        d = p.shape[0] * (sc.s if sketch else 1)
        if claim.mask_law == "algorithm1":
            step = max(1, ALGORITHM1_BLOCK // d)
        else:  # large d (Theorem 6.2's MLPs): dense masks in blocks, so memory stays bounded
            step = trials if trials * d <= DENSE_LIMIT else max(1, DENSE_LIMIT // (8 * d))
        return np.concatenate([statistic_values(claim, inst.X, w, draw_masks(claim, p, sc.s, gen, min(step, trials - t0)))
                               for t0 in range(0, trials, step)])
    out = []
    chunk = max(1, min(trials, 2_000_000 // (sc.d * sc.n)))
    done = 0
    while done < trials:
        b = min(chunk, trials - done)
        Xs, Xts = draw_inputs(claim, sc, gen, b)
        if sketch:
            M = draw_masks(claim, np.empty(sc.d), sc.s, gen, b)
        else:
            M = np.empty((b, sc.d))
            for t in range(b):
                M[t] = draw_masks(claim, mask_p(claim, Xts[t], inst.w0), sc.s, gen)
        out.append(statistic_values(claim, Xs, w, M))
        done += b
    return np.concatenate(out)


def exact_m(claim: Claim, sc: Scenario, X, Xt, inst: Instance) -> np.ndarray:
    """E_m of the statistic by enumerating every Algorithm-1 outcome (no noise)."""
    masks, probs = exact_enum.outcomes_algorithm1(mask_p(claim, Xt, inst.w0), sc.s)
    return exact_enum.expectation(statistic_values(claim, X, target(claim, inst), masks), probs)


# -------------------------------------------------------------------------------------------------
# rarely drawn indices (sketchbound.tails)
# -------------------------------------------------------------------------------------------------
def tail_plan(claim: Claim, sc: Scenario, inst: Instance, trials: int) -> dict | None:
    """Before sampling a fixed-data check: the indices expected in fewer than ``RARE_SEEN`` of
    ``trials`` trials and how the sample is made to cover them; ``None`` when there are none.

    ``mode``: ``"exact"`` (the statistic declares its unseen mass ``U`` in closed form: trials are drawn
    given no rare index is drawn and record ``value + U``), ``"known"`` (the same closed form leans on
    the claim being checked: plain trials, ``U`` only refuses ``holds`` where it could close the gap), ``"strata"`` (Algorithm 1 without that
    closed form: each trial averages a draw without and a draw with a rare index, weighted by their
    exact probabilities), ``"guard"`` (another mask law: nothing covers them, ``holds`` is refused),
    ``"bounded"`` (an event statistic, ``Statistic.event``: plain trials are i.i.d. Bernoulli whatever they
    draw, so the exact Clopper–Pearson interval covers the rare indices' share of the mean, which is at
    most ``P(a trial draws one) x range``; ``line`` says so with that number, exact from ``p`` under
    Algorithm 1, a union bound under other laws).

    Parameters
    ----------
    claim : Claim
        The claim checked.
    sc : Scenario
        A fixed-data scenario.
    inst : Instance
        Its instance.
    trials : int
        Trials of the look that may conclude.

    Returns
    -------
    dict or None
        The plan (``mode``, ``rare``, ``count``, ...), ``None`` without rare indices.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> from sketchbound.scenarios import Scenario
    >>> sc = Scenario(d=8, n=2, s=2, ratio="equal")
    >>> tail_plan(get_claim("4.3"), sc, sc.instance(0), 1000) is None
    True
    """
    law = claim.mask_law
    if law in SKETCH_LAWS:  # every index enters every sketch: none is rarely drawn
        return None
    p = mask_p(claim, inst.X_tilde, inst.w0)
    if law == "algorithm1":
        pi = seen_per_trial(p / p.sum(), sc.s)
    else:  # first-order inclusion probabilities of the without-replacement / Poisson designs
        pi = sampling.inclusion_probabilities(p, min(sc.s, int(np.count_nonzero(p))))
    rare = (p > 0) & (trials * pi < RARE_SEEN)
    if not np.any(rare):
        return None
    plan = dict(rare=rare, count=int(rare.sum()), p_rare=float(np.sum(p[rare]) / np.sum(p)),
                min_seen=float(trials * np.min(pi[rare])), pi_min=float(np.min(pi[rare])), unseen=None,
                threshold=RARE_SEEN)
    stat = claim.statistic
    if getattr(stat, "event", False):
        hit = (-np.expm1(sc.s * np.log1p(-min(plan["p_rare"], 1.0))) if law == "algorithm1"
               else min(1.0, float(np.sum(pi[rare]))))
        plan.update(mode="bounded", p_hit=float(hit), line=(
            f"{plan['count']} rarely drawn, in a trial with probability {hit:.3g}{'' if law == 'algorithm1' else ' or less'}: "
            f"their share of the event's probability is at most that (values in [0, 1]), and the exact "
            "Clopper–Pearson interval covers it (plain i.i.d. trials, no stratification)"))
        return plan
    if law != "algorithm1":
        plan["mode"] = "guard"
        return plan
    w = target(claim, inst)
    unseen = getattr(stat, "unseen", None)
    plan["strata"] = make_strata(p, sc.s, rare)
    if unseen is not None:
        U = np.asarray(call_user(claim, "unseen-mass closed form", unseen, inst.X, w, p, sc.s, rare), dtype=float)
        if np.all(np.isfinite(U)):
            own = claim.id in getattr(stat, "unseen_from", ())
            # a claim the closed form leans on samples plainly and uses U only to refuse "holds", with the
            # indices still rare at the look that would conclude
            plan.update(mode="known" if own else "exact", unseen=U, unseen_from=tuple(getattr(stat, "unseen_from", ())),
                        unseen_at=lambda n: np.asarray(unseen(inst.X, w, p, sc.s, (p > 0) & (n * pi < RARE_SEEN)), dtype=float))
            return plan
    plan["mode"] = "strata"
    return plan


def tail_sampler(claim: Claim, sc: Scenario, inst: Instance, gen, plan: dict):
    """``draw(k)``: ``k`` i.i.d. tail-aware trial values with mean ``E[statistic]`` (see :func:`tail_plan`)."""
    if plan["mode"] in ("guard", "known", "bounded"):
        return lambda k: measure(claim, sc, inst, gen, k)
    w, S = target(claim, inst), plan["strata"]
    step = max(1, DENSE_LIMIT // (8 * inst.w0.shape[0]))

    def stratum(which, k):
        out = []
        for t0 in range(0, k, step):
            drawn = draw_stratified(S, which, min(step, k - t0), gen)
            if which == 0:
                out.append(statistic_values(claim, inst.X, w, drawn))
            else:  # importance-weighted draws of the rare stratum
                v = statistic_values(claim, inst.X, w, drawn[0])
                out.append(v * (drawn[1] if v.ndim == 1 else drawn[1][:, None]))
        return np.concatenate(out)
    if plan["mode"] == "exact":
        return lambda k: stratum(0, k) + plan["unseen"]
    return lambda k: (1.0 - S.pi_R) * stratum(0, k) + S.pi_R * stratum(1, k)


def tail_ok(plan: dict | None, trials: int, slack=None) -> bool:
    """Whether a look of ``trials`` tail-aware trials covers every rare index (``holds`` allowed).

    Examples
    --------
    >>> tail_ok(None, 1000)
    True
    """
    if plan is None or plan["mode"] in ("exact", "bounded"):  # bounded: the exact interval of an event covers them
        return True
    if plan["mode"] == "known":  # U known: it may not close the remaining slack (bound − upper end, or precision)
        return slack is None or bool(np.all(np.abs(plan["unseen_at"](trials)) < np.asarray(slack)))
    if plan["mode"] == "guard":
        return trials * plan["pi_min"] >= RARE_SEEN
    return plan["strata"].residual(trials) >= RARE_SEEN
