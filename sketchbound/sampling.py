"""Algorithm 1 and the other sketches it is compared with, in one calling convention.

Every sampler takes a probability (or score) vector, a size ``s`` and ``rng`` (``None``, an int seed
or a ``numpy.random.Generator``) and returns a *mask* ``m`` of length ``d``: the pruned weight
vector is ``w * m``. Weighted masks (Algorithm 1, Horvitz–Thompson, priority) are unbiased,
``E[m_i] = 1`` wherever ``p_i > 0``; binary masks are not.

The same seed gives the same mask whatever ``NUMBA_NUM_THREADS`` is: all randomness of the numba
kernels is tied to fixed blocks of indices (see :mod:`sketchbound._kernels`).

Guards shared by every sketch: ``s`` (and ``trials``) is an integer in ``[1, 2**53]``; ``trials x d``
fits in 2**28 entries; ``bernoulli``, ``without_replacement`` and ``priority`` refuse a ``trials`` whose
estimated peak memory (2 GiB) or run time (10 min) is too large before allocating or looping; the vectors are 1-D, real, finite (complex, object, string, NaN/inf are a
one-line ``ValueError``); long calls run in chunks so Ctrl-C works; huge ``s`` is fast (:data:`FAST_S`).

Exact expected errors ``E_m ||X^T w - X^T (w * m)||^2`` of these sketches are in
:mod:`sketchbound.theory`; exact enumeration for tiny ``d, s`` is in :mod:`sketchbound.exact`.
"""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from ._guards import MAX_SIZE, as_generator, check_dense, check_size, check_trials, finite_mask  # noqa: F401
from ._guards import check_flag, check_positive_int  # noqa: F401  (re-exported: the package's shared guards)
from .probabilities import scan_probabilities, uniform_probabilities
from .sampling_schemes import bernoulli, inclusion_probabilities, priority, top_s, without_replacement  # noqa: F401
from .sampling_schemes import systematic_choice, systematic_layout  # noqa: F401  (re-exported for sketchbound.exact)

__all__ = [
    "as_generator",
    "check_size",
    "algorithm1",
    "algorithm1_counts",
    "algorithm1_sparse",
    "uniform_algorithm1",
    "top_s",
    "without_replacement",
    "inclusion_probabilities",
    "bernoulli",
    "priority",
]

#: below this many entries the counts of many trials come from numpy's exact ``multinomial``
_SMALL_D = 4096


#: Huge ``s``. Up to ``FAST_S`` draws every block draws its ``N_b`` indices one by one (inverse CDF
#: from the block's own xoshiro stream; at ~5 ns a draw this is at most ~0.7 s a block). For
#: ``s > FAST_S``, a block with ``N_b > DENSE_FACTOR x (block size)`` instead draws its counts as one
#: exact Multinomial(N_b, p_block / P_b) (numpy's conditional-binomial sampler, O(block size), seeded
#: by the same per-block seed): the same distribution, a different random stream. So the output for
#: a given seed is unchanged for every ``s <= FAST_S``, and any ``s <= MAX_SIZE`` costs
#: O(d + s / DENSE_FACTOR) at most (``algorithm1([.5, .5], 10**12)``: milliseconds, not hours).
FAST_S = 1 << 27
DENSE_FACTOR = 16


# --------------------------------------------------------------------------------------------------
# Algorithm 1
# --------------------------------------------------------------------------------------------------
def _block_totals(mass: np.ndarray, s: int, gen: np.random.Generator):
    """Stage 1 of the exact sampler: how many of the ``s`` draws land in each block.

    Block totals are Multinomial(s, block masses) (numpy's exact sampler on ``d / BLOCK``
    categories); each block also gets a 64-bit seed for its own stream.
    """
    counts = gen.multinomial(s, mass / mass.sum()).astype(np.int64)
    seeds = gen.integers(0, np.iinfo(np.int64).max, size=mass.shape[0], dtype=np.int64)
    return counts, seeds


def _huge_blocks(counts_b: np.ndarray, d: int, s: int) -> np.ndarray:
    """Blocks drawn as one exact multinomial instead of draw by draw (see :data:`FAST_S`)."""
    if s <= FAST_S:
        return np.zeros(counts_b.shape[0], dtype=bool)
    return counts_b > DENSE_FACTOR * K.block_sizes(d)


def _block_multinomial(pb: np.ndarray, n: int, seed) -> np.ndarray:
    """``n`` draws from ``pb / sum(pb)`` as counts: one exact numpy multinomial on the positive entries."""
    out = np.zeros(pb.shape[0], dtype=np.int64)
    pos = np.flatnonzero(pb > 0)
    q = pb[pos]
    out[pos] = np.random.default_rng(int(seed)).multinomial(int(n), q / q.sum())
    return out


def _counts_one(p: np.ndarray, mass: np.ndarray, s: int, gen: np.random.Generator) -> np.ndarray:
    counts_b, seeds = _block_totals(mass, s, gen)
    dtype = np.int32 if s < 2**31 else np.int64
    out = np.empty(p.shape[0], dtype=dtype)
    huge = _huge_blocks(counts_b, p.shape[0], s)
    K.multinomial_counts(p, K.BLOCK, np.where(huge, 0, counts_b), mass, seeds, out)
    for b in np.flatnonzero(huge):
        lo, hi = b * K.BLOCK, min(p.shape[0], (b + 1) * K.BLOCK)
        out[lo:hi] = _block_multinomial(p[lo:hi], counts_b[b], seeds[b])
    return out


def algorithm1_counts(p, s, *, rng=None, trials=None) -> np.ndarray:
    """Counts form of Algorithm 1: ``c_i`` = how often index ``i`` is drawn in ``s`` i.i.d. draws from ``p``.

    ``c ~ Multinomial(s, p)`` exactly, and Algorithm 1's mask is ``m = c / (s p)``. Any
    ``1 <= s <= 2**53`` is fast (see :data:`FAST_S`: blocks with many more draws than entries are drawn as
    one exact multinomial when ``s > 2**27``). Long calls run in chunks, so Ctrl-C interrupts them.

    Parameters
    ----------
    p : array_like, shape (d,)
        The sampling probabilities (e.g. eq. (2), :func:`~sketchbound.optimal_probabilities`).
    s : int
        The number of draws, ``1 <= s <= 2**53``.
    rng : None, int or numpy.random.Generator, optional
        The randomness: a seed gives the same counts on every machine and thread count.
    trials : int, optional
        When given, ``trials`` independent count vectors (``trials x d`` at most 2**28 entries).

    Returns
    -------
    numpy.ndarray, shape (d,) or (trials, d)
        Integer counts (int32 when ``s < 2**31``) summing to ``s``.

    Examples
    --------
    >>> algorithm1_counts([0.5, 0.5, 0.0], 10, rng=0)
    array([6, 4, 0], dtype=int32)
    """
    pa, total, mass = scan_probabilities(p)
    s = check_size(s)
    trials = check_trials(trials)
    gen = as_generator(rng)
    if trials is None:
        return _counts_one(pa, mass, s, gen)
    check_dense(trials, pa.shape[0])
    if pa.shape[0] <= _SMALL_D:
        # numpy's exact multinomial, O(d) per trial whatever s; rows are drawn one after the other
        # from ``gen``, so drawing them a chunk of rows at a time gives the same array (and lets
        # Ctrl-C in between chunks)
        q = pa / total
        step = max(1, (K.CHUNK_WORK >> 3) // pa.shape[0])
        return np.concatenate([gen.multinomial(s, q, size=min(step, trials - t0)) for t0 in range(0, trials, step)])
    return np.stack([_counts_one(pa, mass, s, gen) for _ in range(trials)])


def _scale(counts: np.ndarray, p: np.ndarray, s: float) -> np.ndarray:
    if counts.ndim == 1:
        out = np.empty(counts.shape[0], dtype=np.float64)
        K.scale_counts(counts, p, float(s), out)
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        m = counts / (s * p)
    m[counts == 0] = 0.0
    return m


def algorithm1(p, s, *, rng=None, trials=None) -> np.ndarray:
    """Algorithm 1 (Drineas et al. 2006; paper §3): the sketching mask.

    Draw ``s`` indices ``i_t ~ p`` i.i.d. (with replacement) and set ``m_{i_t} += 1 / (s p_{i_t})``.
    So ``m = c / (s p)`` with ``c ~ Multinomial(s, p)``: ``E[m_i] = 1`` for ``p_i > 0`` (Lemma B.1) and
    ``Cov(m_i, m_j) = (δ_ij / p_i - 1) / s`` (which gives Lemma B.2). At most ``s`` entries are non-zero.

    Any ``1 <= s <= 2**53`` (:data:`MAX_SIZE`) is fast: for ``s > 2**27`` (:data:`FAST_S`) a block of 4096
    entries that receives more than 16 draws per entry is drawn as one exact multinomial (same
    distribution, another random stream); for ``s <= 2**27`` the output for a given seed never changes.
    Long calls return to Python every ~0.1 s, so Ctrl-C interrupts them.

    Parameters
    ----------
    p : array_like, shape (d,)
        The sampling probabilities (e.g. eq. (2), :func:`~sketchbound.optimal_probabilities`).
    s : int
        The number of draws (the density of the mask, ``||m||_0 <= s``); ``1 <= s <= 2**53``.
    rng : None, int or numpy.random.Generator, optional
        The randomness: a seed gives the same mask on every machine and thread count.
    trials : int, optional
        When given, ``trials`` independent masks (``trials x d`` at most 2**28 entries).

    Returns
    -------
    numpy.ndarray, shape (d,) or (trials, d)
        The mask; the pruned weights are ``w * m``. ``ValueError`` when an entry ``1/(s p_i)`` overflows
        float64 (only for a subnormal ``p_i`` that was drawn).

    Examples
    --------
    >>> algorithm1([0.25, 0.75], 4, rng=1)   # index 0 drawn twice (2 / (4 · 0.25)), index 1 twice
    array([2.        , 0.66666667])
    """
    pa, total, _ = scan_probabilities(p)
    s = check_size(s)
    counts = algorithm1_counts(pa, s, rng=rng, trials=trials)
    return finite_mask(_scale(counts, pa, s * (1.0 / total) if total != 1.0 else s), "Algorithm 1 mask 1/(s p_i)")


def algorithm1_sparse(p, s, *, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Sparse form of Algorithm 1 for ``d`` too large to densify a float mask.

    Extra memory is ``O(min(s, d))`` (the dense counts are never formed), and the result equals
    ``algorithm1(p, s, rng=seed)`` restricted to its non-zeros for the same seed (also for huge ``s``, see
    :data:`FAST_S`).

    Parameters
    ----------
    p : array_like, shape (d,)
        The sampling probabilities.
    s : int
        The number of draws, ``1 <= s <= 2**53``.
    rng : None, int or numpy.random.Generator, optional
        The randomness.

    Returns
    -------
    indices : numpy.ndarray of int64
        The sorted distinct drawn indices.
    values : numpy.ndarray of float64
        The mask there, ``c / (s p)``.

    Examples
    --------
    >>> algorithm1_sparse([0.5, 0.0, 0.5], 6, rng=0)
    (array([0, 2]), array([1.33333333, 0.66666667]))
    """
    pa, total, mass = scan_probabilities(p)
    s = check_size(s)
    gen = as_generator(rng)
    counts_b, seeds = _block_totals(mass, s, gen)
    d = pa.shape[0]
    sizes = np.minimum(counts_b, K.block_sizes(d))
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    slots = int(sizes.sum())
    idx = np.empty(slots, dtype=np.int64)
    cnt = np.empty(slots, dtype=np.int64)
    written = np.empty(counts_b.shape[0], dtype=np.int64)
    huge = _huge_blocks(counts_b, d, s)
    K.multinomial_sparse(pa, K.BLOCK, np.where(huge, 0, counts_b), mass, seeds, offsets, idx, cnt, written)
    for b in np.flatnonzero(huge):  # same blocks, same per-block draws as the dense form
        lo = b * K.BLOCK
        c = _block_multinomial(pa[lo:min(d, lo + K.BLOCK)], counts_b[b], seeds[b])
        nz = np.flatnonzero(c)
        idx[offsets[b]:offsets[b] + nz.shape[0]] = lo + nz
        cnt[offsets[b]:offsets[b] + nz.shape[0]] = c[nz]
        written[b] = nz.shape[0]
    # slot j of block b is used iff j - offsets[b] < written[b]
    block_of_slot = np.repeat(np.arange(sizes.shape[0]), sizes)
    keep = (np.arange(slots) - offsets[block_of_slot]) < written[block_of_slot]
    idx, cnt = idx[keep], cnt[keep]
    return idx, finite_mask(cnt / (s * (pa[idx] / total)), "Algorithm 1 mask 1/(s p_i)")


def uniform_algorithm1(d, s, *, rng=None, trials=None) -> np.ndarray:
    """Algorithm 1 with the uniform distribution ``p_i = 1/d`` (Lemma 4.5's baseline).

    Unbiased; each draw adds ``d/s``. Exact error: ``(1/s)(d Σ_k ||X_(k)||² w_k² - ||Xᵀw||²)``
    (:func:`sketchbound.theory.algorithm1_error` with uniform ``p``).

    Parameters
    ----------
    d : int
        The number of weights.
    s : int
        The number of draws.
    rng : None, int or numpy.random.Generator, optional
        The randomness.
    trials : int, optional
        When given, ``trials`` independent masks.

    Returns
    -------
    numpy.ndarray, shape (d,) or (trials, d)
        The mask.

    Examples
    --------
    >>> uniform_algorithm1(4, 2, rng=0)
    array([0., 2., 0., 2.])
    """
    return algorithm1(uniform_probabilities(d), s, rng=rng, trials=trials)
