"""The masked SGD step of the trainers, the masks it keeps, and the CUDA-graph capture of a whole step.

:func:`masked_sgd_step` is the optimiser (``torch._foreach`` ops or the Triton kernel of
:mod:`~sketchbound.dnn.training.sgd_kernel`) with the masking fused into it; :func:`masked_update` is the
optimiser half of a training step; :func:`capture_step` / :func:`replay_or_run` run a step as one CUDA
graph or eagerly. See :mod:`sketchbound.dnn.training.trainer` for the protocol (§7) and the masks.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from sketchbound.dnn.training.sgd_kernel import SGD_KERNELS, masked_sgd_triton

# masked_update, replay_or_run and capture_step are the trainers' step machinery: importable, not part of the API
__all__ = ["resolve_masks", "mask_density", "masked_sgd_step"]


# --------------------------------------------------------------------------------------------- masks
def resolve_masks(model: nn.Module, masks: Mapping[str, torch.Tensor] | None) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Match mask keys to parameters: ``[(name, parameter, mask)]``.

    Keys are parameter names (``"features.0.weight"``); a module name (``"features.0"``) is accepted
    for its ``weight``; for a layer pruned by :func:`~sketchbound.dnn.pruning.apply.apply_mask` (or
    ``torch.nn.utils.prune``) ``"<layer>.weight"`` names its ``weight_orig``. ``ValueError`` for unknown
    keys or shape mismatches.

    Parameters
    ----------
    model : nn.Module
        The network.
    masks : mapping of str to torch.Tensor, optional
        The masks; ``None`` or empty: no masked parameter.

    Returns
    -------
    list of (str, torch.Tensor, torch.Tensor)
        ``(parameter name, parameter, mask)`` triples.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 2))
    >>> [(n, tuple(m.shape)) for n, _, m in resolve_masks(net, {"0": torch.ones(2, 2)})]
    [('0.weight', (2, 2))]
    """
    if not masks:
        return []
    params = dict(model.named_parameters())
    out = []
    for key, m in masks.items():
        name = key if key in params else f"{key}_orig" if f"{key}_orig" in params else f"{key}.weight"  # _orig: apply_mask
        if name not in params:
            raise ValueError(f"mask key {key!r} names no parameter of the model; parameters: {', '.join(list(params)[:8])}...")
        p = params[name]
        m = torch.as_tensor(m)
        if tuple(m.shape) != tuple(p.shape):
            raise ValueError(f"mask {key!r} has shape {tuple(m.shape)}, parameter has {tuple(p.shape)}")
        out.append((name, p, m))
    return out


def mask_density(masks: Mapping[str, torch.Tensor]) -> tuple[float, dict[str, int], dict[str, int]]:
    """``(density, kept per layer, size per layer)`` of a mask dict (nonzero entries count as kept).

    Parameters
    ----------
    masks : mapping of str to torch.Tensor
        The masks.

    Returns
    -------
    (float, dict of str to int, dict of str to int)
        The overall density (1.0 for no entries), kept and total counts per layer.

    Examples
    --------
    >>> mask_density({"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([0.5, 0.0])})
    (0.5, {'a': 1, 'b': 1}, {'a': 2, 'b': 2})
    """
    kept = {k: int(torch.count_nonzero(torch.as_tensor(m)).item()) for k, m in masks.items()}
    size = {k: int(torch.as_tensor(m).numel()) for k, m in masks.items()}
    total = sum(size.values())
    return (sum(kept.values()) / total if total else 1.0), kept, size


@torch.no_grad()
def masked_sgd_step(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], bufs: Sequence[torch.Tensor],
                    lr: torch.Tensor | Sequence[torch.Tensor], momentum: float, weight_decay: float,
                    masked_params: Sequence[torch.Tensor] = (), masked_grads: Sequence[torch.Tensor] = (),
                    masks: Sequence[torch.Tensor] = (), kernel: str = "foreach",
                    copies: Sequence[torch.Tensor | None] | None = None) -> None:
    """One SGD step with momentum and weight decay, in place, with masked weights kept exactly zero.

    ``g ← g ⊙ m``; ``g ← g + λ w``; ``b ← μ b + g``; ``w ← w − lr·b``; ``w ← w ⊙ m`` (the same update as
    ``torch.optim.SGD`` with ``dampening=0``, whose first-step ``b = g`` equals ``μ·0 + g``). ``lr`` is a
    0-d tensor on the parameters' device, so a captured CUDA graph follows the schedule, or one tensor
    per parameter broadcastable to it (per-model learning rates of horizontally fused models,
    :mod:`sketchbound.dnn.training.fused`).
    ``masked_grads``/``masked_params`` must be the gradients/parameters the ``masks`` belong to.
    ``kernel`` (one of :data:`~sketchbound.dnn.training.sgd_kernel.SGD_KERNELS`): ``"foreach"`` (default) runs
    seven ``torch._foreach_*`` passes and leaves the gradients masked with weight decay added; ``"triton"``
    one kernel per parameter that reads and writes each element once and leaves the gradients as they
    were (:func:`~sketchbound.dnn.training.sgd_kernel.masked_sgd_triton`; a 0-d ``lr``; the same update up
    to floating-point rounding). ``copies`` (Triton only): per parameter a tensor (or ``None``) that receives
    the updated parameter in its own dtype.

    Parameters
    ----------
    params, grads, bufs : sequence of torch.Tensor
        Parameters, their gradients and momentum buffers (updated in place).
    lr : torch.Tensor or sequence of torch.Tensor
        0-d learning rate, or one broadcastable tensor per parameter.
    momentum, weight_decay : float
        ``μ`` and ``λ``.
    masked_params, masked_grads, masks : sequence of torch.Tensor
        The masked subset and its masks (same order).
    kernel : {"foreach", "triton"}, default "foreach"
        The implementation.
    copies : sequence of torch.Tensor or None, optional
        Triton only (above).

    Returns
    -------
    None
        Everything is updated in place.

    Examples
    --------
    >>> w, g, b = torch.ones(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    >>> m = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    >>> masked_sgd_step([w], [g], [b], torch.tensor(0.1, dtype=torch.float64), 0.9, 0.0, [w], [g], [m])
    >>> w.tolist()                                         # w - lr·g where kept, exactly 0 where pruned
    [0.9, 0.0, 0.9]
    """
    if kernel == "triton":
        mask_of = {id(p): m for p, m in zip(masked_params, masks)}
        masked_sgd_triton(params, grads, bufs, lr, momentum, weight_decay, [mask_of.get(id(p)) for p in params],
                          copies)
        return
    if kernel != "foreach":
        raise ValueError(f"kernel must be one of {', '.join(map(repr, SGD_KERNELS))}, got {kernel!r}")
    if copies is not None and any(c is not None for c in copies):
        raise ValueError(f"copies need kernel='triton' (only the Triton kernel writes them), got kernel={kernel!r}")
    if masks:
        torch._foreach_mul_(list(masked_grads), list(masks))
    if weight_decay:
        torch._foreach_add_(list(grads), list(params), alpha=weight_decay)
    if momentum:
        torch._foreach_mul_(list(bufs), momentum)
        torch._foreach_add_(list(bufs), list(grads))
        update = torch._foreach_mul(list(bufs), lr if isinstance(lr, torch.Tensor) else list(lr))
    else:
        update = torch._foreach_mul(list(grads), lr if isinstance(lr, torch.Tensor) else list(lr))
    torch._foreach_sub_(list(params), update)
    if masks:
        torch._foreach_mul_(list(masked_params), list(masks))


def masked_update(params: Sequence[torch.Tensor], bufs: Sequence[torch.Tensor], lr, schedule: "Schedule",
                  masked_params: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], kernel: str = "foreach",
                  grad_leaves: Sequence[torch.Tensor] | None = None,
                  copies: Sequence[torch.Tensor | None] | None = None) -> None:
    """The optimiser half of a training step after ``backward()``: a zero gradient for parameters the
    forward did not use (keeps the step well defined), then :func:`masked_sgd_step` with the schedule's
    momentum and weight decay (shared by :class:`ConcurrentTrainer` and the fused trainer).
    ``grad_leaves[i]`` (default ``params[i]``) is the tensor whose ``.grad`` is parameter ``i``'s gradient —
    its copy in ``copies[i]`` when the forward reads that copy instead (the fused trainer's weight copies)."""
    grads = []
    for p in (params if grad_leaves is None else grad_leaves):
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    grad_of = {id(p): g for p, g in zip(params, grads)}
    masked_sgd_step(params, grads, bufs, lr, schedule.momentum, schedule.weight_decay,
                    masked_params, [grad_of[id(p)] for p in masked_params], masks, kernel, copies)


def replay_or_run(graph, stream, params: Sequence[torch.Tensor], body: Callable[[], None]) -> None:
    """One training step: replay the captured CUDA ``graph`` on its ``stream``, or, without a graph,
    clear the gradients and run ``body`` eagerly (the same step function)."""
    if graph is not None:
        with torch.cuda.stream(stream):
            graph.replay()
    else:
        for p in params:
            p.grad = None
        body()


def capture_step(step_body: Callable[[], None], model: nn.Module, state: Sequence[torch.Tensor],
                 params: Sequence[torch.Tensor], stream, device, *, before_warmup: Callable[[], object] = lambda: None,
                 warmup: int = 3):
    """Capture ``step_body`` (a whole training step) in a CUDA graph and return the graph.

    It runs ``warmup`` times on ``stream`` first (cuDNN/cuBLAS choose their algorithms, allocations
    settle; ``before_warmup`` runs before each, e.g. resetting the step counter), then ``model``'s state
    dict and the tensors ``state`` (momentum buffers, counters) are restored in place — warm-up steps
    must not count — the gradients of ``params`` are dropped so that they are allocated once inside the
    graph's private memory pool, and one step is captured (the CUDA-graph capture rules).
    """
    snap_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
    snap = [t.detach().clone() for t in state]
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            for p in params:
                p.grad = None
            before_warmup()
            step_body()
    torch.cuda.current_stream(device).wait_stream(stream)
    with torch.no_grad():  # warm-up steps must not count: restore everything in place
        for k, v in model.state_dict().items():
            v.copy_(snap_model[k])
        for t, v in zip(state, snap):
            t.copy_(v)
    for p in params:
        p.grad = None  # grads are then allocated once, inside the graph's private pool
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g, stream=stream):
        step_body()
    torch.cuda.synchronize(device)
    return g

