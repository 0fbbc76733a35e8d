"""Counterexample search: the scenario that makes a claim look worst (``validate --search``).

Random search over small scenarios (``d <= max_d``, ``s <= max_s``), each scored by *measurement*:
exact enumeration of every Algorithm-1 outcome (no noise) where the expectation is over ``m`` only,
enumeration over ``m`` with a Monte-Carlo over ``X`` where it runs over ``X`` too. The score is
``measured / bound`` for ``<=`` claims and ``|measured / exact - 1|`` for ``=`` claims. Among the
scenarios whose score shows a violation (>1 for bounds, > 1e-9 for equalities), the one with the
smallest ``(d, s)`` is then re-checked with the full engine and reported.
"""
from __future__ import annotations

import numpy as np

from .claims import Claim
from .montecarlo import summary_value, claim_scenario, run_check
from .sampling import as_generator
from .scenarios import INITS, RATIOS, X_TILDES
from .trials import exact_m

__all__ = ["search"]


def _score(claim: Claim, sc, seed: int, x_trials: int) -> tuple[float, float]:
    gen = as_generator(seed)
    inst = claim.instance_factory(sc, gen) if claim.instance_factory is not None else sc.instance(gen)
    ex = claim.exact(inst, sc) if claim.exact is not None else None
    bd = claim.bound(inst, sc) if claim.bound is not None else None
    if sc.x_mode == "fixed":
        val = summary_value(exact_m(claim, sc, inst.X, inst.X_tilde, inst))
    else:
        vals = []
        for _ in range(x_trials):
            X = sc.draw_x(gen)
            Xt = X if sc.x_tilde == "same" else sc.draw_x(gen)
            vals.append(summary_value(exact_m(claim, sc, X, Xt, inst)))
        val = float(np.mean(vals))
    if claim.relation == "<=":
        return val / bd, val
    e = summary_value(ex)
    return abs(val / e - 1.0) if e != 0 else abs(val), val


def search(claim: Claim, *, budget: int = 150, seed: int = 0, max_d: int = 6, max_s: int = 3, max_n: int = 4,
           x_trials: int = 300, alpha: float = 0.01, progress=None) -> dict:
    """Search small scenarios for the one that makes ``claim`` look worst (``validate --search``).

    Parameters
    ----------
    claim : Claim
        A claim of :mod:`sketchbound.claims` about an expectation (not a deterministic identity).
    budget : int, optional
        How many random scenarios are scored.
    seed : int, optional
        The seed of the search (same seed, same result).
    max_d, max_s, max_n : int, optional
        The largest ``d``, ``s`` and ``n`` tried.
    x_trials : int, optional
        Draws of ``X`` per scenario where the expectation runs over ``X`` too.
    alpha : float, optional
        The error rate of the confirming check of the smallest violating scenario.
    progress : object with ``update(int)``, optional
        A progress bar, advanced once per scenario.

    Returns
    -------
    dict
        ``claim``, ``budget``, ``worst_score``, ``worst_scenario``, ``worst_seed``, ``score`` (what the score
        measures) and ``violations_found``; when some scenario violates the claim, also
        ``smallest_scenario``, ``smallest_seed`` and ``confirmation`` (the full engine's result there).

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> out = search(get_claim("B.1"), budget=2, x_trials=3, seed=0)
    >>> out["violations_found"], out["score"]
    (0, '|measured/exact - 1|')
    """
    if claim.deterministic:
        raise ValueError(f"claim {claim.id} is a deterministic identity; --search applies to expectations")
    rng = np.random.default_rng(seed)
    base = claim_scenario(claim)
    tried = []
    for t in range(budget):
        sc = base.replace(
            d=int(rng.integers(2, max_d + 1)), s=int(rng.integers(1, max_s + 1)), n=int(rng.integers(1, max_n + 1)),
            init=str(rng.choice(INITS)), c=float(np.exp(rng.uniform(np.log(0.25), np.log(4)))),
            ratio=str(rng.choice(RATIOS)),
            x_tilde=str(rng.choice(X_TILDES)) if "x_tilde" not in claim.scenario or claim.scenario.get("x_mode") == "fixed" else base.x_tilde,
        )
        if sc.x_tilde == "independent" and sc.x_mode == "redrawn" and sc.n < 3:
            sc = sc.replace(n=3)  # 1/||X̃|| needs n >= 3 for a finite variance
        sd = int(rng.integers(0, 2**31))
        score, val = _score(claim, sc, sd, x_trials)
        tried.append((score, sc, sd))
        if progress is not None:
            progress.update(1)
    tried.sort(key=lambda x: -x[0])
    worst_score, worst_sc, worst_seed = tried[0]
    threshold = 1.0 if claim.relation == "<=" else 1e-9
    violating = [x for x in tried if x[0] > threshold]
    out = {"claim": claim.id, "budget": budget, "worst_score": worst_score, "worst_scenario": worst_sc.as_dict(),
           "worst_seed": worst_seed, "score": "measured/bound" if claim.relation == "<=" else "|measured/exact - 1|",
           "violations_found": len(violating)}
    if violating:
        violating.sort(key=lambda x: (x[1].d, x[1].s, -x[0]))
        _, sc, sd = violating[0]
        confirm = run_check(claim, sc, seed=sd, alpha=alpha, exact=True)
        out.update(smallest_scenario=sc.as_dict(), smallest_seed=sd, confirmation=confirm.as_dict())
    return out
