"""The fused network: N models of one architecture as one :class:`FusedModel`, its loss and learning rates.

See :mod:`sketchbound.dnn.training.fused` for the layout and why one backward pass gives every model the
gradient of its own step.
"""
from __future__ import annotations

import copy
import itertools
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sketchbound.dnn.training.fused_layers import (FusedBatchNorm2d, FusedConv2d, FusedLeaf, FusedLinear,
                                                   architecture_key, check_conv_block, check_gemm_with_block)

__all__ = ["FusedModel", "stack_inputs", "fused_cross_entropy", "per_parameter_lr"]


_FUSERS: dict[type, type] = {nn.Conv2d: FusedConv2d, nn.BatchNorm2d: FusedBatchNorm2d, nn.Linear: FusedLinear}


def _set_submodule(root: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, attr = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, attr, new)


class FusedModel(nn.Module):
    """N models of one architecture as one network (see the module docstring for the layout).

    Parameters
    ----------
    models : sequence of nn.Module
        The N models (equal :func:`architecture_key`); their current values are copied.
    conv_block : int, default 1
        Every ``Conv2d`` as a :class:`FusedConv2d` with ``block=conv_block`` (1: one grouped
        convolution; ``k > 1``: block-dense, ``k`` consecutive models per dense block, see there).
    conv_gemm : str, default "off"
        One of :data:`CONV_GEMM`: which fused convolutions run as one batched GEMM over unfolded
        patches (:func:`grouped_conv2d_gemm`): ``"off"`` (default) none, ``"strided"`` those with a stride
        > 1, ``"all"`` all; ``"auto"`` none until :func:`choose_conv_gemm` decides per convolution (the
        trainer does, at the batch's shape). Needs ``conv_block=1``.

    The fused tensors have the names of the models' own (``net.state_dict()`` keys equal each model's);
    :meth:`slice` gives model ``i``'s part of a fused tensor, :meth:`tie` makes the models' tensors
    views of their parts.

    Examples
    --------
    >>> _ = torch.manual_seed(0); models = [nn.Sequential(nn.Linear(4, 2)) for _ in range(3)]
    >>> fm = FusedModel(models)
    >>> x = torch.randn(5, 3, 4)
    >>> out = fm.split(fm(x.reshape(5, 12)))
    >>> bool(torch.allclose(out[:, 2], models[2](x[:, 2]), atol=1e-6))
    True
    """

    def __init__(self, models: Sequence[nn.Module], conv_block: int = 1, conv_gemm: str = "off"):
        super().__init__()
        models = list(models)
        if not models:
            raise ValueError("models must be a non-empty sequence of nn.Module")
        self.conv_block = check_conv_block(conv_block)
        self.conv_gemm = check_gemm_with_block(conv_gemm, conv_block)
        keys = [architecture_key(m) for m in models]
        for i, k in enumerate(keys[1:], 1):
            if k != keys[0]:
                diff = next((a, b) for a, b in itertools.zip_longest(keys[0], k) if a != b)
                raise ValueError(f"models[{i}] has another architecture than models[0] and cannot be fused with it: "
                                 f"{diff[1]} vs {diff[0]}")
        self.n = len(models)
        m0 = models[0]

        def fuse(mods):
            cls = _FUSERS[type(mods[0])]
            if cls is not FusedConv2d:
                return cls(mods)
            gemm = conv_gemm == "all" or (conv_gemm == "strided" and max(mods[0].stride) > 1)
            return cls(mods, block=conv_block, gemm=gemm)

        if type(m0) in _FUSERS:
            net = fuse(models)
        else:
            memo = {id(t): t for t in itertools.chain(m0.parameters(), m0.buffers())}  # don't copy what is replaced
            net = copy.deepcopy(m0, memo)
            for path, mod in list(m0.named_modules()):
                if type(mod) in _FUSERS:
                    _set_submodule(net, path, fuse([m.get_submodule(path) for m in models]))
        net.train(m0.training)
        self.net = net
        self.layouts: dict[str, str] = {}
        for path, mod in net.named_modules():
            if isinstance(mod, FusedLeaf):
                for t, lay in mod.layouts.items():
                    if getattr(mod, t, None) is not None:
                        self.layouts[f"{path}.{t}" if path else t] = lay

    def forward(self, x):
        return self.net(x)

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every fused parameter and buffer by its (per-model) name (helpers such as
        :class:`FusedConv2d`'s ``block_eye``, which no model has, are left out)."""
        return {k: t for k, t in itertools.chain(self.net.named_parameters(), self.net.named_buffers())
                if k in self.layouts}

    def gemm_convs(self) -> list[str]:
        """The module paths of the fused convolutions that run in the GEMM form (``conv_gemm``)."""
        return [path for path, m in self.net.named_modules() if isinstance(m, FusedConv2d) and m.gemm]

    def conv_blocks(self) -> dict[str, int]:
        """The block of each fused convolution by module path (:func:`effective_conv_block`)."""
        return {path: m.block for path, m in self.net.named_modules() if isinstance(m, FusedConv2d)}

    def rows(self, name: str, t: torch.Tensor) -> int:
        """Rows of dim 0 that belong to one model in fused tensor ``name``."""
        return t.shape[0] // self.n if self.layouts[name] == "cat" else 1

    def slice(self, name: str, t: torch.Tensor, i: int) -> torch.Tensor:
        """Model ``i``'s part of ``t`` (a fused tensor named ``name``, or one laid out like it): a view."""
        if self.layouts[name] == "cat":
            r = t.shape[0] // self.n
            return t[i * r:(i + 1) * r]
        return t[i]

    def model_index(self, name: str, device=None) -> torch.Tensor:
        """For every dim-0 row of fused tensor ``name``, the model it belongs to (``int64``)."""
        t = self.tensors()[name]
        idx = torch.arange(self.n, device=device)
        return idx.repeat_interleave(self.rows(name, t)) if self.layouts[name] == "cat" else idx

    def fuse_like(self, name: str, like: torch.Tensor, parts: Sequence[torch.Tensor | None], fill: float = 0.0) -> torch.Tensor:
        """A tensor laid out like fused ``like`` holding ``parts[i]`` in model ``i``'s slice (``fill`` where None)."""
        out = torch.full_like(like, fill)
        with torch.no_grad():
            for i, p in enumerate(parts):
                if p is not None:
                    self.slice(name, out, i).copy_(p)
        return out

    def tie(self, models: Sequence[nn.Module]) -> None:
        """Make every parameter and buffer of ``models[i]`` a view of model ``i``'s slice of the fused
        tensors, so the N modules always show the fused state (checkpoints, evaluation)."""
        if len(models) != self.n:
            raise ValueError(f"tie expects {self.n} models, got {len(models)}")
        for name, t in self.tensors().items():
            path, _, attr = name.rpartition(".")
            for i, m in enumerate(models):
                mod = m.get_submodule(path) if path else m
                v = self.slice(name, t.detach(), i)
                if attr in mod._parameters:
                    p = mod._parameters[attr]
                    if tuple(p.shape) != tuple(v.shape):
                        raise ValueError(f"cannot tie {name!r} of model {i}: shape {tuple(p.shape)} vs {tuple(v.shape)}")
                    p.data = v
                else:
                    mod._buffers[attr] = v

    def split(self, out: torch.Tensor) -> torch.Tensor:
        """Fused logits ``[B, N·K]`` as ``[B, N, K]``."""
        return out.reshape(out.shape[0], self.n, -1)


def stack_inputs(xs: Sequence[torch.Tensor]) -> torch.Tensor:
    """The N models' batches ``[B, C, …]`` stacked along channels: ``[B, N·C, …]``, model-major.

    Parameters
    ----------
    xs : sequence of torch.Tensor
        The N batches, each ``[B, C, …]``.

    Returns
    -------
    torch.Tensor
        ``[B, N·C, …]``.

    Examples
    --------
    >>> tuple(stack_inputs([torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)]).shape)
    (2, 6, 4, 4)
    """
    return torch.cat(list(xs), dim=1)


def fused_cross_entropy(out: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    """Per-model mean cross-entropy ``[N]`` of fused logits ``out`` ``[B, N·K]`` and labels ``y`` ``[B, N]``;
    the training loss is its sum, whose gradient w.r.t. model ``n``'s parameters is that of ``L_n`` alone.

    Parameters
    ----------
    out : torch.Tensor
        Fused logits ``[B, N·K]``.
    y : torch.Tensor
        Labels ``[B, N]`` (column ``n``: model ``n``'s batch).
    n : int
        The number of models ``N``.

    Returns
    -------
    torch.Tensor
        ``[N]`` mean losses (float32 at least).

    Examples
    --------
    >>> ce = fused_cross_entropy(torch.zeros(4, 2 * 3), torch.zeros(4, 2, dtype=torch.long), 2)
    >>> [round(v, 4) for v in ce.tolist()]      # uniform logits over 3 classes: log 3
    [1.0986, 1.0986]
    """
    B = out.shape[0]
    if y.shape != (B, n):
        raise ValueError(f"labels must have shape [B, N] = [{B}, {n}], got {tuple(y.shape)}")
    out = out.to(torch.promote_types(out.dtype, torch.float32))  # bf16 logits → fp32 (fp64 stays fp64)
    ce = F.cross_entropy(out.reshape(B * n, -1), y.reshape(B * n), reduction="none")
    return ce.view(B, n).mean(0)


def per_parameter_lr(fm: FusedModel, params: Sequence[torch.Tensor], lr: torch.Tensor) -> list[torch.Tensor]:
    """The per-model learning rates ``lr`` (``[N]``) broadcast to each fused parameter: a tensor of shape
    ``[rows, 1, …]`` with model ``n``'s rate on model ``n``'s rows (for :func:`masked_sgd_step`).

    Parameters
    ----------
    fm : FusedModel
        The fused network.
    params : sequence of torch.Tensor
        Fused parameters of ``fm``.
    lr : torch.Tensor
        ``[N]`` learning rates.

    Returns
    -------
    list of torch.Tensor
        One broadcastable rate tensor per parameter.

    Examples
    --------
    >>> fm = FusedModel([nn.Sequential(nn.Linear(4, 2)) for _ in range(2)])
    >>> w = fm.net[0].weight                                     # [N, out, in] ("stack" layout)
    >>> per_parameter_lr(fm, [w], torch.tensor([0.1, 0.2]))[0].flatten().tolist()
    [0.10000000149011612, 0.20000000298023224]
    """
    names = {id(p): k for k, p in fm.net.named_parameters()}
    out = []
    for p in params:
        idx = fm.model_index(names[id(p)], device=lr.device)
        out.append(lr.index_select(0, idx).view((p.shape[0],) + (1,) * (p.dim() - 1)))
    return out


