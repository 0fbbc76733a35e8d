"""Gaussian Johnson–Lindenstrauss sketch: Johnson & Lindenstrauss (1984), Contemp. Math. 26; the
Gaussian form and its second moment in Dasgupta & Gupta (2003), "An elementary proof of a theorem of
Johnson and Lindenstrauss", Random Struct. Algorithms 22(1), Lemma 2.2 (``||Sx||²/||x||² ~ χ²_k/k``);
the inner-product form by Isserlis' theorem (Arriaga & Vempala 2006, Mach. Learn. 63(2), §2).

``S`` (``k x d``) with i.i.d. ``N(0, 1/k)`` entries: ``⟨Sx, Sw⟩ = (1/k) Σ_r (g_rᵀx)(g_rᵀw)`` with
``g_r ~ N(0, I)``, and ``E[(gᵀx)²(gᵀw)²] = ||x||²||w||² + 2⟨x, w⟩²``, so

* ``JL-mean``: ``E ⟨Sx, Sw⟩ = ⟨x, w⟩``;
* ``JL-var``:  ``Var ⟨Sx, Sw⟩ = (⟨x, w⟩² + ||x||² ||w||²) / k`` (``x = w``: ``2 ||w||⁴ / k``).

Claims of the engine's shape: mask law ``"gaussian"`` (the core's
:func:`~sketchbound.sketches.gaussian_sketch`, ``k`` = the scenario's ``s``) with the statistics
:data:`~sketchbound.laws.SKETCH_OUTPUT` / :data:`~sketchbound.laws.SKETCH_SQ_DEV` on a fixed ``X``
(first column ``w``); default ``d = 32``, ``n = 3``, ``k = 8``.
"""
from __future__ import annotations

import numpy as np

from ..claims import SKETCH_OUTPUT, SKETCH_SQ_DEV, Claim
from ..scenarios import Instance
from ..sketches import sketch_inner_variance
from ._common import Entry

__all__ = ["ENTRIES", "jl_variance", "jl_instance"]

SOURCE = ("Johnson & Lindenstrauss (1984); Dasgupta & Gupta (2003), Random Struct. Algorithms 22(1), Lemma 2.2; "
          "inner products: Arriaga & Vempala (2006), Mach. Learn. 63(2)")


def jl_variance(x, m: int) -> float:
    """``Var ||Sx||² = 2 ||x||⁴ / m`` (:func:`~sketchbound.sketches.sketch_inner_variance` with ``w = x``).

    Parameters
    ----------
    x : array_like, ``(d,)``
    m : int
        Sketch size (rows of ``S``).

    Returns
    -------
    float

    Examples
    --------
    >>> jl_variance([1.0, 1.0], 4)
    2.0
    """
    x = np.asarray(x, dtype=float)
    return float(sketch_inner_variance("gaussian", x, x, m))


def jl_instance(sc, gen) -> Instance:
    """Fixed ``X`` (``d x n``, first column ``w``) and ``w`` with entries ``N(0, 1) e^{N(0, 1)}``.

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
    >>> jl_instance(Scenario(d=4, n=2), np.random.default_rng(0)).X.shape
    (4, 2)
    """
    w = gen.standard_normal(sc.d) * np.exp(gen.standard_normal(sc.d))
    X = gen.standard_normal((sc.d, sc.n)) * np.exp(gen.standard_normal((sc.d, sc.n)))
    X[:, 0] = w
    return Instance(w0=w, w_star=w, X=X, X_tilde=X)


_COMMON = dict(mask_law="gaussian", mask_uses_data=False, instance_factory=jl_instance,
               scenario=dict(x_mode="fixed", d=32, n=3, s=8), source=SOURCE)
_ASSUME = "x, w fixed; S has i.i.d. N(0, 1/k) entries (k = s rows)"

ENTRIES = [
    Entry(Claim(
        id="JL-mean",
        name="Gaussian JL inner products are unbiased",
        statement="E ⟨Sx, Sw⟩ = ⟨x, w⟩ (x = w: E ||Sw||² = ||w||²)",
        relation="=",
        quantity="E ⟨S X_{:,j}, Sw⟩ for each column j of X (the first is w), S (k x d) i.i.d. N(0, 1/k), k = s; "
                 "precision relative to ||X_{:,j}|| ||w||",
        statistic=SKETCH_OUTPUT,
        exact=lambda i, sc: i.X.T @ i.w_star,
        scale=lambda i, sc: np.linalg.norm(i.X, axis=0) * np.linalg.norm(i.w_star),
        **_COMMON),
        assumptions=_ASSUME,
        exact_value="⟨x, w⟩"),
    Entry(Claim(
        id="JL-var",
        name="Gaussian JL: exact variance of the inner product",
        statement="Var ⟨Sx, Sw⟩ = (⟨x, w⟩² + ||x||² ||w||²) / k (x = w: 2 ||w||⁴ / k)",
        relation="=",
        quantity="E (⟨S X_{:,j}, Sw⟩ − ⟨X_{:,j}, w⟩)² for each column j of X (the first is w), S (k x d) i.i.d. N(0, 1/k), k = s",
        statistic=SKETCH_SQ_DEV,
        exact=lambda i, sc: sketch_inner_variance("gaussian", i.X, i.w_star, sc.s),
        # the squared deviations are heavy-tailed: about 256k trials reach the 2% precision
        max_trials=1_024_000,
        **_COMMON),
        assumptions=_ASSUME,
        exact_value="(⟨x, w⟩² + ||x||² ||w||²) / k"),
]
