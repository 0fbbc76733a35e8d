"""Which form each fused convolution runs in: cuDNN's grouped convolution or one batched GEMM, by measurement."""
from __future__ import annotations

import contextlib
import time
from typing import Sequence

import torch
import torch.nn.functional as F

from sketchbound.dnn.training.fused_layers import FusedConv2d, grouped_conv2d_gemm

__all__ = ["choose_conv_gemm", "time_fwd_bwd", "cuda_sync"]  # cuda_sync: also the fusion choice's clock

_GEMM_CACHE: dict[tuple, dict] = {}


def time_fwd_bwd(f, x, w, iters: int, warmup: int) -> float:
    """Milliseconds per forward + backward of ``f(x, w)`` (cotangent of ones) after ``warmup`` untimed
    passes, synchronised on CUDA (used by :func:`choose_conv_gemm` and ``benchmarks/scripts/grouped_conv_bench.py``).

    Parameters
    ----------
    f : callable
        ``f(x, w) -> y``, differentiable in ``x`` and ``w``.
    x, w : torch.Tensor
        Its inputs; the backward pass needs ``requires_grad`` on at least one of them.
    iters : int
        Timed passes.
    warmup : int
        Untimed passes first.

    Returns
    -------
    float
        Milliseconds per forward + backward.

    Examples
    --------
    >>> x, w = torch.randn(1, 2, 4, 4, requires_grad=True), torch.randn(2, 2, 3, 3, requires_grad=True)
    >>> time_fwd_bwd(lambda x, w: F.conv2d(x, w, padding=1), x, w, iters=1, warmup=0) > 0
    True
    """
    def once():
        y = f(x, w)
        y.backward(torch.ones_like(y))
    for _ in range(warmup):
        once()
    cuda_sync(x.device)
    t = time.perf_counter()
    for _ in range(iters):
        once()
    cuda_sync(x.device)
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

    Parameters
    ----------
    fm : FusedModel
        The fused network (``conv_block=1``); its convolutions' ``gemm`` flags are set.
    input_shape : sequence of int
        The fused batch's shape ``[B, N·C, H, W]``.
    compile_mode : str, optional
        Time both forms through ``torch.compile`` in this mode.
    amp : bool, default True
        Time in bfloat16.
    channels_last : bool, default True
        Time in channels_last memory.
    iters, warmup : int, default 10, 3
        Timed and untimed passes per form.
    margin : float, default 0.05
        The GEMM form must be faster by more than this fraction.
    timer : callable, optional
        Replaces the clock (above).

    Returns
    -------
    dict of str to dict
        Per convolution path: ``{"gemm": bool, ...}`` with the timings or the reason.

    Examples
    --------
    >>> from torch import nn
    >>> from sketchbound.dnn.training.fused_model import FusedModel
    >>> fm = FusedModel([nn.Sequential(nn.Conv2d(1, 2, 3)) for _ in range(2)])
    >>> choose_conv_gemm(fm, (1, 2, 5, 5))["0"]["gemm"]        # off the GPU nothing is timed
    False
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


def cuda_sync(dev: torch.device) -> None:
    """Wait for the work queued on ``dev`` when it is a CUDA device (nothing to wait for otherwise).

    Parameters
    ----------
    dev : torch.device
        The device.

    Returns
    -------
    None

    Examples
    --------
    >>> cuda_sync(torch.device("cpu"))
    """
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)

