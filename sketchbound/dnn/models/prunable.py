"""Which parameters are prunable — decided here and nowhere else.

Paper §5/§7 prune the weights of convolutions and fully connected layers; biases and BatchNorm
parameters are never pruned (as in SynFlow, SNIP, GraSP and IMP). Every score, mask and CLI in
:mod:`sketchbound.dnn` goes through :func:`prunable_parameters`, so the set of pruned tensors and
their order (model definition order) is the same everywhere.

>>> import torch.nn as nn
>>> net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
>>> [name for name, _ in prunable_parameters(net)]
['0.weight', '2.weight']
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["PRUNABLE_TYPES", "is_prunable_module", "prunable_modules", "prunable_parameters", "count_prunable"]

#: module types whose ``weight`` is prunable (convolutions and linear layers)
PRUNABLE_TYPES: tuple[type, ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def is_prunable_module(module: nn.Module) -> bool:
    """True for convolutions and linear layers (their ``weight`` is pruned; their bias is not).

    Parameters
    ----------
    module : torch.nn.Module
        Any module.

    Returns
    -------
    bool
        Whether ``module`` is one of :data:`PRUNABLE_TYPES`.

    Examples
    --------
    >>> is_prunable_module(nn.Conv2d(1, 2, 3)), is_prunable_module(nn.BatchNorm2d(2))
    (True, False)
    """
    return isinstance(module, PRUNABLE_TYPES)


def prunable_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The conv/linear modules of ``model``, in definition order.

    Parameters
    ----------
    model : torch.nn.Module
        The network.

    Returns
    -------
    list of (str, torch.nn.Module)
        ``(module name, module)`` pairs.

    Examples
    --------
    >>> [n for n, _ in prunable_modules(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)))]
    ['0', '2']
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return [(n, m) for n, m in model.named_modules() if is_prunable_module(m)]


def _weight(module: nn.Module) -> torch.Tensor:
    # after torch.nn.utils.prune the trainable tensor is ``weight_orig`` (``weight`` is recomputed)
    orig = getattr(module, "weight_orig", None)
    return orig if isinstance(orig, nn.Parameter) else module.weight


def prunable_parameters(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``[(name, parameter)]`` of the prunable weights: ``"<module>.weight"`` of every conv/linear layer.

    Biases and BatchNorm affine parameters are excluded. If a module was pruned with
    :mod:`torch.nn.utils.prune`, its ``weight_orig`` parameter is returned under the name ``"<module>.weight"``.

    Parameters
    ----------
    model : torch.nn.Module
        The network.

    Returns
    -------
    list of (str, torch.Tensor)
        ``(name, parameter)`` pairs in definition order (the order of every score and mask list).

    Examples
    --------
    >>> [(n, tuple(p.shape)) for n, p in prunable_parameters(nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)))]
    [('0.weight', (3, 4)), ('1.weight', (2, 3))]
    """
    return [(f"{n}.weight" if n else "weight", _weight(m)) for n, m in prunable_modules(model)]


def count_prunable(model: nn.Module) -> int:
    """Total number of prunable weights (the ``d`` of the paper for this network).

    Parameters
    ----------
    model : torch.nn.Module
        The network.

    Returns
    -------
    int
        The number of entries of all :func:`prunable_parameters` (biases and BatchNorm excluded).

    Examples
    --------
    >>> count_prunable(nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)))
    18
    """
    return sum(p.numel() for _, p in prunable_parameters(model))
