"""What a claim measures and how its mask is drawn: per-trial statistics and mask laws.

The shipped statistics (:data:`ERROR`, :data:`OUTPUT`, :data:`SQ_DEV`) and the ``probabilities``
callables (:func:`optimal_masks`, :func:`uniform_masks`, :func:`tempered_masks`) of
:class:`sketchbound.claims.Claim`, and the names of the mask laws (:data:`MASK_LAWS`). Imported by
:mod:`sketchbound.claims`, which re-exports them.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import theory
from .probabilities import optimal_probabilities, tempered_probabilities, uniform_probabilities
from .tails import error_unseen_mass, output_unseen_mass, sq_dev_unseen_mass

__all__ = ["Statistic", "ERROR", "OUTPUT", "SQ_DEV", "MASK_LAWS", "optimal_masks", "uniform_masks", "tempered_masks"]

class Statistic:
    """A named per-trial statistic ``(X, w, M) -> values`` (see the module doc).

    ``given_x``: optional ``(X, w, p, s) -> E_m[statistic]`` for Algorithm 1 with probabilities
    ``p`` on fixed ``X`` (closed form); ``depends_on``: the claims that prove that closed form.
    ``enumerable``: the statistic accepts every Algorithm-1 outcome at once (``M`` of any row count);
    only then does ``estimator="auto"`` enumerate small instances without being asked (``--exact``).
    ``unseen``: optional ``(X, w, p, s, rare) -> U``, the exact part of ``E_m[statistic]`` carried by
    the trials that draw an index of the boolean mask ``rare`` under Algorithm 1; with it the engine
    covers rarely drawn indices exactly (:mod:`sketchbound.tails`). ``unseen_from``: the claims that
    closed form leans on (a claim among them only uses it to refuse ``holds``, never to estimate).
    ``value_range``: optional ``(X, w, p, s) -> (lo, hi)``, bounds every value can take under Algorithm 1
    on fixed ``X`` (bounded or sign-known statistics): where the t-interval's skewness rule blocks a
    look, a distribution-free (empirical Bernstein) interval may still decide it. ``event``: every value
    is 0 or 1 (a probability claim): the engine samples plainly and decides with the exact
    Clopper–Pearson interval (:func:`sketchbound.intervals.clopper_pearson_interval`), valid for any
    event probability, so neither the skewness rule nor rare indices block it.

    Examples
    --------
    >>> import numpy as np
    >>> S = Statistic("total", lambda X, w, M: (M * w) @ X.sum(axis=1))
    >>> S(np.ones((2, 1)), np.array([1.0, 2.0]), np.ones((3, 2))).tolist()
    [3.0, 3.0, 3.0]
    """

    def __init__(self, name: str, fn: Callable, *, given_x: Callable | None = None,
                 depends_on: tuple[str, ...] = (), enumerable: bool = False, unseen: Callable | None = None,
                 unseen_from: tuple[str, ...] = (), value_range: Callable | None = None, event: bool = False):
        self.name, self.fn, self.given_x, self.depends_on = name, fn, given_x, tuple(depends_on)
        self.enumerable, self.unseen, self.unseen_from = bool(enumerable), unseen, tuple(unseen_from)
        self.value_range, self.event = value_range, bool(event)

    def __call__(self, X, w, M):
        return self.fn(X, w, M)

    def __repr__(self):
        return f"Statistic({self.name!r})"

    def __eq__(self, other):
        # compatibility: code written when statistics were strings compares ``claim.statistic == "output"``
        if isinstance(other, str):
            return self.name == other
        return self is other

    __hash__ = object.__hash__


def error_rows(X, w, M):
    """``||Xᵀw − Xᵀ(w ⊙ m)||²`` for each mask row of ``M``."""
    if X.ndim == 3:  # one X per mask
        R = np.einsum("td,tdn->tn", w * (1.0 - M), X)
    else:
        R = (w * (1.0 - M)) @ X
    return np.einsum("tn,tn->t", R, R)


def _output(X, w, M):
    if X.ndim != 2:
        raise ValueError("the output statistic needs a fixed X")
    return (M * w) @ X


def _sq_dev(X, w, M):
    if X.ndim != 2:
        raise ValueError("the sq_dev statistic needs a fixed X")
    return ((M * w) @ X - X.T @ w) ** 2


def _error_range(X, w, p, s):
    """``0 <= err <= (Σ_k ||w_k X_(k)|| max(1, 1/p_k − 1))²``: Algorithm 1's ``m_k`` lies in ``[0, 1/p_k]``."""
    a = np.abs(w) * np.linalg.norm(X, axis=1)
    pa = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore"):
        f = np.where(pa > 0, np.maximum(1.0, 1.0 / np.where(pa > 0, pa, 1.0) - 1.0), 1.0)
    return 0.0, float(np.sum(a * f) ** 2)


#: the error of the masked linear features; its E_m given X is the Lemma 4.3 equality (sum of B.2's
#: variances, unbiased by B.1)
ERROR = Statistic("error", error_rows, given_x=theory.algorithm1_error, depends_on=("B.1", "B.2", "4.3"),
                  enumerable=True, unseen=error_unseen_mass, unseen_from=("B.1", "B.2", "4.3"), value_range=_error_range)
OUTPUT = Statistic("output", _output, enumerable=True, unseen=output_unseen_mass)
SQ_DEV = Statistic("sq_dev", _sq_dev, enumerable=True, unseen=sq_dev_unseen_mass, unseen_from=("B.2",))


def optimal_masks(X_tilde, w0):
    """Algorithm 1's law with eq. (2) of ``(X̃, w0)``."""
    return optimal_probabilities(X_tilde, w0)


def uniform_masks(X_tilde, w0):
    """Algorithm 1's law with ``p = 1/d`` (Lemma 4.5)."""
    return uniform_probabilities(np.shape(w0)[0])


def tempered_masks(beta: float) -> Callable:
    """The law ``p ∝ p0^β`` of ``(X̃, w0)`` (β = 0 uniform, β = 1 eq. (2)), as a ``probabilities`` callable.

    Examples
    --------
    >>> import numpy as np
    >>> tempered_masks(0.0)(np.ones((4, 2)), np.arange(1.0, 5.0)).tolist()
    [0.25, 0.25, 0.25, 0.25]
    """
    def law(X_tilde, w0):
        return tempered_probabilities(optimal_probabilities(X_tilde, w0), beta)
    law.__name__ = f"tempered_masks({beta!r})"
    return law


#: how a claim's mask is drawn from its probabilities ``p`` and ``s`` (``Claim.mask_law``): Algorithm 1
#: (``s`` i.i.d. draws, ``m = c/(s p)``), Poisson/Horvitz–Thompson (``bernoulli``: independent inclusion
#: with ``π = min(1, κ p)``, ``Σ π = s``, ``m = 1/π``), priority sampling (Duffield–Lund–Thorup) and
#: systematic πps sampling without replacement (Horvitz–Thompson weights); all from
#: :mod:`sketchbound.sampling`. Rao-Blackwell, derived and enumeration routes exist for Algorithm 1 only.
MASK_LAWS = ("algorithm1", "bernoulli", "priority", "without-replacement")
