"""The fused layers of horizontal fusion: N ``Conv2d`` / ``BatchNorm2d`` / ``Linear`` as one layer.

Which modules can be fused (:func:`architecture_key`, :func:`register_fusable`), the layers that hold the
N models' tensors (:class:`FusedConv2d`, :class:`FusedBatchNorm2d`, :class:`FusedLinear`), the GEMM form of
the grouped convolution (:func:`grouped_conv2d_gemm`) and the checks of the fused trainer's options. The
layout is described in :mod:`sketchbound.dnn.training.fused`.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sketchbound.dnn.training.options import COMPILE_MODES, CONV_GEMM, check_compile_mode, check_conv_gemm
from sketchbound.sampling import check_positive_int

# FusedLeaf (the layers' base class) and the option checks check_conv_block, check_gemm_with_block and
# check_max_fused serve the fused trainer's modules; they are importable but not part of the API
__all__ = ["COMPILE_MODES", "CONV_GEMM", "FusedConv2d", "FusedBatchNorm2d", "FusedLinear",
           "architecture_key", "register_fusable", "effective_conv_block", "check_compile_mode", "check_conv_gemm",
           "grouped_conv2d_gemm"]

# modules that act on each channel or element on its own and hold no state: used unchanged
_STATELESS: tuple[type, ...] = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity)
# containers whose forward only calls its children and channel-wise functions (relu, +, flatten(1))
_CONTAINERS: set[type] = {nn.Sequential}


def register_fusable(cls: type) -> type:
    """Declare a container module fusable: its ``forward`` may only call its children and per-channel
    functions (``F.relu``, residual ``+``, ``flatten(1)``, pooling). Exact type match: subclasses must be
    registered themselves (their ``forward`` may differ). Usable as a class decorator.

    Parameters
    ----------
    cls : type
        An ``nn.Module`` subclass without parameters or buffers of its own.

    Returns
    -------
    type
        ``cls`` itself (registered for this process).

    Examples
    --------
    >>> @register_fusable
    ... class Block(nn.Module):
    ...     def __init__(self):
    ...         super().__init__(); self.conv = nn.Conv2d(2, 2, 3, padding=1)
    ...     def forward(self, x):
    ...         return torch.relu(self.conv(x)) + x
    >>> len(architecture_key(Block()))
    2
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"register_fusable expects an nn.Module subclass, got {cls!r}")
    _CONTAINERS.add(cls)
    return cls


def _register_repo_models() -> None:
    from sketchbound.dnn.models import VGG, CifarResNet, ImageNetResNet, LeNet300100, WideResNet  # noqa: PLC0415
    from sketchbound.dnn.models.resnet import BasicBlock, Bottleneck  # noqa: PLC0415
    for cls in (VGG, CifarResNet, ImageNetResNet, LeNet300100, WideResNet, BasicBlock, Bottleneck):
        _CONTAINERS.add(cls)


_register_repo_models()


# --------------------------------------------------------------------------------------------- structure
def _module_entry(path: str, m: nn.Module) -> tuple:
    """One line of :func:`architecture_key`; ``ValueError`` for a module that cannot be fused."""
    where = path or "<root>"
    t = type(m)
    if m._forward_hooks or m._forward_pre_hooks:
        raise ValueError(f"module {where!r} ({t.__name__}) has forward hooks (e.g. torch.nn.utils.prune); "
                         f"horizontal fusion needs plain modules")
    own = [(n, tuple(p.shape), p.dtype, p.requires_grad) for n, p in m.named_parameters(recurse=False)]
    bufs = [(n, tuple(b.shape), b.dtype) for n, b in m.named_buffers(recurse=False)]
    if t is nn.Conv2d:
        if m.padding_mode != "zeros":
            raise ValueError(f"module {where!r}: Conv2d padding_mode must be 'zeros' for fusion, got {m.padding_mode!r}")
        hyper = (m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation, m.groups)
    elif t is nn.BatchNorm2d:
        if m.momentum is None:
            raise ValueError(f"module {where!r}: BatchNorm2d with momentum=None (cumulative average) cannot be "
                             f"fused; accepted: a float momentum")
        hyper = (m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
    elif t is nn.Linear:
        hyper = (m.in_features, m.out_features)
    elif t in _STATELESS:
        if t is nn.Flatten and (m.start_dim != 1 or m.end_dim != -1):
            raise ValueError(f"module {where!r}: Flatten must flatten dims 1..-1 for fusion, got "
                             f"start_dim={m.start_dim}, end_dim={m.end_dim}")
        if t is nn.MaxPool2d and m.return_indices:
            raise ValueError(f"module {where!r}: MaxPool2d(return_indices=True) cannot be fused")
        hyper = (m.extra_repr(),)
    elif t in _CONTAINERS:
        if own or bufs:
            raise ValueError(f"module {where!r} ({t.__name__}) holds parameters or buffers of its own "
                             f"({', '.join(n for n, *_ in own + bufs)}); only Conv2d/BatchNorm2d/Linear may")
        hyper = ()
    else:
        accepted = ", ".join(sorted({c.__name__ for c in (nn.Conv2d, nn.BatchNorm2d, nn.Linear, *_STATELESS,
                                                          *_CONTAINERS)}))
        raise ValueError(f"module {where!r} of type {t.__module__}.{t.__qualname__} cannot be horizontally fused; "
                         f"accepted: {accepted} (register a container whose forward only uses these with "
                         f"register_fusable)")
    return (path, t.__qualname__, hyper, tuple(own), tuple(bufs))


def architecture_key(model: nn.Module) -> tuple:
    """A hashable description of ``model``'s structure (module paths, types, hyperparameters, parameter
    and buffer shapes): models with equal keys can be fused. ``ValueError`` names the first module
    that cannot be fused (see the module docstring for what can).

    Parameters
    ----------
    model : nn.Module
        The network.

    Returns
    -------
    tuple
        One entry per module (``named_modules`` order).

    Examples
    --------
    >>> a, b = nn.Sequential(nn.Linear(4, 2)), nn.Sequential(nn.Linear(4, 2))
    >>> architecture_key(a) == architecture_key(b), architecture_key(a) == architecture_key(nn.Sequential(nn.Linear(4, 3)))
    (True, False)
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return tuple(_module_entry(p, m) for p, m in model.named_modules())


# --------------------------------------------------------------------------------------------- fused layers
class FusedLeaf(nn.Module):
    """A layer of N models; ``layouts[name]`` says how each tensor holds the N models: ``"cat"`` = the
    models' tensors concatenated along dim 0, ``"stack"`` = stacked along a new dim 0.

    Parameters
    ----------
    n : int
        The number of models.
    """

    layouts: dict[str, str] = {}

    def __init__(self, n: int):
        super().__init__()
        self.n = int(n)
        self.register_parameter("weight_copy", None)

    def attach_weight_copy(self, dtype: torch.dtype | None = None) -> nn.Parameter:
        """Make ``forward`` read ``weight_copy``, a copy of ``weight`` in ``dtype`` (default its own) with its
        memory format, instead of ``weight``: the gradient then arrives in the copy's ``.grad``, and whoever
        updates ``weight`` must update the copy (the Triton SGD kernel writes both,
        :class:`FusedTrainer` ``(weight_copies=True)``). Not part of :meth:`FusedModel.tensors` (no model has it)."""
        w = self.weight
        c = torch.empty_like(w, dtype=w.dtype if dtype is None else dtype)
        with torch.no_grad():
            c.copy_(w)
        self.weight_copy = nn.Parameter(c, requires_grad=True)
        return self.weight_copy

    def _weight(self) -> torch.Tensor:
        return self.weight if self.weight_copy is None else self.weight_copy


def _cat(ts, stack: bool = False):
    ts = [t.detach() for t in ts]
    return torch.stack(ts, 0).clone() if stack else torch.cat(ts, 0).clone()


def check_conv_block(conv_block) -> int:
    """``conv_block`` as an int; ``ValueError`` naming it unless it is a positive int (not a bool).

    Parameters
    ----------
    conv_block : int
        The requested block of the block-dense convolution.

    Returns
    -------
    int
        ``conv_block``.

    Examples
    --------
    >>> check_conv_block(4)
    4
    """
    try:
        return check_positive_int(conv_block, name="conv_block", floats=False)
    except ValueError as e:
        raise ValueError(f"{e}; accepted: 1 (one grouped convolution) or k > 1 (k consecutive groups, i.e. "
                         f"models for ungrouped convolutions, per dense block)") from None


def check_max_fused(max_fused) -> int | None:
    """``max_fused`` if it is ``None`` (no limit) or a positive int (not a bool), else ``ValueError`` naming it.

    Parameters
    ----------
    max_fused : int or None
        The most models fused into one network.

    Returns
    -------
    int or None
        ``max_fused``.

    Examples
    --------
    >>> check_max_fused(None), check_max_fused(8)
    (None, 8)
    """
    if max_fused is None:
        return None
    try:
        return check_positive_int(max_fused, name="max_fused", floats=False)
    except ValueError as e:
        raise ValueError(f"{e}; accepted: a positive integer or None (no limit)") from None


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def grouped_conv2d_gemm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                        stride=1, padding=0, groups: int = 1) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding, groups=groups)`` (dilation 1, zero padding) as one
    batched matrix product over unfolded patches, one batch entry per group.

    cuDNN runs some narrow grouped convolutions through per-group channel slicing (GPU measurements with
    ``benchmarks/scripts/grouped_conv_bench.py``: ResNet-20's stride-2 layers, VGG-19's first and widest ones),
    so this form builds the patches itself: with
    ``x`` viewed as ``[B, H, W, C]`` (free for channels_last), zero-padded, the ``kh·kw`` strided taps are
    stacked into ``cols[p, g, t·C_in/G + c]`` for output position ``p`` (``B·H_out·W_out`` of them), group
    ``g``, tap ``t = i·kw + j`` and input channel ``c`` of the group, and ``y[p, g, o] = Σ_k cols[p, g, k] ·
    W[g·C_out/G + o, c, i, j]`` is one ``bmm`` over the ``G`` groups. The weight is read as ``[o, kh, kw,
    c]`` (no copy when it is channels_last). The output is ``[B, C_out, H_out, W_out]`` in channels_last
    memory. Exact: the same sums as the convolution, in another order (tested against ``F.conv2d`` in
    float64, values and gradients). It costs ``kh·kw`` copies of the (strided) input as patches, so it
    pays only where cuDNN is slow (``benchmarks/RESULTS.md``: compiled, it wins on those
    layers and loses on the others).

    Parameters
    ----------
    x : torch.Tensor
        Input ``[B, C_in, H, W]``.
    weight : torch.Tensor
        ``[C_out, C_in/groups, kh, kw]``.
    bias : torch.Tensor, optional
        ``[C_out]``.
    stride, padding : int or (int, int)
        As ``F.conv2d`` (numeric padding only).
    groups : int, default 1
        As ``F.conv2d``.

    Returns
    -------
    torch.Tensor
        ``[B, C_out, H_out, W_out]`` in channels_last memory.

    Examples
    --------
    >>> import torch, torch.nn.functional as F
    >>> x, w = torch.randn(2, 4, 6, 6, dtype=torch.float64), torch.randn(8, 2, 3, 3, dtype=torch.float64)
    >>> y = grouped_conv2d_gemm(x, w, stride=2, padding=1, groups=2)
    >>> bool(torch.allclose(y, F.conv2d(x, w, stride=2, padding=1, groups=2)))
    True
    """
    B, C, H, W = x.shape
    G = int(groups)
    o, ci, kh, kw = weight.shape
    if C != G * ci or o % G:
        raise ValueError(f"grouped_conv2d_gemm: input channels {C} and weight shape {tuple(weight.shape)} do not "
                         f"fit groups={G}")
    co = o // G
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    ho, wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    xl = x.permute(0, 2, 3, 1)  # [B, H, W, C]
    if ph or pw:
        xl = F.pad(xl, (0, 0, pw, pw, ph, ph))
    taps = [xl[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :] for i in range(kh) for j in range(kw)]
    P = B * ho * wo
    if len(taps) == 1:
        cols = taps[0].reshape(P, G, ci)  # a copy only where the taps are strided
    else:
        cols = torch.stack([t.reshape(B, ho, wo, G, ci) for t in taps], dim=4).view(P, G, kh * kw * ci)
    wg = weight.permute(0, 2, 3, 1).reshape(G, co, kh * kw * ci)  # [g, o, (i, j, c)]
    y = torch.bmm(cols.transpose(0, 1), wg.transpose(1, 2))  # [G, P, co]
    y = y.transpose(0, 1).contiguous().view(B, ho, wo, G * co)
    if bias is not None:
        y = y + bias.to(y.dtype)
    return y.permute(0, 3, 1, 2)


def check_gemm_with_block(conv_gemm, conv_block) -> str:
    """``conv_gemm`` checked (:func:`check_conv_gemm`) and refused with ``conv_block`` > 1.

    Parameters
    ----------
    conv_gemm : str
        One of :data:`CONV_GEMM`.
    conv_block : int
        The requested block (the GEMM form needs 1).

    Returns
    -------
    str
        ``conv_gemm``.

    Examples
    --------
    >>> check_gemm_with_block("off", 4)
    'off'
    """
    check_conv_gemm(conv_gemm)
    if conv_gemm != "off" and conv_block != 1:
        raise ValueError(f"conv_gemm={conv_gemm!r} needs conv_block=1 (the GEMM form replaces the grouped "
                         f"convolution; block-dense is another form), got conv_block={conv_block!r}")
    return conv_gemm


def effective_conv_block(fused_groups: int, conv_block: int) -> int:
    """The block a :class:`FusedConv2d` with ``fused_groups = N·g`` groups uses for ``conv_block=k``: the
    largest divisor of ``N·g`` that is ≤ ``k`` (every dense block must hold the same number of groups).

    Parameters
    ----------
    fused_groups : int
        ``N·g``, the groups of the fused convolution.
    conv_block : int
        The requested block ``k``.

    Returns
    -------
    int
        The block used.

    Examples
    --------
    >>> [effective_conv_block(8, k) for k in (1, 2, 3, 4, 8, 16)]
    [1, 2, 2, 4, 8, 8]
    >>> effective_conv_block(6, 4), effective_conv_block(3, 2)
    (3, 1)
    """
    k = min(check_conv_block(conv_block), fused_groups)
    while fused_groups % k:
        k -= 1
    return k


class FusedConv2d(FusedLeaf):
    """N ``Conv2d`` as one grouped convolution: weight ``cat_n W_n``, ``groups = N·groups``.

    Block-dense form (``block=k > 1``): cuDNN's grouped-convolution path spends its time in
    layout transforms and channel slicing when the groups are narrow (16–64 channels per model), so
    ``k`` consecutive groups of the fused convolution share one *dense* group instead: ``groups =
    N·g/k`` and, built in ``forward`` from the stored weight, the block-diagonal weight
    ``[N·C_out, k·C_in/g, kh, kw]`` whose off-diagonal blocks are zeros. For ordinary convolutions
    (``g = 1``) a block is ``k`` consecutive models, and ``k = N`` is one dense convolution. For grouped
    originals (``g > 1``) the fused groups are model-major (model ``n``'s groups are ``n·g … n·g+g−1``) and a
    block is ``k`` consecutive fused groups (``k/g`` models when ``g | k``, part of one model's groups when
    ``k < g``); the block diagonal keeps every original group apart, so this is exact for any ``g``.
    ``k`` must divide ``N·g``: the block used (attribute ``block``) is :func:`effective_conv_block`, the
    largest divisor of ``N·g`` that is ≤ the requested one (so ``N = 3, k = 2`` runs as ``k = 1``).

    Cost: ``block``× the convolution FLOPs (forward and backward), a fraction ``1 − 1/block`` of them spent
    on the zeros. Exactness: the stored parameter is unchanged (``"cat"`` layout: tying, checkpoints, masks
    and optimiser see nothing new), a zero weight adds an exact zero to each output for finite activations,
    and autograd gives the stored weight only the diagonal blocks' gradients, so results equal ``block=1``
    up to floating-point order. A non-finite activation or gradient of one model, however, reaches the
    other models of its block (``0·inf = NaN``): ``block=1`` keeps a diverging model apart from the others,
    ``block > 1`` does not.

    GEMM form (``gemm=True``, block 1 only): the same grouped convolution as :func:`grouped_conv2d_gemm`,
    one batched matrix product over unfolded patches instead of cuDNN; same parameters, results equal up to
    floating-point order, and each group stays apart as in the grouped form.

    Parameters
    ----------
    convs : sequence of nn.Conv2d
        The N models' convolutions (same hyperparameters).
    block : int, default 1
        The requested block ``k`` (the one used is :func:`effective_conv_block`).
    gemm : bool, default False
        Run as :func:`grouped_conv2d_gemm`.

    Examples
    --------
    >>> convs = [nn.Conv2d(2, 3, 3, padding=1) for _ in range(2)]
    >>> f = FusedConv2d(convs)
    >>> x = torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4)
    >>> y = f(torch.cat(x, 1))
    >>> bool(torch.allclose(y[:, 3:], convs[1](x[1]), atol=1e-6)), f.groups
    (True, 2)
    """

    layouts = {"weight": "cat", "bias": "cat"}

    def __init__(self, convs: Sequence[nn.Conv2d], block: int = 1, gemm: bool = False):
        super().__init__(len(convs))
        c = convs[0]
        self.stride, self.padding, self.dilation = c.stride, c.padding, c.dilation
        self.groups = c.groups * self.n
        self.in_channels, self.out_channels = c.in_channels * self.n, c.out_channels * self.n
        self.block = effective_conv_block(self.groups, block)
        if gemm and not self.gemm_ok:
            raise ValueError(f"gemm=True needs block 1, numeric padding and dilation 1; got block={self.block}, "
                             f"padding={self.padding!r}, dilation={self.dilation!r}")
        self.gemm = bool(gemm)
        self.weight = nn.Parameter(_cat([m.weight for m in convs]), requires_grad=c.weight.requires_grad)
        if c.bias is not None:
            self.bias = nn.Parameter(_cat([m.bias for m in convs]), requires_grad=c.bias.requires_grad)
        else:
            self.register_parameter("bias", None)
        if self.block > 1:  # 2-D (memory_format leaves it alone), follows .to(device/dtype), not in state_dict
            self.register_buffer("block_eye", torch.eye(self.block, dtype=c.weight.dtype, device=c.weight.device),
                                 persistent=False)

    @property
    def gemm_ok(self) -> bool:
        """Whether this convolution can run in the GEMM form: block 1, numeric padding, dilation 1."""
        return self.block == 1 and not isinstance(self.padding, str) and tuple(self.dilation) == (1, 1)

    def extra_repr(self) -> str:
        return f"n={self.n}, groups={self.groups}, block={self.block}" + (", gemm" if self.gemm else "")

    def block_weight(self) -> torch.Tensor:
        """The weight of the convolution that ``forward`` runs: the stored one for ``block=1``, else the
        block-diagonal ``[N·C_out, block·C_in/g, kh, kw]`` (differentiable; same memory format as the
        stored weight, contiguous or channels_last, without a copy beyond the product itself)."""
        w, k = self._weight(), self.block
        if k == 1:
            return w
        o, i, kh, kw = w.shape  # o = N·C_out rows, i = C_in/g
        nb, og = self.groups // k, o // self.groups  # dense blocks; output rows per fused group
        eye = self.block_eye
        if not w.is_contiguous() and w.is_contiguous(memory_format=torch.channels_last):
            # [o, kh, kw, i] is contiguous: build [nb, k, og, kh, kw, k, i] and permute back (channels_last)
            v = w.permute(0, 2, 3, 1).reshape(nb, k, og, kh, kw, 1, i)
            b = v * eye.view(1, k, 1, 1, 1, k, 1)
            return b.reshape(o, kh, kw, k * i).permute(0, 3, 1, 2)
        v = w.reshape(nb, k, og, 1, i, kh, kw)  # splits dim 0 only
        return (v * eye.view(1, k, 1, k, 1, 1, 1)).reshape(o, k * i, kh, kw)

    def forward(self, x):
        if self.gemm:
            return grouped_conv2d_gemm(x, self._weight(), self.bias, self.stride, self.padding, self.groups)
        return F.conv2d(x, self.block_weight(), self.bias, self.stride, self.padding, self.dilation,
                        self.groups // self.block)


class FusedBatchNorm2d(FusedLeaf):
    """N ``BatchNorm2d(C)`` as one over ``N·C`` channels (statistics are per channel, hence per model);
    ``num_batches_tracked`` has one entry per model. Same semantics as :class:`torch.nn.BatchNorm2d`.

    Parameters
    ----------
    bns : sequence of nn.BatchNorm2d
        The N models' BatchNorm layers (same hyperparameters).

    Examples
    --------
    >>> f = FusedBatchNorm2d([nn.BatchNorm2d(3), nn.BatchNorm2d(3)])
    >>> f.num_features, tuple(f.num_batches_tracked.shape)
    (6, (2,))
    """

    layouts = {"weight": "cat", "bias": "cat", "running_mean": "cat", "running_var": "cat",
               "num_batches_tracked": "stack"}

    def __init__(self, bns: Sequence[nn.BatchNorm2d]):
        super().__init__(len(bns))
        b = bns[0]
        self.num_features = b.num_features * self.n
        self.eps, self.momentum = b.eps, b.momentum
        self.affine, self.track_running_stats = b.affine, b.track_running_stats
        if b.affine:
            self.weight = nn.Parameter(_cat([m.weight for m in bns]), requires_grad=b.weight.requires_grad)
            self.bias = nn.Parameter(_cat([m.bias for m in bns]), requires_grad=b.bias.requires_grad)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if b.track_running_stats:
            self.register_buffer("running_mean", _cat([m.running_mean for m in bns]))
            self.register_buffer("running_var", _cat([m.running_var for m in bns]))
            self.register_buffer("num_batches_tracked", _cat([m.num_batches_tracked for m in bns], stack=True))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f"expected a 4-D input to a fused BatchNorm2d, got shape {tuple(x.shape)}")
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_stats = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if use_stats else None, self.running_var if use_stats else None,
                            self.weight, self.bias, bn_training, self.momentum, self.eps)


class FusedLinear(FusedLeaf):
    """N ``Linear(in, out)`` as one batched matmul: ``y[b, n] = W_n x[b, n] + b_n``, weight ``[N, out, in]``.
    Input ``[B, N·in]`` (model-major), output ``[B, N·out]``.

    Parameters
    ----------
    lins : sequence of nn.Linear
        The N models' linear layers (same shapes).

    Examples
    --------
    >>> lins = [nn.Linear(4, 2) for _ in range(3)]
    >>> x = torch.randn(5, 3, 4)
    >>> y = FusedLinear(lins)(x.reshape(5, 12))
    >>> bool(torch.allclose(y.reshape(5, 3, 2)[:, 1], lins[1](x[:, 1]), atol=1e-6))
    True
    """

    layouts = {"weight": "stack", "bias": "stack"}

    def __init__(self, lins: Sequence[nn.Linear]):
        super().__init__(len(lins))
        m0 = lins[0]
        self.in_features, self.out_features = m0.in_features, m0.out_features
        self.weight = nn.Parameter(_cat([m.weight for m in lins], stack=True), requires_grad=m0.weight.requires_grad)
        if m0.bias is not None:
            self.bias = nn.Parameter(_cat([m.bias for m in lins], stack=True), requires_grad=m0.bias.requires_grad)
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        B = x.shape[0]
        if x.dim() != 2 or x.shape[1] != self.n * self.in_features:
            raise ValueError(f"fused Linear expects input [B, {self.n}·{self.in_features}], got {tuple(x.shape)}")
        h = x.reshape(B, self.n, self.in_features).transpose(0, 1)  # [N, B, in]
        wt = self._weight().transpose(1, 2)  # [N, in, out]
        y = torch.bmm(h, wt) if self.bias is None else torch.baddbmm(self.bias.unsqueeze(1), h, wt)
        return y.transpose(0, 1).reshape(B, self.n * self.out_features)
