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

import contextlib
import copy
import functools
import numbers
import os

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from sketchbound.dnn.pruning.inputs import as_batch_source, as_torch_generator
from sketchbound.dnn.pruning.masks import KEEP_RULES, MASK_MODES, make_mask
from sketchbound.dnn.models.prunable import prunable_parameters
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
LOSSES = ("cross_entropy", "l1", "mse")
GRASP_VARIANTS = ("synflow", "original")


@contextlib.contextmanager
def deterministic_algorithms():
    """Deterministic kernels for the duration (restored afterwards): ``torch.use_deterministic_algorithms``
    (warn-only for ops without a deterministic version), ``cudnn.deterministic``, no ``cudnn.benchmark``,
    no TF32 (full fp32 matmuls/convolutions on the GPU, as on the CPU). ``CUBLAS_WORKSPACE_CONFIG`` is set
    to ``:4096:8`` if unset (cuBLAS reads it when its handle is created: set it before the first CUDA
    matmul of the process for full effect).

    Returns
    -------
    contextlib.AbstractContextManager
        A context manager (``with deterministic_algorithms(): ...``).

    Yields
    ------
    None
        The settings hold inside the ``with`` block.

    Examples
    --------
    >>> with deterministic_algorithms():
    ...     torch.are_deterministic_algorithms_enabled()
    True
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    be = torch.backends
    prev = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            be.cudnn.deterministic, be.cudnn.benchmark, be.cudnn.allow_tf32, be.cuda.matmul.allow_tf32)
    torch.use_deterministic_algorithms(True, warn_only=True)
    be.cudnn.deterministic, be.cudnn.benchmark = True, False
    be.cudnn.allow_tf32 = be.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        be.cudnn.deterministic, be.cudnn.benchmark, be.cudnn.allow_tf32, be.cuda.matmul.allow_tf32 = prev[2:]


def _deterministic(fn):
    @functools.wraps(fn)
    def wrapper(*a, **k):
        with deterministic_algorithms():
            return fn(*a, **k)
    return wrapper


def _check_model(model):
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = prunable_parameters(model)
    if not params:
        raise ValueError("model has no prunable parameters (conv/linear weights)")
    return params


def _check_dtype(dtype) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point or dtype.itemsize < 4:
        raise ValueError(f"dtype must be torch.float64 or torch.float32, got {dtype!r}")
    return dtype


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
    params = _check_model(model)
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
    return {n: p.detach().abs().clone() for n, p in _check_model(model)}


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


@_deterministic
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
    _check_model(model)
    _check_loss(loss)
    nb = check_positive_int(num_batches, name="num_batches", floats=False)
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


def _class_balanced_halves(source, g, device, dtype, net, samples_per_class: int):
    """GraSP's ``GraSP_fetch_data`` + split: draw batches until every class has ``samples_per_class``
    examples (the first ones to arrive), concatenate them class by class (0, 1, ...) and split the result
    into its two halves ``[:N//2]``, ``[N//2:]``."""
    data, labels, C, prev = None, None, None, None
    for _ in range(10000):
        x, y = _batch(source, g, device, dtype)
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


@_deterministic
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
    _check_model(model)
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
    device, dtype = _device(net)
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


@_deterministic
def synflow_scores(model: nn.Module, batch_source, *, density: float, rounds: int = 100, mode: str = "global",
                   min_per_layer: int = 1, keep_rule: str = "exact", info: dict | None = None, on_round=None,
                   dtype: torch.dtype = torch.float64, generator=None) -> dict[str, torch.Tensor]:
    """Iterative SynFlow (§5.1, eq. (3)/(4)): ``rounds`` rounds, density ``density^(r/rounds)`` after round ``r``.

    Each round: ``R = 1ᵀ f(x; |θ| ⊙ m)`` in float64, BatchNorm in eval mode (all BN parameters and
    buffers made non-negative, biases ``|b|``), score ``|∂R/∂θ ⊙ θ|``; for ``r < rounds`` the mask
    becomes ``make_mask(scores, density^(r/rounds), mode)`` (``mode`` must be binary; pass
    ``"randomized"`` for SynFlow + random mask). ``x`` is drawn from ``batch_source`` every round:
    ``make_input_source("ones", ...)`` for SynFlow, ``"chi"`` for §7's χ input. The returned scores
    are those of the last round; the final mask is ``make_mask(scores, density, mode)`` (with the same
    ``min_per_layer`` and ``keep_rule``: ``min_per_layer=1`` keeps every layer alive in every round,
    Synaptic-Flow issue #7; the published code has no guard, ``min_per_layer=0``).

    ``keep_rule`` (per round): ``"exact"`` keeps ``⌊d_r·N + 1/2⌋``; ``"synflow"`` is Synaptic-Flow's
    ``kthvalue`` threshold (``N - int((1 - d_r)·N)`` kept without ties). ``dtype`` (default
    ``torch.float64``) is the precision of the scoring copy, its input and the scores. Bit for bit:
    with ``keep_rule="synflow"``, ``min_per_layer=0`` and the same weights and inputs, the masks equal
    those of Synaptic-Flow *switched to float64* (its commented-out ``model.double()``). Synaptic-Flow as
    published runs in float32; against it the 100-round masks of VGG networks agree on 97.8–99.3% of
    the weights (on tiny models often on all); pass ``dtype=torch.float32`` to reproduce the published
    masks. ``info``: a dict that receives
    ``synflow_rounds_guard_fired`` (rounds in which ``min_per_layer`` changed the mask) and
    ``synflow_guard_kept_max`` (the most weights it kept in one round). ``on_round(r, masks)`` is called
    after each intermediate mask (``r = 1 … rounds-1``).

    Parameters
    ----------
    model : nn.Module
        The network (not modified).
    batch_source : callable, (x, y) tuple, tensor or iterable
        Input batches (:func:`~sketchbound.dnn.pruning.inputs.as_batch_source`).
    density : float
        The final density, in ``(0, 1]``.
    rounds : int, default 100
        Pruning rounds.
    mode : str, default "global"
        A binary mode of :data:`~sketchbound.dnn.pruning.masks.MASK_MODES` for the intermediate masks.
    min_per_layer : int, default 1
        Weights every layer keeps at least, in every round.
    keep_rule : {"exact", "synflow"}, default "exact"
        The per-round threshold's rule.
    info : dict, optional
        Receives the guard's report (above).
    on_round : callable, optional
        ``on_round(r, masks)`` after each intermediate mask.
    dtype : torch.dtype, default torch.float64
        Precision of the scoring copy, its input and the scores.
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
    >>> sc = synflow_scores(net, (torch.ones(1, 4), None), density=0.5, rounds=2)
    >>> sc["0.weight"].dtype, int((sc["0.weight"] > 0).sum()) <= 12
    (torch.float64, True)
    """
    params0 = _check_model(model)
    dens = float(density) if isinstance(density, numbers.Real) and not isinstance(density, bool) else None
    if dens is None or not (0 < dens <= 1):
        raise ValueError(f"density must be a number in (0, 1] (final fraction kept), got {density!r}")
    R = check_positive_int(rounds, name="rounds", floats=False)
    if mode not in MASK_MODES or mode == "algorithm1":
        raise ValueError(f"mode for SynFlow's intermediate masks must be one of {MASK_MODES[:4]}, got {mode!r}")
    if keep_rule not in KEEP_RULES:
        raise ValueError(f"keep_rule must be one of {KEEP_RULES}, got {keep_rule!r}")
    if on_round is not None and not callable(on_round):
        raise ValueError("on_round must be a callable (round, masks) or None")
    dtype = _check_dtype(dtype)
    source, g = as_batch_source(batch_source), as_torch_generator(generator)
    device, _ = _device(model)
    net = copy.deepcopy(model).to(dtype).eval()
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
    fired, kept_max = 0, 0
    for r in range(1, R + 1):
        x, _ = _batch(source, g, device, dtype)
        scores = _synflow_round(net, weights, abs_init, masks, x)
        if r < R:
            seed = int(torch.randint(0, 2**62, (1,), generator=g))
            rinfo = {}
            masks = make_mask(scores, dens ** (r / R), mode, rng=seed, min_per_layer=min_per_layer,
                              keep_rule=keep_rule, info=rinfo if info is not None else None)
            fired += bool(rinfo.get("guard_fired"))
            kept_max = max(kept_max, int(rinfo.get("guard_kept", 0)))
            if on_round is not None:
                on_round(r, masks)
            masks = {n: m.to(dtype) for n, m in masks.items()}
    if info is not None:
        if not isinstance(info, dict):
            raise ValueError(f"info must be a dict to fill or None, got {type(info).__name__}")
        info.update(synflow_rounds_guard_fired=fired, synflow_guard_kept_max=kept_max)
    return scores


@_deterministic
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
    params0 = _check_model(model)
    K = check_positive_int(inner_steps, name="inner_steps", floats=False)
    if not (isinstance(inner_lr, numbers.Real) and inner_lr > 0):
        raise ValueError(f"inner_lr must be a positive number, got {inner_lr!r}")
    _check_loss(loss)
    dtype = _check_dtype(dtype)
    source, g = as_batch_source(batch_source), as_torch_generator(generator)
    net = copy.deepcopy(model).to(dtype).train(train_mode)
    device, _ = _device(net)
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
