"""The sketches Algorithm 1 is compared with: the deterministic top-``s`` threshold, sampling without
replacement (successive or systematic πps), Poisson (Bernoulli) sampling and priority sampling.

Same calling convention as :mod:`sketchbound.sampling` (which re-exports every name here): a probability
(or score) vector, a size ``s`` and ``rng``; the result is a mask ``m`` of length ``d``. Exact expected
errors are in :mod:`sketchbound.mask_errors` and :mod:`sketchbound.exact`.
"""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from ._guards import as_generator, check_budget, check_flag, check_size, check_trials, finite_mask
from .probabilities import abridge, as_real_array, check_probabilities, pow2_exponent

__all__ = ["top_s", "inclusion_probabilities", "without_replacement", "bernoulli", "priority"]


def top_s(scores, s) -> np.ndarray:
    """Deterministic hard threshold: ``m_i = 1`` for the ``s`` largest scores, 0 elsewhere.

    Exactly ``s`` ones, even with tied scores (ties go to the lower index). Biased: ``E[m] = m``
    is not 1. Exact error is the deterministic ``||Xᵀ(w ⊙ (1 - m))||²``
    (:func:`sketchbound.theory.mask_error`). This is what SynFlow/SNIP/magnitude pruning do (paper §5).

    Parameters
    ----------
    scores : array_like, shape (d,)
        Finite real scores.
    s : int
        How many to keep, ``1 <= s <= d``.

    Returns
    -------
    numpy.ndarray, shape (d,)
        The binary mask (float64).

    Examples
    --------
    >>> top_s([0.1, 0.5, 0.5, 0.2], 2)
    array([0., 1., 1., 0.])
    """
    sc = as_real_array("scores", scores, ndim=1, what="a non-empty 1-D vector of finite real scores")
    s = check_size(s)
    d = sc.shape[0]
    if s > d:
        raise ValueError(f"s={s} exceeds the number of entries d={d}")
    m = np.zeros(d)
    if s == d:
        m[:] = 1.0
        return m
    thr = np.partition(sc, d - s)[d - s]  # s-th largest value
    above = sc > thr
    m[above] = 1.0
    need = s - int(above.sum())
    ties = np.flatnonzero(sc == thr)[:need]
    m[ties] = 1.0
    return m


def _keys(p: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    nb = (p.shape[0] + K.BLOCK - 1) // K.BLOCK
    seeds = gen.integers(0, np.iinfo(np.int64).max, size=nb, dtype=np.int64)
    out = np.empty(p.shape[0])
    K.exponential_keys(p, K.BLOCK, seeds, out)
    return out


def _smallest(keys: np.ndarray, k: int) -> np.ndarray:
    if k >= keys.shape[0]:
        return np.arange(keys.shape[0])
    return np.argpartition(keys, k - 1)[:k]


def inclusion_probabilities(p, s) -> np.ndarray:
    """``π_i = min(1, κ p_i)`` with ``κ`` chosen so that ``Σ π_i = s`` (probability-proportional-to-size).

    Used by :func:`bernoulli` (expected size ``s``) and by the systematic design of
    :func:`without_replacement` (exact size ``s``).

    Parameters
    ----------
    p : array_like, shape (d,)
        The probabilities.
    s : int
        The expected sample size, ``s <= #{i: p_i > 0}``.

    Returns
    -------
    numpy.ndarray, shape (d,)
        The inclusion probabilities, in ``[0, 1]``, summing to ``s``.

    Examples
    --------
    >>> inclusion_probabilities([0.7, 0.2, 0.1], 2)
    array([1.        , 0.66666667, 0.33333333])
    """
    pa = check_probabilities(p)
    s = check_size(s)
    nnz = int(np.count_nonzero(pa))
    if s > nnz:
        raise ValueError(f"s={s} exceeds the number of entries with p_i > 0 ({nnz})")
    certain = np.zeros(pa.shape[0], dtype=bool)
    pi = np.zeros(pa.shape[0])
    while True:
        left = s - int(certain.sum())
        if left == 0:
            break
        # the entries still uncertain, scaled by a power of two (exact) so that the largest is in
        # [0.5, 1): kappa stays finite and kappa * p exact even when the rest is subnormal (1e-310)
        rest = ~certain & (pa > 0)
        q = np.ldexp(pa[rest], -pow2_exponent(float(pa[rest].max())))
        kappa = left / q.sum()
        pi[rest] = np.minimum(1.0, kappa * q)
        new = np.zeros_like(certain)
        new[rest] = kappa * q >= 1.0
        if not new.any():
            break
        certain |= new
    pi[certain] = 1.0
    return pi


def systematic_layout(pi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(sure, rest, cum)``: the indices with ``π_i = 1`` (always in the sample), the others with
    ``π_i > 0`` and the cumulative sums of their ``π``. Leaving the sure units out of the line shifts the
    others by whole units only, so the design is Madow's, and a sure unit can never be missed by rounding."""
    sure = np.flatnonzero(pi >= 1.0)
    rest = np.flatnonzero((pi > 0) & (pi < 1.0))
    return sure, rest, np.cumsum(pi[rest])


def systematic_choice(sure: np.ndarray, rest: np.ndarray, cum: np.ndarray, s: int, u: float) -> np.ndarray:
    """The indices of systematic πps sampling of size ``s`` with start ``u`` in ``[0, 1)``."""
    k = s - sure.shape[0]
    if k <= 0 or rest.shape[0] == 0:
        return sure
    picked = rest[np.minimum(np.searchsorted(cum, u + np.arange(k), side="right"), rest.shape[0] - 1)]
    return np.concatenate((sure, picked))


def without_replacement(p, s, *, rng=None, design: str = "successive", weighted: bool = False, trials=None) -> np.ndarray:
    """Sampling ``s`` distinct indices without replacement; a binary or Horvitz–Thompson mask.

    ``design="successive"``: draw one index at a time with probability ∝ ``p`` among those not yet
    drawn (what ``torch.multinomial(replacement=False)`` and the paper's randomized mask do), with
    exponential keys ``E_i / p_i`` (Efraimidis–Spirakis). Its inclusion probabilities have no closed form,
    so only the binary mask is offered; binary masks are biased (``E[m_i] = π_i``).
    ``design="systematic"``: Madow's systematic πps sampling with ``π_i = min(1, κ p_i)``
    (:func:`inclusion_probabilities`), exact size ``s``; ``weighted=True`` gives the unbiased
    Horvitz–Thompson mask ``m_i = 1/π_i`` on the sample (exact error for small ``d``: :mod:`sketchbound.exact`).

    Parameters
    ----------
    p : array_like, shape (d,)
        The probabilities.
    s : int
        The sample size, ``s <= #{i: p_i > 0}``.
    rng : None, int or numpy.random.Generator, optional
        The randomness: a seed gives the same mask everywhere.
    design : {"successive", "systematic"}, optional
        The sampling design.
    weighted : bool, optional
        Horvitz–Thompson weights (``design="systematic"`` only) instead of a binary mask.
    trials : int, optional
        When given, ``trials`` independent masks, shape ``(trials, d)``.

    Returns
    -------
    numpy.ndarray, shape (d,) or (trials, d)
        The mask, with exactly ``s`` non-zeros.

    Examples
    --------
    >>> without_replacement([0.4, 0.3, 0.2, 0.1], 2, rng=0)
    array([1., 1., 0., 0.])
    >>> without_replacement([0.4, 0.3, 0.2, 0.1], 2, rng=0, design="systematic", weighted=True)
    array([1.25, 0.  , 2.5 , 0.  ])
    """
    pa = check_probabilities(p)
    s = check_size(s)
    trials = check_trials(trials)
    weighted = check_flag("weighted", weighted)
    gen = as_generator(rng)
    nnz = int(np.count_nonzero(pa))
    if s > nnz:
        raise ValueError(f"s={s} exceeds the number of entries with p_i > 0 ({nnz}); without replacement needs s <= {nnz}")
    if not isinstance(design, str) or design not in ("successive", "systematic"):
        raise ValueError(f"design must be 'successive' or 'systematic', got {abridge(design)}")
    if weighted and design == "successive":
        raise ValueError("weighted=True needs known inclusion probabilities: use design='systematic'")
    if trials is not None:
        check_budget(trials, pa.shape[0], "without_replacement", bytes_per_entry=24, loops=True)
        return np.stack([without_replacement(pa, s, rng=gen, design=design, weighted=weighted) for _ in range(trials)])
    m = np.zeros(pa.shape[0])
    if design == "successive":
        m[_smallest(_keys(pa, gen), s)] = 1.0
        return m
    pi = inclusion_probabilities(pa, s)
    chosen = systematic_choice(*systematic_layout(pi), s, gen.random())
    m[chosen] = 1.0 / pi[chosen] if weighted else 1.0
    return finite_mask(m, "Horvitz-Thompson mask 1/pi_i")


def bernoulli(p, s, *, rng=None, weighted: bool = True, trials=None) -> np.ndarray:
    """Poisson (Bernoulli) sampling: keep ``i`` independently with ``π_i = min(1, κ p_i)``, ``Σ π_i = s``.

    The number kept is random with mean ``s``. ``weighted=True`` (default) gives the
    Horvitz–Thompson mask ``m_i = 1/π_i`` if kept: unbiased, independent entries, so the exact error is
    ``Σ_k ||X_(k)||² w_k² (1/π_k - 1)`` (:func:`sketchbound.theory.bernoulli_error`).
    ``weighted=False`` gives a binary mask with ``E[m_i] = π_i``.

    Parameters
    ----------
    p : array_like, shape (d,)
        The probabilities.
    s : int
        The expected number kept, ``s <= #{i: p_i > 0}``.
    rng : None, int or numpy.random.Generator, optional
        The randomness: a seed gives the same mask everywhere.
    weighted : bool, optional
        Horvitz–Thompson weights (default) or a binary mask.
    trials : int, optional
        When given, ``trials`` independent masks, shape ``(trials, d)``.

    Returns
    -------
    numpy.ndarray, shape (d,) or (trials, d)
        The mask.

    Examples
    --------
    >>> bernoulli([0.5, 0.25, 0.25], 2, rng=0)   # π = (1, 1/2, 1/2): all three kept this time
    array([1., 2., 2.])
    """
    pi = inclusion_probabilities(p, s)
    trials = check_trials(trials)
    weighted = check_flag("weighted", weighted)
    gen = as_generator(rng)
    shape = (pi.shape[0],) if trials is None else (trials, pi.shape[0])
    if trials is not None:  # u (float64), keep (bool), 1/pi where kept and the mask (float64)
        check_budget(trials, pi.shape[0], "bernoulli", bytes_per_entry=25, loops=False)
    u = gen.random(shape)
    keep = u < pi
    if weighted:
        with np.errstate(divide="ignore", over="ignore"):
            return finite_mask(np.where(keep, 1.0 / np.where(pi > 0, pi, 1.0), 0.0), "Horvitz-Thompson mask 1/pi_i")
    return keep.astype(np.float64)


def priority(p, s, *, rng=None, trials=None) -> np.ndarray:
    """Priority sampling (Duffield, Lund & Thorup 2007) of ``s`` entries with weights ``p``.

    Priorities ``q_i = p_i / u_i`` (``u_i`` uniform); keep the ``s`` largest; with ``τ`` the
    ``(s+1)``-th largest priority, ``m_i = max(p_i, τ) / p_i`` on the kept entries. Unbiased
    (``E[m_i] = 1``), exactly ``s`` non-zeros, and the estimates are pairwise uncorrelated; the error has
    no simple closed form (Monte Carlo only). When ``s >= #{p_i > 0}`` every positive entry is kept with
    ``m_i = 1``.

    Parameters
    ----------
    p : array_like, shape (d,)
        The probabilities (the weights of the entries).
    s : int
        The number kept.
    rng : None, int or numpy.random.Generator, optional
        The randomness: a seed gives the same mask everywhere.
    trials : int, optional
        When given, ``trials`` independent masks, shape ``(trials, d)``.

    Returns
    -------
    numpy.ndarray, shape (d,) or (trials, d)
        The mask.

    Examples
    --------
    >>> priority([0.5, 0.25, 0.25], 2, rng=0)
    array([0.        , 2.25350216, 2.25350216])
    """
    pa = check_probabilities(p)
    s = check_size(s)
    trials = check_trials(trials)
    gen = as_generator(rng)
    if trials is not None:
        check_budget(trials, pa.shape[0], "priority", bytes_per_entry=24, loops=True)
        pa = check_probabilities(pa)  # (as each trial always did: the normalised vector, normalised again)
        return finite_mask(np.stack([_priority_one(pa, s, gen) for _ in range(trials)]), _PRIORITY_MASK)
    return finite_mask(_priority_one(pa, s, gen), _PRIORITY_MASK)


_PRIORITY_MASK = "priority mask max(p_i, tau) / p_i"


def _priority_one(pa: np.ndarray, s: int, gen: np.random.Generator) -> np.ndarray:
    nnz = int(np.count_nonzero(pa))
    m = np.zeros(pa.shape[0])
    if s >= nnz:
        m[pa > 0] = 1.0
        return m
    nb = (pa.shape[0] + K.BLOCK - 1) // K.BLOCK
    seeds = gen.integers(0, np.iinfo(np.int64).max, size=nb, dtype=np.int64)
    u = np.empty(pa.shape[0])
    K.uniforms(pa.shape[0], K.BLOCK, seeds, u)
    q = pa / u
    order = np.argpartition(-q, s)[: s + 1]
    order = order[np.argsort(-q[order], kind="stable")]
    kept, tau = order[:s], q[order[s]]
    with np.errstate(over="ignore"):
        m[kept] = np.maximum(pa[kept], tau) / pa[kept]
    return m
