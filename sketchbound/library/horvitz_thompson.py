"""Horvitz & Thompson (1952), "A generalization of sampling without replacement from a finite universe",
J. Amer. Statist. Assoc. 47(260):663–685, under Poisson sampling (Hájek 1964; Särndal, Swensson &
Wretman 1992, *Model Assisted Survey Sampling*, §3.3 eq. (3.3.2)–(3.3.3)).

Keep item ``k`` independently with probability ``π_k`` (the core's :func:`~sketchbound.sampling.bernoulli`,
``π_k = min(1, κ p_k)``, ``Σ π_k = s``) and estimate the total ``Y = Σ_k y_k`` by ``Ŷ = Σ_{k kept} y_k / π_k``.

* ``HT-unbiased``: ``E Ŷ = Y`` (every ``π_k > 0``).
* ``HT-var``: ``Var Ŷ = Σ_k (1 − π_k)/π_k · y_k²`` (independent inclusions: the joint inclusion
  probabilities are ``π_k π_l``, so every covariance term of the general HT variance vanishes).

Default scenario: ``d = 64`` items, ``y_k = e^{N(0,1)}``, sizes ``x_k = y_k e^{N(0, 0.5²)}`` (a size
measure correlated with ``y``, as in survey practice), ``p ∝ x``, expected sample size ``s = 16``.
"""
from __future__ import annotations

import numpy as np

from ..claims import Claim
from ..sampling import bernoulli, inclusion_probabilities
from ._common import Entry, LawWeights, constant_mask, law_instance, law_statistic

__all__ = ["ENTRIES", "ht_instance", "ht_variance"]

SOURCE = ("Horvitz & Thompson (1952), JASA 47, Theorems 1–2, under Poisson sampling "
          "(Särndal, Swensson & Wretman 1992, §3.3, eq. (3.3.2)–(3.3.3))")


def ht_instance(sc, gen):
    """Values ``y`` and inclusion probabilities ``π = min(1, κ x)`` (``Σ π = s``) for ``d`` items."""
    y = np.exp(gen.standard_normal(sc.d))
    x = y * np.exp(0.5 * gen.standard_normal(sc.d))
    pi = inclusion_probabilities(x / x.sum(), sc.s)
    return law_instance(LawWeights(y, pi=pi, s=sc.s))


def ht_variance(y, pi) -> float:
    """``Σ_k (1 − π_k)/π_k · y_k²``: the variance of the HT total under Poisson sampling.

    Parameters
    ----------
    y : array_like
        Item values.
    pi : array_like
        Inclusion probabilities in ``(0, 1]``.

    Returns
    -------
    float

    Examples
    --------
    >>> ht_variance([1.0, 2.0], [0.5, 1.0])
    1.0
    """
    y, pi = np.asarray(y, dtype=float), np.asarray(pi, dtype=float)
    if np.any(~(pi > 0)) or np.any(pi > 1):
        raise ValueError(f"pi must be inclusion probabilities in (0, 1]; got min {pi.min()!r}, max {pi.max()!r}")
    return float(np.sum((1.0 - pi) / pi * y**2))


def _ht_total(gen, w, k, m):
    pi = w.params["pi"]
    M = bernoulli(pi / pi.sum(), w.params["s"], rng=gen, trials=k)  # HT mask 1/π_k on kept items
    return M @ np.asarray(w)


#: draws averaged per engine trial (see law_statistic)
INNER = 16
_TOTAL = law_statistic("HT total", _ht_total, inner=INNER)
_SQDEV = law_statistic("HT squared deviation", lambda gen, w, k, m: (_ht_total(gen, w, k, m) - float(np.sum(w))) ** 2,
                       inner=INNER)
_COMMON = dict(probabilities=constant_mask, mask_uses_data=False, instance_factory=ht_instance,
               scenario=dict(x_mode="redrawn", d=64, n=1, s=16), source=SOURCE)
_ASSUME = ("Poisson sampling: independent inclusions with known π_k ∈ (0, 1] (here π_k = min(1, κ x_k), Σ π_k = s); "
           "y fixed (design-based inference: the only randomness is the sample)")

ENTRIES = [
    Entry(Claim(
        id="HT-unbiased",
        name="Horvitz–Thompson total is unbiased (Poisson sampling)",
        statement="E Σ_{k kept} y_k/π_k = Σ_k y_k",
        relation="=",
        quantity=f"E Ŷ_HT (each trial: the mean of {INNER} independent samples), Poisson sampling with π_k = min(1, κ x_k), Σ π_k = s",
        statistic=_TOTAL,
        exact=lambda i, sc: float(np.sum(i.w_star)),
        max_trials=16_000,
        **_COMMON),
        assumptions=_ASSUME,
        exact_value="Y = Σ_k y_k"),
    Entry(Claim(
        id="HT-var",
        name="Horvitz–Thompson variance under Poisson sampling",
        statement="Var Ŷ_HT = Σ_k (1 − π_k)/π_k · y_k²",
        relation="=",
        quantity=f"E (Ŷ_HT − Y)² (each trial: the mean of {INNER} independent samples), Poisson sampling with π_k = min(1, κ x_k), Σ π_k = s",
        statistic=_SQDEV,
        exact=lambda i, sc: ht_variance(i.w_star, i.w_star.params["pi"]),
        max_trials=32_000,
        **_COMMON),
        assumptions=_ASSUME,
        exact_value="Σ_k (1 − π_k)/π_k · y_k²"),
]
