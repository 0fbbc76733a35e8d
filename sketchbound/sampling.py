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

import numbers

import numpy as np

from . import _kernels as K
from .probabilities import pow2_exponent, abridge, as_real_array, check_memory, check_probabilities, scan_probabilities, uniform_probabilities

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
_MAX_DENSE_ELEMENTS = 1 << 28  # 2 GiB of float64 for a (trials, d) mask

#: the largest ``s`` (and ``trials``, or any other size checked by :func:`check_size`): 2**53, the
#: largest integer float64 holds exactly (counts, ``s p_i`` and the mask ``c / (s p)`` stay exact)
MAX_SIZE = 1 << 53

#: Huge ``s``. Up to ``FAST_S`` draws every block draws its ``N_b`` indices one by one (inverse CDF
#: from the block's own xoshiro stream; at ~5 ns a draw this is at most ~0.7 s a block). For
#: ``s > FAST_S``, a block with ``N_b > DENSE_FACTOR x (block size)`` instead draws its counts as one
#: exact Multinomial(N_b, p_block / P_b) (numpy's conditional-binomial sampler, O(block size), seeded
#: by the same per-block seed): the same distribution, a different random stream. So the output for
#: a given seed is unchanged for every ``s <= FAST_S``, and any ``s <= MAX_SIZE`` costs
#: O(d + s / DENSE_FACTOR) at most (``algorithm1([.5, .5], 10**12)``: milliseconds, not hours).
FAST_S = 1 << 27
DENSE_FACTOR = 16


def as_generator(rng) -> np.random.Generator:
    """``None`` → fresh Generator, int → ``default_rng(int)``, Generator → itself."""
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng seed must be a non-negative integer, got {rng!r}")
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be None, a non-negative int seed or a numpy.random.Generator, got {abridge(rng)}")


def check_size(s, *, name: str = "s") -> int:
    """``s`` must be a positive integer (Algorithm 1: ``s ∈ Z+``) no larger than :data:`MAX_SIZE`.

    Integer-valued floats (``4.0``) are accepted; anything else raises ``ValueError`` naming ``name``.
    """
    return check_positive_int(s, name=name, limit=MAX_SIZE, limit_text="2**53")


def check_positive_int(v, *, name: str, limit: int | None = None, limit_text: str | None = None,
                       floats: bool = True) -> int:
    """``v`` as a positive int, else ``ValueError`` naming ``name``, the value and what is accepted. The one
    positive-integer check of the package (core and ``dnn``).

    Parameters
    ----------
    v : object
        The value to check.
    name : str
        The argument's name, used in the message.
    limit : int, optional
        The largest accepted value (``1 <= name <= limit_text`` in the message); ``None``: no upper bound.
    limit_text : str, optional
        How the message writes ``limit`` (e.g. ``"2**53"``); default ``str(limit)``.
    floats : bool
        Accept integer-valued floats (``4.0``); ``False`` accepts integers only.

    Returns
    -------
    int
        ``v`` as a Python int.

    Examples
    --------
    >>> check_positive_int(4.0, name="s", limit=2**53, limit_text="2**53")
    4
    >>> check_positive_int(0, name="rounds")
    Traceback (most recent call last):
    ValueError: rounds must be a positive integer, got 0
    """
    top = limit if limit is not None else float("inf")
    ok = not isinstance(v, (bool, np.bool_)) and (
        (isinstance(v, (numbers.Integral, np.integer)) and 1 <= v <= top)
        or (floats and isinstance(v, (float, np.floating)) and float(v).is_integer() and 1 <= v <= top))
    if not ok:
        rng = "" if limit is None else f" (1 <= {name} <= {limit_text or limit})"
        raise ValueError(f"{name} must be a positive integer{rng}, got {abridge(v)}")
    return int(v)


def finite_mask(m: np.ndarray, what: str = "mask") -> np.ndarray:
    """Return ``m`` if every entry is finite, else ``ValueError``: a weighted mask ``1/(s p_i)`` (or
    ``1/π_i``) overflows float64 only when an index with ``0 < p_i < ~1e-308 / s`` is drawn."""
    if not np.isfinite(m).all():
        raise ValueError(f"the {what} overflows float64: an index with a subnormal probability (< ~1e-308 / s) "
                         f"was drawn; set such probabilities to 0")
    return m


def check_flag(name: str, v) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {abridge(v)}")
    return bool(v)


def _check_trials(trials):
    if trials is None:
        return None
    return check_size(trials, name="trials")


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

    ``c ~ Multinomial(s, p)`` exactly, and Algorithm 1's mask is ``m = c / (s p)``. Returns an integer
    vector of length ``d`` (int32 when ``s < 2**31``), or ``(trials, d)`` when ``trials`` is given.

    Any ``1 <= s <= 2**53`` is fast (see :data:`FAST_S`: blocks with many more draws than entries are
    drawn as one exact multinomial when ``s > 2**27``); ``trials x d`` must fit in
    :data:`_MAX_DENSE_ELEMENTS` entries. Long calls run in chunks, so Ctrl-C interrupts them.

    >>> c = algorithm1_counts([0.5, 0.5, 0.0], 10, rng=0)
    >>> int(c.sum()), int(c[2])
    (10, 0)
    """
    pa, total, mass = scan_probabilities(p)
    s = check_size(s)
    trials = _check_trials(trials)
    gen = as_generator(rng)
    if trials is None:
        return _counts_one(pa, mass, s, gen)
    _check_dense(trials, pa.shape[0])
    if pa.shape[0] <= _SMALL_D:
        # numpy's exact multinomial, O(d) per trial whatever s; rows are drawn one after the other
        # from ``gen``, so drawing them a chunk of rows at a time gives the same array (and lets
        # Ctrl-C in between chunks)
        q = pa / total
        step = max(1, (K.CHUNK_WORK >> 3) // pa.shape[0])
        return np.concatenate([gen.multinomial(s, q, size=min(step, trials - t0)) for t0 in range(0, trials, step)])
    return np.stack([_counts_one(pa, mass, s, gen) for _ in range(trials)])


def _check_dense(trials: int, d: int) -> None:
    if trials * d > _MAX_DENSE_ELEMENTS:
        raise ValueError(
            f"trials x d = {trials} x {d} does not fit in memory as a dense array "
            f"(limit {_MAX_DENSE_ELEMENTS} entries); loop over trials or use algorithm1_sparse"
        )


#: the most memory one sampler call with ``trials`` may need at its peak (estimated before allocating)
_MAX_CALL_BYTES = 1 << 31
#: the longest one sampler call with ``trials`` may run (estimated before looping)
_MAX_CALL_SECONDS = 600.0
#: a lower bound on the cost of one trial of the samplers that loop over trials in Python
_SECONDS_PER_TRIAL, _SECONDS_PER_ENTRY = 30e-6, 30e-9


def _check_budget(trials: int, d: int, what: str, *, bytes_per_entry: int, loops: bool) -> None:
    """Refuse, before allocating or looping, a ``trials`` whose estimated peak memory exceeds
    :data:`_MAX_CALL_BYTES` (or half of this machine's memory) or, for samplers that loop over
    trials (``loops``), whose estimated run time exceeds :data:`_MAX_CALL_SECONDS`."""
    _check_dense(trials, d)
    need = bytes_per_entry * trials * d
    hint = "lower trials or call the sampler in a loop"
    if need > _MAX_CALL_BYTES:
        most = max(1, _MAX_CALL_BYTES // (bytes_per_entry * d))
        raise ValueError(f"trials = {trials} is too many for {what} with d = {d}: ~{need / 2**30:.1f} GiB at its "
                         f"peak (limit {_MAX_CALL_BYTES / 2**30:.0f} GiB, trials <= {most}); {hint}")
    check_memory(need, f"{what} with trials = {trials}")
    if loops:
        secs = trials * (_SECONDS_PER_TRIAL + _SECONDS_PER_ENTRY * d)
        if secs > _MAX_CALL_SECONDS:
            most = max(1, int(_MAX_CALL_SECONDS / (_SECONDS_PER_TRIAL + _SECONDS_PER_ENTRY * d)))
            raise ValueError(f"trials = {trials} is too many for {what} with d = {d}: at least ~{secs / 60:.0f} min "
                             f"(limit {_MAX_CALL_SECONDS / 60:.0f} min, trials <= {most}); {hint}")


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

    Parameters
    ----------
    p : probability vector of length ``d`` (e.g. :func:`~sketchbound.optimal_probabilities`, eq. (2)).
    s : number of draws (the density of the mask, ``||m||_0 <= s``).
    rng : ``None``, int seed or ``numpy.random.Generator``.
    trials : if given, return ``(trials, d)`` independent masks.

    Limits: ``1 <= s <= 2**53`` (:data:`MAX_SIZE`; larger or non-integer ``s`` is a ``ValueError``).
    Any such ``s`` is fast: for ``s > 2**27`` (:data:`FAST_S`) a block of 4096 entries that receives
    more than 16 draws per entry is drawn as one exact multinomial (same distribution, another random
    stream); for ``s <= 2**27`` the output for a given seed is the same as it always was. ``trials x d``
    must fit in 2**28 entries. Long calls return to Python every ~0.1 s, so Ctrl-C interrupts them.
    A mask entry ``1/(s p_i)`` that overflows float64 (only for a subnormal ``p_i`` that was drawn)
    is a ``ValueError``.

    >>> m = algorithm1([0.25, 0.75], 4, rng=1)
    >>> m.shape, bool((m >= 0).all())
    ((2,), True)
    """
    pa, total, _ = scan_probabilities(p)
    s = check_size(s)
    counts = algorithm1_counts(pa, s, rng=rng, trials=trials)
    return finite_mask(_scale(counts, pa, s * (1.0 / total) if total != 1.0 else s), "Algorithm 1 mask 1/(s p_i)")


def algorithm1_sparse(p, s, *, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Sparse form of Algorithm 1 for ``d`` too large to densify a float mask.

    Returns ``(indices, values)``: the sorted distinct drawn indices and ``m`` there,
    ``values = c / (s p)``. Extra memory is O(min(s, d)) (the dense counts are never formed), and the
    result equals ``algorithm1(p, s, rng=seed)`` restricted to its non-zeros for the same seed (also
    for huge ``s``, see :data:`FAST_S`).

    >>> idx, val = algorithm1_sparse([0.5, 0.0, 0.5], 6, rng=0)
    >>> bool(1 not in idx)
    True
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
    """
    return algorithm1(uniform_probabilities(d), s, rng=rng, trials=trials)


# --------------------------------------------------------------------------------------------------
# Other sketches
# --------------------------------------------------------------------------------------------------
def top_s(scores, s) -> np.ndarray:
    """Deterministic hard threshold: ``m_i = 1`` for the ``s`` largest scores, 0 elsewhere.

    Exactly ``s`` ones, even with tied scores (ties go to the lower index). Biased: ``E[m] = m``
    is not 1. Exact error is the deterministic ``||Xᵀ(w ⊙ (1 - m))||²``
    (:func:`sketchbound.theory.mask_error`). This is what SynFlow/SNIP/magnitude pruning do.

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

    Requires ``s <= #{i: p_i > 0}``. Used by :func:`bernoulli` (expected size ``s``) and by the
    systematic design of :func:`without_replacement` (exact size ``s``).

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
    drawn (what ``torch.multinomial(replacement=False)`` and the paper's randomized mask do),
    implemented with exponential keys ``E_i / p_i`` (Efraimidis–Spirakis). Its inclusion
    probabilities have no closed form, so only the binary mask (``weighted=False``) is offered;
    binary masks are biased (``E[m_i] = π_i``).

    ``design="systematic"``: Madow's systematic πps sampling with ``π_i = min(1, κ p_i)``
    (:func:`inclusion_probabilities`), exact size ``s``, inclusion probabilities known exactly, so
    ``weighted=True`` gives the unbiased Horvitz–Thompson mask ``m_i = 1/π_i`` on the sample. Its
    exact error depends on the joint inclusions of the ordering; :mod:`sketchbound.exact` computes it
    for small ``d``.

    >>> m = without_replacement([0.4, 0.3, 0.2, 0.1], 2, rng=0)
    >>> int(m.sum())
    2
    """
    pa = check_probabilities(p)
    s = check_size(s)
    trials = _check_trials(trials)
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
        _check_budget(trials, pa.shape[0], "without_replacement", bytes_per_entry=24, loops=True)
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

    >>> m = bernoulli([0.5, 0.5], 2, rng=0)
    >>> m.tolist()
    [1.0, 1.0]
    """
    pi = inclusion_probabilities(p, s)
    trials = _check_trials(trials)
    weighted = check_flag("weighted", weighted)
    gen = as_generator(rng)
    shape = (pi.shape[0],) if trials is None else (trials, pi.shape[0])
    if trials is not None:  # u (float64), keep (bool), 1/pi where kept and the mask (float64)
        _check_budget(trials, pi.shape[0], "bernoulli", bytes_per_entry=25, loops=False)
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
    (``E[m_i] = 1``), exactly ``s`` non-zeros, and the estimates are pairwise uncorrelated; the
    variance ``E[max(0, τ_i - p_i)]``-type terms have no simple closed form (exact enumeration only
    via Monte Carlo). When ``s >= #{p_i > 0}`` every positive entry is kept with ``m_i = 1``.
    """
    pa = check_probabilities(p)
    s = check_size(s)
    trials = _check_trials(trials)
    gen = as_generator(rng)
    if trials is not None:
        _check_budget(trials, pa.shape[0], "priority", bytes_per_entry=24, loops=True)
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
