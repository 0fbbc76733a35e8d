"""Pruning scores, one function per method (paper §5, §7): ``(model, batch_source, ...) -> {name: score}``.

Every function returns a dict keyed by :func:`~sketchbound.dnn.models.prunable.prunable_parameters` names
with score tensors of the parameters' shapes; **higher score = more important** (keep the highest),
for every method, so :func:`~sketchbound.dnn.pruning.masks.make_mask` treats them alike. The model is never
modified (methods that need forward/backward passes work on a deep copy).

``batch_source`` is anything :func:`~sketchbound.dnn.pruning.inputs.as_batch_source` accepts (a callable
``source(generator) -> (x, y)``, an ``(x, y)`` tuple, a DataLoader); ``generator`` (``None``, an
int seed or a ``torch.Generator``) drives the data-free sources and the random parts, so the same
seed gives the same scores.

Methods (:data:`METHODS`):

* ``random``: i.i.d. ``U(0, 1)`` scores (with a hard threshold: a uniformly random mask).
* ``magnitude``: ``|θ|`` at initialisation.
* ``imp``: IMP's magnitude step: ``|θ|`` of the given (trained) weights, 0 where a previous mask
  pruned them. The train–prune–rewind loop lives elsewhere.
* ``snip`` (Lee et al. 2019; §5.2): ``|Σ_batches ∂L/∂θ ⊙ θ|`` = ``|∂L(m ⊙ θ)/∂m|`` at ``m = 1``,
  with cross-entropy or the ℓ1 loss of §5.2.
* ``grasp`` (Wang et al. 2020): GraSP's published score is ``S = -θ ⊙ Hg`` and GraSP *removes the
  highest* ``S`` (its issue #1 is about this sign). Here we return ``θ ⊙ Hg = -S`` so that keeping
  the highest is GraSP's rule. Scores are signed; the randomized masks shift them by their minimum.
* ``synflow`` (Tanaka et al. 2020; §5.1): iterative, ``rounds = 100`` with the exponential schedule
  ``density^(r/rounds)``; scores ``|∂R/∂θ ⊙ θ|`` of ``R = 1ᵀ f(x; |θ|)`` in float64 with BatchNorm in
  eval mode; the input is the batch source (all-ones for eq. (3), χ for §5.1/§7, redrawn every round).
  Returns the scores of the last round (weights pruned in earlier rounds score 0); apply
  ``make_mask(scores, density, mode)`` with the same density for the final mask.
* ``prospr`` (Alizadeh et al. 2022): ``|∂L(θ_K)/∂m|`` where ``θ_0 = m ⊙ θ`` and ``θ_K`` follows
  ``K = 3`` SGD steps — meta-gradients through the inner steps.

>>> from sketchbound.dnn.models import get_model
>>> from sketchbound.dnn.pruning.inputs import make_input_source
>>> net = get_model("lenet300100", 1, 10, 8, width=0.1, seed=0)
>>> src = make_input_source("ones", shape=(1, 8, 8), batch_size=1)
>>> sc = compute_scores("synflow", net, src, density=0.1, rounds=5, generator=0)
>>> sorted(sc) == ["fc1.weight", "fc2.weight", "fc3.weight"]
True
"""
from __future__ import annotations

import copy
import numbers

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from sketchbound.dnn.pruning.inputs import as_batch_source, as_torch_generator
from sketchbound.dnn.pruning.masks import MASK_MODES, make_mask
from sketchbound.dnn.models.prunable import prunable_parameters

__all__ = [
    "METHODS",
    "compute_scores",
    "random_scores",
    "magnitude_scores",
    "imp_scores",
    "snip_scores",
    "grasp_scores",
    "synflow_scores",
    "prospr_scores",
]

METHODS = ("random", "magnitude", "imp", "snip", "grasp", "synflow", "prospr")
LOSSES = ("cross_entropy", "l1", "mse")


def _check_model(model):
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = prunable_parameters(model)
    if not params:
        raise ValueError("model has no prunable parameters (conv/linear weights)")
    return params


def _pos_int(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def _device(model):
    p = next(iter(model.parameters()))
    return p.device, p.dtype


def _batch(source, g, device, dtype):
    x, y = source(g)
    x = x.to(device=device, dtype=dtype)
    return x, (None if y is None else y.to(device))


def _loss(out, y, loss: str):
    if y is None:
        raise ValueError(f"loss {loss!r} needs labels but the batch source returned y=None")
    if loss == "cross_entropy":
        return F.cross_entropy(out, y.long())
    if out.dim() == 2 and out.shape[1] == 1 and y.dim() == 1:
        target = y.to(out.dtype).unsqueeze(1)
    elif y.dim() == 1 and not torch.is_floating_point(y):
        target = F.one_hot(y.long(), out.shape[1]).to(out.dtype)
    else:
        target = y.to(out.dtype).reshape(out.shape)
    return F.l1_loss(out, target) if loss == "l1" else F.mse_loss(out, target)


def _check_loss(loss):
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


# --------------------------------------------------------------------------------------------------
def random_scores(model: nn.Module, batch_source=None, *, generator=None) -> dict[str, torch.Tensor]:
    """I.i.d. ``U(0, 1)`` scores (the "random" baseline; with a hard threshold, a uniform random mask)."""
    params = _check_model(model)
    g = as_torch_generator(generator)
    return {n: torch.rand(p.shape, generator=g, dtype=torch.float32).to(p.device) for n, p in params}


def magnitude_scores(model: nn.Module, batch_source=None, **_ignored) -> dict[str, torch.Tensor]:
    """``|θ|`` at initialisation ("magnitude only, w/o data", Table II)."""
    return {n: p.detach().abs().clone() for n, p in _check_model(model)}


def imp_scores(model: nn.Module, batch_source=None, *, mask=None, **_ignored) -> dict[str, torch.Tensor]:
    """IMP's magnitude step: ``|θ|`` of the model's current (trained) weights, times a previous ``mask``.

    Weights a previous round pruned (``mask == 0``) score 0, so a global threshold never revives them.
    """
    sc = magnitude_scores(model)
    if mask is not None:
        if not isinstance(mask, dict):
            raise ValueError(f"mask must be a dict {{name: tensor}} or None, got {type(mask).__name__}")
        for n, m in mask.items():
            if n not in sc or tuple(m.shape) != tuple(sc[n].shape):
                raise ValueError(f"mask entry {n!r} does not match a prunable parameter of the model")
            sc[n] = sc[n] * (m != 0).to(sc[n])
    return sc


def snip_scores(model: nn.Module, batch_source, *, loss: str = "cross_entropy", num_batches: int = 1,
                train_mode: bool = False, generator=None) -> dict[str, torch.Tensor]:
    """SNIP (§5.2): ``|∂L(m ⊙ θ; D)/∂m|`` at ``m = 1`` = ``|θ ⊙ Σ_b ∂L_b/∂θ|``.

    ``loss``: ``"cross_entropy"`` (SNIP), ``"l1"`` (§5.2's analysis; one-hot targets for integer labels
    with several outputs) or ``"mse"``. ``train_mode=False`` keeps BatchNorm in eval mode (Synaptic-Flow's
    default). With one-non-zero-per-row data and ℓ1 loss, a linear model's scores are eq. (2).
    """
    _check_model(model)
    _check_loss(loss)
    nb = _pos_int("num_batches", num_batches)
    source, g = as_batch_source(batch_source), as_torch_generator(generator)
    net = copy.deepcopy(model).train(train_mode)
    params = prunable_parameters(net)
    device, dtype = _device(net)
    grads = [torch.zeros_like(p) for _, p in params]
    for _ in range(nb):
        x, y = _batch(source, g, device, dtype)
        gs = torch.autograd.grad(_loss(net(x), y, loss), [p for _, p in params], allow_unused=True)
        for acc, gr in zip(grads, gs):
            if gr is not None:
                acc += gr
    return {n: (gr * p).detach().abs() for (n, p), gr in zip(params, grads)}


def grasp_scores(model: nn.Module, batch_source, *, num_batches: int = 1, temperature: float = 200.0,
                 train_mode: bool = False, generator=None) -> dict[str, torch.Tensor]:
    """GraSP: returns ``θ ⊙ Hg`` (keep the highest) = minus GraSP's ``-θ ⊙ Hg`` (which it prunes highest-first).

    ``g = Σ_b ∇L_b`` (logits divided by ``temperature``, as in GraSP's code), ``Hg = ∇_θ (Σ_b ∇L_b)ᵀ g``.
    """
    _check_model(model)
    nb = _pos_int("num_batches", num_batches)
    if not (isinstance(temperature, numbers.Real) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    source, g = as_batch_source(batch_source), as_torch_generator(generator)
    net = copy.deepcopy(model).train(train_mode)
    params = [p for _, p in prunable_parameters(net)]
    device, dtype = _device(net)
    batches = [_batch(source, g, device, dtype) for _ in range(nb)]

    def lossf(x, y):
        return _loss(net(x) / temperature, y, "cross_entropy")

    gvec = [torch.zeros_like(p) for p in params]
    for x, y in batches:
        for acc, gr in zip(gvec, torch.autograd.grad(lossf(x, y), params, allow_unused=True)):
            if gr is not None:
                acc += gr
    hg = [torch.zeros_like(p) for p in params]
    for x, y in batches:
        gr = torch.autograd.grad(lossf(x, y), params, create_graph=True, allow_unused=True)
        z = sum((a * b.detach()).sum() for a, b in zip(gr, gvec) if a is not None)
        for acc, h in zip(hg, torch.autograd.grad(z, params, allow_unused=True)):
            if h is not None:
                acc += h
    names = [n for n, _ in prunable_parameters(model)]
    return {n: (p * h).detach() for n, p, h in zip(names, params, hg)}


def _synflow_round(net, weights, abs_init, masks, x):
    with torch.no_grad():
        for (n, p), w0 in zip(weights, abs_init):
            p.copy_(w0 * masks[n] if masks is not None else w0)
    r = net(x).sum()
    grads = torch.autograd.grad(r, [p for _, p in weights], allow_unused=True)
    return {n: (torch.zeros_like(p) if gr is None else (gr * p).detach().abs()) for (n, p), gr in zip(weights, grads)}


def synflow_scores(model: nn.Module, batch_source, *, density: float, rounds: int = 100, mode: str = "global",
                   min_per_layer: int = 1, generator=None) -> dict[str, torch.Tensor]:
    """Iterative SynFlow (§5.1, eq. (3)/(4)): ``rounds`` rounds, density ``density^(r/rounds)`` after round ``r``.

    Each round: ``R = 1ᵀ f(x; |θ| ⊙ m)`` in float64, BatchNorm in eval mode (all BN parameters and
    buffers made non-negative, biases ``|b|``), score ``|∂R/∂θ ⊙ θ|``; for ``r < rounds`` the mask
    becomes ``make_mask(scores, density^(r/rounds), mode)`` (``mode`` must be binary; pass
    ``"randomized"`` for SynFlow + random mask). ``x`` is drawn from ``batch_source`` every round:
    ``make_input_source("ones", ...)`` for SynFlow, ``"chi"`` for §7's χ input. The returned scores
    are those of the last round; the final mask is ``make_mask(scores, density, mode)`` (with the same
    ``min_per_layer``: the default 1 keeps every layer alive in every round, Synaptic-Flow issue #7).
    """
    params0 = _check_model(model)
    dens = float(density) if isinstance(density, numbers.Real) and not isinstance(density, bool) else None
    if dens is None or not (0 < dens <= 1):
        raise ValueError(f"density must be a number in (0, 1] (final fraction kept), got {density!r}")
    R = _pos_int("rounds", rounds)
    if mode not in MASK_MODES or mode == "algorithm1":
        raise ValueError(f"mode for SynFlow's intermediate masks must be one of {MASK_MODES[:4]}, got {mode!r}")
    source, g = as_batch_source(batch_source), as_torch_generator(generator)
    device, _ = _device(model)
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
        for b in net.buffers():
            if torch.is_floating_point(b):
                b.abs_()
    for p in net.parameters():
        p.requires_grad_(False)
    weights = prunable_parameters(net)
    for _, p in weights:
        p.requires_grad_(True)
    abs_init = [p.detach().clone() for _, p in weights]
    masks = None
    for r in range(1, R + 1):
        x, _ = _batch(source, g, device, torch.float64)
        scores = _synflow_round(net, weights, abs_init, masks, x)
        if r < R:
            seed = int(torch.randint(0, 2**62, (1,), generator=g))
            masks = make_mask(scores, dens ** (r / R), mode, rng=seed, min_per_layer=min_per_layer)
            masks = {n: m.to(torch.float64) for n, m in masks.items()}
    return scores


def prospr_scores(model: nn.Module, batch_source, *, inner_steps: int = 3, inner_lr: float = 0.1,
                  loss: str = "cross_entropy", train_mode: bool = True, generator=None) -> dict[str, torch.Tensor]:
    """ProsPr: ``|∂L(θ_K; D_K)/∂m|`` with ``θ_0 = m ⊙ θ`` (prunable weights) and ``K`` SGD steps
    ``θ_{t+1} = θ_t - lr ∇L(θ_t; D_t)`` differentiated through (meta-gradient), at ``m = 1``.

    Each step and the final loss use a fresh batch from ``batch_source``; ``train_mode=True`` uses
    batch statistics in BatchNorm as in training (running stats of the internal copy only).
    """
    params0 = _check_model(model)
    K = _pos_int("inner_steps", inner_steps)
    if not (isinstance(inner_lr, numbers.Real) and inner_lr > 0):
        raise ValueError(f"inner_lr must be a positive number, got {inner_lr!r}")
    _check_loss(loss)
    source, g = as_batch_source(batch_source), as_torch_generator(generator)
    net = copy.deepcopy(model).train(train_mode)
    device, dtype = _device(net)
    names = [n for n, _ in params0]
    all_params = {n: p.detach().clone().requires_grad_(True) for n, p in net.named_parameters()}
    # named_parameters may name a pruned module's weight "…weight_orig"; prunable names use "…weight"
    key = {n: (n if n in all_params else n[: -len("weight")] + "weight_orig") for n in names}
    buffers = dict(net.named_buffers())
    m = {n: torch.ones_like(all_params[key[n]], requires_grad=True) for n in names}
    theta = dict(all_params)
    for n in names:
        theta[key[n]] = all_params[key[n]].detach() * m[n]
    for _ in range(K):
        x, y = _batch(source, g, device, dtype)
        l = _loss(functional_call(net, {**theta, **buffers}, (x,)), y, loss)
        gr = torch.autograd.grad(l, list(theta.values()), create_graph=True, allow_unused=True)
        theta = {k: (v if gk is None else v - inner_lr * gk) for (k, v), gk in zip(theta.items(), gr)}
    x, y = _batch(source, g, device, dtype)
    l = _loss(functional_call(net, {**theta, **buffers}, (x,)), y, loss)
    meta = torch.autograd.grad(l, [m[n] for n in names], allow_unused=True)
    return {n: (torch.zeros_like(m[n]) if gm is None else gm.detach().abs()) for n, gm in zip(names, meta)}


_FUNCS = {
    "random": random_scores,
    "magnitude": magnitude_scores,
    "imp": imp_scores,
    "snip": snip_scores,
    "grasp": grasp_scores,
    "synflow": synflow_scores,
    "prospr": prospr_scores,
}


def compute_scores(method: str, model: nn.Module, batch_source=None, **kwargs) -> dict[str, torch.Tensor]:
    """Dispatch to the score function of ``method`` (one of :data:`METHODS`); ``kwargs`` are passed on."""
    if method not in _FUNCS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method in ("magnitude", "imp"):
        kwargs.pop("generator", None)
    return _FUNCS[method](model, batch_source, **kwargs)
