"""Weight initialisations of Table IV: Kaiming (default), normal, Xavier.

Only conv/linear weights are drawn from the scheme (the prunable tensors the scores depend on,
see :mod:`sketchbound.dnn.models.prunable`); biases are set to 0 and BatchNorm to ``γ = 1, β = 0``.

* ``"kaiming"``: ``N(0, 2 / fan_in)`` (He et al. 2015, ``kaiming_normal_`` with ReLU gain);
  the paper's default (§7).
* ``"normal"``: ``N(0, std²)`` with ``std = 0.01`` by default (the classic VGG initialisation;
  Table IV does not give the std, so it is a parameter).
* ``"xavier"``: ``N(0, 2 / (fan_in + fan_out))`` (Glorot & Bengio 2010, ``xavier_normal_``).

>>> import torch.nn as nn
>>> net = initialize(nn.Linear(4, 2), "xavier", seed=0)
"""
from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import nn

__all__ = ["INIT_SCHEMES", "initialize", "as_torch_generator"]

INIT_SCHEMES = ("kaiming", "normal", "xavier")


def initialize(model: nn.Module, scheme: str = "kaiming", *, seed=None, std: float = 0.01) -> nn.Module:
    """Re-initialise ``model`` in place with ``scheme`` (Table IV) and return it.

    Conv/linear weights are drawn from ``scheme``, biases set to 0, BatchNorm to ``γ = 1, β = 0``.

    Parameters
    ----------
    model : torch.nn.Module
        The network, modified in place.
    scheme : {"kaiming", "normal", "xavier"}, default "kaiming"
        The initialisation (Table IV).
    seed : None, int or torch.Generator, optional
        ``None`` uses torch's global RNG. Same seed ⇒ same weights.
    std : float, default 0.01
        Standard deviation of the ``"normal"`` scheme.

    Returns
    -------
    torch.nn.Module
        ``model`` itself.

    Examples
    --------
    >>> a = initialize(nn.Linear(4, 2), "kaiming", seed=0)
    >>> torch.equal(a.weight, initialize(nn.Linear(4, 2), "kaiming", seed=0).weight)
    True
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {INIT_SCHEMES}, got {scheme!r}")
    if not (isinstance(std, numbers.Real) and std > 0):
        raise ValueError(f"std must be a positive number, got {std!r}")
    gen = None if seed is None else as_torch_generator(seed, name="seed")  # None: torch's global RNG
    from .prunable import is_prunable_module

    with torch.no_grad():
        for m in model.modules():
            if is_prunable_module(m):
                w = m.weight
                if scheme == "kaiming":
                    nn.init.kaiming_normal_(w, nonlinearity="relu", generator=gen)
                elif scheme == "xavier":
                    nn.init.xavier_normal_(w, generator=gen)
                else:
                    nn.init.normal_(w, 0.0, std, generator=gen)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                if m.affine:
                    m.weight.fill_(1.0)
                    m.bias.zero_()
    return model


def as_torch_generator(seed, *, name: str = "generator") -> torch.Generator:
    """The one seed → ``torch.Generator`` of the dnn side: ``None`` → a fresh non-deterministic CPU
    generator, a non-negative int → seeded with it, a ``torch.Generator`` → itself.

    Parameters
    ----------
    seed : None, int or torch.Generator
        The seed.
    name : str
        The argument's name in the error message.

    Returns
    -------
    torch.Generator

    Examples
    --------
    >>> g = as_torch_generator(0); torch.equal(torch.rand(2, generator=g), torch.rand(2, generator=as_torch_generator(0)))
    True
    """
    if isinstance(seed, torch.Generator):
        return seed
    g = torch.Generator()
    if seed is None:
        g.seed()
        return g
    if isinstance(seed, (numbers.Integral, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        g.manual_seed(int(seed))
        return g
    raise ValueError(f"{name} must be None, a non-negative int seed or a torch.Generator, got {seed!r}")
