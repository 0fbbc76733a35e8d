"""Effective masks: the kept weights that lie on a path from the input to the output.

A mask can keep a weight that no input reaches (all weights into its input channel are pruned) or that
reaches no output (all weights out of its output channel are pruned). Such a weight is trained but
cannot change the network's function through the input; if no kept weight is on an input-output
path, the network's output does not depend on its input at all and it trains to chance accuracy.
Vysogorets & Kempe (JMLR 2023, "Connectivity matters: neural network pruning through the lens of
effective sparsity") call the density of the remaining weights the *effective* density.

How it is computed (exactly, up to float64 underflow, which the scaling below rules out for networks of
a few hundred layers): the network is linearised and made positive — every prunable weight becomes
``c_l·[kept]`` (``c_l`` = 1 / the layer's largest kept fan-in, so no layer expands the activations),
biases and BatchNorm shifts become 0, BatchNorm scales 1 with running statistics (0, 1), max-pools
become average pools (a max passes its gradient to one input only) — and the input is all ones. Then
every activation is ≥ 0 (ReLU is the identity on it), an activation is > 0 exactly where some input
reaches it through kept weights, and the gradient of ``R = Σ output`` is > 0 exactly where some
output is reachable from it. A kept weight is effective iff ``∂R/∂w > 0`` (the SynFlow path-count
argument, Tanaka et al. 2020, with 0/1 weights). Modules that compute a max functionally (not an
``nn.MaxPool*d``) are not replaced and would under-count; the models of :mod:`sketchbound.dnn.models`
use modules.

>>> import torch, torch.nn as nn
>>> net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
>>> masks = {"0.weight": torch.tensor([[1., 0.], [0., 0.]]), "2.weight": torch.tensor([[0., 1.]])}
>>> {k: v.tolist() for k, v in effective_masks(net, masks, (2,)).items()}  # input 0 -> unit 0, but unit 1 -> output
{'0.weight': [[False, False], [False, False]], '2.weight': [[False, False]]}
"""
from __future__ import annotations

import copy
from typing import Mapping, Sequence

import torch
from torch import nn

from sketchbound.dnn.models.prunable import prunable_parameters

__all__ = ["effective_masks", "effective_summary"]

_NOT_LINEARISED = (nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
#: smallest guaranteed activation·gradient product (the product of every layer's scale c_l) that float64
#: still holds; below it a path could underflow to 0 and effective_masks refuses
_TINY = 1e-290
_MAXPOOLS = {nn.MaxPool1d: nn.AvgPool1d, nn.MaxPool2d: nn.AvgPool2d, nn.MaxPool3d: nn.AvgPool3d}


def _replace_maxpools(module: nn.Module) -> None:
    for name, child in module.named_children():
        avg = _MAXPOOLS.get(type(child))
        if avg is not None:
            setattr(module, name, avg(child.kernel_size, child.stride, child.padding, ceil_mode=child.ceil_mode))
        else:
            _replace_maxpools(child)


def effective_masks(model: nn.Module, masks: Mapping[str, torch.Tensor],
                    input_shape: Sequence[int]) -> dict[str, torch.Tensor]:
    """For each prunable weight of ``model``, the boolean mask of its kept weights that lie on an
    input-output path (see the module docstring). ``model`` is not changed.

    Parameters
    ----------
    model : nn.Module
        The network (BatchNorm is linearised; GroupNorm/LayerNorm are refused).
    masks : mapping of str to torch.Tensor
        ``{name: 0/1 tensor}`` as made by :mod:`sketchbound.dnn.pruning.masks` (a prunable weight
        without a mask counts as dense).
    input_shape : sequence of int
        One input's shape without the batch dimension.

    Returns
    -------
    dict of str to torch.Tensor
        A boolean tensor per prunable weight: kept and on an input-output path.

    Examples
    --------
    >>> import torch.nn as nn
    >>> net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    >>> m = {"0.weight": torch.tensor([[1., 0.], [1., 0.]]), "2.weight": torch.tensor([[0., 1.]])}
    >>> effective_masks(net, m, (2,))["0.weight"].tolist()
    [[False, False], [True, False]]
    """
    names = [n for n, _ in prunable_parameters(model)]
    unknown = sorted(set(masks) - set(names))
    if unknown:
        raise ValueError(f"masks has entries that are not prunable weights of the model: {unknown[:3]}")
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"input_shape must be positive sizes, got {tuple(input_shape)!r}")
    other = sorted({type(m).__name__ for m in model.modules() if isinstance(m, _NOT_LINEARISED)})
    if other:
        raise ValueError(f"model has normalisations that depend on the batch statistics of one input ({other}); "
                         "effective_masks linearises BatchNorm only")
    net = copy.deepcopy(model).cpu().double().eval()
    _replace_maxpools(net)
    kept, bound = {}, 1.0
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, nn.modules.batchnorm._NormBase):
                if mod.running_mean is not None:
                    mod.running_mean.zero_()
                    mod.running_var.fill_(1.0)
                if mod.affine:
                    mod.weight.fill_(1.0)
                    mod.bias.zero_()
            elif getattr(mod, "bias", None) is not None and isinstance(mod.bias, torch.Tensor):
                mod.bias.zero_()
        for name, p in prunable_parameters(net):
            k = (masks[name] != 0) if name in masks else torch.ones(p.shape, dtype=torch.bool)
            k = k.to(device="cpu").reshape(p.shape)
            fan = k.reshape(k.shape[0], -1).sum(1).max() if k.dim() > 1 else k.sum()
            p.copy_(k.double() / max(1.0, float(fan)))
            kept[name] = k
            bound = bound * (1.0 / max(1.0, float(fan)))
    if bound < _TINY:
        raise ValueError(f"model too deep for effective_masks: the product of its layer scales is {bound:.3g}, "
                         f"below {_TINY:g} (a path could underflow in float64)")
    params = dict(prunable_parameters(net))
    for p in net.parameters():
        p.requires_grad_(False)
    for p in params.values():
        p.requires_grad_(True)
    out = net(torch.ones((1,) + shape, dtype=torch.float64))
    out.sum().backward()
    return {n: kept[n] & (params[n].grad > 0) for n in names}


def effective_summary(model: nn.Module, masks: Mapping[str, torch.Tensor], input_shape: Sequence[int]) -> dict:
    """``{"kept", "effective", "effective_fraction", "connected", "layers": {name: (kept, effective)}}``.

    ``connected`` is False when no kept weight lies on an input-output path (the output does not depend
    on the input: training can only reach chance accuracy).

    Parameters
    ----------
    model : nn.Module
        The network.
    masks : mapping of str to torch.Tensor
        ``{name: 0/1 tensor}`` (a prunable weight without a mask counts as dense).
    input_shape : sequence of int
        One input's shape without the batch dimension.

    Returns
    -------
    dict
        Kept and effective weight counts, their ratio, whether the mask connects input to output,
        and ``(kept, effective)`` per layer.

    Examples
    --------
    >>> import torch.nn as nn
    >>> net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    >>> m = {"0.weight": torch.tensor([[1., 0.], [1., 0.]]), "2.weight": torch.tensor([[0., 1.]])}
    >>> s = effective_summary(net, m, (2,)); s["kept"], s["effective"], s["connected"]
    (3, 2, True)
    """
    eff = effective_masks(model, masks, input_shape)
    layers = {}
    for n, p in prunable_parameters(model):
        k = int((masks[n] != 0).sum()) if n in masks else p.numel()
        layers[n] = (k, int(eff[n].sum()))
    kept = sum(k for k, _ in layers.values())
    e = sum(v for _, v in layers.values())
    return {"kept": kept, "effective": e, "effective_fraction": e / kept if kept else 0.0, "connected": e > 0,
            "layers": layers}
