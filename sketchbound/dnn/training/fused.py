"""Horizontal fusion: N masked models of one architecture trained as one wider network.

This is the idea of HFTA (Wang, Yang, Pekhimenko et al., "Horizontally Fused Training Array: An
Effective Hardware Utilization Squeezer for Training Novel Deep Learning Models", MLSys 2021): the
small convolutions of ResNet-20 or VGG-19 at batch 128 cannot fill a GPU, so the step is bound by
kernel launches; N models trained *as one network* launch one kernel per
layer for all of them.

Layout
------
Activations of the N models are stacked along channels, model-major: fused channel ``n·C + c`` is
channel ``c`` of model ``n``; the input is the models' own batches, ``x = [x_0 | x_1 | … | x_{N−1}]`` of
shape ``[B, N·C, H, W]`` (each model keeps its own data order and augmentation seed).

* ``Conv2d(C_in, C_out, k, groups=g)`` → one convolution ``N·C_in → N·C_out`` with ``groups = N·g`` and
  weight ``cat_n W_n`` (``[N·C_out, C_in/g, k, k]``): group ``j`` of a grouped convolution sees only
  input channels ``j·C_in/g …`` and writes only its own outputs, and model ``n``'s groups are
  ``n·g … n·g+g−1``, so ``y_n = conv(x_n, W_n)`` exactly;
* ``BatchNorm2d(C)`` → BatchNorm over ``N·C`` channels (batch statistics, affine parameters and running
  statistics are all per channel, hence per model); ``num_batches_tracked`` is kept per model;
* ``Linear(in, out)`` → ``y[b, n] = W_n x[b, n] + b_n``, one batched matmul with weight ``[N, out, in]``;
  ``flatten(1)`` of ``[B, N·C, h, w]`` is ``[B, N·(C·h·w)]`` in model-major order, which is what the
  fused linear reads as ``[B, N, C·h·w]``;
* ReLU, max/average pooling, residual additions, ``Flatten``/``Identity``/``Sequential`` act on each
  channel (or element) on its own, so they are used unchanged.

Block-dense convolutions (``conv_block=k``, :class:`FusedConv2d`): for narrow groups (16–64 channels per
model) cuDNN's grouped-convolution path spends its time in layout transforms and channel slicing (a GPU
profile of the fused step: 4% of the card's FLOP/s). With ``k > 1``, ``k`` consecutive models share one
*dense* group of a block-diagonal convolution: ``groups = N·g/k``, weight ``[N·C_out, k·C_in/g, kh, kw]``
built in ``forward`` from the stored ``cat_n W_n`` with zeros between models (``k = N``: one dense
convolution). It costs ``k``× the convolution FLOPs; the zeros contribute exact zeros, so results equal
``k = 1`` up to floating-point order, and the stored parameters (hence tying, checkpoints, masks and the
optimiser) do not change. Unlike ``k = 1`` it does not keep a diverging model's inf/NaN from its block.

Loss and gradients: ``L = Σ_n L_n`` with ``L_n`` model ``n``'s mean cross-entropy over its batch;
``θ_n`` enters only ``L_n``, so ``∂L/∂θ_n = ∂L_n/∂θ_n``: one backward pass gives every model the
gradient of its own separate step. The optimiser is :func:`~sketchbound.dnn.training.masked_sgd_step`
(mask the gradient, weight decay, momentum, step, re-mask the weight) on the fused tensors, and a
fused mask that is the models' masks in the same layout (ones where a model has no mask) — so pruned
weights stay exactly zero and momentum stays per model. The jobs of one fused group are at the same
step of one schedule, so :class:`FusedTrainer` multiplies by one shared 0-d learning rate (checked
every epoch); :func:`per_parameter_lr` broadcasts distinct per-model rates over each model's rows where
they differ. Results equal N separate steps up to floating-point
order (tested on CPU).

The N original modules are *tied* to the fused tensors (:meth:`FusedModel.tie`: each model's
parameters and buffers become views of its slice), so a job's model always shows its current
weights: checkpoints are the very files of :class:`~sketchbound.dnn.training.ConcurrentTrainer`
(a run can resume fused or unfused; the checkpoint's conditions record ``fusion``, so a change is
flagged in ``TrainResult.resume_note``), and evaluation runs on each model as before.

:class:`FusedTrainer` has the interface and semantics of ``ConcurrentTrainer``; on CUDA the fused
step (batch gather, normalisation, forward under bf16 autocast in channels_last, backward, masked
SGD) of all N models is one CUDA graph. :func:`choose_fusion` picks fusion or streams for a (model,
batch, N, device) by measuring a few steps of each.
"""
from __future__ import annotations

import contextlib
import copy
import itertools
import time
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sketchbound.dnn.data import TensorDataset
from sketchbound.dnn.training.sgd_kernel import check_weight_copies
from sketchbound.dnn.training.trainer import (ConcurrentTrainer, Schedule, TrainJob, _JobState,
                                              _normalize, capture_step, masked_update,
                                              replay_or_run)

__all__ = ["COMPILE_MODES", "FusedModel", "FusedConv2d", "FusedBatchNorm2d", "FusedLinear", "FusedTrainer", "architecture_key",
           "fused_cross_entropy", "per_parameter_lr", "register_fusable", "choose_fusion", "plan_fusion",
           "effective_conv_block", "check_compile_mode", "FUSION_CHOICES", "CONV_GEMM", "check_conv_gemm",
           "grouped_conv2d_gemm", "choose_conv_gemm", "time_fwd_bwd"]

#: values of the ``fusion`` option of the table runner
FUSION_CHOICES = ("auto", "on", "off")

#: ``torch.compile`` modes accepted by ``FusedTrainer(compile_mode=...)``: the ones without Inductor's own
#: CUDA graphs, since the trainer captures the whole step (forward, backward, optimiser) in its own graph
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs")

#: which fused convolutions run as one batched GEMM over unfolded patches (:func:`grouped_conv2d_gemm`)
#: instead of cuDNN's grouped convolution: none, those with a stride > 1, all, or those where the GEMM form
#: measures faster (:func:`choose_conv_gemm`)
CONV_GEMM = ("off", "strided", "all", "auto")

# modules that act on each channel or element on its own and hold no state: used unchanged
_STATELESS: tuple[type, ...] = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity)
# containers whose forward only calls its children and channel-wise functions (relu, +, flatten(1))
_CONTAINERS: set[type] = {nn.Sequential}


def register_fusable(cls: type) -> type:
    """Declare a container module fusable: its ``forward`` may only call its children and per-channel
    functions (``F.relu``, residual ``+``, ``flatten(1)``, pooling). Exact type match: subclasses must be
    registered themselves (their ``forward`` may differ). Usable as a class decorator."""
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
    that cannot be fused (see the module docstring for what can)."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return tuple(_module_entry(p, m) for p, m in model.named_modules())


# --------------------------------------------------------------------------------------------- fused layers
class _FusedLeaf(nn.Module):
    """A layer of N models; ``layouts[name]`` says how each tensor holds the N models: ``"cat"`` = the
    models' tensors concatenated along dim 0, ``"stack"`` = stacked along a new dim 0."""

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


def _positive_int(name: str, value, accepted: str = "") -> int:
    """``value`` if it is a positive int (not a bool), else ``ValueError`` naming ``name``, the value and
    ``accepted`` (the rest of "must be a positive int…")."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int{accepted}, got {value!r}")
    return value


def _check_conv_block(conv_block) -> int:
    """``conv_block`` as an int; ``ValueError`` naming it unless it is a positive int (not a bool)."""
    return _positive_int("conv_block", conv_block, " (1: one grouped convolution; k > 1: k consecutive groups, "
                                                   "i.e. models for ungrouped convolutions, per dense block)")


def check_compile_mode(mode, name: str = "compile_mode"):
    """``mode`` if it is ``None`` (eager) or one of :data:`COMPILE_MODES`, else a ``ValueError`` naming
    ``name`` (an argument or a CLI flag), the value and the accepted modes."""
    if mode is not None and mode not in COMPILE_MODES:
        raise ValueError(f"{name} must be None (eager) or one of {', '.join(COMPILE_MODES)}, got {mode!r}")
    return mode


def check_conv_gemm(conv_gemm, name: str = "conv_gemm") -> str:
    """``conv_gemm`` if it is one of :data:`CONV_GEMM`, else a ``ValueError`` naming ``name``, the value and
    the accepted ones."""
    if conv_gemm not in CONV_GEMM:
        raise ValueError(f"{name} must be one of {', '.join(CONV_GEMM)}, got {conv_gemm!r}")
    return conv_gemm


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def grouped_conv2d_gemm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                        stride=1, padding=0, groups: int = 1) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding, groups=groups)`` (dilation 1, zero padding) as one
    batched matrix product over unfolded patches, one batch entry per group.

    cuDNN runs some narrow grouped convolutions through per-group channel slicing (GPU measurements with
    ``dnn/scripts/grouped_conv_bench.py``: ResNet-20's stride-2 layers, VGG-19's first and widest ones),
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


def _check_gemm_with_block(conv_gemm, conv_block) -> str:
    """``conv_gemm`` checked (:func:`check_conv_gemm`) and refused with ``conv_block`` > 1."""
    check_conv_gemm(conv_gemm)
    if conv_gemm != "off" and conv_block != 1:
        raise ValueError(f"conv_gemm={conv_gemm!r} needs conv_block=1 (the GEMM form replaces the grouped "
                         f"convolution; block-dense is another form), got conv_block={conv_block!r}")
    return conv_gemm


def effective_conv_block(fused_groups: int, conv_block: int) -> int:
    """The block a :class:`FusedConv2d` with ``fused_groups = N·g`` groups uses for ``conv_block=k``: the
    largest divisor of ``N·g`` that is ≤ ``k`` (every dense block must hold the same number of groups).

    >>> [effective_conv_block(8, k) for k in (1, 2, 3, 4, 8, 16)]
    [1, 2, 2, 4, 8, 8]
    >>> effective_conv_block(6, 4), effective_conv_block(3, 2)
    (3, 1)
    """
    k = min(_check_conv_block(conv_block), fused_groups)
    while fused_groups % k:
        k -= 1
    return k


class FusedConv2d(_FusedLeaf):
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


class FusedBatchNorm2d(_FusedLeaf):
    """N ``BatchNorm2d(C)`` as one over ``N·C`` channels (statistics are per channel, hence per model);
    ``num_batches_tracked`` has one entry per model. Same semantics as :class:`torch.nn.BatchNorm2d`."""

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


class FusedLinear(_FusedLeaf):
    """N ``Linear(in, out)`` as one batched matmul: ``y[b, n] = W_n x[b, n] + b_n``, weight ``[N, out, in]``.
    Input ``[B, N·in]`` (model-major), output ``[B, N·out]``."""

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


_FUSERS: dict[type, type] = {nn.Conv2d: FusedConv2d, nn.BatchNorm2d: FusedBatchNorm2d, nn.Linear: FusedLinear}


def _set_submodule(root: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, attr = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, attr, new)


class FusedModel(nn.Module):
    """N models of one architecture as one network (see the module docstring for the layout).

    Parameters
    ----------
    models : the N models (equal :func:`architecture_key`); their current values are copied.
    conv_block : every ``Conv2d`` as a :class:`FusedConv2d` with ``block=conv_block`` (default 1: one
        grouped convolution; ``k > 1``: block-dense, ``k`` consecutive models per dense block, see there).
    conv_gemm : one of :data:`CONV_GEMM`: which fused convolutions run as one batched GEMM over unfolded
        patches (:func:`grouped_conv2d_gemm`): ``"off"`` (default) none, ``"strided"`` those with a stride
        > 1, ``"all"`` all; ``"auto"`` none until :func:`choose_conv_gemm` decides per convolution (the
        trainer does, at the batch's shape). Needs ``conv_block=1``.

    The fused tensors have the names of the models' own (``net.state_dict()`` keys equal each model's);
    :meth:`slice` gives model ``i``'s part of a fused tensor, :meth:`tie` makes the models' tensors
    views of their parts.
    """

    def __init__(self, models: Sequence[nn.Module], conv_block: int = 1, conv_gemm: str = "off"):
        super().__init__()
        models = list(models)
        if not models:
            raise ValueError("models must be a non-empty sequence of nn.Module")
        self.conv_block = _check_conv_block(conv_block)
        self.conv_gemm = _check_gemm_with_block(conv_gemm, conv_block)
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
            if isinstance(mod, _FusedLeaf):
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
    """The N models' batches ``[B, C, …]`` stacked along channels: ``[B, N·C, …]``, model-major."""
    return torch.cat(list(xs), dim=1)


def fused_cross_entropy(out: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    """Per-model mean cross-entropy ``[N]`` of fused logits ``out`` ``[B, N·K]`` and labels ``y`` ``[B, N]``;
    the training loss is its sum, whose gradient w.r.t. model ``n``'s parameters is that of ``L_n`` alone."""
    B = out.shape[0]
    if y.shape != (B, n):
        raise ValueError(f"labels must have shape [B, N] = [{B}, {n}], got {tuple(y.shape)}")
    out = out.to(torch.promote_types(out.dtype, torch.float32))  # bf16 logits → fp32 (fp64 stays fp64)
    ce = F.cross_entropy(out.reshape(B * n, -1), y.reshape(B * n), reduction="none")
    return ce.view(B, n).mean(0)


def per_parameter_lr(fm: FusedModel, params: Sequence[torch.Tensor], lr: torch.Tensor) -> list[torch.Tensor]:
    """The per-model learning rates ``lr`` (``[N]``) broadcast to each fused parameter: a tensor of shape
    ``[rows, 1, …]`` with model ``n``'s rate on model ``n``'s rows (for :func:`masked_sgd_step`)."""
    names = {id(p): k for k, p in fm.net.named_parameters()}
    out = []
    for p in params:
        idx = fm.model_index(names[id(p)], device=lr.device)
        out.append(lr.index_select(0, idx).view((p.shape[0],) + (1,) * (p.dim() - 1)))
    return out


# --------------------------------------------------------------------------------------------- trainer
class _Cohort:
    """Jobs of one architecture at the same global step, trained as one :class:`FusedModel`.

    Duck-types the parts of a job state that the lockstep loop uses (``pos``, ``global_step``,
    ``begin_epoch``, ``run_step``, ``graph``); per-job bookkeeping (epoch, history, checkpoint,
    generator, evaluation) stays in each job's :class:`_JobState`, whose tensors become views of the
    cohort's fused ones.
    """

    def __init__(self, states: Sequence[_JobState], tr: "FusedTrainer"):
        self.states, self.tr = list(states), tr
        self.n = N = len(self.states)
        dev = tr.device
        models = [st.model for st in self.states]
        fm = FusedModel(models, conv_block=tr.conv_block, conv_gemm=tr.conv_gemm).to(dev)
        if tr.channels_last:
            fm = fm.to(memory_format=torch.channels_last)
        fm.train()
        self.fused = fm
        self.gemm_choice = None  # conv_gemm="auto": per convolution, which form measured faster
        if tr.conv_gemm == "auto":
            shape = tuple(tr.data.x_train.shape[1:])
            self.gemm_choice = choose_conv_gemm(fm, (tr.schedule.batch_size, N * shape[0]) + shape[1:],
                                                compile_mode=tr.compile_mode, amp=tr.amp,
                                                channels_last=tr.channels_last)
        # the forward (and, through AOTAutograd, the backward) as Inductor kernels: batch norm, ReLU and the
        # residual additions fused into few kernels; compiled at the first step (capture's warm-up on CUDA)
        self.forward = fm if tr.compile_mode is None else torch.compile(fm, mode=tr.compile_mode, dynamic=False)
        self.params = [p for p in fm.parameters() if p.requires_grad]
        names = {id(p): k for k, p in fm.net.named_parameters()}
        per_model = [dict(st.model.named_parameters()) for st in self.states]
        buf_of = [{id(p): b for p, b in zip(st.params, st.bufs)} for st in self.states]
        mask_of = [{id(p): j for j, p in enumerate(st.masked_params)} for st in self.states]
        with torch.no_grad():
            # momentum: each job's buffers (restored from its checkpoint when resuming), in the fused layout
            self.bufs = [fm.fuse_like(names[id(p)], p, [buf_of[i][id(per_model[i][names[id(p)]])] for i in range(N)])
                         for p in self.params]
            self.masked_params, self.masks = [], []
            for p in self.params:
                k = names[id(p)]
                js = [mask_of[i].get(id(per_model[i][k])) for i in range(N)]
                if all(j is None for j in js):
                    continue
                m = fm.fuse_like(k, p, [None if j is None else self.states[i].masks[j] for i, j in enumerate(js)], 1.0)
                self.masked_params.append(p)
                self.masks.append(m)
                for i, j in enumerate(js):  # the job's mask: a view of its slice
                    if j is not None:
                        self.states[i].masks[j] = fm.slice(k, m, i)
            for i, st in enumerate(self.states):
                pos = {id(p): j for j, p in enumerate(st.params)}
                for p, b in zip(self.params, self.bufs):
                    st.bufs[pos[id(per_model[i][names[id(p)]])]] = fm.slice(names[id(p)], b, i)
        fm.tie(models)
        # weight_copies: the convolutions and linears read a copy of their weight in the forward's precision
        # (bfloat16 under autocast), which the Triton SGD kernel writes with the update: no cast of every
        # weight per step, nor of its gradient. The copies are fm parameters outside self.params.
        self.copy_of: dict[int, nn.Parameter] = {}
        if tr.weight_copies:
            for mod in fm.modules():
                if isinstance(mod, (FusedConv2d, FusedLinear)) and mod.weight.requires_grad:
                    self.copy_of[id(mod.weight)] = mod.attach_weight_copy(torch.bfloat16 if tr.amp else None)
        self.copies = [self.copy_of.get(id(p)) for p in self.params]
        self.grad_leaves = [self.copy_of.get(id(p), p) for p in self.params]
        self.lr = torch.zeros(N, dtype=torch.float32, device=dev)  # per job (its state's view), as unfused
        # the jobs of a group are at the same step of one schedule, so they share the learning rate: the
        # step multiplies by one 0-d tensor (the foreach fast path; a per-parameter [C, 1, ...] lr would cost
        # one extra kernel per parameter). begin_epoch checks that the jobs' rates agree.
        self.lr_step = torch.zeros((), dtype=torch.float32, device=dev)
        self.step = torch.zeros((), dtype=torch.int64, device=dev)
        self.loss_sum = torch.zeros(N, dtype=torch.float32, device=dev)
        self.correct = torch.zeros(N, dtype=torch.int64, device=dev)
        x, y = tr.data.x_train, tr.data.y_train
        # the N epoch buffers interleaved, [n_train, N, C, H, W]: one gather gives the fused batch
        self.ex = torch.empty((x.shape[0], N) + tuple(x.shape[1:]), dtype=x.dtype, device=dev)
        self.ey = torch.empty((y.shape[0], N), dtype=y.dtype, device=dev)
        self.stream = torch.cuda.Stream(device=dev) if tr.cuda_graphs else None
        for i, st in enumerate(self.states):
            st.lr, st.step = self.lr[i], self.step
            st.loss_sum, st.correct = self.loss_sum[i], self.correct[i]
            st.ex, st.ey = self.ex[:, i], self.ey[:, i]
            st.stream = self.stream
        self.arange_b = torch.arange(tr.schedule.batch_size, device=dev)
        self.mean_t = tr.mean_t.repeat(1, N, 1, 1)
        self.std_t = tr.std_t.repeat(1, N, 1, 1)
        self.graph = None

    @property
    def pos(self) -> int:
        return self.states[0].pos

    @property
    def global_step(self) -> int:
        return self.states[0].global_step

    def _ctx(self):
        return torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext()

    def begin_epoch(self) -> None:
        for st in self.states:
            st.begin_epoch()  # learning rate, augmentation into the views, counters
        rates = {self.tr.schedule.lr_at(st.epoch) for st in self.states}
        if len(rates) != 1:  # cannot happen for jobs at the same step of one schedule; never train silently wrong
            raise RuntimeError(f"fused jobs at different learning rates {sorted(rates)}: they must be at the same step")
        with self._ctx(), torch.no_grad():
            self.lr_step.fill_(rates.pop())
            for p, c in zip(self.params, self.copies):  # equal already unless a weight was set from outside
                if c is not None:
                    c.copy_(p)

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The fused batch of the current step: ``x`` ``[B, N·C, H, W]`` normalised, ``y`` ``[B, N]``."""
        tr = self.tr
        B = tr.schedule.batch_size
        idx = self.arange_b + self.step * B
        xb = self.ex.index_select(0, idx)  # [B, N, C, H, W]
        y = self.ey.index_select(0, idx)  # [B, N]
        x = _normalize(xb.reshape((B, -1) + tuple(xb.shape[3:])), self.mean_t, self.std_t)
        if tr.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def _step_body(self) -> None:
        tr = self.tr
        x, y = self.batch()
        with torch.autocast(tr.device.type, dtype=torch.bfloat16, enabled=tr.amp, cache_enabled=False):
            out = self.forward(x)
        per = fused_cross_entropy(out, y, self.n)
        per.sum().backward()
        masked_update(self.params, self.bufs, self.lr_step, tr.schedule, self.masked_params, self.masks, tr.sgd_kernel,
                      self.grad_leaves, self.copies if self.copy_of else None)
        with torch.no_grad():
            self.loss_sum.add_(per.detach())
            self.correct.add_((self.fused.split(out.detach()).argmax(2) == y).sum(0))
            self.step.add_(1)

    def _capture(self) -> None:
        self.graph = capture_step(self._step_body, self.fused, [*self.bufs, self.step, self.loss_sum, self.correct],
                                  self.grad_leaves, self.stream, self.tr.device, before_warmup=self.step.zero_)

    def run_step(self) -> None:
        replay_or_run(self.graph, self.stream, self.grad_leaves, self._step_body)
        for st in self.states:
            st.pos += 1


class FusedTrainer(ConcurrentTrainer):
    """:class:`~sketchbound.dnn.training.ConcurrentTrainer` with horizontal fusion: the jobs of one
    architecture that are at the same step (normally all of them) train as one :class:`FusedModel`.

    Same parameters, :class:`~sketchbound.dnn.training.TrainJob` s, results, checkpoint files and
    resume semantics as ``ConcurrentTrainer`` (a fused run resumed after a kill is bit-identical on
    CPU; checkpoints record ``"fusion": "horizontal"`` among their conditions, so resuming a run with
    the other trainer is flagged in ``resume_note``). On CUDA each fused group's whole step is one CUDA
    graph (groups of different architectures run on their own streams); on CPU it runs eagerly.
    ``max_fused=W`` splits each group into cohorts of at most ``W`` models, each fused on its own stream
    and graph (a hybrid of fusion and streams; each model's arithmetic is the same either way).
    ``conv_block=k`` runs each cohort's convolutions block-dense, ``k`` consecutive models per dense block
    of one block-diagonal convolution (:class:`FusedConv2d`: ``k``× the convolution FLOPs, results equal up
    to floating-point order; a cohort of ``n`` models uses the largest divisor of ``n`` that is ≤ ``k``).
    ``conv_gemm`` (one of :data:`CONV_GEMM`; default ``"off"``) runs the strided (``"strided"``), all
    (``"all"``) or the measured-faster (``"auto"``, :func:`choose_conv_gemm`, timed once per cohort on CUDA
    in the trainer's precision and compile mode; on CPU none) fused convolutions as one batched GEMM over
    unfolded patches (:func:`grouped_conv2d_gemm`) instead of cuDNN's grouped convolution; results equal
    up to floating-point order.
    ``compile_mode`` (one of :data:`COMPILE_MODES`; default ``None``: eager) runs each cohort's fused
    forward and backward through ``torch.compile`` (Inductor), compiled once at the first step; the
    loss and the masked SGD step stay as they are, and on CUDA the trainer's own graph captures the
    compiled kernels. One step equals the eager one up to floating-point order (Inductor reorders batch
    norm's reductions); over many steps the two trajectories drift apart as reordered arithmetic does.
    ``weight_copies=True`` (needs ``sgd_kernel="triton"``) makes the fused convolutions and linears read a
    copy of their weight in the forward's precision (bfloat16 under ``amp``) that the SGD kernel writes as it
    updates the float32 weight (:meth:`_FusedLeaf.attach_weight_copy`): the per-step cast of every weight
    and of its gradient go away, and the arithmetic is the same (autocast rounds the weight to bfloat16 the
    same way; the weight gradient is computed in bfloat16 either way).
    ``ValueError`` when a model cannot be fused (see :func:`architecture_key`).
    """

    checkpoint_conditions = {"fusion": "horizontal"}

    def __init__(self, jobs: Sequence[TrainJob], data: TensorDataset, schedule: Schedule, *,
                 max_fused: int | None = None, conv_block: int = 1, conv_gemm: str = "off",
                 compile_mode: str | None = None, weight_copies: bool = False, **kw):
        self.weight_copies = check_weight_copies(weight_copies, kw.get("sgd_kernel", "foreach"))
        if max_fused is not None:
            _positive_int("max_fused", max_fused, " or None (no limit)")
        _check_conv_block(conv_block)
        self.conv_gemm = _check_gemm_with_block(conv_gemm, conv_block)
        self.compile_mode = check_compile_mode(compile_mode)
        super().__init__(jobs, data, schedule, **kw)
        groups: dict[tuple, list[_JobState]] = {}
        for st in self.states:
            groups.setdefault((architecture_key(st.model), st.global_step), []).append(st)
        self.max_fused = max_fused
        self.conv_block = conv_block
        self.cohorts = [_Cohort(g[i:i + (max_fused or len(g))], self)
                        for g in groups.values() for i in range(0, len(g), max_fused or len(g))]

    _bar_suffix = " fused"

    def _units(self) -> list:
        """The fused cohorts: :meth:`ConcurrentTrainer.run <sketchbound.dnn.training.ConcurrentTrainer.run>`
        steps each cohort (all its jobs at once) where it steps a job."""
        return self.cohorts


# --------------------------------------------------------------------------------------------- choice
_CHOICE_CACHE: dict[tuple, dict] = {}
_GEMM_CACHE: dict[tuple, dict] = {}


def time_fwd_bwd(f, x, w, iters: int, warmup: int) -> float:
    """Milliseconds per forward + backward of ``f(x, w)`` (cotangent of ones) after ``warmup`` untimed
    passes, synchronised on CUDA (used by :func:`choose_conv_gemm` and ``dnn/scripts/grouped_conv_bench.py``)."""
    def once():
        y = f(x, w)
        y.backward(torch.ones_like(y))
    for _ in range(warmup):
        once()
    _sync(x.device)
    t = time.perf_counter()
    for _ in range(iters):
        once()
    _sync(x.device)
    return (time.perf_counter() - t) / iters * 1e3


def choose_conv_gemm(fm: "FusedModel", input_shape: Sequence[int], *, compile_mode: str | None = None,
                     amp: bool = True, channels_last: bool = True, iters: int = 10, warmup: int = 3,
                     margin: float = 0.05, timer=None) -> dict[str, dict]:
    """Per fused convolution of ``fm``, the faster of cuDNN's grouped convolution and the GEMM form
    (:func:`grouped_conv2d_gemm`), by measurement; sets each :class:`FusedConv2d`'s ``gemm`` and returns
    ``{path: {"gemm": bool, "cudnn_ms", "gemm_ms"}}``.

    Each convolution's input shape comes from one forward of ``fm`` in eval mode (no running statistics
    change) on zeros of ``input_shape`` (the fused batch, ``[B, N·C, H, W]``). Per distinct shape both forms
    run forward + backward on random data in the trainer's precision (bf16 with ``amp``) and layout, through
    ``torch.compile`` in ``compile_mode`` when it is given (the two forms compare differently compiled and
    eager: ``benchmarks/RESULTS.md``); the GEMM form is chosen when it is faster by more
    than ``margin``. Decisions are cached per shape, precision, mode and card in this process. Off the GPU
    nothing is timed and every convolution stays cuDNN's (``"reason"`` says so), so CPU runs are
    deterministic. Needs ``conv_block=1``. ``timer(f, x, w)`` (milliseconds per forward + backward of
    ``f(x, w)``; default: CUDA-synchronised wall time) replaces the clock, e.g. in tests.
    """
    convs = {p: m for p, m in fm.net.named_modules() if isinstance(m, FusedConv2d)}
    dev = next(fm.parameters()).device
    if dev.type != "cuda" and timer is None:
        for m in convs.values():
            m.gemm = False
        return {p: {"gemm": False, "reason": "not on CUDA: nothing timed, cuDNN's form kept"} for p in convs}
    if any(m.block != 1 for m in convs.values()):
        raise ValueError("choose_conv_gemm needs conv_block=1 (every fused convolution grouped)")
    shapes: dict[str, tuple] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, inp, p=p: shapes.__setitem__(p, tuple(inp[0].shape)))
             for p, m in convs.items()]
    was = fm.training
    try:
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            fm.eval()(torch.zeros(tuple(input_shape), device=dev).contiguous(memory_format=fmt))
    finally:
        fm.train(was)
        for h in hooks:
            h.remove()
    dtype = torch.bfloat16 if amp else torch.float32
    out = {}
    for p, m in convs.items():
        if not m.gemm_ok:  # dilated or string-padded: the GEMM form does not compute it
            m.gemm = False
            out[p] = {"gemm": False, "reason": "the GEMM form needs numeric padding and dilation 1"}
            continue
        key = (shapes[p], tuple(m.weight.shape), tuple(m.stride), tuple(m.padding), m.groups, str(dtype),
               compile_mode, channels_last, torch.cuda.get_device_name(dev) if dev.type == "cuda" else str(dev))
        if timer is not None or key not in _GEMM_CACHE:
            x = torch.randn(shapes[p], device=dev, dtype=dtype).contiguous(memory_format=fmt).requires_grad_()
            w = torch.randn(m.weight.shape, device=dev, dtype=dtype).contiguous(memory_format=fmt).requires_grad_()
            forms = {"cudnn": lambda x, w, m=m: F.conv2d(x, w, None, m.stride, m.padding, m.dilation, m.groups),
                     "gemm": lambda x, w, m=m: grouped_conv2d_gemm(x, w, None, m.stride, m.padding, m.groups)}
            ms = {}
            # compiled: one compilation per shape and form of the same two lambdas, past dynamo's default limit
            with torch._dynamo.config.patch(recompile_limit=1024) if compile_mode else contextlib.nullcontext():
                for name, f in forms.items():
                    g = f if compile_mode is None else torch.compile(f, mode=compile_mode, dynamic=False)
                    ms[name] = time_fwd_bwd(g, x, w, iters, warmup) if timer is None else float(timer(g, x, w))
            decision = {"gemm": ms["gemm"] < (1 - margin) * ms["cudnn"], "cudnn_ms": round(ms["cudnn"], 4),
                        "gemm_ms": round(ms["gemm"], 4)}
            if timer is not None:
                out[p] = decision
                m.gemm = decision["gemm"]
                continue
            _GEMM_CACHE[key] = decision
        out[p] = dict(_GEMM_CACHE[key])
        m.gemm = out[p]["gemm"]
    return out


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _time_trainer(cls, models, masks, data, batch_size, device, steps, warmup, **trainer_kw) -> float:
    """Seconds per lockstep round of ``cls(..., **trainer_kw)`` on copies of ``models`` (steady state;
    construction, compilation and capture excluded)."""
    sched = Schedule(epochs=1, batch_size=batch_size, milestones=())
    jobs = [TrainJob(m, k, seed=i, name=f"choose{i}") for i, (m, k) in enumerate(zip(models, masks))]
    tr = cls(jobs, data, sched, device=device, progress=False, **trainer_kw)
    tr.run(max_steps=warmup)
    _sync(device)
    t = time.perf_counter()
    tr.run(max_steps=warmup + steps)
    _sync(device)
    return (time.perf_counter() - t) / steps


def choose_fusion(model: nn.Module, *, batch_size: int, n: int, device, image_shape: Sequence[int],
                  num_classes: int, steps: int = 20, warmup: int = 5, fused_kw: dict | None = None,
                  common_kw: dict | None = None) -> dict:
    """Fusion or streams for ``n`` copies of ``model``'s architecture at ``batch_size`` on ``device``.

    Returns ``{"trainer": "fused" | "streams", "reason": str, "fused_s", "streams_s"}``. On CUDA both
    trainers are timed for ``steps`` steps (after ``warmup`` steps and the graph capture) on copies of
    ``model`` with random masks and synthetic data of ``image_shape``; the fused one as it would run,
    built with ``fused_kw`` (e.g. ``{"compile_mode": "default", "conv_gemm": "strided"}``; its compilation
    is not timed); ``common_kw`` go to both trainers (e.g. ``{"sgd_kernel": "triton"}``). The decision is
    cached per (architecture, batch, n, device, image shape, ``fused_kw``, ``common_kw``) in this process. On CPU the answer is the
    deterministic default ``"streams"`` (the unfused trainer, whose bits every recorded CPU run has);
    for ``n < 2`` or a model that cannot be fused it is ``"streams"`` too.
    """
    dev = torch.device(device)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    try:
        arch = architecture_key(model)
    except ValueError as e:
        return {"trainer": "streams", "reason": f"not fusable: {e}"}
    if dev.type != "cuda":
        return {"trainer": "streams", "reason": "CPU default (unfused, bit-compatible with earlier CPU runs)"}
    if n < 2:
        return {"trainer": "streams", "reason": "a single model"}
    fused_kw = dict(fused_kw or {})
    common_kw = dict(common_kw or {})
    key = (arch, batch_size, n, str(dev), tuple(image_shape), int(num_classes), tuple(sorted(fused_kw.items())),
           tuple(sorted(common_kw.items())))
    if key in _CHOICE_CACHE:
        return _CHOICE_CACHE[key]
    from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
    g = torch.Generator().manual_seed(0)
    size = batch_size * (steps + warmup + 1)
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (channels, height, width), got {tuple(image_shape)!r}")
    c, h, w = (int(v) for v in image_shape)
    x = torch.randint(0, 256, (size, c, h, w), dtype=torch.uint8, generator=g)
    y = torch.randint(0, int(num_classes), (size,), generator=g)
    data = TensorDataset("choose", x, y, x[:batch_size], y[:batch_size], int(num_classes), (0.5,) * c, (0.25,) * c)
    base = copy.deepcopy(model).cpu()
    times = {}
    for name, cls in (("streams", ConcurrentTrainer), ("fused", FusedTrainer)):
        models = [copy.deepcopy(base) for _ in range(n)]
        masks = [{k: (torch.rand(p.shape, generator=g) < 0.1).float() for k, p in prunable_parameters(m)} for m in models]
        times[name] = _time_trainer(cls, models, masks, data, batch_size, dev, steps, warmup,
                                    **common_kw, **(fused_kw if cls is FusedTrainer else {}))
        del models, masks
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    pick = "fused" if times["fused"] < times["streams"] else "streams"
    how = "".join(f", {k}={v}" for k, v in sorted({**common_kw, **fused_kw}.items()))
    out = {"trainer": pick, "reason": f"measured {steps} steps: fused{f' ({how[2:]})' if how else ''} "
                                      f"{1e3 * times['fused']:.3f} ms, streams {1e3 * times['streams']:.3f} ms per "
                                      f"round of {n}",
           "fused_s": times["fused"], "streams_s": times["streams"]}
    _CHOICE_CACHE[key] = out
    return out


def plan_fusion(models: Sequence[nn.Module], *, batch_size: int, device, image_shape: Sequence[int],
                num_classes: int, fusion: str = "auto", fused_kw: dict | None = None,
                common_kw: dict | None = None) -> list[str]:
    """``"fused"`` or ``"streams"`` for each of ``models`` (the jobs of one trainer group).

    ``fusion="off"``: all streams; ``"on"``: all fused (``ValueError`` if a model cannot be fused);
    ``"auto"``: per architecture, :func:`choose_fusion` for the number of models that share it, timing
    the fused trainer built with ``fused_kw`` (the options it will train with) and both with ``common_kw``.
    """
    if fusion not in FUSION_CHOICES:
        raise ValueError(f"fusion must be one of {FUSION_CHOICES}, got {fusion!r}")
    if fusion == "off":
        return ["streams"] * len(models)
    if fusion == "on":
        for m in models:
            architecture_key(m)
        return ["fused"] * len(models)
    groups: dict = {}
    keys = []
    for m in models:
        try:
            k = architecture_key(m)
        except ValueError:
            k = ("unfusable", id(m))
        keys.append(k)
        groups.setdefault(k, []).append(m)
    pick = {k: choose_fusion(ms[0], batch_size=batch_size, n=len(ms), device=device, image_shape=image_shape,
                             num_classes=num_classes, fused_kw=fused_kw, common_kw=common_kw)["trainer"]
            for k, ms in groups.items()}
    return [pick[k] for k in keys]
