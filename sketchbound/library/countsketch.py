"""CountSketch: Charikar, Chen & Farach-Colton (2002), "Finding frequent items in data streams",
ICALP 2002 (Theor. Comput. Sci. 312, 2004), as a subspace sketch in Clarkson & Woodruff (2013),
"Low rank approximation and regression in input sparsity time", STOC 2013 (the second moment:
Thorup & Zhang 2012, SIAM J. Comput. 41(2), "Tabulation-based 5-independent hashing", §1.3 and
Lemma/eq. for the second-moment estimator).

``S`` (``m x d``) has one non-zero per column: ``S_{h(k), k} = σ_k`` with ``h(k)`` uniform on ``[m]``
and ``σ_k = ±1`` uniform, all independent (fully random hashing here; 4-wise independence suffices).
For a fixed ``x``, ``||Sx||² − ||x||² = 2 Σ_{k<l} 1[h(k) = h(l)] σ_k σ_l x_k x_l``, so

* ``CS-mean``: ``E ||Sx||² = ||x||²``;
* ``CS-var``:  ``Var ||Sx||² = (2/m)(||x||⁴ − ||x||₄⁴)`` (the pairs are uncorrelated, each with
  variance ``(1/m) x_k² x_l²``).

The sketch size is the scenario's ``n`` (``m = n`` buckets): default ``d = 64``, ``m = 8``.
"""
from __future__ import annotations

import numpy as np

from ..claims import Claim
from ._common import Entry, LawWeights, constant_mask, law_instance, law_statistic

__all__ = ["ENTRIES", "countsketch_norms", "countsketch_variance"]

SOURCE = ("Charikar, Chen & Farach-Colton (2002), ICALP; Clarkson & Woodruff (2013), STOC; "
          "second moment: Thorup & Zhang (2012), SIAM J. Comput. 41(2)")


def countsketch_norms(x, m: int, trials: int, gen) -> np.ndarray:
    """``||S x||²`` for ``trials`` independent CountSketch matrices ``S`` (``m x d``).

    Parameters
    ----------
    x : ndarray, ``(d,)``
    m : int
        Number of buckets (rows of ``S``).
    trials : int
    gen : numpy.random.Generator

    Returns
    -------
    ndarray, ``(trials,)``

    Examples
    --------
    >>> countsketch_norms(np.array([3.0]), 4, 2, np.random.default_rng(0)).tolist()
    [9.0, 9.0]
    """
    x = np.asarray(x, dtype=float)
    d = x.shape[0]
    h = gen.integers(0, m, size=(trials, d))
    sig = gen.integers(0, 2, size=(trials, d)) * 2.0 - 1.0
    idx = (np.arange(trials)[:, None] * m + h).ravel()
    buckets = np.bincount(idx, weights=(sig * x).ravel(), minlength=trials * m).reshape(trials, m)
    return np.einsum("tm,tm->t", buckets, buckets)


def countsketch_variance(x, m: int) -> float:
    """``(2/m)(||x||⁴ − ||x||₄⁴)``.

    Examples
    --------
    >>> countsketch_variance([1.0, 1.0], 2)
    2.0
    """
    x2 = np.asarray(x, dtype=float) ** 2
    return float(2.0 / m * (x2.sum() ** 2 - np.sum(x2**2)))


def cs_instance(sc, gen):
    """``x_k = N(0, 1) e^{N(0, 1)}``: entries of different sizes (so ``||x||₄⁴`` matters)."""
    return law_instance(LawWeights(gen.standard_normal(sc.d) * np.exp(gen.standard_normal(sc.d))))


def _norms(gen, w, k, m):
    return countsketch_norms(np.asarray(w), m, k, gen)


#: draws averaged per engine trial (see law_statistic)
INNER = 32


_COMMON = dict(probabilities=constant_mask, mask_uses_data=False, instance_factory=cs_instance,
               scenario=dict(x_mode="redrawn", d=64, n=8, s=1), source=SOURCE)
_ASSUME = "x fixed; h(k) uniform on [m], σ_k uniform ±1, independent (4-wise independence suffices); m = n"

ENTRIES = [
    Entry(Claim(
        id="CS-mean",
        name="CountSketch preserves the squared norm in expectation",
        statement="E ||Sx||² = ||x||²",
        relation="=",
        quantity=f"E ||Sx||², S a CountSketch with m = n buckets (each trial: the mean of {INNER} independent sketches)",
        statistic=law_statistic("CountSketch ||Sx||²", _norms, inner=INNER),
        exact=lambda i, sc: float(np.sum(np.asarray(i.w_star) ** 2)),
        max_trials=16_000,
        **_COMMON),
        assumptions=_ASSUME,
        exact_value="||x||²"),
    Entry(Claim(
        id="CS-var",
        name="CountSketch: exact variance of ||Sx||²",
        statement="Var ||Sx||² = (2/m)(||x||⁴ − ||x||₄⁴)",
        relation="=",
        quantity=f"E (||Sx||² − ||x||²)², S a CountSketch with m = n buckets (each trial: the mean of {INNER} independent sketches)",
        statistic=law_statistic("CountSketch (||Sx||² − ||x||²)²",
                                lambda gen, w, k, m: (_norms(gen, w, k, m) - float(np.sum(np.asarray(w) ** 2))) ** 2,
                                inner=INNER),
        exact=lambda i, sc: countsketch_variance(i.w_star, sc.n),
        max_trials=32_000,
        **_COMMON),
        assumptions=_ASSUME,
        exact_value="(2/m)(||x||⁴ − ||x||₄⁴)"),
]
