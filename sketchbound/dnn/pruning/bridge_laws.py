"""Sampling weights of the bridge's mask laws inside the §7 procedure: tempered and variance-aware.

The §7 procedure keeps the threshold's per-layer counts ``k_l`` and samples ``k_l`` weights inside each
layer without replacement (:func:`sketchbound.dnn.pruning.masks.make_mask`, modes ``"tempered"`` and
``"variance_aware"``). Only the per-layer sampling weights change, and this module computes them.

Tempered (``beta`` = β)
    ``q_k ∝ score_k^β`` in each layer. β = 0 gives equal weights (the per-layer shuffle control,
    mode ``"shuffled"``), β = 1 the scores themselves (mode ``"randomized"``, eq. (2) when the scores
    are ``‖X_(k)‖·|w_k|``) and β = ∞ the layer's ``k_l`` best scores, i.e. the global threshold's kept
    set (:func:`tempered_weights` returns ``None`` there and ``make_mask`` keeps the top ``k_l``).
    Other β use the core's :func:`sketchbound.probabilities.tempered_probabilities` (computed in logs,
    so β = 4 on SynFlow's scores, spanning hundreds of decades, does not overflow).

Variance-aware (constants ``c_l``, ``σ_l`` per layer)
    The law that minimises the expected Lemma 4.3 error when ``w*_k = c_l·w⁰_k + ε_k`` with
    ``E ε_k = 0``, ``E ε_k² = σ_l²``: ``p_k ∝ ‖X_(k)‖·√(c_l²w⁰_k² + σ_l²)``. In a network ``‖X_(k)‖``
    is not a score, so it is read off the score: every score used here is ``|w⁰_k|`` times a
    data- or flow-dependent factor (SNIP ``|g_k·w⁰_k|``, SynFlow ``|∂R/∂θ_k · θ_k|``, magnitude
    ``|w⁰_k|``), and ``g_k = score_k / |w⁰_k|`` plays ‖X_(k)‖'s role (for a linear model with eq. (2)
    scores it *is* ‖X_(k)‖). The weights are ``g_k·√(c_l²w⁰_k² + σ_l²)``; at σ_l = 0 they are
    ``|c_l|·score_k``, the randomized mask's law. Where ``w⁰_k = 0`` the factor is not observable
    and ``g_k`` is the mean of ``g`` over the layer's non-zero initial weights (0 if there are none).
    The law itself is the core's :func:`sketchbound.probabilities.variance_aware_probabilities` with
    ``g`` in ``‖X_(k)‖``'s place.
"""
from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

import torch

from sketchbound.probabilities import from_scores, tempered_probabilities, variance_aware_probabilities

__all__ = ["check_beta", "tempered_weights", "variance_aware_weights", "read_constants"]


def check_beta(beta) -> float:
    """``beta`` as a float in ``[0, ∞]``; ``ValueError`` naming it otherwise.

    Parameters
    ----------
    beta : float
        The tempering exponent (``inf`` allowed, NaN and negatives refused).

    Returns
    -------
    float
        ``beta`` as a float.

    Examples
    --------
    >>> check_beta(2), check_beta(float("inf"))
    (2.0, inf)
    """
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or math.isnan(float(beta)) or float(beta) < 0:
        raise ValueError(f"beta must be a number in [0, inf] (the tempering exponent), got {beta!r}")
    return float(beta)


def tempered_weights(weights: torch.Tensor, beta) -> torch.Tensor | None:
    """One layer's sampling weights ``weights^β`` (non-negative float64), or ``None`` for β = ∞ (top-``k``).

    Parameters
    ----------
    weights : torch.Tensor
        Non-negative scores of one layer (the randomized mask's sampling weights).
    beta : float
        Tempering exponent in ``[0, ∞]``; ``0 ** 0 = 1`` (β = 0 is uniform, zeros included).

    Returns
    -------
    torch.Tensor or None
        ``weights`` itself at β = 1 (so the draws equal mode ``"randomized"``'s), all ones at β = 0
        (mode ``"shuffled"``'s), ``exp(β(log w − max log w))`` otherwise (zero where ``w = 0``);
        ``None`` at β = ∞ (other β: proportional to ``weights^β``, largest entry 1).

    Examples
    --------
    >>> import torch
    >>> tempered_weights(torch.tensor([1.0, 0.0]), 0).tolist(), tempered_weights(torch.tensor([1.0, 0.0]), 1).tolist()
    ([1.0, 1.0], [1.0, 0.0])
    >>> tempered_weights(torch.tensor([1.0, 0.0]), float("inf")) is None
    True
    """
    b = check_beta(beta)
    if math.isinf(b):
        return None
    if b == 0.0:
        return torch.ones_like(weights)
    if b == 1.0:
        return weights
    w = weights.detach().to(torch.float64).reshape(-1)
    if not bool((w > 0).any()):
        return torch.zeros_like(weights)
    p = tempered_probabilities(from_scores(w.cpu().numpy()), b)  # the core's law (computed in logs)
    return torch.from_numpy(p / p.max()).to(weights.device).reshape(weights.shape)


def variance_aware_weights(weights: torch.Tensor, w0: torch.Tensor, c: float, sigma: float) -> torch.Tensor:
    """One layer's variance-aware sampling weights ``g_k·√(c²w⁰_k² + σ²)`` with ``g_k = score_k/|w⁰_k|``.

    Parameters
    ----------
    weights : torch.Tensor
        Non-negative scores of the layer.
    w0 : torch.Tensor
        The layer's initial weights (same number of entries).
    c, sigma : float
        The layer's constants (finite; ``sigma >= 0``) of ``w* = c·w⁰ + ε``.

    Returns
    -------
    torch.Tensor
        float64 weights (probabilities, sum 1) of ``weights``' shape; where ``w⁰_k = 0``, ``g_k`` is the
        layer's mean ``g``; all zeros when no weight can be positive.

    Examples
    --------
    >>> import torch
    >>> variance_aware_weights(torch.tensor([3.0, 1.0]), torch.tensor([1.0, -0.5]), 1.0, 0.0).tolist()
    [0.75, 0.25]
    """
    if not math.isfinite(float(c)):
        raise ValueError(f"c must be a finite number (the layer's w*/w0 regression slope), got {c!r}")
    if not math.isfinite(float(sigma)) or float(sigma) < 0:
        raise ValueError(f"sigma must be a finite number >= 0 (the layer's residual std), got {sigma!r}")
    s = weights.to(torch.float64).reshape(-1)
    a = w0.detach().to(device=s.device, dtype=torch.float64).reshape(-1).abs()
    if a.numel() != s.numel():
        raise ValueError(f"w0 has {a.numel()} entries but the layer's scores have {s.numel()}")
    nz = a > 0
    g = torch.where(nz, s / torch.where(nz, a, torch.ones_like(a)), torch.zeros_like(s))
    if bool((~nz).any()):
        fill = g[nz].mean() if bool(nz.any()) else torch.zeros((), dtype=s.dtype, device=s.device)
        g = torch.where(nz, g, fill)
    if not bool((g > 0).any()) or (float(c) == 0 and float(sigma) == 0):
        return torch.zeros_like(s).reshape(weights.shape)  # no positive weight: the sampler keeps k_l uniformly
    # the core's law with g in ‖X_(k)‖'s place (sketchbound.probabilities.variance_aware_probabilities)
    p = variance_aware_probabilities(g.cpu().numpy(), a.cpu().numpy(), float(c), float(sigma))
    return torch.from_numpy(p).to(s.device).reshape(weights.shape)


def read_constants(path) -> dict[str, tuple[float, float]]:
    """``{layer: (c, sigma)}`` from a constants JSON (:mod:`sketchbound.dnn.theory.bridge` writes it).

    The file holds ``{"layers": {name: {"c": .., "sigma": .., ...}}, ...}``; ``ValueError`` naming the
    path when it is missing or malformed.

    Parameters
    ----------
    path : str or os.PathLike
        The constants JSON.

    Returns
    -------
    dict of str to (float, float)
        ``(c, sigma)`` per layer name.

    Examples
    --------
    >>> import json, tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "k.json")
    >>> _ = open(f, "w").write(json.dumps({"layers": {"fc.weight": {"c": 1.5, "sigma": 0.1}}}))
    >>> read_constants(f)
    {'fc.weight': (1.5, 0.1)}
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"bridge_constants={str(path)!r}: no such file; accepted: the JSON written by "
                         f"`python dnn/scripts/bridge_tool.py constants`")
    try:
        layers = json.loads(p.read_text(encoding="utf-8"))["layers"]
        return {str(n): (float(v["c"]), float(v["sigma"])) for n, v in layers.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"bridge_constants={str(path)!r} is not a constants file ({e}); accepted: "
                         f'{{"layers": {{name: {{"c": float, "sigma": float}}}}}}') from e
