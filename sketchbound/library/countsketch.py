"""CountSketch: Charikar, Chen & Farach-Colton (2002), "Finding frequent items in data streams",
ICALP 2002 (Theor. Comput. Sci. 312, 2004), as a subspace sketch in Clarkson & Woodruff (2013),
"Low rank approximation and regression in input sparsity time", STOC 2013 (the second moment:
Thorup & Zhang 2012, SIAM J. Comput. 41(2), "Tabulation-based 5-independent hashing", §1.3).

``S`` (``k x d``) has one non-zero per column: ``S_{h(i), i} = σ_i`` with ``h(i)`` uniform on ``[k]``
and ``σ_i = ±1`` uniform, all independent (fully random hashing here; 4-wise independence suffices).
For fixed ``x, w``, ``⟨Sx, Sw⟩ − ⟨x, w⟩ = Σ_{i<j} 1[h(i) = h(j)] σ_i σ_j (x_i w_j + x_j w_i)``, so

* ``CS-mean``: ``E ⟨Sx, Sw⟩ = ⟨x, w⟩``;
* ``CS-var``:  ``Var ⟨Sx, Sw⟩ = (1/k) Σ_{i≠j} (x_i² w_j² + x_i w_i x_j w_j)`` (the pairs are
  uncorrelated, each with variance ``(1/k)(x_i w_j + x_j w_i)²``); with ``x = w``:
  ``Var ||Sw||² = (2/k)(||w||⁴ − ||w||₄⁴)``.

Both are claims of the engine's shape: mask law ``"countsketch"`` (the core's
:func:`~sketchbound.sketches.countsketch`, sketch size ``k`` = the scenario's ``s``), the statistics
:data:`~sketchbound.laws.SKETCH_OUTPUT` / :data:`~sketchbound.laws.SKETCH_SQ_DEV` on a fixed ``X``
(``d x n``, one inner product per column ``x``) and target ``w``. Default ``d = 64``, ``n = 4``, ``k = 8``.
"""
from __future__ import annotations

import numpy as np

from ..claims import SKETCH_OUTPUT, SKETCH_SQ_DEV, Claim
from ..scenarios import Instance
from ..sketches import countsketch, sketch_inner_variance
from ._common import Entry

__all__ = ["ENTRIES", "countsketch_norms", "countsketch_variance", "sketch_instance"]

SOURCE = ("Charikar, Chen & Farach-Colton (2002), ICALP; Clarkson & Woodruff (2013), STOC; "
          "second moment: Thorup & Zhang (2012), SIAM J. Comput. 41(2)")


def countsketch_norms(x, m: int, trials: int, gen) -> np.ndarray:
    """``||S x||²`` for ``trials`` independent CountSketch matrices ``S`` (``m x d``, the core's
    :func:`~sketchbound.sketches.countsketch`).

    Parameters
    ----------
    x : ndarray, ``(d,)``
    m : int
        Number of buckets (rows of ``S``).
    trials : int
    gen : numpy.random.Generator

    Returns
    -------
    ndarray, ``(trials,)``

    Examples
    --------
    >>> countsketch_norms(np.array([3.0]), 4, 2, np.random.default_rng(0)).tolist()
    [9.0, 9.0]
    """
    x = np.asarray(x, dtype=float)
    Sx = countsketch(x.shape[0], m, rng=gen, trials=trials) @ x
    return np.einsum("tm,tm->t", Sx, Sx)


def countsketch_variance(x, m: int) -> float:
    """``Var ||Sx||² = (2/m)(||x||⁴ − ||x||₄⁴)`` (:func:`~sketchbound.sketches.sketch_inner_variance` with ``w = x``).

    Parameters
    ----------
    x : array_like, ``(d,)``
    m : int
        Number of buckets.

    Returns
    -------
    float

    Examples
    --------
    >>> countsketch_variance([1.0, 1.0], 2)
    2.0
    """
    x = np.asarray(x, dtype=float)
    return float(sketch_inner_variance("countsketch", x, x, m))


def sketch_instance(sc, gen) -> Instance:
    """Fixed ``X`` (``d x n``) and ``w`` with entries ``N(0, 1) e^{N(0, 1)}`` (sizes that differ, so the
    ``i = j`` terms the CountSketch variance leaves out matter); ``X``'s first column is ``w`` itself
    (its component is the squared norm ``||Sw||²``).

    Parameters
    ----------
    sc : Scenario
        ``d`` and ``n``.
    gen : numpy.random.Generator

    Returns
    -------
    Instance
        ``w0 = w* = w``, ``X = X̃``.

    Examples
    --------
    >>> from sketchbound.scenarios import Scenario
    >>> i = sketch_instance(Scenario(d=4, n=2), np.random.default_rng(0))
    >>> bool(np.array_equal(i.X[:, 0], i.w_star))
    True
    """
    w = gen.standard_normal(sc.d) * np.exp(gen.standard_normal(sc.d))
    X = gen.standard_normal((sc.d, sc.n)) * np.exp(gen.standard_normal((sc.d, sc.n)))
    X[:, 0] = w
    return Instance(w0=w, w_star=w, X=X, X_tilde=X)


def _norms(i, sc):
    """``||X_{:,j}|| ||w||``: the size of the inner products' spread (a relative precision refers to it)."""
    return np.linalg.norm(i.X, axis=0) * np.linalg.norm(i.w_star)


_COMMON = dict(mask_law="countsketch", mask_uses_data=False, instance_factory=sketch_instance,
               scenario=dict(x_mode="fixed", d=64, n=4, s=8), source=SOURCE)
_ASSUME = ("x, w fixed; h(i) uniform on [k], σ_i uniform ±1, independent (4-wise independence suffices); "
           "k = s buckets")

ENTRIES = [
    Entry(Claim(
        id="CS-mean",
        name="CountSketch inner products are unbiased",
        statement="E ⟨Sx, Sw⟩ = ⟨x, w⟩ (x = w: E ||Sw||² = ||w||²)",
        relation="=",
        quantity="E ⟨S X_{:,j}, Sw⟩ for each column j of X (the first is w), S a CountSketch with k = s buckets; "
                 "precision relative to ||X_{:,j}|| ||w||",
        statistic=SKETCH_OUTPUT,
        exact=lambda i, sc: i.X.T @ i.w_star,
        scale=_norms,
        **_COMMON),
        assumptions=_ASSUME,
        exact_value="⟨x, w⟩"),
    Entry(Claim(
        id="CS-var",
        name="CountSketch: exact variance of the inner product",
        statement="Var ⟨Sx, Sw⟩ = (1/k) Σ_{i≠j} (x_i² w_j² + x_i w_i x_j w_j) (x = w: (2/k)(||w||⁴ − ||w||₄⁴))",
        relation="=",
        quantity="E (⟨S X_{:,j}, Sw⟩ − ⟨X_{:,j}, w⟩)² for each column j of X (the first is w), S a CountSketch with k = s buckets",
        statistic=SKETCH_SQ_DEV,
        exact=lambda i, sc: sketch_inner_variance("countsketch", i.X, i.w_star, sc.s),
        # the squared deviations are heavy-tailed: about 256k trials reach the 2% precision
        max_trials=1_024_000,
        **_COMMON),
        assumptions=_ASSUME,
        exact_value="(1/k) Σ_{i≠j} (x_i² w_j² + x_i w_i x_j w_j)"),
]
