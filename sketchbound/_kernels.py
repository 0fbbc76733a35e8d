"""Numba kernels behind :mod:`sketchbound.sampling` (private).

Exact multinomial counts at scale, reproducible for any number of threads
--------------------------------------------------------------------------
Algorithm 1 draws ``s`` indices i.i.d. from ``p``; its counts ``c`` are Multinomial(s, p). We draw
exactly that distribution in two stages:

1. The index range is cut into fixed blocks of ``BLOCK`` entries. The block totals are
   Multinomial(s, P_b) with ``P_b`` the block masses (drawn by numpy from the caller's Generator).
   Given the block totals, the draws inside different blocks are independent, and inside block ``b``
   they are ``N_b`` i.i.d. draws from ``p`` restricted to the block and renormalised.
2. Inside a block, each of the ``N_b`` draws is an inverse-CDF draw: a uniform ``U`` and the first
   entry whose running cumulative probability exceeds it, found in O(1) expected steps through a
   guide table. The block's cumulative sums and guide table (a few hundred KiB) stay in cache.

Each block has its own xoshiro256** stream seeded from a 64-bit seed drawn by the caller's
Generator, so the result depends on the seed only, never on how blocks are spread over threads.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

BLOCK = 1 << 12

_U64 = np.uint64


@njit(cache=True, inline="always")
def _splitmix64(x):
    x = x + _U64(0x9E3779B97F4A7C15)
    z = x
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return x, z ^ (z >> _U64(31))


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << _U64(k)) | (x >> _U64(64 - k))


@njit(cache=True)
def _seed_state(seed):
    st = np.empty(4, dtype=np.uint64)
    x = _U64(seed)
    for i in range(4):
        x, z = _splitmix64(x)
        st[i] = z
    return st


@njit(cache=True, inline="always")
def _step(s0, s1, s2, s3):
    """One xoshiro256** step on a state held in four scalars: ``(output, new state)``."""
    result = _rotl(s1 * _U64(5), 7) * _U64(9)
    t = s1 << _U64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(cache=True, inline="always")
def _next_u64(st):
    """One xoshiro256** step on a state held in a length-4 array (updated in place)."""
    result, st[0], st[1], st[2], st[3] = _step(st[0], st[1], st[2], st[3])
    return result


@njit(cache=True, inline="always")
def _next_open_unit(st):
    """Uniform on (0, 1]: never 0, so that -log(u) is finite."""
    return (float(_next_u64(st) >> _U64(11)) + 1.0) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _block_draws(p, lo, hi, n, mass, seed, counts):
    """Add ``n`` i.i.d. draws from ``p[lo:hi] / mass`` to ``counts`` (length ``hi - lo``).

    Every draw is an inverse-CDF draw: ``U ~ Uniform[0, 1)`` and the drawn index is the first ``i``
    with ``C_i > U * mass`` (``C`` the block's running sum of ``p``). Two exact ways to find it:

    * many draws (``8 n >= L``): a guide table (Chen & Asau 1974) maps ``U`` to the first entry
      that can hold it, so a draw costs ``1 + L/G`` comparisons on average whatever ``p`` is;
    * few draws: sort the ``n`` uniforms and merge them with one pass over ``p``.
    """
    L = hi - lo
    st = _seed_state(seed)
    s0 = st[0]
    s1 = st[1]
    s2 = st[2]
    s3 = st[3]
    if 8 * n < L:
        us = np.empty(n, dtype=np.float64)
        for k in range(n):
            r, s0, s1, s2, s3 = _step(s0, s1, s2, s3)
            us[k] = float(r >> _U64(11)) * (1.0 / 9007199254740992.0) * mass
        us.sort()
        k = 0
        acc = 0.0
        last_pos = 0
        for j in range(L):
            pj = p[lo + j]
            if pj > 0.0:
                last_pos = j
            acc += pj
            c = 0
            while k < n and us[k] < acc:
                c += 1
                k += 1
            counts[j] += c
        # rounding leftovers (a uniform at or past the block's final running sum) belong to the
        # last entry with positive probability
        if k < n:
            counts[last_pos] += n - k
        return
    C = np.empty(L, dtype=np.float64)
    acc = 0.0
    last_pos = 0
    for j in range(L):
        pj = p[lo + j]
        acc += pj
        C[j] = acc
        if pj > 0.0:
            last_pos = j
    # the last entry with positive probability closes the interval [.., mass); entries after it
    # (zero probability) are never reached
    C[last_pos] = np.inf
    # guide[g] = #{j : C_j <= g * mass / G}: the first entry whose interval can contain a uniform
    # that falls in cell g. Built branch-free: histogram of ceil(C_j * G / mass), then prefix sums.
    G = L
    guide = np.zeros(G + 1, dtype=np.int32)
    scale_g = G / mass
    for j in range(last_pos):
        c = np.ceil(C[j] * scale_g)
        guide[int(c) if c < G else G] += 1
    run = 0
    for g in range(G):
        run += guide[g]
        guide[g] = run
    for _ in range(n):
        r, s0, s1, s2, s3 = _step(s0, s1, s2, s3)
        u = float(r >> _U64(11)) * (1.0 / 9007199254740992.0)
        x = u * mass
        i = guide[int(u * G)]
        # two branch-free steps cover most draws; the loop handles the rest
        i += C[i] <= x
        i += C[i] <= x
        while C[i] <= x:
            i += 1
        counts[i] += 1


@njit(cache=True)
def _scan_block(p, lo, hi, sums, bad, neg, b):
    acc = 0.0
    nbad = 0
    nneg = 0
    for i in range(lo, hi):
        x = p[i]
        if not np.isfinite(x):
            nbad += 1
        elif x < 0.0:
            nneg += 1
        acc += x
    sums[b] = acc
    bad[b] = nbad
    neg[b] = nneg


@njit(cache=True)
def _counts_block(p, lo, hi, n, mass, seed, out):
    for i in range(lo, hi):
        out[i] = 0
    if n > 0:
        _block_draws(p, lo, hi, n, mass, seed, out[lo:hi])


@njit(cache=True)
def _sparse_block(p, lo, hi, n, mass, seed, offset, idx_out, cnt_out):
    if n == 0:
        return 0
    local = np.zeros(hi - lo, dtype=np.int64)
    _block_draws(p, lo, hi, n, mass, seed, local)
    pos = offset
    for j in range(hi - lo):
        if local[j] != 0:
            idx_out[pos] = lo + j
            cnt_out[pos] = local[j]
            pos += 1
    return pos - offset


@njit(cache=True)
def _keys_block(p, lo, hi, seed, out):
    st = _seed_state(seed)
    for i in range(lo, hi):
        e = -np.log(_next_open_unit(st))
        pi = p[i]
        out[i] = e / pi if pi > 0.0 else np.inf


@njit(cache=True)
def _uniforms_block(lo, hi, seed, out):
    st = _seed_state(seed)
    for i in range(lo, hi):
        out[i] = _next_open_unit(st)


# ---- drivers: a parallel and a serial twin of each loop over blocks ------------------------------
# Results never depend on which twin runs (all randomness is per block); the serial twin avoids the
# thread-pool launch cost (~ms when cores are busy) for small vectors. Each driver handles blocks
# ``b0 <= b < b1`` only: the Python wrappers below call it chunk by chunk (see :data:`CHUNK_WORK`).

@njit(cache=True, parallel=True)
def _scan_par(p, block, sums, bad, neg):
    d = p.shape[0]
    for b in prange(sums.shape[0]):
        _scan_block(p, b * block, min(d, (b + 1) * block), sums, bad, neg, b)


@njit(cache=True)
def _scan_ser(p, block, sums, bad, neg):
    d = p.shape[0]
    for b in range(sums.shape[0]):
        _scan_block(p, b * block, min(d, (b + 1) * block), sums, bad, neg, b)


@njit(cache=True, parallel=True)
def _counts_par(p, block, b0, b1, block_counts, block_mass, seeds, out):
    d = p.shape[0]
    for j in prange(b1 - b0):
        b = b0 + j
        _counts_block(p, b * block, min(d, (b + 1) * block), block_counts[b], block_mass[b], seeds[b], out)


@njit(cache=True)
def _counts_ser(p, block, b0, b1, block_counts, block_mass, seeds, out):
    d = p.shape[0]
    for b in range(b0, b1):
        _counts_block(p, b * block, min(d, (b + 1) * block), block_counts[b], block_mass[b], seeds[b], out)


@njit(cache=True, parallel=True)
def _sparse_par(p, block, b0, b1, block_counts, block_mass, seeds, offsets, idx_out, cnt_out, written):
    d = p.shape[0]
    for j in prange(b1 - b0):
        b = b0 + j
        written[b] = _sparse_block(p, b * block, min(d, (b + 1) * block), block_counts[b], block_mass[b],
                                   seeds[b], offsets[b], idx_out, cnt_out)


@njit(cache=True)
def _sparse_ser(p, block, b0, b1, block_counts, block_mass, seeds, offsets, idx_out, cnt_out, written):
    d = p.shape[0]
    for b in range(b0, b1):
        written[b] = _sparse_block(p, b * block, min(d, (b + 1) * block), block_counts[b], block_mass[b],
                                   seeds[b], offsets[b], idx_out, cnt_out)


@njit(cache=True, parallel=True)
def _scale_par(counts, p, s, out):
    for i in prange(counts.shape[0]):
        c = counts[i]
        out[i] = c / (s * p[i]) if c != 0 else 0.0


@njit(cache=True)
def _scale_ser(counts, p, s, out):
    for i in range(counts.shape[0]):
        c = counts[i]
        out[i] = c / (s * p[i]) if c != 0 else 0.0


@njit(cache=True, parallel=True)
def _keys_par(p, block, b0, b1, seeds, out):
    d = p.shape[0]
    for j in prange(b1 - b0):
        b = b0 + j
        _keys_block(p, b * block, min(d, (b + 1) * block), seeds[b], out)


@njit(cache=True)
def _keys_ser(p, block, b0, b1, seeds, out):
    d = p.shape[0]
    for b in range(b0, b1):
        _keys_block(p, b * block, min(d, (b + 1) * block), seeds[b], out)


@njit(cache=True, parallel=True)
def _uniforms_par(d, block, b0, b1, seeds, out):
    for j in prange(b1 - b0):
        b = b0 + j
        _uniforms_block(b * block, min(d, (b + 1) * block), seeds[b], out)


@njit(cache=True)
def _uniforms_ser(d, block, b0, b1, seeds, out):
    for b in range(b0, b1):
        _uniforms_block(b * block, min(d, (b + 1) * block), seeds[b], out)


#: vectors shorter than this use the serial twins
PARALLEL_MIN = 1 << 16

#: work (entries + draws) per kernel call. A numba call cannot be interrupted, so the wrappers cut
#: the blocks into consecutive chunks of about this much work (~0.1 s) and Python runs between
#: chunks: Ctrl-C is honoured within one chunk. Results do not depend on the chunking.
CHUNK_WORK = 1 << 24


def _pick(par, ser, work, nblocks=2):
    return par if work >= PARALLEL_MIN and nblocks > 1 else ser


def n_blocks(d: int, block: int = BLOCK) -> int:
    return (d + block - 1) // block


def block_sizes(d: int, block: int = BLOCK) -> np.ndarray:
    """Number of entries of each block (the last one may be shorter)."""
    nb = n_blocks(d, block)
    sizes = np.full(nb, block, dtype=np.int64)
    if nb:
        sizes[-1] = d - (nb - 1) * block
    return sizes


def chunks(work, limit: int = None):
    """Ranges ``(b0, b1)`` of consecutive blocks with about ``limit`` work each (at least one block)."""
    limit = CHUNK_WORK if limit is None else limit
    work = np.asarray(work, dtype=np.float64)
    if work.shape[0] <= 1:  # one block: one call (the common small case, without the bookkeeping)
        yield 0, work.shape[0], float(work.sum())
        return
    cum = np.cumsum(work)
    nb = cum.shape[0]
    b0, base = 0, 0.0
    while b0 < nb:
        b1 = max(int(np.searchsorted(cum, base + limit, side="right")), b0 + 1)
        yield b0, b1, float(cum[b1 - 1] - base)
        base = float(cum[b1 - 1])
        b0 = b1


def scan(p, block=BLOCK):
    """One pass over ``p``: per-block sums and counts of non-finite and of negative entries."""
    nb = n_blocks(p.shape[0], block)
    sums = np.empty(nb)
    bad = np.zeros(nb, dtype=np.int64)
    neg = np.zeros(nb, dtype=np.int64)
    _pick(_scan_par, _scan_ser, p.shape[0], nb)(p, block, sums, bad, neg)
    return sums, bad, neg


def _draw_work(p, block, block_counts):
    return block_sizes(p.shape[0], block) + np.asarray(block_counts, dtype=np.float64)


def multinomial_counts(p, block, block_counts, block_mass, seeds, out):
    """Fill ``out`` (length d) with the counts of ``block_counts[b]`` draws in each block."""
    for b0, b1, w in chunks(_draw_work(p, block, block_counts)):
        _pick(_counts_par, _counts_ser, w, b1 - b0)(p, block, b0, b1, block_counts, block_mass, seeds, out)


def multinomial_sparse(p, block, block_counts, block_mass, seeds, offsets, idx_out, cnt_out, written):
    """Sparse twin of :func:`multinomial_counts`: (index, count) pairs of the non-zero counts.

    Block ``b`` writes at most ``min(N_b, block size)`` pairs starting at ``offsets[b]``; the number
    written goes to ``written[b]``. Extra memory is O(s + threads x block), never O(d).
    """
    for b0, b1, w in chunks(_draw_work(p, block, block_counts)):
        _pick(_sparse_par, _sparse_ser, w, b1 - b0)(p, block, b0, b1, block_counts, block_mass, seeds, offsets,
                                                    idx_out, cnt_out, written)


def scale_counts(counts, p, s, out):
    """``out_i = c_i / (s p_i)`` (Algorithm 1's increment 1/(s p_i) per draw), 0 where ``c_i == 0``."""
    _pick(_scale_par, _scale_ser, p.shape[0])(counts, p, s, out)


def exponential_keys(p, block, seeds, out):
    """Keys ``E_i / p_i`` (E_i ~ Exp(1), +inf where p_i = 0) per fixed block, for without-replacement
    (successive) sampling: the ``k`` smallest keys are a size-``k`` sample drawn one by one with
    probability proportional to ``p`` among the items not yet drawn (Efraimidis & Spirakis 2006)."""
    for b0, b1, w in chunks(4 * block_sizes(p.shape[0], block)):
        _pick(_keys_par, _keys_ser, w, b1 - b0)(p, block, b0, b1, seeds, out)


def uniforms(d, block, seeds, out):
    """i.i.d. Uniform(0, 1] per fixed block (thread-count independent)."""
    for b0, b1, w in chunks(block_sizes(d, block)):
        _pick(_uniforms_par, _uniforms_ser, w, b1 - b0)(d, block, b0, b1, seeds, out)
