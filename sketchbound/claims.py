"""The registry of the paper's claims: one small declarative :class:`Claim` per lemma/theorem.

A claim says *what* is measured and against what, never *how*: the Monte-Carlo loop, the
statistics and the verdict live in :mod:`sketchbound.montecarlo`, the reporting in
:mod:`sketchbound.report`. Adding a claim = adding one entry here (and its closed form to
:mod:`sketchbound.theory`), or registering one from your own file (:func:`register`,
``validate --claims-from FILE``); the engine never looks at a claim's id.

Fields
------
``statistic`` — a callable ``(X, w, M) -> values``: the per-trial quantity the engine samples, for
  masks ``M`` (``T x d``) on data ``X`` (``d x n`` shared by the ``T`` masks, or ``T x d x n``, one
  ``X`` per mask) and the claim's ``target`` weights ``w``; returns ``(T,)`` or ``(T, k)`` (``k``
  components, e.g. one per output). The shipped ones are :data:`ERROR` (``||Xᵀw − Xᵀ(w ⊙ m)||²``),
  :data:`OUTPUT` (the masked outputs, Lemma B.1) and :data:`SQ_DEV` (squared deviation per output,
  Lemma B.2). A :class:`Statistic` may also carry ``given_x``: its expectation over Algorithm 1's
  mask in closed form, ``(X, w, p, s) -> E_m[statistic | X]``, which the Rao-Blackwellised estimator
  uses (Monte-Carlo over ``X`` only).
``probabilities`` — ``(X_tilde, w0) -> p`` (default eq. (2), :func:`optimal_masks`; :func:`uniform_masks`
  for Lemma 4.5, :func:`tempered_masks` for ``p0^β``). ``mask_uses_data=False`` says ``p`` does not
  look at ``X̃`` (no ``X̃`` is drawn for it).
``mask_law`` — how the mask is drawn (:data:`MASK_LAWS`): from ``p``, ``"algorithm1"`` (default),
  ``"bernoulli"`` (Poisson/Horvitz–Thompson), ``"priority"``, ``"without-replacement"`` (systematic πps);
  or a sketch ``S`` (``s x d``) passed to a ``Statistic(..., sketch=True)``: ``"countsketch"``,
  ``"gaussian"`` (:mod:`sketchbound.laws`). Rao-Blackwell, derived and enumeration routes exist for
  Algorithm 1 only; ``exact_from`` is refused for sketch laws.
``data`` — the data law of a ``x_mode="redrawn"`` claim, ``(scenario, generator) -> X`` (default
  ``N(0, I/n)``); ``X̃`` follows the same law.
A :class:`Statistic` may declare ``given_x``, ``enumerable``, ``unseen`` (its unseen mass on rarely
  drawn indices, :mod:`sketchbound.tails`) and ``value_range`` (:mod:`sketchbound.laws`); all optional.
``evaluate`` — for deterministic identities (§5): ``(instance, scenario, generator) -> (value, extra)``;
  the claim holds if ``value <= tolerance``.
``exact`` / ``bound`` — callables ``(instance, scenario) -> value`` (``None`` if not applicable).
``exact_from`` — ids of the claims whose (checked) equality makes ``exact`` the closed form of the
  measured quantity *on this instance*; a ``<=`` claim on fixed inputs with ``exact_from`` gets a
  ``derived`` verdict (exact vs bound), cross-checked by plain Monte-Carlo and by exact enumeration
  of its law on small instances. The ids must cover the claim's statistic and law
  (:func:`exact_from_coverage`: the statistic's ``depends_on`` under Algorithm 1, or registered claims
  measuring the same statistic under the same law); otherwise checking it is a ``ValueError``.
``scenario`` — overrides of the default :class:`~sketchbound.scenarios.Scenario`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import theory
from .probabilities import optimal_probabilities, row_norms, variance_aware_probabilities
from .laws import (ERROR, MASK_LAWS, OUTPUT, SKETCH_LAWS, SKETCH_OUTPUT, SKETCH_SQ_DEV, SQ_DEV, Statistic, check_law,
                   error_rows, fixed_data, optimal_masks, tempered_masks, uniform_masks)
from ._paper_forms import EQ43 as _EQ43, NTK_DIM as _NTK_DIM, NTK_SCENARIO as _NTK_SCENARIO
from ._paper_forms import best_competitor as _best_competitor, datafree_n as _datafree_n, first_term as _first_term
from ._paper_forms import ntk_instance as _ntk_instance, sigma as _sigma, snip_check as _snip_check
from ._paper_forms import synflow_check as _synflow_check

__all__ = ["Claim", "Statistic", "CLAIMS", "ERROR", "OUTPUT", "SQ_DEV", "SKETCH_OUTPUT", "SKETCH_SQ_DEV", "MASK_LAWS",
           "get_claim", "get_claims", "claim_ids", "optimal_masks", "uniform_masks", "tempered_masks", "fixed_data",
           "register", "unregister", "check_claim", "exact_from_coverage", "load_claims"]


@dataclass(frozen=True)
class Claim:
    id: str
    name: str
    statement: str
    relation: str  # "=" or "<="
    quantity: str
    statistic: Callable = ERROR
    probabilities: Callable = optimal_masks
    #: False when ``probabilities`` ignores ``X̃`` (then no ``X̃`` is drawn)
    mask_uses_data: bool = True
    #: how the mask is drawn from ``p`` (one of :data:`MASK_LAWS`; default Algorithm 1)
    mask_law: str = "algorithm1"
    #: the data law of a ``x_mode="redrawn"`` claim: ``(scenario, generator) -> X`` (``d x n``), one
    #: fresh draw per call; ``None``: ``X ~ N(0, I/n)`` (the scenario's). ``X̃`` follows the same law.
    data: Callable | None = None
    target: str = "w_star"
    exact: Callable | None = None
    bound: Callable | None = None
    scenario: dict = field(default_factory=dict)
    source: str = ""
    #: for "=" claims: the size a relative precision refers to, ``(instance, scenario) -> array``;
    #: default ``|exact|``. Needed where the exact value is a difference of much larger terms.
    scale: Callable | None = None
    #: scenario settings the paper's statement assumes (a check outside them is flagged, not hidden)
    hypotheses: dict = field(default_factory=dict)
    #: builds the instance instead of ``Scenario.instance``: ``(scenario, generator) -> Instance``
    #: (Theorem 6.2: a trained MLP gives X = J(θ_t)ᵀ, X̃ = J(θ₀)ᵀ, w⁰ = θ₀, w* = θ_t)
    instance_factory: Callable | None = None
    #: the number of weights ``d`` implied by the scenario (overrides ``Scenario.d``), e.g. the MLP's
    #: parameter count; with it the default ``s`` is 10% of ``d``
    dimension: Callable | None = None
    #: default trial cap for this claim (None: the engine's default for its x_mode)
    max_trials: int | None = None
    #: deterministic identities: ``(instance, scenario, generator) -> (value, extra)``; holds if <= tolerance
    evaluate: Callable | None = None
    tolerance: float = 1e-10
    #: claims whose equality makes ``exact`` the closed form of the measured quantity on this instance
    exact_from: tuple = ()
    #: hypotheses that depend on the drawn instance: ``(instance, scenario) -> None`` or the reason the
    #: instance is outside the statement (then no verdict is given: ``inconclusive``, flagged)
    precondition: Callable | None = None

    @property
    def ntk(self) -> bool:
        return self.instance_factory is not None

    @property
    def deterministic(self) -> bool:
        return self.evaluate is not None


CLAIMS: list[Claim] = [
    Claim(
        id="4.1",
        name="Lemma 4.1 (error of Algorithm 1 with p0, X given)",
        statement="E_m|X ||Xᵀw0 − Xᵀ(w0⊙m)||² = (1/s)(Σ_k ||X_(k)|| |w0_k|)² − (1/s)||Xᵀw0||²",
        relation="=",
        quantity="E_m ||Xᵀw0 − Xᵀ(w0⊙m)||², X fixed, p = p0(X, w0)",
        target="w0",
        exact=lambda i, sc: theory.lemma_4_1_value(i.X, i.w0, sc.s),
        scale=lambda i, sc: _first_term(i.X, i.w0, optimal_probabilities(i.X, i.w0), sc.s),
        scenario=dict(x_mode="fixed", x_tilde="same"),
        hypotheses=dict(x_tilde="same"),
        source="§4, Lemma 4.1 (Drineas et al. 2006, Lemma 4)",
    ),
    Claim(
        id="4.2",
        name="Lemma 4.2 (bound at initialisation, X ~ N(0, I/n))",
        statement="E_X ||Xᵀw0 − Xᵀ(w0⊙m)||² ≤ (1/s)||w0||²",
        relation="<=",
        quantity="E_X E_m ||Xᵀw0 − Xᵀ(w0⊙m)||², X redrawn each trial, p = p0(X, w0)",
        target="w0",
        exact=lambda i, sc: theory.gaussian_error_or_inf(i.w0, i.w0, sc.s, sc.n, x_tilde=sc.x_tilde),
        bound=lambda i, sc: theory.lemma_4_2_bound(i.w0, sc.s),
        scenario=dict(x_mode="redrawn", x_tilde="same"),
        hypotheses=dict(x_tilde="same"),
        source="§4, Lemma 4.2; proof in App. B.2",
    ),
    Claim(
        id="4.3",
        name="Lemma 4.3, equality line (mask from (X̃, w0), applied to (X, w*))",
        statement="E_m ||Xᵀw* − Xᵀ(w*⊙m)||² = (1/s) Σ_k ||X_(k)||² w*_k² / p0_k − (1/s)||Xᵀw*||²",
        relation="=",
        quantity="E_m ||Xᵀw* − Xᵀ(w*⊙m)||², X and X̃ fixed, p = p0(X̃, w0)",
        exact=lambda i, sc: theory.lemma_4_3_exact(i.X, i.X_tilde, i.w0, i.w_star, sc.s),
        scale=lambda i, sc: _first_term(i.X, i.w_star, optimal_probabilities(i.X_tilde, i.w0), sc.s),
        scenario=dict(x_mode="fixed", x_tilde="independent"),
        source="App. B.1, Lemma 4.3",
    ),
    Claim(
        id="4.3b",
        name="Lemma 4.3, bound",
        statement="E_m ||Xᵀw* − Xᵀ(w*⊙m)||² ≤ (1/s) Σ_k [Σ_j ||X̃_(j)|| |w0_j|] / (||X̃_(k)|| |w0_k|) ||X_(k)||² w*_k²",
        relation="<=",
        quantity="E_m ||Xᵀw* − Xᵀ(w*⊙m)||², X and X̃ fixed, p = p0(X̃, w0)",
        exact=lambda i, sc: theory.lemma_4_3_exact(i.X, i.X_tilde, i.w0, i.w_star, sc.s),
        bound=lambda i, sc: theory.lemma_4_3_bound(i.X, i.X_tilde, i.w0, i.w_star, sc.s),
        scenario=dict(x_mode="fixed", x_tilde="independent"),
        exact_from=_EQ43,
        source="§4, Lemma 4.3",
    ),
    Claim(
        id="4.4",
        name="Theorem 4.4 (mask from w0, applied to w*, X ~ N(0, I/n))",
        statement="E_X ||Xᵀw* − Xᵀ(w*⊙m)||² ≤ (c²/s) ||w0||₁²,  c = max_j |w*_j / w0_j|",
        relation="<=",
        quantity="E_X E_m ||Xᵀw* − Xᵀ(w*⊙m)||², X redrawn each trial, p = p0(X, w0)",
        exact=lambda i, sc: theory.gaussian_error_or_inf(i.w0, i.w_star, sc.s, sc.n, x_tilde=sc.x_tilde),
        bound=lambda i, sc: theory.theorem_4_4_bound(i.w0, i.w_star, sc.s),
        scenario=dict(x_mode="redrawn", x_tilde="same"),
        hypotheses=dict(x_tilde="same"),
        source="§4, Theorem 4.4; proof in App. B.3",
    ),
    # ---- corrected statements (validation/ERRATA.md): what is true where the paper's proof fails ----
    Claim(
        id="4.2-exact",
        name="Lemma 4.2 corrected: the exact error at initialisation",
        statement="E_X E_m ||Xᵀw0 − Xᵀ(w0⊙m)||² = μ_n² (||w0||₁² − ||w0||²)/s,  μ_n = E||X_(k)|| = √(2/n) Γ((n+1)/2)/Γ(n/2)",
        relation="=",
        quantity="E_X E_m ||Xᵀw0 − Xᵀ(w0⊙m)||², X ~ N(0, I/n) redrawn, p = p0(X, w0)",
        target="w0",
        exact=lambda i, sc: theory.lemma_4_2_exact(i.w0, sc.s, sc.n),
        scenario=dict(x_mode="redrawn", x_tilde="same"),
        hypotheses=dict(x_tilde="same"),
        source="correction of §4 Lemma 4.2 (validation/ERRATA.md)",
    ),
    Claim(
        id="4.2-corrected",
        name="Lemma 4.2 corrected: a valid bound",
        statement="E_X E_m ||Xᵀw0 − Xᵀ(w0⊙m)||² ≤ (1/s)||w0||₁²",
        relation="<=",
        quantity="E_X E_m ||Xᵀw0 − Xᵀ(w0⊙m)||², X ~ N(0, I/n) redrawn, p = p0(X, w0)",
        target="w0",
        exact=lambda i, sc: theory.lemma_4_2_exact(i.w0, sc.s, sc.n),
        bound=lambda i, sc: theory.lemma_4_2_corrected_bound(i.w0, sc.s),
        scenario=dict(x_mode="redrawn", x_tilde="same"),
        hypotheses=dict(x_tilde="same"),
        source="correction of §4 Lemma 4.2 (validation/ERRATA.md)",
    ),
    Claim(
        id="4.4-datafree-exact",
        name="Theorem 4.4, data-free setting (mask from an independent X̃): the exact error",
        statement="E_X,X̃ E_m ||Xᵀw* − Xᵀ(w*⊙m)||² = (ν_n/s) Σ_k w*_k² (||w0||₁ − |w0_k|)/|w0_k|,  ν_n = E[χ_n]E[1/χ_n]",
        relation="=",
        quantity="E_X,X̃ E_m ||Xᵀw* − Xᵀ(w*⊙m)||², X, X̃ ~ N(0, I/n) independent, redrawn, p = p0(X̃, w0)",
        exact=lambda i, sc: theory.theorem_4_4_datafree_exact(i.w0, i.w_star, sc.s, sc.n),
        scenario=dict(x_mode="redrawn", x_tilde="independent"),
        # the Monte-Carlo interval needs E[1/||X̃_(k)||²] < ∞, i.e. n >= 3
        hypotheses=dict(x_tilde="independent"),
        precondition=_datafree_n,
        source="correction of §4 Theorem 4.4 for data-free pruning (validation/ERRATA.md)",
    ),
    Claim(
        id="4.4-datafree",
        name="Theorem 4.4 corrected for the data-free setting: the bound with ν_n",
        statement="E_X,X̃ E_m ||Xᵀw* − Xᵀ(w*⊙m)||² ≤ ν_n (c²/s) ||w0||₁²,  ν_n = E[χ_n]E[1/χ_n] = Γ((n+1)/2)Γ((n−1)/2)/Γ(n/2)²",
        relation="<=",
        quantity="E_X,X̃ E_m ||Xᵀw* − Xᵀ(w*⊙m)||², X, X̃ ~ N(0, I/n) independent, redrawn, p = p0(X̃, w0)",
        exact=lambda i, sc: theory.theorem_4_4_datafree_exact(i.w0, i.w_star, sc.s, sc.n),
        bound=lambda i, sc: theory.theorem_4_4_datafree_bound(i.w0, i.w_star, sc.s, sc.n),
        scenario=dict(x_mode="redrawn", x_tilde="independent"),
        hypotheses=dict(x_tilde="independent"),
        precondition=_datafree_n,
        source="correction of §4 Theorem 4.4 for data-free pruning (validation/ERRATA.md)",
    ),
    Claim(
        id="4.5",
        name="Lemma 4.5 (uniform mask), first bound",
        statement="E_X ||Xᵀw* − Xᵀ(w*⊙m)||² ≤ (d/s) ||w*||²  (m from Algorithm 1 with p = 1/d)",
        relation="<=",
        quantity="E_X E_m ||Xᵀw* − Xᵀ(w*⊙m)||², X redrawn each trial, p uniform",
        probabilities=uniform_masks,
        mask_uses_data=False,
        exact=lambda i, sc: theory.gaussian_error(i.w0, i.w_star, sc.s, sc.n, mask="uniform"),
        bound=lambda i, sc: theory.lemma_4_5_bound(i.w_star, sc.s),
        scenario=dict(x_mode="redrawn"),
        source="§4, Lemma 4.5; proof in App. B.4",
    ),
    Claim(
        id="4.5c",
        name="Lemma 4.5 (uniform mask), second bound",
        statement="E_X ||Xᵀw* − Xᵀ(w*⊙m)||² ≤ (d c²/s) ||w0||²",
        relation="<=",
        quantity="E_X E_m ||Xᵀw* − Xᵀ(w*⊙m)||², X redrawn each trial, p uniform",
        probabilities=uniform_masks,
        mask_uses_data=False,
        exact=lambda i, sc: theory.gaussian_error(i.w0, i.w_star, sc.s, sc.n, mask="uniform"),
        bound=lambda i, sc: theory.lemma_4_5_bound_c(i.w0, i.w_star, sc.s),
        scenario=dict(x_mode="redrawn"),
        source="§4, Lemma 4.5",
    ),
    Claim(
        id="B.1",
        name="Lemma B.1 (unbiased masked outputs)",
        statement="E_m[(Xᵀ(w*⊙m))_i] = (Xᵀw*)_i for every output i",
        relation="=",
        quantity="E_m (Xᵀ(w*⊙m))_i, each i (Bonferroni over i); precision relative to Σ_k |X_ki w*_k|",
        statistic=OUTPUT,
        exact=lambda i, sc: i.X.T @ i.w_star,
        scale=lambda i, sc: np.abs(i.X).T @ np.abs(i.w_star),
        scenario=dict(x_mode="fixed", x_tilde="independent", n=4),
        source="App. B, Lemma B.1",
    ),
    Claim(
        id="B.2",
        name="Lemma B.2 (variance of each masked output)",
        statement="Var[(Xᵀ(w*⊙m))_i] = (1/s) Σ_k X_ki² w*_k² / p0_k − (1/s)(Xᵀw*)_i²",
        relation="=",
        quantity="E_m ((Xᵀ(w*⊙m))_i − (Xᵀw*)_i)², each i (= Var by Lemma B.1; Bonferroni over i); precision relative to (1/s)Σ_k X_ki² w*_k²/p0_k",
        statistic=SQ_DEV,
        exact=lambda i, sc: theory.lemma_b2_variance(i.X, i.w_star, optimal_probabilities(i.X_tilde, i.w0), sc.s),
        scale=lambda i, sc: (i.X**2).T @ (i.w_star**2 / optimal_probabilities(i.X_tilde, i.w0)) / sc.s,
        scenario=dict(x_mode="fixed", x_tilde="independent", n=4),
        source="App. B, Lemma B.2",
    ),
    Claim(
        id="5.1",
        name="§5.1 SynFlow on a linear model fed ||X_(i)|| gives eq. (2)",
        statement="SynFlow score (∂R/∂|w|_i)|w|_i with R = 1ᵀf(||X_(i)||; |w|), normalised, = p_i of eq. (2)",
        relation="=",
        quantity="max_i |SynFlow_i / Σ SynFlow − p0_i| / max_i p0_i (scores by complex-step differentiation of R)",
        evaluate=lambda i, sc, gen: _synflow_check(i, sc, gen),
        exact=lambda i, sc: 0.0,
        scenario=dict(x_mode="fixed", x_tilde="same"),
        source="§5.1, eq. (3)–(4)",
    ),
    Claim(
        id="5.2",
        name="§5.2 SNIP (ℓ1 loss) with one non-zero per row of X gives eq. (2)",
        statement="g_j = (1/n)|∂ Σ_i |x_iᵀ(w⊙m) − y_i| / ∂m_j| at m = 1, normalised, = p_j of eq. (2) when ||X_(j)||₀ = 1",
        relation="=",
        quantity="max_j |g_j / Σ g − p0_j| / max_j p0_j, X sparse (one random example per row carries N(0,1))",
        evaluate=lambda i, sc, gen: _snip_check(i, sc, gen),
        exact=lambda i, sc: 0.0,
        scenario=dict(x_mode="fixed", x_tilde="same"),
        source="§5.2",
    ),
    Claim(
        id="6.2",
        name="Theorem 6.2, first inequality of its proof (App. B.5): Lemma 4.3 with Jacobians",
        statement="E_m ||J(θ_t)θ_t − J(θ_t)(θ_t⊙m)||² ≤ (1/s) Σ_k ||J_t^(k)||² θ_tk² / (||J₀^(k)|| |θ₀ₖ|) · Σ_j ||J₀^(j)|| |θ₀ⱼ|",
        relation="<=",
        quantity="E_m ||J_tθ_t − J_t(θ_t⊙m)||², two-layer MLP (NTK param.) after full-batch GD, p = eq. (2) of (J(θ₀), θ₀)",
        exact=lambda i, sc: theory.lemma_4_3_exact(i.X, i.X_tilde, i.w0, i.w_star, sc.s),
        bound=lambda i, sc: theory.lemma_4_3_bound(i.X, i.X_tilde, i.w0, i.w_star, sc.s),
        scenario=_NTK_SCENARIO,
        instance_factory=_ntk_instance,
        dimension=_NTK_DIM,
        # the closed form sits ~0.2% under this bound (||J_tθ_t||²/s is tiny next to the sum): no
        # affordable plain Monte-Carlo resolves it (~10⁷ trials); the default verdict is derived
        # from the Lemma 4.3 equality (exact_from) and cross-checked by plain Monte-Carlo
        max_trials=32_000,
        exact_from=_EQ43,
        source="§6, Theorem 6.2; proof in App. B.5 (first inequality = Lemma 4.3)",
    ),
    Claim(
        id="6.2b",
        name="Theorem 6.2, final bound with constants (K, λ_min, R₀) estimated from the run",
        statement="E_m ||J_tθ_t − J_t(θ_t⊙m)||² ≤ (1/s) K³||θ₀||₁ F(J₀)(||θ₀||₁ + F(θ₀) 9K⁴R₀²/λ_min² + 6√d K³R₀/λ_min)",
        relation="<=",
        quantity="E_m ||J_tθ_t − J_t(θ_t⊙m)||², as 6.2; K̂ = max(1, max_t ||J_t||_F, max_t ||J_t − J₀||_F/||θ_t − θ₀||), λ_min(J₀J₀ᵀ), R₀ = ||f₀ − y||",
        exact=lambda i, sc: theory.lemma_4_3_exact(i.X, i.X_tilde, i.w0, i.w_star, sc.s),
        bound=lambda i, sc: i.info["chain"]["values"]["final"],
        precondition=lambda i, sc: (None if i.info["constants"]["lambda_min"] > 0 else
                                    f"λ_min(J₀J₀ᵀ) = {i.info['constants']['lambda_min']:.3g} <= 0, the theorem assumes "
                                    "λ_min > 0 (its bound is undefined)"),
        scenario=_NTK_SCENARIO,
        instance_factory=_ntk_instance,
        dimension=_NTK_DIM,
        max_trials=32_000,
        exact_from=_EQ43,
        source="§6, Theorem 6.2; proof in App. B.5",
    ),
    Claim(
        id="bridge-va",
        name="The variance-aware law minimises the expected Lemma 4.3 error when w* = c w0 + ε",
        statement="E_ε,m err(p_va) ≤ min_p E_ε,m err(p) over p ∝ p0^β (β = 0, .25, .5, 1, 2, 4) and 8 random p;  p_va ∝ ||X_(k)|| √(c²w0_k² + σ²)",
        relation="<=",
        quantity="E_ε,m ||Xᵀw* − Xᵀ(w*⊙m)||², w* = c w0 + ε, σ = rms(c w0), m ~ Algorithm 1 with p_va (E_ε given m exact: ||Xᵀ(cw0⊙(1−m))||² + σ²Σ_k ||X_(k)||²(1−m_k)²)",
        statistic=Statistic("noisy error", lambda X, w, M: error_rows(X, w, M) + (1.0 - M) ** 2 @ (_sigma(w) ** 2 * np.sum(X**2, axis=1)),
                            enumerable=True),
        probabilities=lambda Xt, w0: variance_aware_probabilities(row_norms(Xt), w0, 1.0, _sigma(w0)),
        exact=lambda i, sc: theory.variance_aware_minimum_error(i.X, i.w0, sc.s, sc.c, _sigma(i.w_star)),
        bound=_best_competitor,
        scenario=dict(x_mode="fixed", x_tilde="same", ratio="equal", c=2.0),
        hypotheses=dict(x_tilde="same", ratio="equal"),
        source="validation/bridge.md (Cauchy–Schwarz on Lemma 4.3's equality line)",
    ),
]

_BY_ID = {c.id: c for c in CLAIMS}
_ALIASES = {"thm4.4": "4.4", "bridge": "bridge-va"}
_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
_CALLABLE_FIELDS = ("exact", "bound", "scale", "instance_factory", "dimension", "evaluate", "precondition", "data")


# -------------------------------------------------------------------------------------------------
# claims of your own
# -------------------------------------------------------------------------------------------------
def check_claim(claim) -> "Claim":
    """Raise ``ValueError`` naming the claim, the field and what is accepted if ``claim`` is malformed."""
    if not isinstance(claim, Claim):
        raise ValueError(f"a claim must be a sketchbound.claims.Claim, got {type(claim).__name__}")
    cid = claim.id
    if not isinstance(cid, str) or not cid or not set(cid) <= _ID_CHARS:
        raise ValueError(f"claim id must be a non-empty string of letters, digits, '.', '_', '-' (it names "
                         f"report files); got {cid!r}")
    where = f"claim {cid!r}"
    for f in ("name", "statement", "quantity"):
        if not isinstance(getattr(claim, f), str) or not getattr(claim, f).strip():
            raise ValueError(f"{where}: {f} must be a non-empty string; got {getattr(claim, f)!r}")
    if claim.relation not in ("=", "<="):
        raise ValueError(f"{where}: relation must be '=' or '<='; got {claim.relation!r}")
    if not callable(claim.statistic) or not callable(claim.probabilities):
        raise ValueError(f"{where}: statistic and probabilities must be callables")
    for f in _CALLABLE_FIELDS:
        v = getattr(claim, f)
        if v is not None and not callable(v):
            raise ValueError(f"{where}: {f} must be a callable or None; got {type(v).__name__}")
    if claim.relation == "<=" and claim.bound is None:
        raise ValueError(f"{where}: a '<=' claim needs a bound callable (instance, scenario) -> value")
    if claim.relation == "=" and claim.exact is None:
        raise ValueError(f"{where}: an '=' claim needs an exact callable (instance, scenario) -> value")
    if claim.target not in ("w0", "w_star"):
        raise ValueError(f"{where}: target must be 'w0' or 'w_star'; got {claim.target!r}")
    if not isinstance(claim.scenario, dict) or not isinstance(claim.hypotheses, dict):
        raise ValueError(f"{where}: scenario and hypotheses must be dicts of Scenario fields")
    from .scenarios import Scenario  # noqa: PLC0415
    fields = set(Scenario.__dataclass_fields__)
    for f in ("scenario", "hypotheses"):
        bad = set(getattr(claim, f)) - fields
        if bad:
            raise ValueError(f"{where}: {f} has unknown keys {sorted(bad)}; known: {', '.join(sorted(fields))}")
    try:
        Scenario().replace(**claim.scenario)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: scenario {claim.scenario!r} is invalid: {e}") from None
    if claim.max_trials is not None and (isinstance(claim.max_trials, bool) or not isinstance(claim.max_trials, int)
                                         or claim.max_trials < 2):
        raise ValueError(f"{where}: max_trials must be an integer >= 2 or None; got {claim.max_trials!r}")
    if not isinstance(claim.exact_from, tuple) or not all(isinstance(x, str) for x in claim.exact_from):
        raise ValueError(f"{where}: exact_from must be a tuple of claim ids; got {claim.exact_from!r}")
    check_law(claim)
    if claim.exact_from and claim.mask_law in SKETCH_LAWS:
        raise ValueError(exact_from_coverage(claim))
    return claim


def exact_from_coverage(claim: Claim) -> str | None:
    """``None`` if the claims named in ``claim.exact_from`` cover its statistic and mask law, else why not.

    They cover it when each id is either one of the claims that prove the statistic's closed form
    (``statistic.depends_on``, results about Algorithm 1 with any ``p``: the claim's law must be
    ``algorithm1``) or a registered claim that measures the same statistic under the same mask law.

    Examples
    --------
    >>> exact_from_coverage(get_claim("4.3b")) is None
    True
    """
    stat = claim.statistic
    if claim.mask_law in SKETCH_LAWS:
        return (f"claim {claim.id!r}: exact_from={claim.exact_from!r} is refused under mask law {claim.mask_law!r}: no "
                "enumeration of a sketch law checks a closed form, so no derived verdict rests on one; accepted: "
                "exact_from=() (the claim is decided by sampling) or a diagonal law")
    proven = set(getattr(stat, "depends_on", ()) or ()) if claim.mask_law == "algorithm1" else set()
    bad = []
    for cid in claim.exact_from:
        other = _BY_ID.get(cid)
        same = other is not None and other.statistic is stat and other.mask_law == claim.mask_law
        if cid not in proven and not same:
            bad.append(cid)
    if not bad:
        return None
    name = getattr(stat, "name", getattr(stat, "__name__", "?"))
    return (f"claim {claim.id!r}: exact_from={claim.exact_from!r} does not cover its statistic {name!r} under mask law "
            f"{claim.mask_law!r} ({', '.join(bad)} prove(s) other statistics or laws); accepted: the claims that prove "
            f"the statistic's closed form under Algorithm 1 ({', '.join(sorted(proven)) or 'none'}) or claims measuring "
            "the same statistic under the same law")


def register(claim: Claim, *, replace: bool = False) -> Claim:
    """Add ``claim`` to the registry (after :func:`check_claim`): ``validate --lemma ID``, ``--all``,
    the reliability study and the reports then include it. The engine needs nothing else: the claim
    carries its statistic, mask law, exact value and bound as callables. ``replace=True`` swaps a
    claim with the same id."""
    check_claim(claim)
    if claim.id in _BY_ID:
        if not replace:
            raise ValueError(f"claim id {claim.id!r} is already registered; choose another id")
        CLAIMS[CLAIMS.index(_BY_ID[claim.id])] = claim
    else:
        CLAIMS.append(claim)
    _BY_ID[claim.id] = claim
    return claim


def unregister(cid: str) -> None:
    """Remove a claim registered with :func:`register` (the paper's own claims cannot be removed)."""
    if cid in _BUILTIN:
        raise ValueError(f"claim {cid!r} is one of the paper's; it cannot be unregistered")
    c = _BY_ID.pop(cid, None)
    if c is not None:
        CLAIMS.remove(c)


def load_claims(path) -> list[Claim]:
    """Run the Python file ``path``; every claim it registers with :func:`register` (or lists in a module-level
    ``CLAIMS``) joins the registry. Returns the new claims. Errors (no such file, the file raises, a
    malformed claim) are ``ValueError`` naming the file and the problem.

    The file is executed as Python code with the user's privileges, exactly like ``python FILE``: it can
    read, write and run anything the user can, so load only files you trust. Nothing here sandboxes it:
    its side effects happen even when it is then refused, and ``os._exit`` inside it ends the process
    (with its own status) before this function can say anything. What is caught: any exception it raises
    (``SystemExit`` from ``sys.exit`` included) and a file that registers no claim, both ``ValueError``
    naming the file (``python -m sketchbound.validate`` prints one line and exits 2); the registry is left
    as it was."""
    import runpy  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    p = Path(path)
    if str(path) == "" or not p.is_file():
        raise ValueError(f"--claims-from {str(path)!r}: no such file")
    before = list(CLAIMS)
    try:
        ns = runpy.run_path(str(p), run_name="sketchbound_user_claims")
        for c in ns.get("CLAIMS", []) or []:
            if not any(c is b for b in CLAIMS):
                register(c)
    except ValueError as e:
        _restore(before)
        raise ValueError(f"--claims-from {str(path)!r}: {e}") from None
    except BaseException as e:  # noqa: BLE001 - a user file may raise anything; say which and what
        _restore(before)
        if isinstance(e, KeyboardInterrupt):
            raise
        raise ValueError(f"--claims-from {str(path)!r}: the file raised {type(e).__name__}: {e}") from None
    new = [c for c in CLAIMS if not any(c is b for b in before)]
    if not new:
        raise ValueError(f"--claims-from {str(path)!r}: the file registers no claim (call "
                         "sketchbound.claims.register(Claim(...)) or define CLAIMS = [...])")
    return new


def _restore(before: list) -> None:
    CLAIMS[:] = before
    _BY_ID.clear()
    _BY_ID.update({c.id: c for c in CLAIMS})


def claim_ids() -> list[str]:
    return [c.id for c in CLAIMS]


def get_claims(lemma: str) -> list[Claim]:
    """Claims for a user-facing id: ``"4.3"`` gives the equality line and the bound (4.3, 4.3b);
    ``"4.5"`` both bounds; an exact id (``"4.3b"``) just that one. Case-insensitive, ``B.1`` or ``b1``."""
    raw = str(lemma).strip().lower()
    key = raw.replace("lemma", "").replace("theorem", "").replace(" ", "")
    key = _ALIASES.get(key, key)
    if key in ("b1", "b2"):
        key = "b." + key[1]
    matches = [c for c in CLAIMS if c.id.lower() in (raw, key)]
    family = [c for c in CLAIMS if c.id.lower().startswith(key) and c.id.lower()[len(key):] in ("b", "c")]
    out = matches + [c for c in family if c not in matches]
    if not out:
        raise ValueError(f"unknown lemma {lemma!r}; known: {', '.join(claim_ids())}")
    return out


def get_claim(cid: str) -> Claim:
    if cid not in _BY_ID:
        raise ValueError(f"unknown claim id {cid!r}; known: {', '.join(claim_ids())}")
    return _BY_ID[cid]


_BUILTIN = frozenset(_BY_ID)
