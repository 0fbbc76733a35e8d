"""Drineas, Kannan & Mahoney (2006), "Fast Monte Carlo algorithms for matrices I: approximating matrix
multiplication", SIAM J. Comput. 36(1):132–157, Lemma 4 — the result eq. (2) of the paper descends from.

Sample ``s`` column/row pairs ``k`` of ``A`` (``n x d``) and ``B`` (``d x q``) i.i.d. with probabilities
``p_k`` and form ``CR = Σ_t A^(k_t) B_(k_t) / (s p_(k_t)) = A diag(m) B``: ``m`` is exactly Algorithm 1's
mask, so the engine's own sampler draws it. The instance stores ``X = Aᵀ`` (``d x n``) and
``w0 = w* = B``.

* ``DKM06-identity`` (Lemma 4, eq. (11)–(12) in the proof): for *any* ``p`` with ``p_k > 0``,
  ``E ||AB − CR||_F² = (1/s)(Σ_k ||A^(k)||² ||B_(k)||² / p_k − ||AB||_F²)``; checked on a β-mixed law.
* ``DKM06-frob`` (Lemma 4 with β = 1, optimal ``p_k ∝ ||A^(k)|| ||B_(k)||``):
  ``E ||AB − CR||_F² ≤ (1/s) ||A||_F² ||B||_F²``.
* ``DKM06-beta`` (Lemma 4, "nearly optimal" probabilities ``p_k ≥ β ||A^(k)|| ||B_(k)|| / Σ_j ...``),
  for the mixture ``p = β p_opt + (1 − β)/d``: ``E ||AB − CR||_F² ≤ (1/(β s)) ||A||_F² ||B||_F²``.
"""
from __future__ import annotations

import numpy as np

from ..claims import Claim, Statistic
from ..scenarios import Instance
from ._common import Entry

__all__ = ["ENTRIES", "amm_error", "optimal_pairs", "mixed_pairs", "amm_identity", "amm_bound"]

SOURCE = "Drineas, Kannan & Mahoney (2006), SIAM J. Comput. 36(1), Lemma 4"
#: the mixing weight of the β-mixed laws (identity check and Lemma 4's 1/β bound)
BETA_IDENTITY, BETA_BOUND = 0.5, 0.25


def amm_instance(sc, gen) -> Instance:
    """``A`` (``n x d``) and ``B`` (``d x n``): i.i.d. N(0, 1) entries, column/row scales ``e^{N(0,1)}``
    (so that the pair norms differ and the law matters)."""
    A = gen.standard_normal((sc.n, sc.d)) * np.exp(gen.standard_normal(sc.d))
    B = gen.standard_normal((sc.d, sc.n)) * np.exp(gen.standard_normal(sc.d))[:, None]
    return Instance(w0=B, w_star=B, X=np.ascontiguousarray(A.T), X_tilde=np.ascontiguousarray(A.T))


def amm_error(X, W, M) -> np.ndarray:
    """``||AB − A diag(m) B||_F²`` for each mask row of ``M`` (``X = Aᵀ``, ``W = B``).

    Parameters
    ----------
    X : ndarray, ``d x n``
        ``Aᵀ``.
    W : ndarray, ``d x q``
        ``B``.
    M : ndarray, ``T x d``
        Algorithm-1 masks.

    Returns
    -------
    ndarray, ``(T,)``

    Examples
    --------
    >>> float(amm_error(np.eye(2), np.eye(2), np.ones((1, 2)))[0])
    0.0
    """
    if X.ndim != 2:
        raise ValueError(f"the AMM statistic needs fixed A, B (X of 2 dimensions); got X.ndim={X.ndim}")
    R = np.einsum("td,dn,dq->tnq", 1.0 - M, X, W)
    return np.einsum("tnq,tnq->t", R, R)


def _pair_norms(X, W) -> np.ndarray:
    return np.linalg.norm(X, axis=1) * np.linalg.norm(W, axis=1)


def optimal_pairs(X, W) -> np.ndarray:
    """``p_k ∝ ||A^(k)|| ||B_(k)||`` (DKM06 Lemma 4; eq. (2) of the paper when ``B`` is a vector).

    Parameters
    ----------
    X : ndarray, ``(d, n)``
        ``A = Xᵀ``.
    W : ndarray, ``(d, m)`` or ``(d,)``
        ``B``.

    Returns
    -------
    ndarray, ``(d,)``

    Examples
    --------
    >>> optimal_pairs(np.eye(2), np.array([[1.0], [3.0]])).tolist()
    [0.25, 0.75]
    """
    a = _pair_norms(X, W)
    return a / a.sum()


def mixed_pairs(beta: float):
    """The law ``p = β p_opt + (1 − β)/d`` (satisfies Lemma 4's ``p_k ≥ β p_opt,k``).

    Parameters
    ----------
    beta : float
        In ``(0, 1]``.

    Returns
    -------
    callable
        ``(X, W) -> p``.

    Examples
    --------
    >>> mixed_pairs(0.5)(np.eye(2), np.array([[1.0], [3.0]])).tolist()
    [0.375, 0.625]
    """
    def law(X, W):
        p = optimal_pairs(X, W)
        return beta * p + (1.0 - beta) / p.shape[0]
    law.__name__ = f"mixed_pairs_{beta:g}"
    return law


def amm_identity(X, W, p, s) -> float:
    """``(1/s)(Σ_k ||A^(k)||² ||B_(k)||² / p_k − ||AB||_F²)`` (DKM06 Lemma 4, the exact expectation).


    Parameters
    ----------
    X : ndarray, ``(d, n)``
        ``A = Xᵀ``.
    W : ndarray, ``(d, m)``
        ``B``.
    p : ndarray, ``(d,)``
        The sampling law.
    s : int
        Number of i.i.d. pairs.

    Returns
    -------
    float

    Examples
    --------
    >>> amm_identity(np.eye(2), np.eye(2), np.array([0.5, 0.5]), 1)
    2.0
    """
    a2 = _pair_norms(X, W) ** 2
    return float((np.sum(a2 / p) - np.sum((X.T @ W) ** 2)) / s)


def amm_bound(X, W, s, beta: float = 1.0) -> float:
    """``||A||_F² ||B||_F² / (β s)`` (DKM06 Lemma 4).

    Parameters
    ----------
    X, W : ndarray
        As :func:`amm_identity`.
    s : int
    beta : float
        Lemma 4's ``β`` (``p_k ≥ β p_opt,k``).

    Returns
    -------
    float

    Examples
    --------
    >>> amm_bound(np.eye(2), np.eye(2), 2)
    2.0
    """
    return float(np.sum(X**2) * np.sum(W**2) / (beta * s))


_AMM = Statistic("amm_error", amm_error)
_COMMON = dict(statistic=_AMM, instance_factory=amm_instance, scenario=dict(x_mode="fixed", d=64, n=8, s=8), source=SOURCE)
_QTY = "E_m ||AB − A diag(m) B||_F², A (n x d), B (d x n) fixed, s i.i.d. pairs from p ({law})"


def _first(law):
    return lambda i, sc: float(np.sum(_pair_norms(i.X, i.w_star) ** 2 / law(i.X, i.w_star)) / sc.s)


ENTRIES = [
    Entry(Claim(
        id="DKM06-identity",
        name="AMM: exact expected error for any sampling law (Drineas–Kannan–Mahoney 2006)",
        statement="E ||AB − CR||_F² = (1/s)(Σ_k ||A^(k)||² ||B_(k)||² / p_k − ||AB||_F²)",
        relation="=",
        quantity=_QTY.format(law=f"β-mixed law, β = {BETA_IDENTITY}"),
        probabilities=mixed_pairs(BETA_IDENTITY),
        exact=lambda i, sc: amm_identity(i.X, i.w_star, mixed_pairs(BETA_IDENTITY)(i.X, i.w_star), sc.s),
        # a difference of two terms: the precision refers to the larger one
        scale=_first(mixed_pairs(BETA_IDENTITY)),
        **_COMMON),
        assumptions="s i.i.d. draws with replacement; every p_k > 0; CR = Σ_t A^(k_t)B_(k_t)/(s p_(k_t)). No other assumption.",
        exact_value="(1/s)(Σ_k ||A^(k)||²||B_(k)||²/p_k − ||AB||_F²)"),
    Entry(Claim(
        id="DKM06-frob",
        name="AMM: Frobenius bound under the optimal law (Drineas–Kannan–Mahoney 2006)",
        statement="E ||AB − CR||_F² ≤ (1/s) ||A||_F² ||B||_F²,  p_k ∝ ||A^(k)|| ||B_(k)||",
        relation="<=",
        quantity=_QTY.format(law="p_k ∝ ||A^(k)|| ||B_(k)||"),
        probabilities=optimal_pairs,
        exact=lambda i, sc: amm_identity(i.X, i.w_star, optimal_pairs(i.X, i.w_star), sc.s),
        bound=lambda i, sc: amm_bound(i.X, i.w_star, sc.s),
        **_COMMON),
        assumptions="as DKM06-identity, with the optimal probabilities p_k = ||A^(k)|| ||B_(k)|| / Σ_j ||A^(j)|| ||B_(j)|| (β = 1).",
        exact_value="(1/s)((Σ_k ||A^(k)|| ||B_(k)||)² − ||AB||_F²)"),
    Entry(Claim(
        id="DKM06-beta",
        name="AMM: the 1/β bound under nearly optimal (β-mixed) probabilities (Drineas–Kannan–Mahoney 2006)",
        statement=f"E ||AB − CR||_F² ≤ (1/(β s)) ||A||_F² ||B||_F²,  p = β p_opt + (1 − β)/d, β = {BETA_BOUND}",
        relation="<=",
        quantity=_QTY.format(law=f"β-mixed law, β = {BETA_BOUND}"),
        probabilities=mixed_pairs(BETA_BOUND),
        exact=lambda i, sc: amm_identity(i.X, i.w_star, mixed_pairs(BETA_BOUND)(i.X, i.w_star), sc.s),
        bound=lambda i, sc: amm_bound(i.X, i.w_star, sc.s, BETA_BOUND),
        **_COMMON),
        assumptions="as DKM06-identity, with p_k ≥ β ||A^(k)|| ||B_(k)|| / Σ_j ||A^(j)|| ||B_(j)|| for some β ∈ (0, 1] "
                    "(true for the mixture β p_opt + (1 − β)/d).",
        exact_value="(1/s)(Σ_k ||A^(k)||²||B_(k)||²/p_k − ||AB||_F²) with the mixed p"),
]
