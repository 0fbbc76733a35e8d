"""Gaussian Johnson–Lindenstrauss sketch: Johnson & Lindenstrauss (1984), Contemp. Math. 26; the
Gaussian form and its second moment in Dasgupta & Gupta (2003), "An elementary proof of a theorem of
Johnson and Lindenstrauss", Random Struct. Algorithms 22(1), Lemma 2.2 (``||Sx||²/||x||² ~ χ²_m/m``).

``S`` (``m x d``) with i.i.d. ``N(0, 1/m)`` entries: ``m ||Sx||² / ||x||² ~ χ²_m`` for fixed ``x``, so

* ``JL-mean``: ``E ||Sx||² = ||x||²``;
* ``JL-var``:  ``Var ||Sx||² = 2 ||x||⁴ / m``.

The sketch size is the scenario's ``n`` (``m = n``; default ``d = 64``, ``m = 16``); ``S`` is drawn
from the trial block's stream (:func:`~sketchbound.library._common.trial_rng`).
"""
from __future__ import annotations

import numpy as np

from ..claims import Claim
from ._common import Entry, LawWeights, constant_mask, law_instance, law_statistic

__all__ = ["ENTRIES", "jl_variance"]

SOURCE = "Johnson & Lindenstrauss (1984); Dasgupta & Gupta (2003), Random Struct. Algorithms 22(1), Lemma 2.2"


def jl_variance(x, m: int) -> float:
    """``2 ||x||⁴ / m``.

    Examples
    --------
    >>> jl_variance([1.0, 1.0], 4)
    2.0
    """
    return float(2.0 * np.sum(np.asarray(x, dtype=float) ** 2) ** 2 / m)


def jl_instance(sc, gen):
    """``x_k = N(0, 1) e^{N(0, 1)}`` (the Gaussian sketch's law does not depend on the shape of ``x``)."""
    return law_instance(LawWeights(gen.standard_normal(sc.d) * np.exp(gen.standard_normal(sc.d))))


def _norms(gen, w, k, m):
    x = np.asarray(w)
    Sx = (gen.standard_normal((k, m, x.shape[0])) @ x) / np.sqrt(m)  # S with entries N(0, 1/m)
    return np.einsum("tm,tm->t", Sx, Sx)


#: draws averaged per engine trial (see law_statistic)
INNER = 32


_COMMON = dict(probabilities=constant_mask, mask_uses_data=False, instance_factory=jl_instance,
               scenario=dict(x_mode="redrawn", d=64, n=16, s=1), source=SOURCE)
_ASSUME = "x fixed; S has i.i.d. N(0, 1/m) entries (m = n rows)"

ENTRIES = [
    Entry(Claim(
        id="JL-mean",
        name="Gaussian JL preserves the squared norm in expectation",
        statement="E ||Sx||² = ||x||²",
        relation="=",
        quantity=f"E ||Sx||², S (m x d) i.i.d. N(0, 1/m), m = n (each trial: the mean of {INNER} independent sketches)",
        statistic=law_statistic("Gaussian ||Sx||²", _norms, inner=INNER),
        exact=lambda i, sc: float(np.sum(np.asarray(i.w_star) ** 2)),
        max_trials=16_000,
        **_COMMON),
        assumptions=_ASSUME,
        exact_value="||x||²"),
    Entry(Claim(
        id="JL-var",
        name="Gaussian JL: exact variance of ||Sx||²",
        statement="Var ||Sx||² = 2 ||x||⁴ / m",
        relation="=",
        quantity=f"E (||Sx||² − ||x||²)², S (m x d) i.i.d. N(0, 1/m), m = n (each trial: the mean of {INNER} independent sketches)",
        statistic=law_statistic("Gaussian (||Sx||² − ||x||²)²",
                                lambda gen, w, k, m: (_norms(gen, w, k, m) - float(np.sum(np.asarray(w) ** 2))) ** 2,
                                inner=INNER),
        exact=lambda i, sc: jl_variance(i.w_star, sc.n),
        max_trials=32_000,
        **_COMMON),
        assumptions=_ASSUME,
        exact_value="2 ||x||⁴ / m"),
]
