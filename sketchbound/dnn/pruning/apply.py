"""Apply masks to a model so that pruned weights stay exactly zero during training (and undo it).

:func:`apply_mask` uses the reparametrization of :mod:`torch.nn.utils.prune` (``weight = weight_orig *
mask``, recomputed before every forward pass), the form the plug-in (:mod:`sketchbound.dnn.pruning.plugin`)
also produces; :func:`remove_masks` bakes the zeros into plain parameters; :func:`current_masks` reads
the masks back. Masks come from :func:`sketchbound.dnn.pruning.masks.make_mask` (density = fraction kept).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune

from sketchbound.dnn.models.prunable import prunable_modules
from sketchbound.dnn.pruning.masks import check_masks_for

__all__ = ["apply_mask", "remove_masks", "current_masks"]


def _prunable_modules_by_weight_name(model: nn.Module) -> dict[str, nn.Module]:
    return {(f"{n}.weight" if n else "weight"): m for n, m in prunable_modules(model)}


def apply_mask(model: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """Prune ``model`` with ``masks`` so that the pruned weights **stay** zero through any training loop.

    Each masked layer gets the form of :mod:`torch.nn.utils.prune`: the trainable parameter becomes
    ``<layer>.weight_orig``, the mask a buffer ``<layer>.weight_mask``, and ``<layer>.weight`` is
    recomputed as ``weight_orig * (mask != 0)`` before every forward pass. The effective weight is
    therefore exactly zero at the pruned entries whatever the optimizer does to ``weight_orig``
    (``torch.optim.SGD`` with momentum and weight decay, ``Adam``, ``AdamW``, ... — tested), and the
    density does not change during training. ``weight_orig`` is also zeroed at the pruned entries.

    Parameters
    ----------
    model : nn.Module
        Any module; its prunable weights are those of :func:`~sketchbound.dnn.models.prunable.prunable_parameters`.
    masks : dict
        ``{"<layer>.weight": tensor}`` of the parameter's shape, from
        :func:`~sketchbound.dnn.pruning.masks.make_mask` whose ``density`` is the fraction of weights
        *kept* (the convention of the whole Python API; only the ``torch.nn.utils.prune`` plug-in takes
        torch's ``amount = 1 - density``, see :mod:`sketchbound.dnn.pruning.plugin`); layers missing
        from ``masks`` are left alone. Non-binary masks (mode ``"algorithm1"``) scale the weights once,
        ``w ← w ⊙ m`` (the sketch of eq. (1) with ``m = c/(s p)``), and then keep the support ``m ≠ 0``.

    Returns
    -------
    nn.Module
        ``model`` itself, modified in place. Applying a second mask composes with the first (both
        stay applied). The optimizer must be built *after* this call (it must see ``weight_orig``).
        :func:`remove_masks` makes the zeros permanent as plain ``weight`` parameters (after which a
        training loop can regrow them); :func:`sketchbound.dnn.training.fit.fit` trains such a model.

    Examples
    --------
    >>> import torch
    >>> from sketchbound.dnn.pruning.masks import make_mask
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    >>> m = make_mask({"0.weight": torch.rand(3, 4), "2.weight": torch.rand(2, 3)}, 0.5, "global")
    >>> _ = apply_mask(net, m)
    >>> sorted(n for n, _ in net.named_parameters() if n.endswith("_orig"))
    ['0.weight_orig', '2.weight_orig']
    >>> int((net[0].weight != 0).sum() + (net[2].weight != 0).sum())
    9
    """
    params = check_masks_for(model, masks)
    modules = _prunable_modules_by_weight_name(model)
    for n, p in params:
        if n not in masks:
            continue
        m = masks[n].to(device=p.device, dtype=p.dtype)
        if not torch.isfinite(m).all():
            raise ValueError(f"masks[{n!r}] contains NaN or inf; a mask must be finite")
        with torch.no_grad():
            p.mul_(m)  # w ← w ⊙ m (weighted masks scale once; binary ones zero the pruned entries)
        prune.custom_from_mask(modules[n], "weight", (m != 0).to(p.dtype))
    return model


def remove_masks(model: nn.Module) -> nn.Module:
    """Undo the reparametrization of :func:`apply_mask`: each masked ``weight`` becomes a plain parameter
    holding ``weight_orig * mask`` (the zeros are baked in; nothing keeps them zero any more).

    Parameters
    ----------
    model : nn.Module
        A model pruned by :func:`apply_mask` (or by :mod:`torch.nn.utils.prune`, e.g. the plug-in).

    Returns
    -------
    nn.Module
        ``model``, with plain ``<layer>.weight`` parameters (for export or a ``state_dict`` without masks).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2))
    >>> _ = apply_mask(net, {"0.weight": torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0]])})
    >>> _ = remove_masks(net)
    >>> sorted(n for n, _ in net.named_parameters()), int((net[0].weight != 0).sum())
    (['0.bias', '0.weight'], 2)
    """
    for m in _prunable_modules_by_weight_name(model).values():
        if prune.is_pruned(m) and hasattr(m, "weight_orig"):
            prune.remove(m, "weight")
    return model


def current_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """``{"<layer>.weight": mask}`` of the layers pruned by :func:`apply_mask` (or ``torch.nn.utils.prune``).

    Parameters
    ----------
    model : nn.Module
        Any module; layers that are not pruned are left out.

    Returns
    -------
    dict of str to torch.Tensor
        The 0/1 ``weight_mask`` buffers (detached), keyed by the weight's name.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 1))
    >>> current_masks(apply_mask(net, {"0.weight": torch.tensor([[1.0, 0.0]])}))["0.weight"].tolist()
    [[1.0, 0.0]]
    """
    return {n: m.weight_mask.detach() for n, m in _prunable_modules_by_weight_name(model).items()
            if isinstance(getattr(m, "weight_mask", None), torch.Tensor)}
