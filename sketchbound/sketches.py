"""Random linear sketches ``S`` (``k x d``) that are not diagonal masks: CountSketch and Gaussian (JL).

Where :mod:`sketchbound.sampling` draws a diagonal mask ``m`` (the pruned weights are ``w ⊙ m``), a
sketch maps every weight vector to ``k`` coordinates: ``x ↦ Sx``. Both sketches here are unbiased for
inner products, ``E ⟨Sx, Sw⟩ = ⟨x, w⟩`` (``E SᵀS = I``), with second moments in closed form
(:func:`sketch_inner_variance`):

* CountSketch (Charikar, Chen & Farach-Colton 2002): one non-zero per column, ``S_{h(i), i} = σ_i``,
  ``h(i)`` uniform on ``[k]``, ``σ_i`` uniform ``±1``, all independent;
  ``Var ⟨Sx, Sw⟩ = (1/k) Σ_{i≠j} (x_i² w_j² + x_i w_i x_j w_j)``;
* Gaussian (Johnson–Lindenstrauss; Dasgupta & Gupta 2003): i.i.d. ``N(0, 1/k)`` entries;
  ``Var ⟨Sx, Sw⟩ = (⟨x, w⟩² + ||x||² ||w||²) / k``.

Both return dense ``(trials, k, d)`` arrays (one sketch per trial), drawn from ``rng`` (``None``, an int
seed or a ``numpy.random.Generator``): the same seed gives the same sketches. At large ``d`` (10⁸ weights),
CountSketch also comes in its compact form, :func:`countsketch_hashes` (the bucket and the sign of every
column, the same draws as :func:`countsketch`), applied by :func:`apply_countsketch` in ``O(trials · d)``
time and memory without forming ``S``.
"""
from __future__ import annotations

import numpy as np

from .probabilities import check_memory
from .sampling import as_generator, check_size

__all__ = ["SKETCHES", "countsketch", "countsketch_hashes", "apply_countsketch", "gaussian_sketch", "draw_sketch",
           "sketch_inner_variance"]

#: the sketches of this module by name (the names claims use as ``mask_law``)
SKETCHES = ("countsketch", "gaussian")
#: the most entries one call returns (2 GiB of float64), as the samplers' dense masks
MAX_ENTRIES = 1 << 28


def _sizes(d, k, trials):
    d = check_size(d, name="d")
    k = check_size(k, name="k")
    trials = check_size(trials, name="trials")
    if trials * k * d > MAX_ENTRIES:
        raise ValueError(f"trials x k x d = {trials} x {k} x {d} sketch entries is too many for one call (limit "
                         f"{MAX_ENTRIES}, 2 GiB); lower trials or call in a loop")
    check_memory(8 * trials * k * d, f"{trials} sketches of {k} x {d}")
    return d, k, trials


def countsketch(d, k, *, rng=None, trials=1) -> np.ndarray:
    """``trials`` independent CountSketch matrices (``k x d``, one ``±1`` per column in a uniform row).

    Parameters
    ----------
    d : int
        Input dimension (columns of ``S``).
    k : int
        Sketch size: number of buckets (rows of ``S``).
    rng : None, int or numpy.random.Generator
        The random stream.
    trials : int
        Number of independent sketches.

    Returns
    -------
    ndarray, ``(trials, k, d)``

    Examples
    --------
    >>> S = countsketch(5, 3, rng=0, trials=2)
    >>> S.shape, np.abs(S).sum(axis=1).tolist()
    ((2, 3, 5), [[1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    """
    d, k, trials = _sizes(d, k, trials)
    h, sig = _draw_hashes(as_generator(rng), d, k, trials)
    S = np.zeros((trials, k, d))
    t, i = np.meshgrid(np.arange(trials), np.arange(d), indexing="ij")
    S[t, h, i] = sig
    return S


def _draw_hashes(gen, d, k, trials):
    """The buckets ``h`` (int64) and signs (int8, ±1) of ``trials`` CountSketches, in the one draw order."""
    h = gen.integers(0, k, size=(trials, d))
    sig = gen.integers(0, 2, size=(trials, d)).astype(np.int8)
    sig *= 2
    sig -= 1
    return h, sig


def countsketch_hashes(d, k, *, rng=None, trials=1) -> tuple[np.ndarray, np.ndarray]:
    """CountSketch in compact form: the bucket ``h(i)`` and sign ``σ_i`` of every column, per trial.

    The same draws as :func:`countsketch` with the same ``rng``: ``countsketch(d, k, rng=r)[t, h[t, i], i]
    == sign[t, i]`` and every other entry is 0. Memory is ``9 · trials · d`` bytes (16 while drawing), so
    ``d = 10⁸`` fits where the dense ``(k, d)`` matrix would not.

    Parameters
    ----------
    d, k, rng, trials
        As :func:`countsketch`.

    Returns
    -------
    h : ndarray of int64, ``(trials, d)``
        The bucket of every column, uniform on ``0 .. k-1``.
    sign : ndarray of int8, ``(trials, d)``
        The sign of every column, uniform on ``±1``.

    Examples
    --------
    >>> h, sign = countsketch_hashes(5, 3, rng=0, trials=2)
    >>> S = countsketch(5, 3, rng=0, trials=2)
    >>> bool((S[0, h[0], range(5)] == sign[0]).all()), h.shape, bool((np.abs(sign) == 1).all())
    (True, (2, 5), True)
    """
    d = check_size(d, name="d")
    k = check_size(k, name="k")
    trials = check_size(trials, name="trials")
    check_memory(16 * trials * d, f"{trials} CountSketch hashes of {d} columns")
    return _draw_hashes(as_generator(rng), d, k, trials)


def apply_countsketch(x, h, sign, k) -> np.ndarray:
    """``S x`` for the CountSketches given by :func:`countsketch_hashes`, without forming ``S``.

    ``(S x)_b = Σ_{i : h(i) = b} σ_i x_i``, one pass over the ``d`` entries per trial (``numpy.bincount``).

    Parameters
    ----------
    x : array_like, ``(d,)`` or ``(d, n)``
        The vector(s) to sketch (columns).
    h, sign : ndarray, ``(trials, d)``
        Buckets and signs from :func:`countsketch_hashes`.
    k : int
        Sketch size (the ``k`` the hashes were drawn with).

    Returns
    -------
    ndarray, ``(trials, k)`` for a 1-D ``x``, ``(trials, k, n)`` for a 2-D one
        Equal to ``countsketch(...) @ x`` with the same draws.

    Examples
    --------
    >>> x = np.arange(5.0)
    >>> h, sign = countsketch_hashes(5, 3, rng=0, trials=2)
    >>> bool(np.allclose(apply_countsketch(x, h, sign, 3), countsketch(5, 3, rng=0, trials=2) @ x))
    True
    """
    k = check_size(k, name="k")
    h = np.asarray(h)
    sign = np.asarray(sign)
    if h.ndim != 2 or sign.shape != h.shape:
        raise ValueError(f"h and sign must be (trials, d) arrays of one shape; got h {h.shape} and sign {sign.shape}")
    if h.size and (h.min() < 0 or h.max() >= k):
        raise ValueError(f"h must hold buckets in 0..{k - 1} (k = {k}); got values in {h.min()}..{h.max()}")
    x = np.asarray(x, dtype=float)
    cols = x[:, None] if x.ndim == 1 else x
    if cols.ndim != 2 or cols.shape[0] != h.shape[1]:
        raise ValueError(f"x must be (d,) or (d, n) with d = {h.shape[1]} (the hashes' columns); got {x.shape}")
    trials = h.shape[0]
    out = np.empty((trials, k, cols.shape[1]))
    for t in range(trials):
        for j in range(cols.shape[1]):
            out[t, :, j] = np.bincount(h[t], weights=sign[t] * cols[:, j], minlength=k)
    return out[..., 0] if x.ndim == 1 else out


def gaussian_sketch(d, k, *, rng=None, trials=1) -> np.ndarray:
    """``trials`` independent Gaussian (JL) sketches: ``k x d`` matrices with i.i.d. ``N(0, 1/k)`` entries.

    Parameters
    ----------
    d : int
        Input dimension.
    k : int
        Sketch size (rows of ``S``).
    rng : None, int or numpy.random.Generator
        The random stream.
    trials : int
        Number of independent sketches.

    Returns
    -------
    ndarray, ``(trials, k, d)``

    Examples
    --------
    >>> gaussian_sketch(4, 2, rng=0, trials=3).shape
    (3, 2, 4)
    """
    d, k, trials = _sizes(d, k, trials)
    return as_generator(rng).standard_normal((trials, k, d)) / np.sqrt(k)


def draw_sketch(name: str, d, k, *, rng=None, trials=1) -> np.ndarray:
    """The sketch ``name`` (one of :data:`SKETCHES`): ``(trials, k, d)`` matrices.

    Parameters
    ----------
    name : str
        ``"countsketch"`` or ``"gaussian"``.
    d, k, rng, trials
        As :func:`countsketch`.

    Returns
    -------
    ndarray, ``(trials, k, d)``

    Examples
    --------
    >>> draw_sketch("gaussian", 3, 2, rng=1).shape
    (1, 2, 3)
    """
    if name == "countsketch":
        return countsketch(d, k, rng=rng, trials=trials)
    if name == "gaussian":
        return gaussian_sketch(d, k, rng=rng, trials=trials)
    raise ValueError(f"sketch name must be one of {', '.join(SKETCHES)}; got {name!r}")


def sketch_inner_variance(name: str, X, w, k) -> np.ndarray:
    """``Var ⟨S X_{:,j}, S w⟩`` for every column ``j`` of ``X`` (``d x n``) under the sketch ``name``.

    CountSketch: ``(1/k) Σ_{i≠l} (x_i² w_l² + x_i w_i x_l w_l)``; Gaussian: ``(⟨x, w⟩² + ||x||²||w||²)/k``
    (see the module doc). With ``X = w[:, None]`` they are the variances of ``||Sw||²``:
    ``(2/k)(||w||⁴ − ||w||₄⁴)`` and ``2||w||⁴/k``.

    Parameters
    ----------
    name : str
        ``"countsketch"`` or ``"gaussian"``.
    X : array_like, ``(d, n)`` or ``(d,)``
        The vectors ``x`` (columns).
    w : array_like, ``(d,)``
        The other vector.
    k : int
        Sketch size.

    Returns
    -------
    ndarray, ``(n,)`` (a float for a 1-D ``X``)

    Examples
    --------
    >>> float(sketch_inner_variance("gaussian", [1.0, 1.0], [1.0, 1.0], 4))
    2.0
    >>> float(sketch_inner_variance("countsketch", [1.0, 1.0], [1.0, 1.0], 2))
    2.0
    """
    k = check_size(k, name="k")
    X = np.asarray(X, dtype=float)
    w = np.asarray(w, dtype=float)
    X2 = X[:, None] if X.ndim == 1 else X
    if X2.ndim != 2 or w.ndim != 1 or X2.shape[0] != w.shape[0]:
        raise ValueError(f"X must be (d, n) or (d,) and w (d,); got X {X.shape} and w {w.shape}")
    ip = X2.T @ w
    nx, nw = np.sum(X2**2, axis=0), float(w @ w)
    if name == "gaussian":
        v = (ip**2 + nx * nw) / k
    elif name == "countsketch":
        diag = (X2**2).T @ w**2  # Σ_i x_i² w_i², the i = l terms both sums leave out
        v = ((nx * nw - diag) + (ip**2 - diag)) / k
    else:
        raise ValueError(f"sketch name must be one of {', '.join(SKETCHES)}; got {name!r}")
    v = np.maximum(v, 0.0)  # a variance: rounding of the differences above may not push it below 0
    return v[0] if X.ndim == 1 else v
