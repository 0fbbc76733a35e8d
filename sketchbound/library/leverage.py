"""Leverage-score row sampling for least squares: Drineas, Mahoney & Muthukrishnan (2006), "Sampling
algorithms for ℓ2 regression and applications", SODA 2006; Drineas, Mahoney, Muthukrishnan & Sarlós
(2011), "Faster least squares approximation", Numer. Math. 117, the structural condition
``||I − UᵀSᵀSU||₂ ≤ ε`` (their condition (8) with ε = 1 − 2^{-1/2}) — here with an explicit constant
from the matrix Bernstein inequality (Tropp 2012, "User-friendly tail bounds for sums of random
matrices", Found. Comput. Math. 12, Theorem 1.4).

``U`` (``d x r``, orthonormal columns) spans the column space of the design matrix; row ``k`` has
leverage ``ℓ_k = ||U_(k)||²`` (``Σ ℓ_k = r``). Sample ``s`` rows i.i.d. with ``p_k = ℓ_k / r`` and
rescale by ``1/√(s p_k)``: ``UᵀSᵀSU = Uᵀ diag(m) U`` with ``m`` Algorithm 1's mask (the engine's own
sampler; the instance stores ``X = U``).

* ``LEV-embed`` (subspace embedding): ``P(||I − Uᵀ diag(m) U||₂ > ε) ≤ 2r exp(−s ε² / (2r(1 + ε/3)))``.
  Derivation: ``Uᵀ diag(m) U − I = Σ_t Y_t`` with ``Y_t = (U_(k_t)ᵀU_(k_t)/p_(k_t) − I)/s`` i.i.d.,
  mean 0, ``||Y_t|| ≤ r/s`` (the rank-one term has norm ``ℓ_k/p_k = r``) and
  ``||Σ_t E Y_t²|| = (r − 1)/s ≤ r/s``; Theorem 1.4 on ``±Σ Y_t`` gives the bound. Equivalently
  ``s ≥ 2(1 + ε/3) r ln(2r/δ) / ε²`` gives probability ``≥ 1 − δ`` — the ``C r log(r/δ)/ε²`` of
  DMM06 / DMMS11 with ``C = 2(1 + ε/3)``.
* ``LEV-frob`` (DKM06 Lemma 4 applied to ``UᵀU``, as in DMMS11's proofs):
  ``E ||I − Uᵀ diag(m) U||_F² = (1/s)(Σ_k ℓ_k²/p_k − ||UᵀU||_F²) = (r² − r)/s``.

Rare rows: on the default scenario 782 rows are each drawn in fewer than 30 of 1000 trials, but
together in 97% of trials. ``LEV-embed`` is an event (``Statistic.event``): its plain trials are
Bernoulli whatever they draw and the exact Clopper–Pearson interval decides it. ``LEV-frob`` declares
the rare rows' share of its mean in closed form (:func:`_frob_unseen`, DKM06 Lemma 4 on the law given
no rare row is drawn, the identity checked as ``DKM06-identity``): its trials are drawn given no rare
row is drawn and record ``value + U`` (|U| ≈ 0.4% of the mean), which removes the importance weights
that made the stratified values too skewed (skewness 157) for a t-interval within the trial cap.

Default scenario: ``d = 1024`` rows, ``r = n = 4``, rows of the design scaled by ``e^{1.5 N(0,1)}``
(coherent: leverages far from uniform), ``ε = 0.5``, ``s = 128`` (bound ≈ 0.26).
"""
from __future__ import annotations

import numpy as np

from ..claims import Claim, Statistic
from ..scenarios import Instance
from ._common import Entry

__all__ = ["ENTRIES", "leverage_probabilities", "embedding_bound", "EPS"]

SOURCE = ("Drineas, Mahoney & Muthukrishnan (2006), SODA; Drineas, Mahoney, Muthukrishnan & Sarlós (2011), "
          "Numer. Math. 117; constant: matrix Bernstein, Tropp (2012), Found. Comput. Math. 12, Theorem 1.4")
#: the distortion ε of the subspace-embedding check
EPS = 0.5


def lev_instance(sc, gen) -> Instance:
    """``U``: orthonormal basis (``d x r``, ``r = n``) of a Gaussian design with rows scaled by ``e^{1.5 N(0,1)}``."""
    A = gen.standard_normal((sc.d, sc.n)) * np.exp(1.5 * gen.standard_normal(sc.d))[:, None]
    U, _ = np.linalg.qr(A)
    return Instance(w0=np.ones(sc.d), w_star=np.ones(sc.d), X=np.ascontiguousarray(U), X_tilde=np.ascontiguousarray(U))


def leverage_probabilities(U, w0=None) -> np.ndarray:
    """``p_k = ||U_(k)||² / r`` (leverage scores over the rank ``r``) for ``U`` with orthonormal columns.


    Parameters
    ----------
    U : ndarray, ``(d, r)``
        Orthonormal columns.
    w0 : object
        Ignored (the ``probabilities`` signature).

    Returns
    -------
    ndarray, ``(d,)``

    Examples
    --------
    >>> leverage_probabilities(np.eye(2)).tolist()
    [0.5, 0.5]
    """
    lev = np.sum(np.asarray(U, dtype=float) ** 2, axis=1)
    return lev / lev.sum()


def embedding_bound(r: int, s: int, eps: float) -> float:
    """``min(1, 2r exp(−s ε² / (2r(1 + ε/3))))`` (matrix Bernstein, see the module docstring).


    Parameters
    ----------
    r : int
        Rank.
    s : int
        Sample size.
    eps : float
        Distortion.

    Returns
    -------
    float

    Examples
    --------
    >>> round(embedding_bound(4, 128, 0.5), 4)
    0.2595
    """
    return float(min(1.0, 2 * r * np.exp(-s * eps**2 / (2 * r * (1 + eps / 3)))))


def _gram_deviation(U, M) -> np.ndarray:
    """``Uᵀ diag(m) U − I`` for each mask row (``T x r x r``)."""
    G = np.einsum("tk,ki,kj->tij", M, U, U)
    return G - np.eye(U.shape[1])


def _spectral_exceeds(U, w, M):
    if U.ndim != 2:
        raise ValueError(f"the leverage statistics need a fixed U (2 dimensions); got {U.ndim}")
    ev = np.linalg.eigvalsh(_gram_deviation(U, M))
    return (np.max(np.abs(ev), axis=1) > EPS).astype(float)


def _frob(U, w, M):
    if U.ndim != 2:
        raise ValueError(f"the leverage statistics need a fixed U (2 dimensions); got {U.ndim}")
    D = _gram_deviation(U, M)
    return np.einsum("tij,tij->t", D, D)


def _frob_mean(U, q, s, gamma=1.0) -> float:
    """``E ||I − γ Uᵀ diag(m') U||_F²`` for Algorithm 1's mask ``m'`` with probabilities ``q`` (zero off
    their support): ``||I − γ A||_F² + γ² (1/s)(Σ_k ℓ_k²/q_k − ||A||_F²)``, ``A = Σ_{q_k > 0} U_(k)ᵀ U_(k)``
    (bias plus DKM06 Lemma 4's variance of the ``s`` i.i.d. rank-one terms)."""
    on = q > 0
    Uc, lev = U[on], np.sum(U[on] ** 2, axis=1)
    A = Uc.T @ Uc
    return float(np.sum((np.eye(U.shape[1]) - gamma * A) ** 2) + gamma**2 * (np.sum(lev**2 / q[on]) - np.sum(A**2)) / s)


def _frob_unseen(U, w, p, s, rare) -> float:
    """The unseen mass of the Frobenius distortion (:mod:`sketchbound.tails`): ``E[stat] − E[stat | no
    index of rare drawn]``. Given none is drawn, the ``s`` draws follow ``q = p_C / (1 − P_R)`` on the
    rest and ``m = γ m'`` with ``γ = 1/(1 − P_R)`` and ``m'`` Algorithm 1's mask for ``q``; both
    expectations are :func:`_frob_mean` (DKM06 Lemma 4, checked as ``DKM06-identity``).

    Examples
    --------
    >>> U = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 2)))[0]
    >>> abs(_frob_unseen(U, None, leverage_probabilities(U), 3, np.zeros(6, bool))) < 1e-12
    True
    """
    P = np.asarray(p, dtype=float) / float(np.sum(p))
    P_R = float(np.sum(P[rare]))
    q = np.where(rare, 0.0, P) / (1.0 - P_R)
    return _frob_mean(U, P, s) - _frob_mean(U, q, s, 1.0 / (1.0 - P_R))


def _lev_first(i, sc):
    p = leverage_probabilities(i.X)
    return float(np.sum(np.sum(i.X**2, axis=1) ** 2 / p) / sc.s)


_COMMON = dict(probabilities=leverage_probabilities, instance_factory=lev_instance,
               scenario=dict(x_mode="fixed", d=1024, n=4, s=128), source=SOURCE)
_ASSUME = ("U (d x r, r = n) with orthonormal columns; s rows drawn i.i.d. with p_k = ℓ_k / r (exact leverage scores), "
           "rescaled by 1/√(s p_k)")

ENTRIES = [
    Entry(Claim(
        id="LEV-embed",
        name="Leverage-score sampling is a subspace embedding (probability bound, matrix Bernstein constant)",
        statement=f"P(||I − UᵀSᵀSU||₂ > ε) ≤ 2r exp(−s ε²/(2r(1 + ε/3))),  ε = {EPS}",
        relation="<=",
        quantity=f"P(||I − Uᵀ diag(m) U||₂ > {EPS}), m Algorithm 1's mask with p = leverage / r",
        statistic=Statistic("embedding failure", _spectral_exceeds, value_range=lambda X, w, p, s: (0.0, 1.0),
                            event=True),
        bound=lambda i, sc: embedding_bound(sc.n, sc.s, EPS),
        **_COMMON),
        assumptions=_ASSUME + f"; ε = {EPS}",
        exact_value="", event=True),
    Entry(Claim(
        id="LEV-frob",
        name="Leverage-score sampling: exact expected Frobenius distortion",
        statement="E ||I − UᵀSᵀSU||_F² = (r² − r)/s",
        relation="=",
        quantity="E ||I − Uᵀ diag(m) U||_F², m Algorithm 1's mask with p = leverage / r",
        statistic=Statistic("Frobenius distortion", _frob, unseen=_frob_unseen, unseen_from=("DKM06-identity",)),
        exact=lambda i, sc: float((sc.n**2 - sc.n) / sc.s),
        scale=_lev_first,
        **_COMMON),
        assumptions=_ASSUME,
        exact_value="(1/s)(Σ_k ℓ_k²/p_k − ||UᵀU||_F²) = (r² − r)/s"),
]
