"""A claim from outside the paper, registered without touching the engine: approximate matrix
multiplication (Drineas, Kannan & Mahoney 2006, "Fast Monte Carlo algorithms for matrices I",
Lemma 4 / Theorem 1), the result eq. (2) of the paper descends from.

Sample ``s`` column/row pairs ``k`` of ``A`` (``n x d``) and ``B`` (``d x n``) i.i.d. with
``p_k ∝ ||A^(k)|| ||B_(k)||`` and form ``CR = Σ_t A^(k_t) B_(k_t) / (s p_(k_t)) = A diag(m) B`` —
``m`` is exactly Algorithm 1's mask. Then

    E ||AB − CR||_F² = (1/s)(Σ_k ||A^(k)|| ||B_(k)||)² − (1/s)||AB||_F²   (exact; "DKM06-exact")
                     ≤ (1/s) ||A||_F² ||B||_F²                           (Cauchy–Schwarz; "DKM06")

Run it::

    python -m sketchbound.validate --claims-from validation/examples/amm_claims.py --lemma DKM06
    python -m sketchbound.validate --claims-from validation/examples/amm_claims.py --lemma DKM06-exact --exact --d 5 --s 3

How: the instance stores ``X = Aᵀ`` (``d x n``, rows = columns of A) and ``w0 = w* = B`` (``d x n``);
the statistic is a plain callable ``(X, W, M) -> ||Xᵀ diag(1 − m) W||_F²`` per mask row of ``M``; the
mask law, exact value and bound are callables too. Nothing in sketchbound names this claim.
"""
import numpy as np

from sketchbound.claims import Claim, Statistic, register
from sketchbound.scenarios import Instance


def amm_instance(sc, gen):
    """``A`` (``n x d``) and ``B`` (``d x n``) with i.i.d. N(0, 1) entries and column/row scales
    ``e^{N(0,1)}`` (so that the pair norms differ and the optimal probabilities matter)."""
    A = gen.standard_normal((sc.n, sc.d)) * np.exp(gen.standard_normal(sc.d))
    B = gen.standard_normal((sc.d, sc.n)) * np.exp(gen.standard_normal(sc.d))[:, None]
    return Instance(w0=B, w_star=B, X=np.ascontiguousarray(A.T), X_tilde=np.ascontiguousarray(A.T))


def amm_error(X, W, M):
    """``||AB − A diag(m) B||_F²`` for each mask row of ``M`` (``X = Aᵀ``, ``W = B``)."""
    if X.ndim != 2:
        raise ValueError("the AMM statistic needs fixed A, B")
    R = np.einsum("td,dn,dp->tnp", 1.0 - M, X, W)
    return np.einsum("tnp,tnp->t", R, R)


def amm_probabilities(X, W):
    """``p_k ∝ ||A^(k)|| ||B_(k)||`` (DKM06 eq. (3); eq. (2) of the paper when ``B`` is a vector)."""
    a = np.linalg.norm(X, axis=1) * np.linalg.norm(W, axis=1)
    return a / a.sum()


def amm_exact(inst, sc):
    a = np.linalg.norm(inst.X, axis=1) * np.linalg.norm(inst.w_star, axis=1)
    AB = inst.X.T @ inst.w_star
    return float((a.sum() ** 2 - np.sum(AB**2)) / sc.s)


def amm_bound(inst, sc):
    return float(np.sum(inst.X**2) * np.sum(inst.w_star**2) / sc.s)


AMM_ERROR = Statistic("amm_error", amm_error)
_COMMON = dict(
    quantity="E_m ||AB − CR||_F², A (n x d) and B (d x n) fixed, s pairs drawn with p_k ∝ ||A^(k)|| ||B_(k)||",
    statistic=AMM_ERROR,
    probabilities=amm_probabilities,
    instance_factory=amm_instance,
    scenario=dict(x_mode="fixed", d=64, n=8, s=8),
    source="Drineas, Kannan & Mahoney (2006), SIAM J. Comput. 36(1), Lemma 4 / Theorem 1",
)

register(Claim(
    id="DKM06-exact",
    name="Approximate matrix multiplication, exact error (Drineas, Kannan & Mahoney 2006)",
    statement="E ||AB − CR||_F² = (1/s)(Σ_k ||A^(k)|| ||B_(k)||)² − (1/s)||AB||_F²",
    relation="=",
    exact=amm_exact,
    # the exact value is a difference of two terms: the precision refers to the larger one
    scale=lambda inst, sc: amm_exact(inst, sc) + float(np.sum((inst.X.T @ inst.w_star) ** 2) / sc.s),
    **_COMMON,
))

register(Claim(
    id="DKM06",
    name="Approximate matrix multiplication bound (Drineas, Kannan & Mahoney 2006)",
    statement="E ||AB − CR||_F² ≤ (1/s) ||A||_F² ||B||_F²",
    relation="<=",
    exact=amm_exact,
    bound=amm_bound,
    **_COMMON,
))
