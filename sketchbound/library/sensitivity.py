"""Sensitivity sampling of a neuron's incoming weights, from the provable-pruning literature: Baykal,
Liebenwein, Gilitschenski, Feldman & Rus (2019), "Data-dependent coresets for compressing neural
networks with applications to generalization bounds", ICLR 2019 (edge sampling by empirical
sensitivity, its single-neuron approximation lemma); the same scheme underlies SiPP (Baykal et al.
2022, "Sensitivity-informed provable pruning of neural networks", SIAM J. Math. Data Sci. 4(1)).

A neuron with non-negative weights ``w_j`` (their positive part; the paper treats the two signs
separately) and non-negative input activations ``a_j(x)`` (post-ReLU) has pre-activation
``z(x) = Σ_j w_j a_j(x)``. On a finite set of inputs ``x_1..x_n`` (the columns of ``X = [a_j(x_i)]``)
the empirical sensitivity of edge ``j`` is ``σ_j = max_i w_j a_j(x_i) / z(x_i)``, ``S = Σ_j σ_j``
(``S ≥ 1``). Draw ``s`` edges i.i.d. with ``q_j = σ_j / S`` and keep ``z̃(x) = Σ_j w_j a_j(x) m_j``
(``m`` Algorithm 1's mask: the engine's own sampler).

* ``SENS-unbiased``: ``E z̃(x_i) = z(x_i)`` for every input.
* ``SENS-prob``: for ``ε > 0``, simultaneously over the ``n`` inputs (union bound),
  ``P(max_i |z̃(x_i) − z(x_i)| / z(x_i) > ε) ≤ 2n exp(−s ε² / (2S(1 + ε/3)))``.
  The lemma as checked here, with our constants: ``z̃ = (1/s) Σ_t Y_t`` with ``Y_t = w_j a_j / q_j``
  i.i.d., ``0 ≤ Y_t ≤ S z`` (by the definition of ``σ_j``), mean ``z``, ``Var Y_t ≤ S z²``;
  Bernstein's inequality gives the bound. Baykal et al. state this step with their own constants,
  an additional factor ``K`` for inputs outside the sample and a union bound over neurons; what is
  checked is its structure (Bernstein on sensitivity-bounded terms) on the inputs the sensitivities
  were computed on.

Default scenario: ``d = 256`` edges, ``n = 8`` inputs, ``w_j = |N(0,1)|``, ``a_j(x_i) = |N(0,1)|``,
``ε = 0.3``, ``s = 200`` draws.
"""
from __future__ import annotations

import numpy as np

from ..claims import Claim, Statistic
from ..scenarios import Instance
from ._common import Entry

__all__ = ["ENTRIES", "sensitivities", "bernstein_bound", "EPS"]

SOURCE = ("Baykal, Liebenwein, Gilitschenski, Feldman & Rus (2019), ICLR, single-neuron edge-sampling lemma "
          "(Bernstein step; constants derived here); scheme of SiPP, Baykal et al. (2022), SIAM J. Math. Data Sci. 4(1)")
#: the relative error ε of the probability check
EPS = 0.3


def sens_instance(sc, gen) -> Instance:
    """Non-negative weights ``|N(0,1)|`` (``d``) and activations ``|N(0,1)|`` (``d x n``)."""
    w = np.abs(gen.standard_normal(sc.d))
    A = np.abs(gen.standard_normal((sc.d, sc.n)))
    return Instance(w0=w, w_star=w, X=A, X_tilde=A)


def sensitivities(A, w) -> np.ndarray:
    """Empirical sensitivities ``σ_j = max_i w_j a_j(x_i) / z(x_i)`` (``A`` is ``d x n``, ``w`` ``(d,)``).


    Parameters
    ----------
    A : ndarray, ``(d, n)``
        Non-negative activations ``a_j(x_i)``.
    w : ndarray, ``(d,)``
        Non-negative weights.

    Returns
    -------
    ndarray, ``(d,)``

    Examples
    --------
    >>> sensitivities(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([1.0, 1.0])).tolist()
    [0.5, 1.0]
    """
    A, w = np.asarray(A, dtype=float), np.asarray(w, dtype=float)
    if np.any(A < 0) or np.any(w < 0):
        raise ValueError("sensitivity sampling here needs non-negative weights and activations; got a negative entry")
    z = w @ A
    if np.any(z <= 0):
        raise ValueError(f"every input needs a positive pre-activation z(x) = Σ_j w_j a_j(x); got min {z.min()!r}")
    return np.max(w[:, None] * A / z, axis=1)


def sensitivity_law(A, w) -> np.ndarray:
    """``q_j = σ_j / S``."""
    sig = sensitivities(A, w)
    return sig / sig.sum()


def bernstein_bound(S: float, s: int, eps: float) -> float:
    """``min(1, 2 exp(−s ε² / (2S(1 + ε/3))))``: one input's failure probability bound (Bernstein).


    Parameters
    ----------
    S : float
        Total sensitivity.
    s : int
        Sample size.
    eps : float
        Relative error.

    Returns
    -------
    float

    Examples
    --------
    >>> bernstein_bound(1.0, 10**6, 0.1) < 1e-100
    True
    """
    return float(min(1.0, 2.0 * np.exp(-s * eps**2 / (2.0 * S * (1.0 + eps / 3.0)))))


def _z_tilde(A, w, M):
    if A.ndim != 2:
        raise ValueError(f"the sensitivity statistics need fixed activations (2 dimensions); got {A.ndim}")
    return (M * w) @ A


def _exceeds(A, w, M):
    """1 if some input's relative error exceeds ε (the event the union bound covers), else 0."""
    z = w @ A
    return np.any(np.abs(_z_tilde(A, w, M) - z) > EPS * z, axis=1).astype(float)


_COMMON = dict(probabilities=sensitivity_law, instance_factory=sens_instance,
               scenario=dict(x_mode="fixed", d=256, n=8, s=200), source=SOURCE)
_ASSUME = ("w_j ≥ 0, a_j(x) ≥ 0, z(x_i) > 0 on the n inputs the sensitivities are computed on; "
           "s edges i.i.d. from q_j = σ_j/S, reweighted 1/(s q_j)")

ENTRIES = [
    Entry(Claim(
        id="SENS-unbiased",
        name="Sensitivity sampling: the pruned pre-activation is unbiased (every input)",
        statement="E z̃(x_i) = z(x_i),  z̃(x) = Σ_j w_j a_j(x) m_j, m ~ s draws from q = σ/S",
        relation="=",
        quantity="E z̃(x_i) for each of the n inputs (Bonferroni over inputs)",
        statistic=Statistic("pruned pre-activation", _z_tilde),
        exact=lambda i, sc: i.w_star @ i.X,
        **_COMMON),
        assumptions=_ASSUME,
        exact_value="z(x_i) = Σ_j w_j a_j(x_i)"),
    Entry(Claim(
        id="SENS-prob",
        name="Sensitivity sampling: relative-error probability bound (Bernstein, Baykal et al. 2019)",
        statement=f"P(max_i |z̃(x_i) − z(x_i)|/z(x_i) > ε) ≤ 2n exp(−s ε²/(2S(1 + ε/3))),  ε = {EPS}",
        relation="<=",
        quantity=f"P(max_i |z̃(x_i) − z(x_i)|/z(x_i) > {EPS}) over the n inputs",
        statistic=Statistic("relative-error event", _exceeds, value_range=lambda X, w, p, s: (0.0, 1.0),
                            event=True),
        bound=lambda i, sc: min(1.0, sc.n * bernstein_bound(float(np.sum(sensitivities(i.X, i.w0))), sc.s, EPS)),
        **_COMMON),
        assumptions=_ASSUME + f"; ε = {EPS}",
        exact_value="", event=True),
]
