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

import copy
import time
from typing import Sequence

import torch
from torch import nn

from sketchbound.dnn.data import TensorDataset
from sketchbound.dnn.training.fused_conv_choice import choose_conv_gemm, cuda_sync, time_fwd_bwd
from sketchbound.dnn.training.fused_layers import (COMPILE_MODES, CONV_GEMM, FusedBatchNorm2d, FusedConv2d,
                                                   FusedLinear, architecture_key, check_compile_mode, check_conv_gemm,
                                                   effective_conv_block, grouped_conv2d_gemm, register_fusable)
from sketchbound.dnn.training.fused_model import FusedModel, fused_cross_entropy, per_parameter_lr, stack_inputs
from sketchbound.dnn.training.fused_trainer import FusedTrainer
from sketchbound.dnn.training.job import Schedule, TrainJob
from sketchbound.dnn.training.options import FUSION_CHOICES
from sketchbound.dnn.training.trainer import ConcurrentTrainer
from sketchbound.sampling import check_positive_int

__all__ = ["COMPILE_MODES", "FusedModel", "FusedConv2d", "FusedBatchNorm2d", "FusedLinear", "FusedTrainer", "architecture_key",
           "fused_cross_entropy", "per_parameter_lr", "register_fusable", "choose_fusion", "plan_fusion",
           "effective_conv_block", "check_compile_mode", "FUSION_CHOICES", "CONV_GEMM", "check_conv_gemm",
           "grouped_conv2d_gemm", "choose_conv_gemm", "time_fwd_bwd", "stack_inputs"]



# --------------------------------------------------------------------------------------------- choice
_CHOICE_CACHE: dict[tuple, dict] = {}


def _time_trainer(cls, models, masks, data, batch_size, device, steps, warmup, **trainer_kw) -> float:
    """Seconds per lockstep round of ``cls(..., **trainer_kw)`` on copies of ``models`` (steady state;
    construction, compilation and capture excluded)."""
    sched = Schedule(epochs=1, batch_size=batch_size, milestones=())
    jobs = [TrainJob(m, k, seed=i, name=f"choose{i}") for i, (m, k) in enumerate(zip(models, masks))]
    tr = cls(jobs, data, sched, device=device, progress=False, **trainer_kw)
    tr.run(max_steps=warmup)
    cuda_sync(device)
    t = time.perf_counter()
    tr.run(max_steps=warmup + steps)
    cuda_sync(device)
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

    Parameters
    ----------
    model : nn.Module
        A model of the architecture (copied, not changed).
    batch_size : int
        The training batch size.
    n : int
        The number of models trained together.
    device : torch.device or str
        Where they train.
    image_shape : sequence of int
        ``(channels, height, width)`` of the inputs.
    num_classes : int
        Classes of the synthetic labels.
    steps, warmup : int, default 20, 5
        Timed and untimed steps per trainer.
    fused_kw, common_kw : dict, optional
        Options of the fused trainer, and of both trainers.

    Returns
    -------
    dict
        ``{"trainer": "fused" | "streams", "reason": str}``, plus both timings when measured.

    Examples
    --------
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    >>> choose_fusion(net, batch_size=8, n=4, device="cpu", image_shape=(1, 2, 2), num_classes=2)["trainer"]
    'streams'
    """
    dev = torch.device(device)
    check_positive_int(n, name="n", floats=False)
    check_positive_int(batch_size, name="batch_size", floats=False)
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

    Parameters
    ----------
    models : sequence of nn.Module
        The jobs' models.
    batch_size : int
        The training batch size.
    device : torch.device or str
        Where they train.
    image_shape : sequence of int
        ``(channels, height, width)`` of the inputs.
    num_classes : int
        Classes of the synthetic labels (``"auto"`` timing).
    fusion : {"auto", "on", "off"}, default "auto"
        As above (:data:`FUSION_CHOICES`).
    fused_kw, common_kw : dict, optional
        Passed to :func:`choose_fusion`.

    Returns
    -------
    list of str
        ``"fused"`` or ``"streams"`` per model.

    Examples
    --------
    >>> models = [nn.Sequential(nn.Flatten(), nn.Linear(4, 2)) for _ in range(2)]
    >>> plan_fusion(models, batch_size=8, device="cpu", image_shape=(1, 2, 2), num_classes=2, fusion="on")
    ['fused', 'fused']
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
