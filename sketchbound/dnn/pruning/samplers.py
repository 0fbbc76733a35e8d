"""The random sources of the masks: successive sampling without replacement and Algorithm 1 (§3, §7).

Two backends draw from the same distributions: ``"numpy"`` calls the core samplers of
:mod:`sketchbound.sampling` (numba kernels); ``"torch"`` is their torch twin on the weights' device —
successive sampling as the top-``k`` of exponential keys ``log(u)/w`` (Efraimidis–Spirakis), Algorithm 1
as fp64 ``cumsum`` + ``searchsorted`` + ``bincount`` (``torch.multinomial`` refuses more than 2^24
categories). ``"auto"`` = torch for CUDA tensors, numpy otherwise. They agree in distribution, not draw by
draw; same ``rng`` ⇒ same draw (per backend). :mod:`sketchbound.dnn.pruning.masks` builds the masks of a
network from them.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from sketchbound import sampling as core_sampling
from sketchbound.probabilities import from_scores

# resolve_backend, numpy_rng and torch_rng serve the masks module: importable, not part of the API
__all__ = ["BACKENDS", "sample_without_replacement", "sample_algorithm1"]

BACKENDS = ("auto", "numpy", "torch")


# --------------------------------------------------------------------------------------------------
# random sources
# --------------------------------------------------------------------------------------------------
def resolve_backend(backend: str, device: torch.device) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "torch" if device.type != "cpu" else "numpy"
    return backend


def numpy_rng(rng) -> np.random.Generator:
    if isinstance(rng, torch.Generator):
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=rng, device=rng.device)))
    return core_sampling.as_generator(rng)


def torch_rng(rng, device: torch.device) -> torch.Generator:
    if isinstance(rng, torch.Generator):
        if rng.device.type != device.type:
            raise ValueError(f"rng is a torch.Generator on {rng.device} but the scores are on {device}")
        return rng
    g = torch.Generator(device=device)
    if rng is None:
        g.seed()
    elif isinstance(rng, np.random.Generator):
        g.manual_seed(int(rng.integers(0, 2**62)))
    elif isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        g.manual_seed(int(rng))
    else:
        raise ValueError(f"rng must be None, a non-negative int seed, a numpy Generator or a torch.Generator, got {rng!r}")
    return g


# --------------------------------------------------------------------------------------------------
# samplers (one vector)
# --------------------------------------------------------------------------------------------------
def _check_weights(weights) -> torch.Tensor:
    if not isinstance(weights, torch.Tensor):
        raise ValueError(f"weights must be a torch.Tensor, got {type(weights).__name__}")
    w = weights.detach().reshape(-1).to(torch.float64)
    if w.numel() == 0 or not torch.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be a non-empty, finite, non-negative tensor")
    return w


def _wor_numpy(w: torch.Tensor, k: int, gen: np.random.Generator) -> np.ndarray:
    wn = w.cpu().numpy()
    n = wn.shape[0]
    keep = np.zeros(n, dtype=bool)
    pos = np.flatnonzero(wn > 0)
    if k >= pos.size:
        keep[pos] = True
        zeros = np.flatnonzero(wn <= 0)
        if k > pos.size:
            keep[gen.choice(zeros, size=k - pos.size, replace=False)] = True
        return keep
    m = core_sampling.without_replacement(from_scores(wn), k, rng=gen, design="successive")
    return m > 0


def _wor_torch(w: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    n = w.numel()
    keep = torch.zeros(n, dtype=torch.bool, device=w.device)
    pos = w > 0
    npos = int(pos.sum())
    if k >= npos:
        keep |= pos
        if k > npos:
            zeros = torch.nonzero(~pos).flatten()
            pick = torch.randperm(zeros.numel(), generator=g, device=w.device)[: k - npos]
            keep[zeros[pick]] = True
        return keep
    u = torch.rand(n, generator=g, dtype=torch.float64, device=w.device)
    # exponential keys: E_i / w_i with E_i = -log(1 - u_i); the k smallest = top-k of log(1-u)/w
    keys = torch.where(pos, torch.log1p(-u) / torch.where(pos, w, torch.ones_like(w)), torch.full_like(w, -math.inf))
    keep[torch.topk(keys, k, sorted=False).indices] = True
    return keep


def sample_without_replacement(weights: torch.Tensor, k: int, *, rng=None, backend: str = "auto") -> torch.Tensor:
    """``k`` distinct indices by successive sampling ∝ ``weights``; returns a bool tensor of ``weights``' shape.

    Successive sampling: draw one index with probability ∝ ``w`` among those not drawn yet, ``k``
    times — the paper's per-layer randomized mask (§7). ``k`` may exceed the number of positive
    weights: then all of them are kept and the rest are uniform among the zero-weight entries.

    Parameters
    ----------
    weights : torch.Tensor
        Non-negative finite sampling weights (any shape).
    k : int
        Number of indices to keep, in ``[0, weights.numel()]``.
    rng : None, int, numpy.random.Generator or torch.Generator, optional
        The randomness; same ``rng`` ⇒ same result (per backend).
    backend : {"auto", "numpy", "torch"}, default "auto"
        The core's numba sampler or its torch twin (module docstring).

    Returns
    -------
    torch.Tensor
        bool, ``weights``' shape, exactly ``k`` True entries.

    Examples
    --------
    >>> import torch
    >>> sample_without_replacement(torch.tensor([1.0, 0.0, 5.0]), 2, rng=0).tolist()
    [True, False, True]
    """
    w = _check_weights(weights)
    if isinstance(k, bool) or not isinstance(k, (numbers.Integral, np.integer)) or not (0 <= k <= w.numel()):
        raise ValueError(f"k must be an integer in [0, {w.numel()}], got {k!r}")
    k = int(k)
    be = resolve_backend(backend, w.device)
    if k == 0:
        out = torch.zeros(w.numel(), dtype=torch.bool, device=w.device)
    elif be == "numpy":
        out = torch.from_numpy(_wor_numpy(w, k, numpy_rng(rng))).to(w.device)
    else:
        out = _wor_torch(w, k, torch_rng(rng, w.device))
    return out.reshape(weights.shape)


def _alg1_torch(w: torch.Tensor, s: int, g: torch.Generator) -> torch.Tensor:
    p = w / w.sum()
    cdf = torch.cumsum(p, 0)
    u = torch.rand(s, generator=g, dtype=torch.float64, device=w.device) * cdf[-1]
    idx = torch.searchsorted(cdf, u, right=True)
    last = int(torch.nonzero(p > 0).max())  # rounding at the top end must not land on a p = 0 tail
    idx.clamp_(max=last)
    counts = torch.bincount(idx, minlength=w.numel()).to(torch.float64)
    return torch.where(counts > 0, counts / (s * torch.where(p > 0, p, torch.ones_like(p))), torch.zeros_like(p))


def sample_algorithm1(weights: torch.Tensor, s: int, *, rng=None, backend: str = "auto") -> torch.Tensor:
    """Algorithm 1 (§3) with ``p ∝ weights``: ``s`` draws with replacement, ``m = c / (s p)`` (float64).

    ``backend="numpy"`` is :func:`sketchbound.algorithm1`; ``"torch"`` is fp64 cumsum + searchsorted +
    bincount (works for any number of categories, unlike ``torch.multinomial``).

    Parameters
    ----------
    weights : torch.Tensor
        Non-negative finite sampling weights, at least one positive.
    s : int
        Number of draws (with replacement).
    rng : None, int, numpy.random.Generator or torch.Generator, optional
        The randomness; same ``rng`` ⇒ same result (per backend).
    backend : {"auto", "numpy", "torch"}, default "auto"
        The core's :func:`sketchbound.algorithm1` or its torch twin.

    Returns
    -------
    torch.Tensor
        float64 mask of ``weights``' shape: ``c_i / (s p_i)`` (``c_i`` = times drawn), unbiased.

    Examples
    --------
    >>> import torch
    >>> m = sample_algorithm1(torch.tensor([1.0, 1.0, 2.0]), 4, rng=0, backend="torch")
    >>> m.dtype, int((m > 0).sum()) <= 4
    (torch.float64, True)
    """
    w = _check_weights(weights)
    if not (w > 0).any():
        raise ValueError("weights are all zero; Algorithm 1 needs at least one positive weight")
    s = core_sampling.check_size(s)
    be = resolve_backend(backend, w.device)
    if be == "numpy":
        m = core_sampling.algorithm1(from_scores(w.cpu().numpy()), s, rng=numpy_rng(rng))
        out = torch.from_numpy(m).to(w.device)
    else:
        out = _alg1_torch(w, s, torch_rng(rng, w.device))
    return out.reshape(weights.shape)
