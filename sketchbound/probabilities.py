"""Sampling probabilities for Algorithm 1: eq. (2), uniform, and "from scores".

This module is the one place that checks a probability vector (:func:`check_probabilities`).
Every sampler in :mod:`sketchbound.sampling` calls it, so bad input fails the same way everywhere.

Conventions follow the paper (§3): ``X`` is ``d x n`` (rows ``X_(i)`` are features, columns are the
``n`` examples) and ``w`` has length ``d``.
"""
from __future__ import annotations

import os

import numpy as np

from . import _kernels

__all__ = [
    "optimal_probabilities",
    "uniform_probabilities",
    "from_scores",
    "check_probabilities",
    "check_matrix_vector",
    "tempered_probabilities",
    "variance_aware_probabilities",
]

#: relative tolerance on ``sum(p) == 1`` accepted by :func:`check_probabilities`
SUM_RTOL = 1e-6


#: ``abridge`` keeps at most this many characters of a value in an error message
_ABRIDGE = 80
#: real dtypes accepted for numeric input (bool, signed/unsigned integers, floats)
_REAL_KINDS = "biuf"
#: inputs whose non-zero magnitudes lie in ``[2**-SAFE_EXP, 2**SAFE_EXP]`` are computed as written;
#: outside it the scale-safe path (exact power-of-two rescaling) is used
SAFE_EXP = 200


def abridge(v, limit: int = _ABRIDGE) -> str:
    """A one-line, at most ``limit`` characters, description of ``v`` for error messages."""
    try:
        if isinstance(v, np.ndarray):
            s = np.array2string(v, threshold=6, edgeitems=2, max_line_width=10**6)
            s += f" (shape {v.shape}, dtype {v.dtype})"
        else:
            s = repr(v)
    except Exception:  # a __repr__ that fails must not hide the real error
        s = f"<{type(v).__name__} object>"
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def as_real_array(name: str, v, *, ndim: int | None = None, finite: bool = True, empty: bool = False,
                  what: str | None = None) -> np.ndarray:
    """``v`` as a contiguous float64 array, or ``ValueError`` naming ``name``, the value and what is accepted.

    Accepted: bool / integer / float input (lists or arrays) with ``ndim`` dimensions (any when
    ``None``), non-empty unless ``empty``, every entry finite when ``finite``. Rejected: complex (no
    silent dropping of the imaginary part), object, string, datetime dtypes, ragged lists, values that
    do not fit in float64, and ``numpy.ma.MaskedArray`` (its mask would be ignored).
    """
    acc = what or (("a " + {1: "1-D vector", 2: "2-D matrix"}.get(ndim, f"{ndim}-D array") if ndim else "an array")
                   + " of " + ("finite " if finite else "") + "real numbers")
    if isinstance(v, np.ma.MaskedArray):  # its mask would be silently dropped by np.asarray
        raise ValueError(f"{name} must be {acc}, not a numpy masked array (its mask would be ignored; pass "
                         f"v.filled(value) or v.compressed()); got shape {np.shape(v)} with "
                         f"{int(np.ma.count_masked(v))} masked entries")
    try:
        a = np.asarray(v)
    except Exception:  # ragged nested lists, objects whose __array__ fails
        raise ValueError(f"{name} must be {acc}; got {abridge(v)}") from None
    if a.dtype.kind not in _REAL_KINDS:
        raise ValueError(f"{name} must be {acc}; got dtype {a.dtype}: {abridge(v)}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional ({acc}); got shape {a.shape}: {abridge(v)}")
    if a.size == 0 and not empty:
        raise ValueError(f"{name} must not be empty; got shape {a.shape}")
    if a.dtype == np.float64 and a.flags.c_contiguous:
        out = a
    else:
        with np.errstate(over="ignore"):  # float128 beyond float64 becomes inf, rejected below
            out = np.ascontiguousarray(a, dtype=np.float64)
    if finite and not np.isfinite(out).all():
        bad = np.flatnonzero(~np.isfinite(out.ravel()))
        i = int(bad[0])
        idx = np.unravel_index(i, out.shape) if out.ndim > 1 else i
        raise ValueError(f"{name} must be {acc}; it has {bad.size} NaN or inf entries "
                         f"(first at index {idx}: {out.ravel()[i]})")
    return out


def as_float_vector(name: str, v, *, finite: bool = True) -> np.ndarray:
    return as_real_array(name, v, ndim=1, finite=finite)


def check_matrix_vector(X, w, *, X_name: str = "X", w_name: str = "w") -> tuple[np.ndarray, np.ndarray]:
    """Validate a data matrix ``X`` (``d x n``, ``n >= 1``) and a weight vector ``w`` (length ``d``, paper §3).

    Parameters
    ----------
    X : array_like, shape (d, n)
        The data matrix, rows are features and columns examples; finite real entries.
    w : array_like, shape (d,)
        The weight vector; finite real entries.
    X_name, w_name : str, optional
        The names the ``ValueError`` messages use for ``X`` and ``w``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(X, w)`` as float64 arrays (copies or views).

    Raises
    ------
    ValueError
        On a shape mismatch, no column, a non-finite, complex or non-numeric entry.

    Examples
    --------
    >>> X, w = check_matrix_vector([[1, 2], [3, 4]], [1, 0])
    >>> X.dtype, w.shape
    (dtype('float64'), (2,))
    """
    Xa = as_real_array(X_name, X, ndim=2, what="a d x n matrix (2-D) of finite real numbers")
    wa = as_float_vector(w_name, w)
    if Xa.shape[0] != wa.shape[0]:
        raise ValueError(
            f"shape mismatch: {X_name} has d={Xa.shape[0]} rows but {w_name} has length {wa.shape[0]}; "
            f"X must be d x n with rows as features (paper §3)"
        )
    if Xa.shape[1] == 0:
        raise ValueError(f"{X_name} must have at least one column (n >= 1 examples); got shape {Xa.shape}")
    return Xa, wa


def pow2_exponent(amax: float) -> int:
    """``k`` with ``amax * 2**-k`` in ``[0.5, 1)`` (0 for 0)."""
    return int(np.frexp(amax)[1]) if amax > 0 else 0


def _row_norms_scaled(Xa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row norms as ``mant * 2**expo`` without over/underflow: each row is scaled by a power of two
    (exact) so that its largest entry is in ``[0.5, 1)`` before squaring."""
    amax = np.max(np.abs(Xa), axis=1)
    expo = np.where(amax > 0, np.frexp(amax)[1], 0).astype(np.int64)
    Xs = np.ldexp(Xa, -expo[:, None].astype(np.int32))
    return np.sqrt(np.einsum("ij,ij->i", Xs, Xs)), expo


def _naive_ok(values: np.ndarray, nonzero: np.ndarray) -> bool:
    """A plain float64 computation is trusted when every value is finite and every value that should
    be non-zero is comfortably normal (no under/overflow touched it)."""
    if not np.isfinite(values).all():
        return False
    return not np.any(nonzero & (values < 2.0 ** -(4 * SAFE_EXP)))


def scan_probabilities(p, *, name: str = "p") -> tuple[np.ndarray, float, np.ndarray]:
    """Check ``p`` in one parallel pass and return ``(p as float64, sum(p), per-block sums)``.

    The vector is *not* renormalised (no copy for large ``d``); samplers use the returned sum and the
    block sums of :data:`sketchbound._kernels.BLOCK` entries. Raises like :func:`check_probabilities`.
    """
    a = as_real_array(name, p, ndim=1, finite=False, what="a 1-D probability vector (finite, >= 0, sum 1)")
    sums, bad, neg = _kernels.scan(a, _kernels.BLOCK)
    if bad.any():
        i = int(np.flatnonzero(~np.isfinite(a))[0])
        raise ValueError(f"{name} contains NaN or inf (first at index {i}: {a[i]}); probabilities must be finite")
    if neg.any():
        i = int(np.argmin(a))
        raise ValueError(f"{name} has a negative entry ({a[i]!r} at index {i}); probabilities must be >= 0")
    total = float(sums.sum())
    if total <= 0:
        raise ValueError(f"{name} is all zeros; at least one probability must be positive")
    if not abs(total - 1.0) <= SUM_RTOL:
        raise ValueError(
            f"{name} sums to {total!r}, not 1 (tolerance {SUM_RTOL}): {abridge(p, 60)}; use "
            f"sketchbound.from_scores(...) to turn non-negative scores into probabilities"
        )
    return a, total, sums


def check_probabilities(p, *, name: str = "p", normalize: bool = True) -> np.ndarray:
    """Check that ``p`` is a probability vector and return it as contiguous float64.

    Accepted: a 1-D finite, non-negative vector whose sum is 1 within a relative ``1e-6``
    (:data:`SUM_RTOL`). Anything else raises ``ValueError`` naming the problem: NaN/inf, negative entries,
    all zeros, or a sum far from 1 (use :func:`from_scores` to normalise arbitrary scores). Every sampler
    of Algorithm 1 calls it.

    Parameters
    ----------
    p : array_like, shape (d,)
        The candidate probabilities.
    name : str, optional
        The name the error messages use for ``p``.
    normalize : bool, optional
        When true (default), the returned vector is divided by its sum, so it sums to 1 up to rounding.

    Returns
    -------
    numpy.ndarray, shape (d,)
        ``p`` as float64.

    Examples
    --------
    >>> check_probabilities([0.25, 0.75])
    array([0.25, 0.75])
    """
    if not isinstance(normalize, (bool, np.bool_)):
        raise ValueError(f"normalize must be True or False, got {abridge(normalize)}")
    a, total, _ = scan_probabilities(p, name=name)
    if normalize and total != 1.0:
        a = a / total
    return a


def from_scores(scores) -> np.ndarray:
    """Probabilities proportional to a non-negative score vector: ``p_i = score_i / sum(score)``.

    This is how any pruning score (SynFlow, SNIP, magnitude, ...) becomes a sampling distribution for
    Algorithm 1 (paper §5: "we calculate the scores ... and treat them as probabilities"). Scale-safe:
    scores near ``1e308`` or in the subnormals are rescaled by a power of two before summing.

    Parameters
    ----------
    scores : array_like, shape (d,)
        Finite scores ``>= 0``, not all zero.

    Returns
    -------
    numpy.ndarray, shape (d,)
        The probabilities (sum 1).

    Examples
    --------
    >>> from_scores([1.0, 3.0])
    array([0.25, 0.75])
    """
    a = as_real_array("scores", scores, ndim=1, what="a 1-D vector of finite, non-negative scores")
    if a.min() < 0:
        bad = int(np.argmin(a))
        raise ValueError(f"scores has a negative entry ({a[bad]!r} at index {bad}); scores must be >= 0")
    with np.errstate(over="ignore"):
        total = a.sum()
    if total <= 0:
        raise ValueError("scores are all zero; cannot form probabilities")
    if np.isfinite(total) and total >= 2.0 ** -(4 * SAFE_EXP):
        return a / total
    # scale-safe: divide by a power of two near the maximum first (exact), so that the sum neither
    # overflows (scores near 1e308) nor loses precision in subnormals
    a = np.ldexp(a, -pow2_exponent(float(a.max())))
    return a / a.sum()


def memory_limit() -> int | None:
    """The most bytes one computation may plan to use: half of this machine's physical memory (``None``
    where the platform does not say). :func:`check_memory` and the CLIs' size checks use it."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):  # not available on this platform
        return None


def check_memory(n_bytes: int, what: str) -> None:
    """``ValueError`` (instead of a MemoryError or the OOM killer) when ``what`` needs more than half
    of this machine's physical memory."""
    limit = memory_limit()
    if limit is not None and n_bytes > limit:
        raise ValueError(f"{what} needs {n_bytes / 2**30:.1f} GiB, more than half of this machine's "
                         f"{2 * limit / 2**30:.0f} GiB of memory")


#: the largest ``d`` :func:`uniform_probabilities` builds (2**31 entries = 16 GiB of float64)
MAX_UNIFORM_D = 1 << 31


def uniform_probabilities(d: int) -> np.ndarray:
    """The uniform distribution ``p_i = 1/d``, the law of Lemma 4.5's baseline mask.

    Parameters
    ----------
    d : int
        The number of weights, ``1 <= d <= MAX_UNIFORM_D``.

    Returns
    -------
    numpy.ndarray, shape (d,)
        ``1/d`` in every entry.

    Examples
    --------
    >>> uniform_probabilities(4)
    array([0.25, 0.25, 0.25, 0.25])
    """
    if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) or not 1 <= d <= MAX_UNIFORM_D:
        raise ValueError(f"d must be an integer in [1, {MAX_UNIFORM_D}], got {abridge(d)}")
    check_memory(8 * int(d), f"uniform_probabilities(d={d})")
    return np.full(int(d), 1.0 / int(d))


def row_norms(X) -> np.ndarray:
    """Euclidean norms ``||X_(i)||`` of the rows of a ``d x n`` matrix (features, paper §3).

    Computed as written when that is exact to rounding; rows whose squares would over/underflow are
    rescaled by a power of two first. ``ValueError`` if a norm itself exceeds float64.
    """
    Xa = as_real_array("X", X, ndim=2, what="a d x n matrix (2-D) of finite real numbers")
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        r2 = np.einsum("ij,ij->i", Xa, Xa)
        if np.isfinite(r2).all() and _zero_rows_ok(Xa, r2):
            return np.sqrt(r2)
        mant, expo = _row_norms_scaled(Xa)
        r = np.ldexp(mant, expo.astype(np.int32))
    if not np.all(np.isfinite(r)):
        raise ValueError(f"X has a row whose norm exceeds float64 (entries up to {np.max(np.abs(Xa)):.3g})")
    return r


def _zero_rows_ok(Xa: np.ndarray, r2: np.ndarray) -> bool:
    """Rows with a zero or tiny sum of squares must be all zero (else their squares underflowed)."""
    small = r2 < 2.0 ** -(4 * SAFE_EXP)
    return not small.any() or not np.any(Xa[small] != 0)


def optimal_probabilities(X, w) -> np.ndarray:
    """Eq. (2): ``p_i = ||X_(i)|| |w_i| / sum_j ||X_(j)|| |w_j|``  (Drineas et al. 2006, Lemma 4).

    This is the distribution that minimises Algorithm 1's expected error for ``(X, w)`` (Lemma 4.1) and,
    by §5.1, the normalised SynFlow score of a linear model fed ``||X_(i)||``.

    Scale-safe: any finite ``X, w`` give the correct probabilities (inputs near 1e308 or 1e-308 are
    rescaled by exact powers of two before squaring and summing; ordinary inputs are computed as written).

    Parameters
    ----------
    X : array_like, shape (d, n)
        The data matrix, rows are features (paper §3).
    w : array_like, shape (d,)
        The weights (``w0`` at initialisation in the paper).

    Returns
    -------
    numpy.ndarray, shape (d,)
        ``p0`` (sum 1). ``ValueError`` when ``||X_(i)|| |w_i| = 0`` for every ``i``.

    Examples
    --------
    >>> import numpy as np
    >>> optimal_probabilities(np.array([[3.0, 4.0], [1.0, 0.0]]), np.array([1.0, -5.0]))
    array([0.5, 0.5])
    """
    Xa, wa = check_matrix_vector(X, w)
    aw = np.abs(wa)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        r2 = np.einsum("ij,ij->i", Xa, Xa)
        if np.isfinite(r2).all() and _zero_rows_ok(Xa, r2):
            scores = np.sqrt(r2) * aw
            total = scores.sum()
            if np.isfinite(total) and _naive_ok(scores, (r2 > 0) & (aw > 0)):
                if total <= 0:
                    _undefined()
                return scores / total
        # scale-safe path: r_i = m_i 2^e_i, |w_i| = v_i 2^f_i; shift every score by the largest exponent
        mant, expo = _row_norms_scaled(Xa)
        wm, we = np.frexp(aw)
        ex = expo + we.astype(np.int64)
        prod = mant * wm
        if not np.any(prod > 0):
            _undefined()
        scores = np.ldexp(prod, (ex - ex[prod > 0].max()).clip(-2000, 0).astype(np.int32))
        return scores / scores.sum()


def _undefined():
    raise ValueError("eq. (2) is undefined: ||X_(i)|| |w_i| is zero for every i (X or w is all zeros)")


# --------------------------------------------------------------------------------------------------
# The bridge axis: tempered laws p ∝ p0^β and the variance-aware law (validation/bridge.md)
# --------------------------------------------------------------------------------------------------
def _check_beta(beta) -> float:
    """``beta`` as a float in ``[0, inf]`` or ``ValueError`` naming it."""
    ok = isinstance(beta, (int, float, np.integer, np.floating)) and not isinstance(beta, (bool, np.bool_))
    if not ok or np.isnan(beta) or beta < 0:
        raise ValueError(f"beta must be a real number in [0, inf] (np.inf allowed), got {abridge(beta)}")
    return float(beta)


def tempered_probabilities(p0, beta) -> np.ndarray:
    """The tempered law ``p_k ∝ p0_k^β``, normalised, for ``β ∈ [0, ∞]``.

    One axis from uniform to the hard threshold: ``β = 0`` is uniform over all ``d`` indices
    (``0^0 = 1``, Lemma 4.5's law); ``β = 1`` is ``p0`` itself (eq. (2) when ``p0`` is eq. (2));
    ``β = ∞`` is uniform over the argmax set of ``p0`` (sampling ``s`` indices without replacement from
    ``p0^β`` tends to :func:`sketchbound.top_s` as ``β → ∞``). Entries with ``p0_k = 0`` get 0 for
    every ``β > 0``. Computed in logs, ``exp(β (log p0_k − max_j log p0_j))``, so any large finite
    ``β`` is safe (no overflow, no NaN).

    Parameters
    ----------
    p0 : array_like, shape (d,)
        A probability vector (checked by :func:`check_probabilities`).
    beta : float
        The temperature exponent, ``0 <= beta <= inf``.

    Returns
    -------
    numpy.ndarray, shape (d,)
        The tempered probabilities (sum 1).

    Examples
    --------
    >>> tempered_probabilities([0.5, 0.25, 0.25, 0.0], 0)
    array([0.25, 0.25, 0.25, 0.25])
    >>> tempered_probabilities([0.5, 0.25, 0.25, 0.0], 2)
    array([0.66666667, 0.16666667, 0.16666667, 0.        ])
    >>> tempered_probabilities([0.5, 0.25, 0.25, 0.0], np.inf)
    array([1., 0., 0., 0.])
    """
    pa = check_probabilities(p0, name="p0")
    b = _check_beta(beta)
    d = pa.shape[0]
    if b == 0.0:
        return np.full(d, 1.0 / d)
    if b == 1.0:
        return pa / pa.sum()
    pos = pa > 0
    if np.isinf(b):
        top = pa == pa.max()
        return top / float(top.sum())
    out = np.zeros(d)
    lp = np.log(pa[pos])
    with np.errstate(over="ignore", under="ignore"):
        out[pos] = np.exp(b * (lp - lp.max()))
    return out / out.sum()


def _broadcast_param(name: str, v, shape: tuple, *, nonneg: bool = False) -> np.ndarray:
    """``v`` (a scalar or an array broadcastable to ``shape``) as a float64 array of that shape."""
    a = as_real_array(name, v, what="a finite real scalar or an array broadcastable to w0"
                      + (" with entries >= 0" if nonneg else ""))
    try:
        a = np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(f"{name} must be a scalar or broadcastable to w0's shape {shape}; got shape {a.shape}: "
                         f"{abridge(v)}") from None
    if nonneg and a.size and a.min() < 0:
        raise ValueError(f"{name} must be >= 0 (a standard deviation); got a negative entry {a.min()!r}")
    return a


def _ldexp_clip(m: np.ndarray, e: np.ndarray) -> np.ndarray:
    return np.ldexp(m, np.clip(e, -2100, 0).astype(np.int32))


#: exponent marking a zero mantissa in the ``(mantissa, exponent)`` pairs below
_NO_EXP = np.iinfo(np.int32).min


def _noisy_frexp(w0, c, sigma) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``c w0 = am 2^ae`` and ``σ = sm 2^se`` entrywise (mantissas in ``[0.25, 1)``, exponent
    :data:`_NO_EXP` for zeros), after checking ``w0``, ``c`` and ``sigma``: no product can overflow."""
    wa = as_float_vector("w0", w0)
    ca = _broadcast_param("c", c, wa.shape)
    sa = _broadcast_param("sigma", sigma, wa.shape, nonneg=True)
    (cm, ce), (wm, we), (sm, se) = np.frexp(ca), np.frexp(wa), np.frexp(sa)
    am = cm * wm
    ae = np.where(am != 0, ce.astype(np.int64) + we.astype(np.int64), _NO_EXP)
    return am, ae, sm, np.where(sm != 0, se.astype(np.int64), _NO_EXP)


def noisy_pair(w0, c, sigma) -> tuple[np.ndarray, np.ndarray, int]:
    """``(a, b, E)`` with ``c w0 = a 2^E`` and ``σ = b 2^E``, ``|a|, b <= 1``, one ``E`` for all entries
    (the exponent of the largest ``|c_k w0_k|`` or ``σ_k``): the closed forms of :mod:`sketchbound.theory`."""
    am, ae, sm, se = _noisy_frexp(w0, c, sigma)
    top = int(max(ae.max(), se.max()))
    if top == _NO_EXP:
        return np.zeros_like(am), np.zeros_like(am), 0
    return _ldexp_clip(am, ae - top), _ldexp_clip(sm, se - top), top


def variance_aware_probabilities(norms, w0, c, sigma) -> np.ndarray:
    """The variance-aware law ``p_k ∝ ||X_(k)|| sqrt(c² w0_k² + σ²)`` (validation/bridge.md).

    It minimises the expected Lemma 4.3 error of Algorithm 1 over all sampling laws when the trained
    weights are ``w* = c w0 + ε`` with ``E ε = 0``, ``E ε_k² = σ²`` (independent of the mask): by
    Cauchy–Schwarz, ``Σ_k a_k²/p_k >= (Σ_k a_k)²`` with equality iff ``p ∝ a``, here
    ``a_k² = ||X_(k)||² E w*_k²``. ``σ = 0`` gives eq. (2) (:func:`optimal_probabilities` of
    ``(X, w0)``, for ``c ≠ 0``); ``σ → ∞`` gives ``p ∝ ||X_(k)||`` (uniform in ``|w|``).
    Scale-safe: huge or tiny ``w0``, ``c``, ``σ`` or norms neither overflow nor give NaN.

    Parameters
    ----------
    norms : array_like, shape (d,)
        The row norms ``||X_(k)||`` of the ``d x n`` data matrix (rows are features, paper §3: the
        same norms as eq. (2)); e.g. ``row_norms(X)``. Finite and ``>= 0``.
    w0 : array_like, shape (d,)
        The weights at initialisation.
    c : float or array_like
        The scale of ``w*`` relative to ``w0``; a scalar or an array broadcastable to ``w0`` (one
        value per layer, repeated over the layer's weights).
    sigma : float or array_like
        The standard deviation of ``ε_k`` (``>= 0``), scalar or broadcastable to ``w0``.

    Returns
    -------
    numpy.ndarray, shape (d,)
        The probabilities (sum 1).

    Examples
    --------
    >>> X = np.array([[3.0, 4.0], [1.0, 0.0]])
    >>> variance_aware_probabilities(row_norms(X), [1.0, -5.0], 1.0, 0.0)   # = eq. (2)
    array([0.5, 0.5])
    >>> variance_aware_probabilities(row_norms(X), [0.0, 0.0], 1.0, 2.0)    # ∝ ||X_(k)||
    array([0.83333333, 0.16666667])
    """
    r = as_real_array("norms", norms, ndim=1, what="a 1-D vector of finite row norms >= 0")
    if r.min() < 0:
        raise ValueError(f"norms must be >= 0 (row norms ||X_(k)||); got {r.min()!r} at index {int(np.argmin(r))}")
    wa = as_float_vector("w0", w0)
    if r.shape != wa.shape:
        raise ValueError(f"shape mismatch: norms has length {r.shape[0]} but w0 has length {wa.shape[0]}")
    # each factor as mantissa · 2^exponent, per entry, so no product or square under/overflows
    hm, he = _noisy_magnitude(wa, c, sigma)
    rm, re = np.frexp(r)
    mant, ex = rm * hm, re.astype(np.int64) + he
    pos = mant > 0
    if not np.any(pos):
        raise ValueError("the variance-aware law is undefined: ||X_(k)|| sqrt(c² w0_k² + σ²) is zero for every k "
                         "(norms all zero, or c w0 and sigma both zero)")
    return from_scores(np.where(pos, _ldexp_clip(mant, ex - ex[pos].max()), 0.0))


def _noisy_magnitude(w0, c, sigma) -> tuple[np.ndarray, np.ndarray]:
    """``sqrt(c_k² w0_k² + σ_k²) = mant_k 2^expo_k`` for each ``k`` separately (exact power-of-two scaling)."""
    am, ae, sm, se = _noisy_frexp(w0, c, sigma)
    E = np.maximum(ae, se)
    h = np.hypot(_ldexp_clip(am, ae - E), _ldexp_clip(sm, se - E))
    hm, he = np.frexp(h)
    return hm, np.where(h > 0, E + he.astype(np.int64), 0)
