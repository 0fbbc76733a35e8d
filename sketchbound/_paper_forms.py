"""The helpers of the paper's claims in :mod:`sketchbound.claims`: Theorem 6.2's instance, the data-free
precondition, the scale of the 4.1 / 4.3 equalities, the §5 score checks and the bridge-va competitors."""
from __future__ import annotations

import numpy as np

from . import ntk, theory
from .probabilities import optimal_probabilities, tempered_probabilities
from .scenarios import Instance, sparse_rows


def ntk_instance(sc, gen):
    """Theorem 6.2's instance: a GD run of the two-layer MLP (:mod:`sketchbound.ntk`), its estimated
    constants and the whole B.5 chain at this ``s`` (in ``info``)."""
    run = ntk.mlp_run(d_in=sc.d_in, n=sc.n, width=sc.width, steps=sc.steps, seed=gen, lr_factor=sc.lr_factor)
    const = ntk.estimate_constants(run)
    chain = ntk.theorem_6_2_chain(run.J0, run.Jt, run.theta0, run.theta_t, sc.s, K=const["K"],
                                  lam_min=const["lambda_min"], R0=const["R0"])
    return Instance(w0=run.theta0, w_star=run.theta_t, X=np.ascontiguousarray(run.Jt.T),
                    X_tilde=np.ascontiguousarray(run.J0.T), info={"constants": const, "chain": chain})


def datafree_n(inst, sc):
    """The data-free checks need ``E[1/||X̃_(k)||²] < ∞`` (finite variance of the trials): ``n >= 3``."""
    return None if sc.n >= 3 else (f"n = {sc.n}: the data-free expectation needs E[1/χ_n] < ∞ (n >= 2; ν_1 = ∞) and "
                                   "its Monte-Carlo interval E[1/χ_n²] < ∞ (n >= 3)")


def first_term(X, w, p, s) -> float:
    """``(1/s) Σ_k ||X_(k)||² w_k² / p_k``: the size of the terms the 4.1 / 4.3 exact value is a
    difference of (a relative precision refers to it; the exact value may be 0, e.g. d = 1)."""
    r2w2 = np.sum(X**2, axis=1) * w**2
    nz = r2w2 > 0
    return float(np.sum(r2w2[nz] / p[nz]) / s)


def eq2_deviation(X, w, scores) -> tuple[float, dict]:
    p0 = optimal_probabilities(X, w)
    return (float(np.max(np.abs(scores / scores.sum() - p0)) / np.max(p0)),
            {"max_p0": float(np.max(p0)), "note": "max relative deviation from eq. (2)"})


def synflow_check(inst, sc, gen):
    """§5.1: max relative deviation of normalised SynFlow scores (linear model fed ||X_(i)||) from eq. (2)."""
    return eq2_deviation(inst.X, inst.w0, theory.synflow_linear_scores(inst.X, inst.w0))


def snip_check(inst, sc, gen):
    """§5.2: the same for SNIP with ℓ1 loss on sparse data (one non-zero per row of X)."""
    X = sparse_rows(inst.X.shape, gen)
    y = gen.standard_normal(X.shape[1])
    return eq2_deviation(X, inst.w0, theory.snip_linear_scores(X, inst.w0, y))


#: the claims that make ``lemma_4_3_exact`` the exact E_m on fixed inputs: unbiased outputs (B.1),
#: their variances (B.2), and the equality line they sum to (4.3)
EQ43 = ("B.1", "B.2", "4.3")

#: bridge-va (validation/bridge.md): w* = c w0 + ε, σ = NOISE·rms(c w0); competitors p0^β, β in BETAS, and 8 Dirichlet(1) laws
NOISE, BETAS = 1.0, (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
sigma = lambda w: NOISE * float(np.sqrt(np.mean(np.square(w))))  # noqa: E731


def best_competitor(i, sc):
    """The smallest closed-form expected error (w* = c w0 + ε) over the β-tempered and the random laws."""
    laws = [tempered_probabilities(optimal_probabilities(i.X, i.w0), b) for b in BETAS]
    laws += list(np.random.default_rng(0).dirichlet(np.ones(sc.d), 8))
    return min(theory.expected_algorithm1_error(i.X, i.w0, p, sc.s, sc.c, sigma(i.w_star)) for p in laws)


NTK_SCENARIO = dict(model="mlp2", x_mode="fixed", x_tilde="independent", n=16, width=256, steps=100, d_in=8)
NTK_DIM = lambda sc: ntk.param_count(sc.d_in, sc.width)  # noqa: E731
