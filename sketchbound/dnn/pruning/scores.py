"""Pruning scores, one function per method (paper §5, §7): ``(model, batch_source, ...) -> {name: score}``.

Every function returns a dict keyed by :func:`~sketchbound.dnn.models.prunable.prunable_parameters` names
with score tensors of the parameters' shapes; **higher score = more important** (keep the highest),
for every method, so :func:`~sketchbound.dnn.pruning.masks.make_mask` treats them alike. The model is never
modified (methods that need forward/backward passes work on a deep copy).

``batch_source`` is anything :func:`~sketchbound.dnn.pruning.inputs.as_batch_source` accepts (a callable
``source(generator) -> (x, y)``, an ``(x, y)`` tuple, a DataLoader); ``generator`` (``None``, an
int seed or a ``torch.Generator``) drives the data-free sources and the random parts, so the same
seed gives the same scores.

Methods (:data:`SCORE_METHODS`):

* ``random``: i.i.d. ``U(0, 1)`` scores (with a hard threshold: a uniformly random mask).
* ``magnitude``: ``|θ|`` at initialisation.
* ``imp``: IMP's magnitude step: ``|θ|`` of the given (trained) weights, 0 where a previous mask
  pruned them. The train–prune–rewind loop lives elsewhere.
* ``snip`` (Lee et al. 2019; §5.2): ``|Σ_batches ∂L/∂θ ⊙ θ|`` = ``|∂L(m ⊙ θ)/∂m|`` at ``m = 1``,
  with cross-entropy or the ℓ1 loss of §5.2.
* ``grasp`` (Wang et al. 2020): GraSP's published score is ``S = -θ ⊙ Hg`` and GraSP *removes the
  highest* ``S`` (its issue #1 is about this sign). Here we return ``θ ⊙ Hg = -S`` so that keeping
  the highest is GraSP's rule. Scores are signed; the randomized masks shift them by their minimum.
  Two published behaviours (``variant``): ``"synflow"`` = Synaptic-Flow's ``Pruners.GraSP`` (BatchNorm
  in eval mode, the weights as they are, ``num_batches`` batches as drawn) and ``"original"`` = the
  GraSP authors' ``pruner/GraSP.py`` (BatchNorm in train mode, every ``nn.Linear`` re-initialised with
  Xavier-normal on the scoring copy, ``samples_per_class`` examples of every class gathered into one
  class-sorted batch that is split into two halves). They keep very different weights.
* ``synflow`` (Tanaka et al. 2020; §5.1): iterative, ``rounds = 100`` with the exponential schedule
  ``density^(r/rounds)``; scores ``|∂R/∂θ ⊙ θ|`` of ``R = 1ᵀ f(x; |θ|)`` in float64 (``dtype``) with BatchNorm in
  eval mode; the input is the batch source (all-ones for eq. (3), χ for §5.1/§7, redrawn every round).
  Returns the scores of the last round (weights pruned in earlier rounds score 0); apply
  ``make_mask(scores, density, mode)`` with the same density for the final mask.
* ``prospr`` (Alizadeh et al. 2022): ``|∂L(θ_K)/∂m|`` where ``θ_0 = m ⊙ θ`` and ``θ_K`` follows
  ``K = 3`` SGD steps — meta-gradients through the inner steps, in float64 (``dtype``).

Reproducibility: the data-driven scores (snip, grasp, synflow, prospr) run inside
:func:`deterministic_algorithms` (deterministic kernels, no cuDNN autotuning, no TF32), so the same
model, source and ``generator`` give bit-identical scores on one device (CPU or GPU) — and paired runs
of one seed (threshold vs randomized mask) share their scores. Each method's parity with its published
code on a tiny model is tested against stored reference outputs (``tests/fixtures/parity``).

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

from sketchbound.dnn.models.prunable import prunable_parameters
from sketchbound.dnn.pruning._scoring import (LOSSES, check_dtype, check_loss, check_model, deterministic,
                                              deterministic_algorithms, draw_batch, loss_value, model_device)
from sketchbound.dnn.pruning.inputs import as_batch_source, as_torch_generator
from sketchbound.dnn.pruning.synflow import synflow_scores
from sketchbound.sampling import check_positive_int

__all__ = [
    "SCORE_METHODS",
    "compute_scores",
    "random_scores",
    "magnitude_scores",
    "imp_scores",
    "snip_scores",
    "grasp_scores",
    "synflow_scores",
    "prospr_scores",
    "GRASP_VARIANTS",
    "deterministic_algorithms",
]

SCORE_METHODS = ("random", "magnitude", "imp", "snip", "grasp", "synflow", "prospr")
GRASP_VARIANTS = ("synflow", "original")


# --------------------------------------------------------------------------------------------------
def random_scores(model: nn.Module, batch_source=None, *, generator=None) -> dict[str, torch.Tensor]:
    """I.i.d. ``U(0, 1)`` scores (the "random" baseline; with a hard threshold, a uniform random mask).

    Parameters
    ----------
    model : nn.Module
        The network (not modified).
    batch_source : ignored
        Accepted for a uniform signature.
    generator : None, int or torch.Generator, optional
        Drives the data-free sources and the random parts (same seed ⇒ same scores).

    Returns
    -------
    dict of str to torch.Tensor
        ``{"<layer>.weight": score}`` of the parameters' shapes; higher = more important.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0); net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> torch.equal(random_scores(net, generator=0)["0.weight"], random_scores(net, generator=0)["0.weight"])
    True
    """
    params = check_model(model)
    g = as_torch_generator(generator)
    return {n: torch.rand(p.shape, generator=g, dtype=torch.float32).to(p.device) for n, p in params}


def magnitude_scores(model: nn.Module, batch_source=None, **_ignored) -> dict[str, torch.Tensor]:
    """``|θ|`` at initialisation ("magnitude only, w/o data", Table II).

    Parameters
    ----------
    model : nn.Module
        The network (not modified).
    batch_source : ignored
        Accepted for a uniform signature (as are other keyword arguments).

    Returns
    -------
    dict of str to torch.Tensor
        ``{"<layer>.weight": score}`` of the parameters' shapes; higher = more important.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0); net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> torch.equal(magnitude_scores(net)["2.weight"], net[2].weight.abs())
    True
    """
    return {n: p.detach().abs().clone() for n, p in check_model(model)}


def imp_scores(model: nn.Module, batch_source=None, *, mask=None, **_ignored) -> dict[str, torch.Tensor]:
    """IMP's magnitude step: ``|θ|`` of the model's current (trained) weights, times a previous ``mask``.

    Weights a previous round pruned (``mask == 0``) score 0, so a global threshold never revives them.

    Parameters
    ----------
    model : nn.Module
        The network (not modified).
    batch_source : ignored
        Accepted for a uniform signature.
    mask : dict of str to torch.Tensor, optional
        The previous round's masks.

    Returns
    -------
    dict of str to torch.Tensor
        ``{"<layer>.weight": score}`` of the parameters' shapes; higher = more important.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0); net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> sc = imp_scores(net, mask={"0.weight": torch.zeros(3, 4)})
    >>> float(sc["0.weight"].sum()), bool((sc["2.weight"] > 0).all())
    (0.0, True)
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


@deterministic
def snip_scores(model: nn.Module, batch_source, *, loss: str = "cross_entropy", num_batches: int = 1,
                train_mode: bool = False, generator=None) -> dict[str, torch.Tensor]:
    """SNIP (§5.2): ``|∂L(m ⊙ θ; D)/∂m|`` at ``m = 1`` = ``|θ ⊙ Σ_b ∂L_b/∂θ|``.

    ``loss``: ``"cross_entropy"`` (SNIP), ``"l1"`` (§5.2's analysis; one-hot targets for integer labels
    with several outputs) or ``"mse"``. ``train_mode=False`` keeps BatchNorm in eval mode (Synaptic-Flow's
    default). With one-non-zero-per-row data and ℓ1 loss, a linear model's scores are eq. (2).

    Parameters
    ----------
    model : nn.Module
        The network (not modified).
    batch_source : callable, (x, y) tuple, tensor or iterable
        Input batches (:func:`~sketchbound.dnn.pruning.inputs.as_batch_source`).
    loss : {"cross_entropy", "l1", "mse"}, default "cross_entropy"
        The loss ``L``.
    num_batches : int, default 1
        Batches whose gradients are summed.
    train_mode : bool, default False
        BatchNorm in train mode.
    generator : None, int or torch.Generator, optional
        Drives the data-free sources and the random parts (same seed ⇒ same scores).

    Returns
    -------
    dict of str to torch.Tensor
        ``{"<layer>.weight": score}`` of the parameters' shapes; higher = more important.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0); net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> sc = snip_scores(net, (torch.randn(8, 4), torch.randint(0, 2, (8,))))
    >>> [tuple(v.shape) for v in sc.values()]
    [(3, 4), (2, 3)]
    """
    check_model(model)
    check_loss(loss)
    nb = check_positive_int(num_batches, name="num_batches", floats=False)
    source, g = as_batch_source(batch_source), as_torch_generator(generator)
    net = copy.deepcopy(model).train(train_mode)
    params = prunable_parameters(net)
    device, dtype = model_device(net)
    grads = [torch.zeros_like(p) for _, p in params]
    for _ in range(nb):
        x, y = draw_batch(source, g, device, dtype)
        gs = torch.autograd.grad(loss_value(net(x), y, loss), [p for _, p in params], allow_unused=True)
        for acc, gr in zip(grads, gs):
            if gr is not None:
                acc += gr
    return {n: (gr * p).detach().abs() for (n, p), gr in zip(params, grads)}


def _class_balanced_halves(source, g, device, dtype, net, samples_per_class: int):
    """GraSP's ``GraSP_fetch_data`` + split: draw batches until every class has ``samples_per_class``
    examples (the first ones to arrive), concatenate them class by class (0, 1, ...) and split the result
    into its two halves ``[:N//2]``, ``[N//2:]``."""
    data, labels, C, prev = None, None, None, None
    for _ in range(10000):
        x, y = draw_batch(source, g, device, dtype)
        # a fixed batch (the same storage again; prev is kept alive, so a new batch cannot reuse its memory)
        if prev is not None and x.data_ptr() == prev.data_ptr():
            break
        prev = x
        if y is None:
            raise ValueError("grasp variant 'original' needs labelled batches (class-balanced sampling)")
        if C is None:
            was = net.training
            with torch.no_grad():
                C = int(net.eval()(x[:1]).shape[1])
            net.train(was)
            data, labels = [[] for _ in range(C)], [[] for _ in range(C)]
        for i in range(x.shape[0]):
            c = int(y[i])
            if not 0 <= c < C:
                raise ValueError(f"label {c} is outside the model's {C} classes")
            if len(data[c]) < samples_per_class:
                data[c].append(x[i:i + 1])
                labels[c].append(y[i:i + 1])
        if all(len(d) == samples_per_class for d in data):
            break
    if data is None or not all(len(d) == samples_per_class for d in data):
        raise ValueError(f"the batch source never gave {samples_per_class} examples of every class")
    X = torch.cat([torch.cat(d) for d in data])
    Y = torch.cat([torch.cat(lab) for lab in labels]).view(-1)
    n = X.shape[0]
    return [(X[: n // 2], Y[: n // 2]), (X[n // 2:], Y[n // 2:])]


@deterministic
def grasp_scores(model: nn.Module, batch_source, *, num_batches: int = 1, temperature: float = 200.0,
                 train_mode: bool | None = None, variant: str = "synflow", samples_per_class: int = 25,
                 generator=None) -> dict[str, torch.Tensor]:
    """GraSP: returns ``θ ⊙ Hg`` (keep the highest) = minus GraSP's ``-θ ⊙ Hg`` (which it prunes highest-first).

    ``g = Σ_b ∇L_b`` (logits divided by ``temperature``, as in GraSP's code), ``Hg = ∇_θ (Σ_b ∇L_b)ᵀ g``.

    ``variant="synflow"`` (default; Synaptic-Flow's ``Pruners/pruners.py::GraSP``): ``num_batches``
    batches from the source, BatchNorm in eval mode (``train_mode=False``), the model's own weights.
    ``variant="original"`` (the GraSP authors' ``pruner/GraSP.py::GraSP``): BatchNorm in train mode
    (``train_mode=True``); every ``nn.Linear`` of the scoring copy re-initialised with
    ``xavier_normal_`` from ``generator`` (first, in module order; the scores of those layers use the
    re-initialised weights); then, ``num_batches`` times (GraSP's ``num_iters``), ``samples_per_class``
    examples per class collected from the source in arrival order, sorted by class and split in two
    halves, each half one batch. ``train_mode`` overrides the variant's BatchNorm mode. The masks GraSP
    itself builds keep ``score <= t`` with ``t`` the ``int(ratio·d)``-th largest ``S`` (one more than
    ``d - int(ratio·d)``); use :func:`~sketchbound.dnn.pruning.masks.make_mask` for ours.

    Parameters
    ----------
    model : nn.Module
        The network (not modified).
    batch_source : callable, (x, y) tuple, tensor or iterable
        Input batches (:func:`~sketchbound.dnn.pruning.inputs.as_batch_source`).
    num_batches : int, default 1
        Batches (``"synflow"``) or GraSP iterations (``"original"``).
    temperature : float, default 200.0
        The logits are divided by it.
    train_mode : bool, optional
        BatchNorm mode; default that of ``variant``.
    variant : {"synflow", "original"}, default "synflow"
        Which published code to follow (above).
    samples_per_class : int, default 25
        Examples per class of ``variant="original"``.
    generator : None, int or torch.Generator, optional
        Drives the data-free sources and the random parts (same seed ⇒ same scores).

    Returns
    -------
    dict of str to torch.Tensor
        Signed scores ``θ ⊙ Hg`` of the parameters' shapes; higher = more important.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0); net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> sc = grasp_scores(net, (torch.randn(8, 4), torch.randint(0, 2, (8,))))
    >>> sorted(sc), sc["0.weight"].dtype
    (['0.weight', '2.weight'], torch.float32)
    """
    check_model(model)
    nb = check_positive_int(num_batches, name="num_batches", floats=False)
    if variant not in GRASP_VARIANTS:
        raise ValueError(f"variant must be one of {GRASP_VARIANTS}, got {variant!r}")
    if not (isinstance(temperature, numbers.Real) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    spc = check_positive_int(samples_per_class, name="samples_per_class", floats=False)
    if train_mode is None:
        train_mode = variant == "original"
    source, g = as_batch_source(batch_source), as_torch_generator(generator)
    net = copy.deepcopy(model).train(bool(train_mode))
    params = [p for _, p in prunable_parameters(net)]
    device, dtype = model_device(net)
    if variant == "original":
        with torch.no_grad():  # drawn on the CPU from g and copied: the same weights on every device
            for mod in net.modules():
                if isinstance(mod, nn.Linear):
                    w = torch.empty(mod.weight.shape, dtype=mod.weight.dtype)
                    nn.init.xavier_normal_(w, generator=g)
                    mod.weight.copy_(w)
        batches = []
        for _ in range(nb):
            batches += _class_balanced_halves(source, g, device, dtype, net, spc)
    else:
        batches = [draw_batch(source, g, device, dtype) for _ in range(nb)]

    def lossf(x, y):
        return loss_value(net(x) / temperature, y, "cross_entropy")

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


@deterministic
def prospr_scores(model: nn.Module, batch_source, *, inner_steps: int = 3, inner_lr: float = 0.1,
                  loss: str = "cross_entropy", train_mode: bool = True, dtype: torch.dtype = torch.float64,
                  generator=None) -> dict[str, torch.Tensor]:
    """ProsPr: ``|∂L(θ_K; D_K)/∂m|`` with ``θ_0 = m ⊙ θ`` (prunable weights) and ``K`` SGD steps
    ``θ_{t+1} = θ_t - lr ∇L(θ_t; D_t)`` differentiated through (meta-gradient), at ``m = 1``.

    ``dtype`` (default ``torch.float64``): the precision of the scoring copy, its batches and the
    returned scores. In float32 the meta-gradient through BatchNorm is not reproducible (two float32
    runs, ours or the published code's, are as far from their float64 result as from each other), in
    float64 ours and the published code switched to float64 agree to rounding; ``torch.float32``
    is kept for the published code's own precision.

    Each step and the final loss use a fresh batch from ``batch_source``; ``train_mode=True`` uses
    batch statistics in BatchNorm as in training (running stats of the internal copy only). As in
    ProsPr's ``prospr.prune`` (``method="full"``, momentum 0), every parameter (biases, BatchNorm too)
    takes the inner steps. Its ``new_data_in_inner=True`` is a source that yields new batches; its CLI
    default (``False``: one batch for all steps and the meta-loss) is a fixed ``(x, y)`` batch.

    Parameters
    ----------
    model : nn.Module
        The network (not modified).
    batch_source : callable, (x, y) tuple, tensor or iterable
        Input batches (:func:`~sketchbound.dnn.pruning.inputs.as_batch_source`).
    inner_steps : int, default 3
        ``K``, the SGD steps differentiated through.
    inner_lr : float, default 0.1
        Their learning rate.
    loss : {"cross_entropy", "l1", "mse"}, default "cross_entropy"
        The loss ``L``.
    train_mode : bool, default True
        BatchNorm in train mode.
    dtype : torch.dtype, default torch.float64
        Precision of the scoring copy, its batches and the scores.
    generator : None, int or torch.Generator, optional
        Drives the data-free sources and the random parts (same seed ⇒ same scores).

    Returns
    -------
    dict of str to torch.Tensor
        ``{"<layer>.weight": score}`` of the parameters' shapes; higher = more important.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0); net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> sc = prospr_scores(net, (torch.randn(8, 4), torch.randint(0, 2, (8,))), inner_steps=1)
    >>> [tuple(v.shape) for v in sc.values()], sc["0.weight"].dtype
    ([(3, 4), (2, 3)], torch.float64)
    """
    params0 = check_model(model)
    K = check_positive_int(inner_steps, name="inner_steps", floats=False)
    if not (isinstance(inner_lr, numbers.Real) and inner_lr > 0):
        raise ValueError(f"inner_lr must be a positive number, got {inner_lr!r}")
    check_loss(loss)
    dtype = check_dtype(dtype)
    source, g = as_batch_source(batch_source), as_torch_generator(generator)
    net = copy.deepcopy(model).to(dtype).train(train_mode)
    device, _ = model_device(net)
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
        x, y = draw_batch(source, g, device, dtype)
        l = loss_value(functional_call(net, {**theta, **buffers}, (x,)), y, loss)
        gr = torch.autograd.grad(l, list(theta.values()), create_graph=True, allow_unused=True)
        theta = {k: (v if gk is None else v - inner_lr * gk) for (k, v), gk in zip(theta.items(), gr)}
    x, y = draw_batch(source, g, device, dtype)
    l = loss_value(functional_call(net, {**theta, **buffers}, (x,)), y, loss)
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
    """Dispatch to the score function of ``method`` (one of :data:`SCORE_METHODS`); ``kwargs`` are passed on.

    Parameters
    ----------
    method : str
        One of :data:`SCORE_METHODS`.
    model : nn.Module
        The network (not modified).
    batch_source : callable, (x, y) tuple, tensor or iterable, optional
        Input batches; not needed by ``random``, ``magnitude`` and ``imp``.
    **kwargs
        The method's keyword arguments (e.g. ``density`` and ``rounds`` for ``synflow``).

    Returns
    -------
    dict of str to torch.Tensor
        ``{"<layer>.weight": score}`` of the parameters' shapes; higher = more important.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0); net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> sc = compute_scores("snip", net, (torch.randn(8, 4), torch.randint(0, 2, (8,))), generator=0)
    >>> sorted(sc)
    ['0.weight', '2.weight']
    """
    if method not in _FUNCS:
        raise ValueError(f"method must be one of {SCORE_METHODS}, got {method!r}")
    if method in ("magnitude", "imp"):
        kwargs.pop("generator", None)
    return _FUNCS[method](model, batch_source, **kwargs)
