"""The axis every rung walks: the sampling laws, the two procedures that turn a law into a mask, the
constants ``c, σ`` of the model ``w* = c w⁰ + ε``, and the error a mask is predicted to have at init.

Laws (:data:`LAWS`): ``beta=B`` is the tempered law ``p ∝ p0^B`` (:func:`tempered_probabilities`, ``p0``
eq. (2) of ``(X, w⁰)``) for ``B ∈ {0, 0.25, 0.5, 1, 2, 4, inf}``; ``variance-aware`` is
``p ∝ ||X_(k)|| sqrt(c² w⁰_k² + σ²)`` (:func:`variance_aware_probabilities`), the minimiser of the expected
Lemma 4.3 error when ``w* = c w⁰ + ε``.

Procedures (:data:`PROCEDURES`):

* ``alg1``: Algorithm 1, ``s`` draws with replacement, weighted mask ``m = count/(s p)``. ``beta=inf``
  is left out of this procedure: its law is a point mass on the largest ``p0`` entry (ties aside), so
  Algorithm 1 would keep one weight, not a mask of density ``s/d``; the β = ∞ end of the axis is the
  §7 threshold below.
* ``sec7``: the §7 procedure. The threshold of ``p0`` (top ``s`` globally) fixes how many weights each
  layer keeps; inside each layer that many are drawn without replacement ∝ the law
  (:func:`sketchbound.sampling.without_replacement`, successive design) and kept as a 0/1 mask.
  ``beta=0`` is the shuffle control (uniform inside each layer), ``beta=inf`` the threshold itself.

Predicted error at init (column ``predicted_error``, :mod:`sketchbound.bridge.errors`): for ``alg1``
the closed form of :func:`sketchbound.theory.expected_algorithm1_error` (Lemma 4.3's equality line
averaged over the mask and over ``ε``); for ``sec7`` the same model's expectation over ``ε`` of the
drawn 0/1 mask's error, ``||Xᵀ((c w⁰) ⊙ (1 − m))||² + Σ_k σ_k² ||X_(k)||² (1 − m_k)²`` (the §7 mask has
no closed-form expectation over its draws).

``c, σ`` (:func:`estimate_c_sigma`) come from weights trained on pilot seeds that the evaluation does
not use: ``c = Σ⟨w*, w⁰⟩ / Σ||w⁰||²`` and ``σ² = mean (w* − c w⁰)²`` pooled over the pilot seeds, per
layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..probabilities import tempered_probabilities, variance_aware_probabilities
from ..sampling import algorithm1, top_s, without_replacement

__all__ = ["BETAS", "LAWS", "PROCEDURES", "CSigma", "law_beta", "law_probabilities", "draw_mask",
           "estimate_c_sigma", "keep_count"]

#: the tempered exponents of the axis
BETAS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, float("inf"))
#: the law labels, in axis order (the CSV's ``law`` column)
LAWS = tuple(f"beta={b:g}" for b in BETAS) + ("variance-aware",)
#: the two procedures (the CSV's ``procedure`` column)
PROCEDURES = ("alg1", "sec7")


@dataclass(frozen=True)
class CSigma:
    """``c`` and ``σ`` of ``w* = c w⁰ + ε`` for one layer, and how many pilot runs they come from.

    Parameters
    ----------
    c : float
        The scale of ``w⁰`` in ``w*``.
    sigma : float
        The standard deviation of ``ε``.
    pilots : int
        Pilot runs pooled.

    Examples
    --------
    >>> CSigma(c=2.0, sigma=0.1, pilots=1).c
    2.0
    """

    c: float
    sigma: float
    pilots: int


def law_beta(law: str) -> float:
    """The β of a ``beta=B`` law (``inf`` for ``beta=inf``); ``nan`` for ``variance-aware``.

    Parameters
    ----------
    law : str
        One of :data:`LAWS`.

    Returns
    -------
    float

    Examples
    --------
    >>> law_beta("beta=0.25"), law_beta("beta=inf")
    (0.25, inf)
    """
    if law not in LAWS:
        raise ValueError(f"law must be one of {', '.join(LAWS)}; got {law!r}")
    return float("nan") if law == "variance-aware" else float(law.split("=", 1)[1])


def keep_count(density: float, d: int) -> int:
    """``s = max(1, round(density · d))``: the draws (``alg1``) or kept weights (``sec7``) at ``density``.

    Parameters
    ----------
    density : float
        In ``(0, 1)``.
    d : int
        Weights of the vector (or layer).

    Returns
    -------
    int

    Examples
    --------
    >>> keep_count(0.02, 784)
    16
    """
    if not (isinstance(density, (int, float)) and 0 < density < 1):
        raise ValueError(f"density must be a number in (0, 1); got {density!r}")
    return max(1, int(round(density * d)))


def law_probabilities(law: str, p0, norms, w0, c, sigma) -> np.ndarray:
    """The law's probabilities: ``p0^β`` normalised, or the variance-aware law from ``norms, w0, c, σ``.

    Parameters
    ----------
    law : str
        One of :data:`LAWS`.
    p0 : array_like, shape (d,)
        Eq. (2) of ``(X, w⁰)``.
    norms, w0 : array_like, shape (d,)
        Row norms ``||X_(k)||`` and the initial weights.
    c, sigma : float or array_like
        The constants of ``w* = c w⁰ + ε`` (scalars or one value per weight).

    Returns
    -------
    numpy.ndarray, shape (d,)

    Examples
    --------
    >>> law_probabilities("variance-aware", None, [1, 1, 2], [1, 1, 0], 1.0, 0.0).tolist()
    [0.5, 0.5, 0.0]
    """
    if law == "variance-aware":
        return variance_aware_probabilities(norms, w0, c, sigma)
    return tempered_probabilities(p0, law_beta(law))


def _layer_slices(layers, d: int) -> list[slice]:
    out = [slice(0, d)] if layers is None else list(layers)
    if sum(sl.stop - sl.start for sl in out) != d or out[0].start != 0 \
            or any(a.stop != b.start for a, b in zip(out, out[1:])):
        raise ValueError(f"layers must be consecutive slices covering 0..{d}; got {out!r}")
    return out


def draw_mask(procedure: str, law: str, q, p0, s: int, rng, layers=None) -> np.ndarray:
    """One mask of ``procedure`` (``alg1`` or ``sec7``, module docstring) for law probabilities ``q``.

    Parameters
    ----------
    procedure : str
        ``"alg1"`` (Algorithm 1, weighted mask) or ``"sec7"`` (0/1 mask, threshold's per-layer counts).
    law : str
        The law's label (``beta=inf`` under ``sec7`` is the threshold of ``p0``).
    q, p0 : array_like, shape (d,)
        The law's probabilities and eq. (2) (the threshold's scores).
    s : int
        Draws (``alg1``) or kept weights (``sec7``).
    rng : numpy.random.Generator
    layers : list of slice, optional
        Consecutive slices of the weight vector (default: one layer).

    Returns
    -------
    numpy.ndarray, shape (d,)

    Examples
    --------
    >>> p = np.array([0.4, 0.3, 0.2, 0.1])
    >>> draw_mask("sec7", "beta=inf", p, p, 2, np.random.default_rng(0)).tolist()
    [1.0, 1.0, 0.0, 0.0]
    """
    q = np.asarray(q, dtype=float)
    p0 = np.asarray(p0, dtype=float)
    if procedure == "alg1":
        if law == "beta=inf":
            raise ValueError("law 'beta=inf' has no Algorithm 1 mask of density s/d (a point mass); use procedure "
                             "'sec7' (the threshold)")
        return algorithm1(q, s, rng=rng)
    if procedure != "sec7":
        raise ValueError(f"procedure must be one of {', '.join(PROCEDURES)}; got {procedure!r}")
    thr = top_s(p0, s)
    if law == "beta=inf":
        return thr
    m = np.zeros(q.shape[0])
    for sl in _layer_slices(layers, q.shape[0]):
        k = int(thr[sl].sum())
        if k == 0:
            continue
        ql = q[sl]
        avail = int(np.count_nonzero(ql))
        if avail < k:
            raise ValueError(f"law {law!r} gives only {avail} positive probabilities in a layer that keeps {k}")
        m[sl] = without_replacement(ql / ql.sum(), k, rng=rng)
    return m


def estimate_c_sigma(w0s, wstars) -> CSigma:
    """``c = Σ⟨w*, w⁰⟩ / Σ||w⁰||²`` and ``σ = sqrt(mean (w* − c w⁰)²)`` pooled over pilot runs.

    Parameters
    ----------
    w0s, wstars : sequence of array_like
        Initial and trained weights of one layer, one pair per pilot seed.

    Returns
    -------
    CSigma

    Examples
    --------
    >>> estimate_c_sigma([np.array([1.0, -1.0])], [np.array([2.0, -2.0])])
    CSigma(c=2.0, sigma=0.0, pilots=1)
    """
    w0s = [np.asarray(w, dtype=float).ravel() for w in w0s]
    wstars = [np.asarray(w, dtype=float).ravel() for w in wstars]
    if not w0s or len(w0s) != len(wstars) or any(a.shape != b.shape for a, b in zip(w0s, wstars)):
        raise ValueError(f"w0s and wstars must be non-empty lists of equal-shape arrays; got {len(w0s)} and "
                         f"{len(wstars)} arrays")
    den = sum(float(a @ a) for a in w0s)
    if not den > 0:
        raise ValueError("w0s are all zero: c = <w*, w0>/||w0||^2 is undefined")
    c = sum(float(a @ b) for a, b in zip(w0s, wstars)) / den
    resid = np.concatenate([b - c * a for a, b in zip(w0s, wstars)])
    return CSigma(c=float(c), sigma=float(np.sqrt(np.mean(resid**2))), pilots=len(w0s))
