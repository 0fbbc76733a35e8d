"""Tail-aware Monte-Carlo for sums over indices under Algorithm 1: the indices a run rarely sees.

Why
---
A statistic such as the error ``||Σ_k a_k (1 − m_k)||²`` (``a_k = w_k X_(k)``) puts a contribution of
about ``||a_k||² / (s p_k)`` on index ``k`` — through the trials that *draw* ``k``, which happen with
probability ``π_k = 1 − (1 − p_k)^s`` each. An index with ``w⁰_k ≈ 0`` but ``w*_k ≠ 0`` has a tiny
``p_k`` and a large contribution: a sample of ``n`` trials that never draws it (``n π_k ≪ 1``)
estimates the mean *without* it, its skewness looks harmless (Cochran's rule cannot see skew the
sample does not contain) and the t-interval can sit wholly below a bound the truth exceeds.

What is done instead (before any sampling, from ``p`` and ``s`` only)
---------------------------------------------------------------------
* The **rare set** ``R``: indices expected in fewer than :data:`RARE_SEEN` trials of the first look
  (``batch · π_k < RARE_SEEN``) — the look that may stop the run.
* The **unseen mass** ``U = E[stat] − E[stat | no index of R drawn]``: what a sample that misses ``R``
  misses. For the error it is exact (:func:`error_unseen_mass`): given that no rare index is drawn,
  the ``s`` draws follow ``q = p_C / (1 − P_R)`` on the rest ``C`` and ``m_k = γ m'_k`` with
  ``γ = 1/(1 − P_R)`` and ``m'`` Algorithm 1's mask for ``q``, so
  ``E[err | no rare] = ||u||² + γ² E||Σ_C a_k (1 − m'_k)||²``, ``u = Σ_R a_k + (1 − γ) Σ_C a_k``,
  the last expectation by the Lemma 4.3 equality line (:func:`sketchbound.theory.algorithm1_error`).
* The **stratified estimator**: each trial records ``y = (1 − π_R) v₀ + π_R v₁`` with ``v₀`` drawn
  given *no* rare index is drawn and ``v₁`` given *at least one* is (``π_R = 1 − (1 − P_R)^s`` exact);
  ``E[y] = E[stat]`` exactly, the ``y`` are i.i.d., so the engine's interval applies unchanged, and the
  rare indices are drawn in every ``v₁``. Where the unseen mass is known in closed form the trial
  records ``v₀ + U`` instead (no rare stratum to sample at all).
* **Residual rarity**: inside the rare stratum index ``k`` is drawn with probability ``π_k / π_R``; a
  look whose ``n π_k / π_R < RARE_SEEN`` for some ``k`` may not conclude ``holds`` (the engine then
  says ``inconclusive (tail)``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .sampling import algorithm1_counts

__all__ = ["RARE_SEEN", "seen_per_trial", "rare_indices", "Strata", "make_strata", "draw_stratified",
           "error_unseen_mass", "output_unseen_mass", "sq_dev_unseen_mass"]

#: an index expected in fewer trials than this (of a look) is "rare": its share of the mean is not
#: estimated by the sample
RARE_SEEN = 30.0


def seen_per_trial(p, s: int) -> np.ndarray:
    """``π_k = 1 − (1 − p_k)^s``: the probability that one Algorithm-1 trial draws index ``k``.

    Parameters
    ----------
    p : array_like
        Probabilities of Algorithm 1 (paper eq. (2) or any).
    s : int
        Draws.

    Returns
    -------
    numpy.ndarray
        ``π_k`` per index.

    Examples
    --------
    >>> float(seen_per_trial([1e-7, 1 - 1e-7], 1)[0])
    1e-07
    """
    pa = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore"):
        return -np.expm1(s * np.log1p(-np.minimum(pa, 1.0)))


def rare_indices(p, s: int, trials: int, threshold: float = RARE_SEEN) -> np.ndarray:
    """Boolean mask of the indices with ``p_k > 0`` expected in fewer than ``threshold`` of ``trials``
    Algorithm-1 trials (``trials · π_k < threshold``).

    Parameters
    ----------
    p : array_like
        Probabilities.
    s : int
        Draws.
    trials : int
        Trials of the look.
    threshold : float
        Expected trials drawing an index below which it is rare (:data:`RARE_SEEN`).

    Returns
    -------
    numpy.ndarray
        Boolean mask of the rare indices.

    Examples
    --------
    >>> rare_indices([1e-7, 0.5, 0.5 - 1e-7], 4, 1000).tolist()
    [True, False, False]
    """
    pa = np.asarray(p, dtype=float)
    return (pa > 0) & (trials * seen_per_trial(pa, s) < threshold)


@dataclass
class Strata:
    """Algorithm 1 with probabilities ``p`` and ``s`` draws, split by whether a rare index is drawn.

    Parameters
    ----------
    p : numpy.ndarray
        Normalised probabilities.
    s : int
        Draws.
    rare : numpy.ndarray
        Boolean rare set ``R``.
    P_R, pi_R : float
        ``Σ_R p_k`` and the probability that a trial draws a rare index.
    j_pmf : numpy.ndarray
        ``P(J = j | J >= 1)``, ``j = 1..s``.
    pi_k : numpy.ndarray
        Per-trial probability that index ``k`` is drawn.

    Examples
    --------
    >>> st = make_strata([0.01, 0.99], 2, [True, False])
    >>> round(st.pi_R, 4), st.residual(100)
    (0.0199, 100.0)
    """

    p: np.ndarray
    s: int
    rare: np.ndarray       # boolean, the rare set R
    P_R: float             # Σ_R p_k
    pi_R: float            # P(at least one rare index in a trial) = 1 − (1 − P_R)^s
    j_pmf: np.ndarray      # P(J = j | J >= 1), j = 1..s, J ~ Binomial(s, P_R) the draws landing in R
    pi_k: np.ndarray       # per-trial probability that index k is drawn

    def residual(self, trials: int) -> float:
        """The smallest expected number of rare-stratum trials that draw a given rare index, over
        ``trials`` trials (the rare draws are uniform over the rare set: at least ``trials / |R|``)."""
        if not np.any(self.rare):
            return float("inf")
        return float(trials / np.count_nonzero(self.rare))


def make_strata(p, s: int, rare) -> Strata:
    """The stratification of Algorithm 1's law by the rare set ``rare`` (see the module doc).

    Parameters
    ----------
    p : array_like
        Probabilities (normalised here).
    s : int
        Draws.
    rare : array_like
        Boolean rare set.

    Returns
    -------
    Strata
        The two strata's probabilities and the law of the rare draws.

    Examples
    --------
    >>> round(make_strata([0.25, 0.75], 1, [True, False]).pi_R, 12)
    0.25
    """
    from scipy import stats  # noqa: PLC0415

    pa = np.asarray(p, dtype=float) / float(np.sum(p))
    r = np.asarray(rare, dtype=bool)
    P_R = float(np.sum(pa[r]))
    pi_R = float(-np.expm1(s * np.log1p(-P_R)))
    j = np.arange(1, s + 1)
    pmf = stats.binom.pmf(j, s, P_R)
    pmf = pmf / pmf.sum()
    return Strata(pa, int(s), r, P_R, pi_R, pmf, seen_per_trial(pa, s))


def _masks_for(st: Strata, idx: np.ndarray, draws: int, trials: int, gen) -> np.ndarray:
    """``(trials, d)`` mask contributions ``c_k / (s p_k)`` of ``draws`` draws restricted to ``idx``."""
    M = np.zeros((trials, st.p.shape[0]))
    if draws == 0 or trials == 0:
        return M
    q = st.p[idx]
    c = algorithm1_counts(q / q.sum(), draws, rng=gen, trials=trials)
    M[:, idx] = c / (st.s * q)
    return M


def draw_stratified(st: Strata, stratum: int, trials: int, gen: np.random.Generator):
    """Algorithm-1 masks (``(trials, d)``, the law's scaling ``m_k = c_k / (s p_k)``) drawn given no rare
    index is drawn (``stratum=0``: returns the masks) or given at least one is (``stratum=1``: returns
    ``(masks, weights)``). In the rare stratum the ``J`` rare draws are uniform over the rare set
    (importance sampling, so that every rare index is drawn in about ``1/|R|`` of the trials); the
    weight ``Π_k (|R| p_k / P_R)^{c_k}`` (likelihood ratio) makes ``E[weight · f(m)]`` the conditional mean.

    Parameters
    ----------
    st : Strata
        From :func:`make_strata`.
    stratum : int
        0 (no rare index drawn) or 1 (at least one).
    trials : int
        Masks to draw.
    gen : numpy.random.Generator
        The random stream.

    Returns
    -------
    numpy.ndarray or tuple
        ``(trials, d)`` masks, or ``(masks, weights)`` for ``stratum=1``.

    Examples
    --------
    >>> import numpy as np
    >>> st = make_strata([0.01, 0.99], 2, [True, False])
    >>> M, wts = draw_stratified(st, 1, 3, np.random.default_rng(0))
    >>> bool((M[:, 0] > 0).all()), wts.shape
    (True, (3,))
    """
    rare_idx, common_idx = np.flatnonzero(st.rare), np.flatnonzero(~st.rare & (st.p > 0))
    if stratum == 0:
        return _masks_for(st, common_idx, st.s, trials, gen)
    J = gen.choice(np.arange(1, st.s + 1), size=trials, p=st.j_pmf)
    M = np.empty((trials, st.p.shape[0]))
    logw = np.empty(trials)
    ratio = np.log(rare_idx.size * st.p[rare_idx] / st.P_R)
    for j in np.unique(J):
        rows = np.flatnonzero(J == j)
        c = gen.multinomial(int(j), np.full(rare_idx.size, 1.0 / rare_idx.size), size=rows.size)
        Mr = np.zeros((rows.size, st.p.shape[0]))
        Mr[:, rare_idx] = c / (st.s * st.p[rare_idx])
        M[rows] = Mr + _masks_for(st, common_idx, st.s - int(j), rows.size, gen)
        logw[rows] = c @ ratio
    return M, np.exp(logw)


def _split(X, w, p, rare):
    """``a_k = w_k X_(k)`` and the conditional law given no index of ``rare`` is drawn."""
    pa = np.asarray(p, dtype=float) / float(np.sum(p))
    r = np.asarray(rare, dtype=bool)
    Xa, wa = np.asarray(X, dtype=float), np.asarray(w, dtype=float)
    A = wa[:, None] * Xa
    C = ~r & (pa > 0)
    gamma = 1.0 / (1.0 - float(np.sum(pa[r])))
    u = A[r].sum(axis=0) + (1.0 - gamma) * A[C].sum(axis=0)
    ok = not np.any(~r & (pa == 0) & np.any(A != 0, axis=1))  # an undrawable index with weight: infinite error
    return Xa, wa, pa, C, gamma, u, ok


def error_unseen_mass(X, w, p, s: int, rare) -> float:
    """``U = E[err] − E[err | no index of rare drawn]`` for ``err = ||Xᵀw − Xᵀ(w ⊙ m)||²`` under
    Algorithm 1 with ``p`` (exact; module doc; both terms by the Lemma 4.3 equality line).

    Parameters
    ----------
    X : array_like
        ``(d, n)`` data.
    w : array_like
        Weights.
    p : array_like
        Probabilities of Algorithm 1.
    s : int
        Draws.
    rare : array_like
        Boolean rare set.

    Returns
    -------
    float
        ``U`` (NaN when an undrawable index carries weight: the error is infinite).

    Examples
    --------
    >>> import numpy as np
    >>> from sketchbound.theory import algorithm1_error
    >>> X, w, p = np.eye(2), np.array([1.0, 1.0]), np.array([1e-6, 1 - 1e-6])
    >>> U = error_unseen_mass(X, w, p, 1, np.array([True, False]))
    >>> round(U / algorithm1_error(X, w, p, 1), 4)  # (almost) the whole error sits on the rare index
    1.0
    """
    from .theory import algorithm1_error  # noqa: PLC0415

    Xa, wa, pa, C, gamma, u, ok = _split(X, w, p, rare)
    if not ok:
        return float("nan")
    rest = algorithm1_error(Xa[C], wa[C], pa[C] / pa[C].sum(), s)
    return float(algorithm1_error(Xa, wa, pa, s) - (u @ u + gamma**2 * rest))


def output_unseen_mass(X, w, p, s: int, rare) -> np.ndarray:
    """``U = E[Xᵀ(w ⊙ m)] − E[Xᵀ(w ⊙ m) | no index of rare drawn]`` per output, from the law only:
    given no rare index, ``E[m_k] = 0`` on ``rare`` and ``γ`` elsewhere, so ``U = Σ_R a_k + (1 − γ) Σ_C a_k``
    (Lemma B.1's mean, split by strata).

    Parameters
    ----------
    X, w, p, s, rare
        As in :func:`error_unseen_mass`.

    Returns
    -------
    numpy.ndarray
        ``U`` per output (length ``n``).

    Examples
    --------
    >>> import numpy as np
    >>> output_unseen_mass(np.eye(2), np.array([1.0, 1.0]), np.array([0.5, 0.5]), 1, np.array([True, False])).tolist()
    [1.0, -1.0]
    """
    return _split(X, w, p, rare)[5]


def sq_dev_unseen_mass(X, w, p, s: int, rare) -> np.ndarray:
    """``U`` for the squared deviation of each masked output (Lemma B.2's variance minus the conditional
    mean square ``u_i² + γ² Var_q``).

    Parameters
    ----------
    X, w, p, s, rare
        As in :func:`error_unseen_mass`.

    Returns
    -------
    numpy.ndarray
        ``U`` per output (NaN where an undrawable index carries weight).

    Examples
    --------
    >>> import numpy as np
    >>> sq_dev_unseen_mass(np.eye(2), np.array([1.0, 1.0]), np.array([0.5, 0.5]), 1, np.array([False, False])).tolist()
    [0.0, 0.0]
    """
    from .theory import lemma_b2_variance  # noqa: PLC0415

    Xa, wa, pa, C, gamma, u, ok = _split(X, w, p, rare)
    if not ok:
        return np.full(Xa.shape[1], np.nan)
    rest = lemma_b2_variance(Xa[C], wa[C], pa[C] / pa[C].sum(), s) if np.any(C) else 0.0
    return lemma_b2_variance(Xa, wa, pa, s) - (u**2 + gamma**2 * rest)
