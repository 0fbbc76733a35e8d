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

from ..claims import OUTPUT, SQ_DEV, Claim
from ..sampling import inclusion_probabilities
from ..scenarios import Instance
from ._common import Entry

__all__ = ["ENTRIES", "ht_instance", "ht_variance", "size_probabilities"]

SOURCE = ("Horvitz & Thompson (1952), JASA 47, Theorems 1–2, under Poisson sampling "
          "(Särndal, Swensson & Wretman 1992, §3.3, eq. (3.3.2)–(3.3.3))")


def ht_instance(sc, gen) -> Instance:
    """Values ``y`` (the weights ``w0 = w*``), ``X = 1`` (``d x 1``: the statistic's output ``Xᵀ(y ⊙ m)``
    is the HT total) and the size measure ``x`` as ``X̃`` (``d x 1``, read by :func:`size_probabilities`).

    Parameters
    ----------
    sc : Scenario
        ``d`` items.
    gen : numpy.random.Generator

    Returns
    -------
    Instance

    Examples
    --------
    >>> from sketchbound.scenarios import Scenario
    >>> ht_instance(Scenario(d=4, n=1), np.random.default_rng(0)).X.ravel().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    y = np.exp(gen.standard_normal(sc.d))
    x = y * np.exp(0.5 * gen.standard_normal(sc.d))
    return Instance(w0=y, w_star=y, X=np.ones((sc.d, 1)), X_tilde=x[:, None])


def size_probabilities(X_tilde, w0) -> np.ndarray:
    """``p ∝ x``, the size measure in ``X̃``'s first column (a ``probabilities`` callable of a claim).

    Parameters
    ----------
    X_tilde : ndarray, ``(d, 1)``
        The positive sizes ``x``.
    w0 : ndarray, ``(d,)``
        Ignored.

    Returns
    -------
    ndarray, ``(d,)``

    Examples
    --------
    >>> size_probabilities(np.array([[1.0], [3.0]]), None).tolist()
    [0.25, 0.75]
    """
    x = np.asarray(X_tilde, dtype=float)[:, 0]
    return x / x.sum()


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


def _pi(i, sc):
    """The inclusion probabilities ``π = min(1, κ x)``, ``Σ π = s``, the core's ``bernoulli`` law draws with."""
    return inclusion_probabilities(size_probabilities(i.X_tilde, i.w0), sc.s)


_COMMON = dict(mask_law="bernoulli", probabilities=size_probabilities, instance_factory=ht_instance,
               scenario=dict(x_mode="fixed", d=64, n=1, s=16), source=SOURCE)
_ASSUME = ("Poisson sampling: independent inclusions with known π_k ∈ (0, 1] (here π_k = min(1, κ x_k), Σ π_k = s); "
           "y fixed (design-based inference: the only randomness is the sample)")

ENTRIES = [
    Entry(Claim(
        id="HT-unbiased",
        name="Horvitz–Thompson total is unbiased (Poisson sampling)",
        statement="E Σ_{k kept} y_k/π_k = Σ_k y_k",
        relation="=",
        quantity="E Ŷ_HT = E Σ_k y_k m_k (m_k = 1/π_k if kept: mask law bernoulli), π_k = min(1, κ x_k), Σ π_k = s",
        statistic=OUTPUT,
        exact=lambda i, sc: i.X.T @ i.w_star,
        **_COMMON),
        assumptions=_ASSUME,
        exact_value="Y = Σ_k y_k"),
    Entry(Claim(
        id="HT-var",
        name="Horvitz–Thompson variance under Poisson sampling",
        statement="Var Ŷ_HT = Σ_k (1 − π_k)/π_k · y_k²",
        relation="=",
        quantity="E (Ŷ_HT − Y)² (mask law bernoulli), π_k = min(1, κ x_k), Σ π_k = s",
        statistic=SQ_DEV,
        exact=lambda i, sc: np.array([ht_variance(i.w_star, _pi(i, sc))]),
        max_trials=1_024_000,
        **_COMMON),
        assumptions=_ASSUME,
        exact_value="Σ_k (1 − π_k)/π_k · y_k²"),
]
