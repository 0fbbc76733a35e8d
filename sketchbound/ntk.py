"""Theorem 6.2 (NTK regime) made computable: a wide two-layer MLP, its Jacobian, full-batch GD, the
estimated constants, and every step of the chain of inequalities in the proof (Appendix B.5).

numpy only (core module: no torch).

Model (NTK parameterisation, scalar output, no biases)::

    f(x; θ) = v · relu(W x) / √width,   θ = (vec W, v),   W_ij, v_i ~ N(0, 1)

so ``d = width · (d_in + 1)`` parameters. Its Jacobian on the batch 𝒳 (n examples) is analytic:
``∂f/∂v_i = relu(w_i·x)/√width``, ``∂f/∂W_ij = v_i 1[w_i·x > 0] x_j / √width``; ``J(θ)`` is ``n × d``.

Why the Monte-Carlo part is Lemma 4.3
-------------------------------------
§6 draws ``m`` with Algorithm 1 and eq. (2) on ``(J(θ₀), θ₀)``: the "features" are the linearised
outputs ``f^lin(𝒳) = J(θ)θ``, i.e. ``Xᵀw`` with ``X = J(θ)ᵀ`` (rows = parameters, columns = examples).
So ``E_m ||J(θ_t)θ_t − J(θ_t)(θ_t ⊙ m)||²`` is exactly Lemma 4.3 with
``X = J(θ_t)ᵀ, w* = θ_t, X̃ = J(θ₀)ᵀ, w⁰ = θ₀``, and the engine's linear-feature statistic applies.

Conventions (stated because the paper mixes them)
-------------------------------------------------
* Loss ``L(θ) = ½||f(𝒳; θ) − 𝒴||²``, GD ``θ ← θ − η J(θ)ᵀ(f − 𝒴)``, ``η = lr_factor · η_critical``
  with ``η_critical = 2/(λ_min + λ_max)`` of the empirical NTK at init.
* Empirical NTK ``Θ̂₀ = J(θ₀)J(θ₀)ᵀ``. The paper writes ``Θ̂ = (1/n)JJᵀ`` (n = width) next to a
  Definition 6.1 without ``1/√n`` factors; in the NTK parameterisation the ``1/√width`` already sits in
  ``f``, so ``JJᵀ`` converges to the analytic NTK and ``||J||_F`` stays O(1), which is the form in
  which Theorem 6.2 is stated. (``lambda_min_over_width`` — the other convention — is also recorded.)
* ``K`` (Definition 6.1, ``K > 1``) is estimated from the run as the smallest value consistent with
  what the run saw: ``K̂ = max(1, max_t ||J(θ_t)||_F, max_t ||J(θ_t) − J(θ₀)||_F / ||θ_t − θ₀||)``.
  The true ``K`` (a sup over a ball) can only be larger, and every bound below grows with ``K``, so a
  bound that holds with ``K̂`` holds with the true ``K``; one that fails with ``K̂`` does not by itself
  refute the theorem (say so in reports).
* ``λ_min`` = ``λ_min(Θ̂₀)`` (``numpy.linalg.eigvalsh``); the theorem uses the analytic NTK's.
* ``R₀ = ||f(𝒳; θ₀) − 𝒴|| = √(2 L(θ₀))`` (Lee et al. 2019, Thm G.1: ``||g(θ₀)|| ≤ R₀``).

The chain (Appendix B.5), each step a number (:func:`theorem_6_2_chain`)
-----------------------------------------------------------------------
With ``a_j = ||J₀^(j)|| |θ₀ⱼ|``, ``A = Σ_j a_j``, ``B = Σ_k ||J_t^(k)||² / ||J₀^(k)||``,
``C = Σ_k θ_tk² / |θ₀ₖ|``, ``Δ = θ_t − θ₀``, ``F(θ₀) = Σ 1/|θ₀ₖ|``, ``F(J₀) = Σ 1/||J₀^(k)||``:

0. ``exact``  = (1/s) Σ_k ||J_t^(k)||² θ_tk² / p_k − (1/s)||J_tθ_t||²  (Lemma 4.3, equality line)
1. ``lemma43``= (1/s) A Σ_k ||J_t^(k)||² θ_tk² / a_k           (first inequality; claim "6.2")
2. ``split``  = (1/s) A · B · C
3. ``theta``  = (1/s) A · B · (||θ₀||₁ + F(θ₀)||Δ||² + 2||Δ||₁)
4. ``l1_l2``  = same with ``2√d ||Δ||`` for ``2||Δ||₁``
5. ``g4``     = same with ``||Δ|| ← 3K R₀/λ_min`` (Lee et al. Thm G.4; the only step that is not algebra)
6. ``fj0``    = B replaced by ``F(J₀) ||J_t||_F²``
7. ``k2``     = ``||J_t||_F² ← K²``
8. ``k_a``    = ``A ← K ||θ₀||₁`` (uses ``||J₀^(j)|| ≤ ||J₀||_F ≤ K``)
9. ``final``  = the theorem: (1/s) K³||θ₀||₁ F(J₀)(||θ₀||₁ + F(θ₀) 9K⁴R₀²/λ² + 6√d K³R₀/λ)
   (the proof's last lines carry K² and K³ where step 8 has K and 1 — larger since K > 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .sampling import as_generator, check_size
from .theory import lemma_4_3_exact

__all__ = ["MLPRun", "param_count", "init_mlp", "mlp_forward", "mlp_jacobian", "make_batch", "train_mlp",
           "estimate_constants", "theorem_6_2_chain", "theorem_6_2_bound", "CHAIN_STEPS", "mlp_run"]

CHAIN_STEPS = ("exact", "lemma43", "split", "theta", "l1_l2", "g4", "fj0", "k2", "k_a", "final")
_STEP_TEXT = {
    "lemma43": "Lemma 4.3 (mask from J₀,θ₀ applied to J_t,θ_t)",
    "split": "Σ a_k b_k c_k ≤ (Σa)(Σb)(Σc)",
    "theta": "Σθ_t²/|θ₀| ≤ ||θ₀||₁ + F(θ₀)||Δ||² + 2||Δ||₁",
    "l1_l2": "||Δ||₁ ≤ √d ||Δ||",
    "g4": "||θ_t − θ₀|| ≤ 3KR₀/λ_min (Lee et al. G.4)",
    "fj0": "Σ||J_t^(k)||²/||J₀^(k)|| ≤ F(J₀)||J_t||_F²",
    "k2": "||J_t||_F² ≤ K²",
    "k_a": "Σ||J₀^(j)|| |θ₀ⱼ| ≤ K||θ₀||₁",
    "final": "proof's last line (K² and K³ factors, K > 1)",
}


def param_count(d_in: int, width: int) -> int:
    """``d = width · (d_in + 1)``: the ``W`` (width × d_in) and ``v`` (width) of the two-layer MLP.

    Parameters
    ----------
    d_in : int
        The input dimension.
    width : int
        The hidden width.

    Returns
    -------
    int
        The number of parameters ``d``.

    Examples
    --------
    >>> param_count(3, 4)
    16
    """
    return check_size(width, name="width") * (check_size(d_in, name="d_in") + 1)


def _split(theta: np.ndarray, d_in: int, width: int):
    W = theta[: width * d_in].reshape(width, d_in)
    v = theta[width * d_in:]
    return W, v


def init_mlp(d_in: int, width: int, rng) -> np.ndarray:
    """``θ₀`` with i.i.d. N(0, 1) entries (NTK parameterisation); exact zeros nudged (eq. (2) and ``F(θ₀)``
    need ``θ₀ₖ ≠ 0``, true with probability one).

    Parameters
    ----------
    d_in : int
        The input dimension.
    width : int
        The hidden width.
    rng : None, int or numpy.random.Generator
        The randomness.

    Returns
    -------
    numpy.ndarray, shape (width · (d_in + 1),)
        ``θ₀ = (vec W row-major, v)``.

    Examples
    --------
    >>> init_mlp(3, 4, rng=0).shape
    (16,)
    """
    g = as_generator(rng)
    th = g.standard_normal(param_count(d_in, width))
    th[th == 0] = np.finfo(float).tiny
    return th


def mlp_forward(theta: np.ndarray, X: np.ndarray, width: int) -> np.ndarray:
    """``f(x) = v·relu(Wx)/√width`` for the rows of ``X``.

    Parameters
    ----------
    theta : numpy.ndarray, shape (width · (d_in + 1),)
        The parameters ``(vec W row-major, v)``.
    X : numpy.ndarray, shape (n, d_in)
        The inputs, one per row.
    width : int
        The hidden width.

    Returns
    -------
    numpy.ndarray, shape (n,)
        The outputs.

    Examples
    --------
    >>> theta = np.array([1.0, -1.0, 2.0, 2.0])   # W = [[1], [-1]], v = [2, 2]
    >>> mlp_forward(theta, np.array([[1.0], [-1.0]]), 2) * np.sqrt(2)
    array([2., 2.])
    """
    W, v = _split(theta, X.shape[1], width)
    return np.maximum(X @ W.T, 0.0) @ v / np.sqrt(width)


def mlp_jacobian(theta: np.ndarray, X: np.ndarray, width: int) -> np.ndarray:
    """``J(θ) = ∇_θ f(𝒳)``, analytic (module docstring).

    Parameters
    ----------
    theta : numpy.ndarray, shape (d,)
        The parameters ``(vec W row-major, v)``, ``d = width · (d_in + 1)``.
    X : numpy.ndarray, shape (n, d_in)
        The batch ``𝒳``.
    width : int
        The hidden width.

    Returns
    -------
    numpy.ndarray, shape (n, d)
        The Jacobian, columns ordered as ``θ``.

    Examples
    --------
    >>> theta = np.array([1.0, -1.0, 2.0, 2.0])
    >>> mlp_jacobian(theta, np.array([[1.0]]), 2) * np.sqrt(2)   # ∂f/∂W = v·1[Wx > 0]·x, ∂f/∂v = relu(Wx)
    array([[2., 0., 1., 0.]])
    """
    n, d_in = X.shape
    W, v = _split(theta, d_in, width)
    H = X @ W.T
    A = np.maximum(H, 0.0)
    D = (H > 0).astype(float)
    c = 1.0 / np.sqrt(width)
    JW = ((D * v)[:, :, None] * X[:, None, :]).reshape(n, width * d_in) * c
    return np.concatenate([JW, A * c], axis=1)


def make_batch(n: int, d_in: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """A fixed batch on the unit sphere (compact, distinct inputs: assumption iii) with a smooth teacher
    ``y = sin(3 u·x) + 0.5 (u'·x)``, ``u, u'`` random unit vectors.

    Parameters
    ----------
    n : int
        The number of examples.
    d_in : int
        The input dimension.
    rng : None, int or numpy.random.Generator
        The randomness.

    Returns
    -------
    X : numpy.ndarray, shape (n, d_in)
        The inputs (unit rows).
    y : numpy.ndarray, shape (n,)
        The targets.

    Examples
    --------
    >>> X, y = make_batch(5, 3, rng=0)
    >>> X.shape, y.shape, bool(np.allclose(np.linalg.norm(X, axis=1), 1.0))
    ((5, 3), (5,), True)
    """
    g = as_generator(rng)
    X = g.standard_normal((check_size(n, name="n"), check_size(d_in, name="d_in")))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    u, u2 = g.standard_normal((2, d_in))
    u /= np.linalg.norm(u)
    u2 /= np.linalg.norm(u2)
    y = np.sin(3.0 * X @ u) + 0.5 * X @ u2
    return X, y


@dataclass
class MLPRun:
    """One GD run: parameters at init and after ``steps`` steps, their Jacobians, and the trajectory.

    Parameters
    ----------
    X, y : numpy.ndarray
        The batch (``n × d_in``) and its targets (``n``).
    width : int
        The hidden width.
    theta0, theta_t : numpy.ndarray
        The parameters at initialisation and after the run.
    J0, Jt : numpy.ndarray
        Their Jacobians (``n × d``).
    lr : float
        The GD step size ``η``.
    steps : int
        The number of GD steps.
    lam_min, lam_max : float
        The extreme eigenvalues of the empirical NTK ``Θ̂₀ = J₀J₀ᵀ``.
    loss, jac_norm, jac_lip : list of float
        Per step: the loss ``½||f − y||²``, ``||J(θ_t)||_F`` and ``||J(θ_t) − J(θ₀)||_F / ||θ_t − θ₀||``.

    Examples
    --------
    >>> run = mlp_run(d_in=2, n=3, width=8, steps=2, seed=0)
    >>> run.J0.shape, len(run.loss)
    ((3, 24), 3)
    """

    X: np.ndarray
    y: np.ndarray
    width: int
    theta0: np.ndarray
    theta_t: np.ndarray
    J0: np.ndarray
    Jt: np.ndarray
    lr: float
    steps: int
    lam_min: float
    lam_max: float
    loss: list = field(default_factory=list)
    jac_norm: list = field(default_factory=list)
    jac_lip: list = field(default_factory=list)


def _ntk_eigs(J: np.ndarray) -> tuple[float, float]:
    ev = np.linalg.eigvalsh(J @ J.T)
    return float(ev[0]), float(ev[-1])


def train_mlp(X: np.ndarray, y: np.ndarray, width: int, theta0: np.ndarray, steps: int, lr_factor: float = 0.5) -> MLPRun:
    """Full-batch GD on ``½||f − y||²`` with ``η = lr_factor · 2/(λ_min + λ_max)`` of ``Θ̂₀ = J₀J₀ᵀ``.

    Records ``||J(θ_t)||_F`` and ``||J(θ_t) − J(θ₀)||_F / ||θ_t − θ₀||`` at every step (for ``K̂``).

    Parameters
    ----------
    X : numpy.ndarray, shape (n, d_in)
        The batch.
    y : numpy.ndarray, shape (n,)
        The targets.
    width : int
        The hidden width.
    theta0 : numpy.ndarray, shape (d,)
        The initial parameters (:func:`init_mlp`).
    steps : int
        The number of GD steps, ``>= 0``.
    lr_factor : float, optional
        ``η / η_critical``, in ``(0, 1]``.

    Returns
    -------
    MLPRun
        The run.

    Examples
    --------
    >>> X, y = make_batch(4, 2, rng=0)
    >>> run = train_mlp(X, y, 16, init_mlp(2, 16, rng=1), steps=20)
    >>> run.loss[-1] < run.loss[0]
    True
    """
    if not (isinstance(lr_factor, (int, float)) and 0 < lr_factor <= 1):
        raise ValueError(f"lr_factor must be in (0, 1] (η ≤ η_critical), got {lr_factor!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    J0 = mlp_jacobian(theta0, X, width)
    lmin, lmax = _ntk_eigs(J0)
    if not lmin + lmax > 0:
        raise ValueError(f"the NTK Gram matrix J₀J₀ᵀ is zero at initialisation (width={width}, n={X.shape[0]}: "
                         "no ReLU unit is active on the batch), so GD has no step size η = 2/(λ_min+λ_max); "
                         "use a larger width or batch")
    lr = lr_factor * 2.0 / (lmin + lmax)
    th = theta0.copy()
    J = J0
    run = MLPRun(X=X, y=y, width=width, theta0=theta0, theta_t=th, J0=J0, Jt=J0, lr=lr, steps=int(steps),
                 lam_min=lmin, lam_max=lmax)
    f = mlp_forward(th, X, width)
    run.loss.append(0.5 * float(np.sum((f - y) ** 2)))
    run.jac_norm.append(float(np.linalg.norm(J0)))
    for _ in range(int(steps)):
        th = th - lr * J.T @ (f - y)
        J = mlp_jacobian(th, X, width)
        f = mlp_forward(th, X, width)
        run.loss.append(0.5 * float(np.sum((f - y) ** 2)))
        run.jac_norm.append(float(np.linalg.norm(J)))
        dth = float(np.linalg.norm(th - theta0))
        if dth > 0:
            run.jac_lip.append(float(np.linalg.norm(J - J0)) / dth)
    run.theta_t, run.Jt = th, J
    return run


def estimate_constants(run: MLPRun) -> dict:
    """``K̂``, ``λ_min``, ``R₀`` and friends from a run (the module docstring states the conventions).

    Parameters
    ----------
    run : MLPRun
        A GD run (:func:`train_mlp`).

    Returns
    -------
    dict
        ``K`` (``K̂ >= 1``), ``K_jac_norm``, ``K_jac_lipschitz``, ``lambda_min``, ``lambda_max``,
        ``lambda_min_over_width``, ``R0``, ``lr``, ``eta_critical``, ``steps``, ``loss_0``, ``loss_t``,
        ``displacement``, ``relative_displacement``, ``jacobian_change``.

    Examples
    --------
    >>> c = estimate_constants(mlp_run(d_in=2, n=3, width=8, steps=2, seed=0))
    >>> c["K"] >= 1.0, c["steps"]
    (True, 2)
    """
    K_norm = max(run.jac_norm)
    K_lip = max(run.jac_lip) if run.jac_lip else 0.0
    R0 = float(np.sqrt(2.0 * run.loss[0]))
    return dict(K=max(1.0, K_norm, K_lip), K_jac_norm=K_norm, K_jac_lipschitz=K_lip, lambda_min=run.lam_min,
                lambda_max=run.lam_max, lambda_min_over_width=run.lam_min / run.width, R0=R0,
                lr=run.lr, eta_critical=2.0 / (run.lam_min + run.lam_max), steps=run.steps,
                loss_0=run.loss[0], loss_t=run.loss[-1],
                displacement=float(np.linalg.norm(run.theta_t - run.theta0)),
                relative_displacement=float(np.linalg.norm(run.theta_t - run.theta0) / np.linalg.norm(run.theta0)),
                jacobian_change=float(np.linalg.norm(run.Jt - run.J0) / np.linalg.norm(run.J0)))


def theorem_6_2_bound(J0, theta0, s, K, lam_min, R0) -> float:
    """Theorem 6.2's right-hand side
    ``(1/s) K³||θ₀||₁ F(J₀)(||θ₀||₁ + F(θ₀) 9K⁴R₀²/λ_min² + 6√d K³R₀/λ_min)``.

    ``F(A) = Σ_i 1/||A^(i)||`` over the columns of ``J₀``, ``F(θ₀) = Σ 1/|θ₀ₖ|``.

    Parameters
    ----------
    J0 : numpy.ndarray, shape (n, d)
        The Jacobian at initialisation.
    theta0 : numpy.ndarray, shape (d,)
        The parameters at initialisation.
    s : int
        The number of draws of Algorithm 1.
    K, lam_min, R0 : float
        Definition 6.1's ``K``, ``λ_min(Θ̂₀)`` and ``R₀ = ||f(𝒳; θ₀) − 𝒴||``.

    Returns
    -------
    float
        The bound; ``inf`` when a column of ``J₀`` or an entry of ``θ₀`` is zero, or ``λ_min <= 0``.

    Examples
    --------
    >>> theorem_6_2_bound(np.eye(1), np.ones(1), 1, K=1.0, lam_min=1.0, R0=0.0)   # K³·1·1·(1 + 0 + 0)
    1.0
    """
    s = check_size(s)
    d = theta0.shape[0]
    cn = np.linalg.norm(J0, axis=0)
    with np.errstate(divide="ignore"):
        FJ = float(np.sum(1.0 / cn))
        Ft = float(np.sum(1.0 / np.abs(theta0)))
    l1 = float(np.sum(np.abs(theta0)))
    if not lam_min > 0:  # the theorem assumes λ_min(Θ̂₀) > 0; without it the bound is undefined
        return float("inf")
    inner = l1 + Ft * 9 * K**4 * R0**2 / lam_min**2 + 6 * np.sqrt(d) * K**3 * R0 / lam_min
    return float(K**3 * l1 * FJ * inner / s)


def theorem_6_2_chain(J0, Jt, theta0, theta_t, s, *, K, lam_min, R0) -> dict:
    """Every step of the proof of Theorem 6.2 (module docstring), as numbers, with a verdict for each
    inequality ``step_i ≤ step_{i+1}`` (relative slack 1e-12 for rounding).

    With ``λ_min <= 0`` (outside the theorem's hypotheses) the steps from G.4 on are ``inf``.

    Parameters
    ----------
    J0, Jt : array_like, shape (n, d)
        The Jacobians at initialisation and after training.
    theta0, theta_t : array_like, shape (d,)
        The parameters at initialisation and after training.
    s : int
        The number of draws of Algorithm 1.
    K, lam_min, R0 : float
        Definition 6.1's ``K``, ``λ_min(Θ̂₀)`` and ``R₀`` (:func:`estimate_constants`).

    Returns
    -------
    dict
        ``{"values": {step: value}, "verdicts": {step: "holds"/"violated"}, "text": {step: inequality}}``
        over :data:`CHAIN_STEPS`; the verdict keyed ``lemma43`` is for ``exact ≤ lemma43``, and so on.

    Examples
    --------
    >>> run = mlp_run(d_in=2, n=3, width=8, steps=2, seed=0)
    >>> c = estimate_constants(run)
    >>> out = theorem_6_2_chain(run.J0, run.Jt, run.theta0, run.theta_t, 4, K=c["K"], lam_min=c["lambda_min"], R0=c["R0"])
    >>> out["verdicts"]["lemma43"], list(out["values"])[:3]
    ('holds', ['exact', 'lemma43', 'split'])
    """
    s = check_size(s)
    J0 = np.asarray(J0, float)
    Jt = np.asarray(Jt, float)
    th0 = np.asarray(theta0, float)
    tht = np.asarray(theta_t, float)
    d = th0.shape[0]
    c0 = np.linalg.norm(J0, axis=0)
    ct = np.linalg.norm(Jt, axis=0)
    a = c0 * np.abs(th0)
    A = float(a.sum())
    delta = tht - th0
    nd = float(np.linalg.norm(delta))
    with np.errstate(divide="ignore", invalid="ignore"):
        num = ct**2 * tht**2
        lem = float(A * np.sum(np.where(num > 0, num / a, 0.0)) / s)
        B = float(np.sum(np.where(ct > 0, ct**2 / c0, 0.0)))
        C = float(np.sum(tht**2 / np.abs(th0)))
        FJ = float(np.sum(1.0 / c0))
        Ft = float(np.sum(1.0 / np.abs(th0)))
    l1 = float(np.sum(np.abs(th0)))
    Jt_F2 = float(np.sum(Jt**2))
    D = 3 * K * R0 / lam_min if lam_min > 0 else float("inf")  # G.4 needs λ_min > 0
    C3 = l1 + Ft * nd**2 + 2 * float(np.sum(np.abs(delta)))
    C4 = l1 + Ft * nd**2 + 2 * np.sqrt(d) * nd
    C5 = l1 + Ft * D**2 + 2 * np.sqrt(d) * D
    vals = {
        "exact": lemma_4_3_exact(Jt.T, J0.T, th0, tht, s),
        "lemma43": lem,
        "split": A * B * C / s,
        "theta": A * B * C3 / s,
        "l1_l2": A * B * C4 / s,
        "g4": A * B * C5 / s,
        "fj0": A * FJ * Jt_F2 * C5 / s,
        "k2": A * FJ * K**2 * C5 / s,
        "k_a": K * l1 * FJ * K**2 * C5 / s,
        "final": theorem_6_2_bound(J0, th0, s, K, lam_min, R0),
    }
    verdicts = {}
    for prev, step in zip(CHAIN_STEPS[:-1], CHAIN_STEPS[1:]):
        verdicts[step] = "holds" if vals[prev] <= vals[step] * (1 + 1e-12) else "violated"
    # the one empirical ingredient, stated directly as well
    vals["displacement"] = nd
    vals["g4_radius"] = D
    verdicts["g4_displacement"] = "holds" if nd <= D else "violated"
    return {"values": vals, "verdicts": verdicts, "text": dict(_STEP_TEXT, g4_displacement="||θ_t − θ₀|| ≤ 3KR₀/λ_min")}


def mlp_run(*, d_in: int, n: int, width: int, steps: int, seed, lr_factor: float = 0.5) -> MLPRun:
    """Batch, initialisation and GD run from one seed.

    Parameters
    ----------
    d_in : int
        The input dimension.
    n : int
        The number of examples.
    width : int
        The hidden width.
    steps : int
        The number of GD steps.
    seed : int or numpy.random.Generator
        The randomness (batch first, then ``θ₀``).
    lr_factor : float, optional
        ``η / η_critical``, in ``(0, 1]``.

    Returns
    -------
    MLPRun
        The run (:func:`train_mlp`).

    Examples
    --------
    >>> mlp_run(d_in=2, n=3, width=8, steps=2, seed=0).theta0.shape
    (24,)
    """
    g = as_generator(seed)
    X, y = make_batch(n, d_in, g)
    th0 = init_mlp(d_in, width, g)
    return train_mlp(X, y, width, th0, steps, lr_factor)
