"""Iterative SynFlow (Tanaka et al. 2020; paper §5.1, eq. (3)/(4)): scores of the last of ``rounds`` pruning rounds.

One of the methods of :mod:`sketchbound.dnn.pruning.scores` (``compute_scores("synflow", ...)``), kept in its
own module: its rounds build intermediate masks with :func:`~sketchbound.dnn.pruning.masks.make_mask`.
"""
from __future__ import annotations

import copy
import numbers

import torch
from torch import nn

from sketchbound.dnn.models.prunable import prunable_parameters
from sketchbound.dnn.pruning._scoring import check_dtype, check_model, deterministic, draw_batch, model_device
from sketchbound.dnn.pruning.inputs import as_batch_source, as_torch_generator
from sketchbound.dnn.pruning.masks import KEEP_RULES, MASK_MODES, make_mask
from sketchbound.sampling import check_positive_int

__all__ = ["synflow_scores"]


def _synflow_round(net, weights, abs_init, masks, x):
    with torch.no_grad():
        for (n, p), w0 in zip(weights, abs_init):
            p.copy_(w0 * masks[n] if masks is not None else w0)
    r = net(x).sum()
    grads = torch.autograd.grad(r, [p for _, p in weights], allow_unused=True)
    return {n: (torch.zeros_like(p) if gr is None else (gr * p).detach().abs()) for (n, p), gr in zip(weights, grads)}


@deterministic
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
    params0 = check_model(model)
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
    dtype = check_dtype(dtype)
    source, g = as_batch_source(batch_source), as_torch_generator(generator)
    device, _ = model_device(model)
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
        x, _ = draw_batch(source, g, device, dtype)
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
