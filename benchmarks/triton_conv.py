"""Grouped convolution as implicit-GEMM Triton kernels, tried for the fused trainer's narrow groups.

Benchmark-only: the trainer does not use it (see the measurement below); it lives outside the installed
package and is imported by ``benchmarks/scripts/grouped_conv_bench.py`` and ``benchmarks/scripts/gpu_checks.py``.

cuDNN's grouped convolution is the largest part of the fused step (``benchmarks/RESULTS.md``): for groups of 16–64 channels it launches layout transforms and per-group
channel slicing, and the unfolded-patch GEMM form (:func:`~sketchbound.dnn.training.fused.grouped_conv2d_gemm`)
pays ``kh·kw`` copies of the input. These kernels read the input in place (NHWC, i.e. channels_last) and
compute, for each group ``g``, output position ``p = (b, oh, ow)`` and output channel ``o``,

    y[p, g, o] = Σ_{i, j, c} x[b, oh·s_h − p_h + i, ow·s_w − p_w + j, g, c] · W[g, o, c, i, j]

as ``kh·kw`` accumulated tile products (``tl.dot``, float32 accumulation) with zero padding done by
masked loads — the implicit GEMM of a convolution, one program per (tile of positions, tile of output
channels, group). The backward pass:

* input gradient, stride 1: ``dx = conv(dy, W')`` with ``W'[g, c, o, i, j] = W[g, o, c, kh−1−i, kw−1−j]``
  and padding ``kh−1−p_h`` — the same kernel (the transposed convolution of stride 1 is a convolution);
  for stride > 1 it is :func:`torch.nn.grad.conv2d_input` (cuDNN);
* weight gradient: ``dW[g, o, c, i, j] = Σ_p dy[p, g, o] · x[tap (i, j) of p, g, c]``, a reduction over
  all ``B·H_out·W_out`` positions split into ``S`` chunks whose float32 partial sums are added in a fixed
  order (deterministic: same input ⇒ same bits).

:func:`grouped_conv2d_triton` is a ``torch.library`` custom operator with its autograd formula, so
``torch.compile`` keeps it as one opaque call and a CUDA graph captures its launches. It needs Triton
and, outside Triton's interpreter (``TRITON_INTERPRET=1``, which runs the same kernels on the CPU and is
how the tests check them; Triton reads it when it is imported), a CUDA tensor. Exact: the same sums as
``F.conv2d`` in another order.

Measured (``benchmarks/RESULTS.md``, one H100): 1.9–3.1× slower than cuDNN on
ResNet-20's 3×3 stride-1 layers at 64 models, and slower on VGG-19's stride-1 layers, so the fused trainer
does not use it; ``benchmarks/scripts/grouped_conv_bench.py --forms cudnn,gemm,triton`` times it per layer.
"""
from __future__ import annotations

import functools

import torch

from sketchbound.dnn.training.triton_support import interpret, triton_available, triton_unavailable_reason

__all__ = ["grouped_conv2d_triton"]


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


@functools.lru_cache(maxsize=None)
def _kernels():
    import triton
    import triton.language as tl

    def configs(m, n, k, rows):
        """Autotuning configurations ``(BLOCK_m, BLOCK_n, BLOCK_k, warps, stages)``; one small one under the
        interpreter (tiles of 16, the least ``tl.dot`` takes)."""
        if interpret():
            return [triton.Config({m: 32, n: 16, k: 16})]
        return [triton.Config({m: a, n: b, k: c}, num_warps=w, num_stages=st) for a, b, c, w, st in rows]

    def pruner(c_in_block, c_out_block):
        """Drop configurations whose channel tiles exceed the channels (rounded up to a power of 2, ≥ 16)."""
        def prune(cfgs, named_args, **kw):
            args = {**named_args, **kw}  # the channel counts are constexpr keyword arguments
            keep = [c for c in cfgs if c.kwargs[c_in_block] <= max(16, triton.next_power_of_2(args["CIN"]))
                    and c.kwargs[c_out_block] <= max(16, triton.next_power_of_2(args["COUT"]))]
            return keep or cfgs[:1]
        return prune

    fwd_configs = configs("BLOCK_M", "BLOCK_N", "BLOCK_K",
                          [(128, 16, 16, 4, 3), (256, 16, 16, 4, 3), (64, 16, 16, 2, 3), (128, 32, 32, 4, 3),
                           (256, 32, 32, 8, 3), (128, 64, 32, 4, 3), (128, 64, 64, 4, 3), (256, 64, 64, 8, 3),
                           (128, 128, 64, 8, 3)])

    @triton.autotune(configs=fwd_configs, key=["B", "H", "W", "HO", "WO", "CIN", "COUT", "G", "KH", "KW", "SH", "SW"],
                     prune_configs_by={"early_config_prune": pruner("BLOCK_K", "BLOCK_N")})
    @triton.jit
    def conv_fwd(x_ptr, w_ptr, y_ptr, B, H, W, HO, WO, G, PH, PW,
                 sxb, sxh, sxw, sxc, syb, syh, syw, syc, CIN: tl.constexpr, COUT: tl.constexpr,
                 KH: tl.constexpr, KW: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr, PREC: tl.constexpr,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
        # x: [B, H, W, G·CIN] (any strides), w: [G, KH, KW, CIN, COUT] contiguous, y: [B, HO, WO, G·COUT]
        # one 1-D grid, the group fastest: programs that run together read neighbouring channel segments
        # of the same pixels (a group's channels are 2·CIN bytes of each pixel's row), so DRAM lines are
        # read whole once instead of a 32-byte sector per group at a time
        pid = tl.program_id(0)
        g = pid % G
        rest = pid // G
        n_n = (COUT + BLOCK_N - 1) // BLOCK_N  # (tl.cdiv is a jit function: not callable by the interpreter unless it was on at import)
        pid_n = rest % n_n
        pid_m = rest // n_n
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        M = B * HO * WO
        m_ok = offs_m < M
        b = offs_m // (HO * WO)
        r = offs_m % (HO * WO)
        oh = r // WO
        ow = r % WO
        n_ok = offs_n < COUT
        # float32 accumulation (float64 for float64 operands: the exact-arithmetic tests)
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float64 if y_ptr.dtype.element_ty == tl.float64 else tl.float32)
        for i in tl.static_range(KH):
            ih = oh * SH - PH + i
            for j in tl.static_range(KW):
                iw = ow * SW - PW + j
                ok = m_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
                base = b.to(tl.int64) * sxb + ih * sxh + iw * sxw + g * CIN * sxc
                wbase = ((g * KH + i) * KW + j) * CIN * COUT
                for c0 in range(0, CIN, BLOCK_K):
                    offs_k = c0 + tl.arange(0, BLOCK_K)
                    k_ok = offs_k < CIN
                    a = tl.load(x_ptr + base[:, None] + offs_k[None, :] * sxc, mask=ok[:, None] & k_ok[None, :],
                                other=0.0)
                    wt = tl.load(w_ptr + wbase + offs_k[:, None] * COUT + offs_n[None, :],
                                 mask=k_ok[:, None] & n_ok[None, :], other=0.0)
                    acc += tl.dot(a, wt, input_precision=PREC)
        yb = b.to(tl.int64) * syb + oh * syh + ow * syw
        tl.store(y_ptr + yb[:, None] + (g * COUT + offs_n)[None, :] * syc, acc.to(y_ptr.dtype.element_ty),
                 mask=m_ok[:, None] & n_ok[None, :])

    wgt_configs = configs("BLOCK_M", "BLOCK_O", "BLOCK_C",
                          [(64, 16, 16, 2, 4), (128, 16, 16, 4, 4), (256, 16, 16, 4, 3), (64, 32, 32, 4, 4),
                           (128, 32, 32, 4, 3), (64, 64, 64, 4, 3), (128, 64, 64, 8, 3)])

    @triton.autotune(configs=wgt_configs, key=["B", "H", "W", "HO", "WO", "CIN", "COUT", "G", "KH", "KW", "SH", "SW",
                                                "CHUNK"],
                     prune_configs_by={"early_config_prune": pruner("BLOCK_C", "BLOCK_O")})
    @triton.jit
    def conv_wgt(x_ptr, dy_ptr, p_ptr, B, H, W, HO, WO, G, PH, PW,
                 sxb, sxh, sxw, sxc, syb, syh, syw, syc, CIN: tl.constexpr, COUT: tl.constexpr,
                 CHUNK: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr, PREC: tl.constexpr,
                 BLOCK_M: tl.constexpr, BLOCK_O: tl.constexpr, BLOCK_C: tl.constexpr):
        # partial sums p: [S, G, KH, KW, COUT, CIN] float32; program (o·c tile, g·KH·KW + tap, split s)
        # 1-D grid, tap fastest, then group, then channel tiles, then the chunk of positions: programs that
        # run together read the same positions (the 9 taps of the same data, neighbouring groups)
        pid = tl.program_id(0)
        t = pid % (KH * KW)
        rest = pid // (KH * KW)
        g = rest % G
        rest = rest // G
        n_c = (CIN + BLOCK_C - 1) // BLOCK_C
        n_o = (COUT + BLOCK_O - 1) // BLOCK_O
        pc = rest % n_c
        rest = rest // n_c
        po = rest % n_o
        s = rest // n_o
        i = t // KW
        j = t % KW
        offs_o = po * BLOCK_O + tl.arange(0, BLOCK_O)
        offs_c = pc * BLOCK_C + tl.arange(0, BLOCK_C)
        o_ok = offs_o < COUT
        c_ok = offs_c < CIN
        M = B * HO * WO
        acc = tl.zeros((BLOCK_O, BLOCK_C), dtype=p_ptr.dtype.element_ty)
        for m0 in range(0, CHUNK, BLOCK_M):
            offs_m = s * CHUNK + m0 + tl.arange(0, BLOCK_M)
            m_ok = (offs_m < M) & (m0 + tl.arange(0, BLOCK_M) < CHUNK)
            b = offs_m // (HO * WO)
            r = offs_m % (HO * WO)
            oh = r // WO
            ow = r % WO
            ih = oh * SH - PH + i
            iw = ow * SW - PW + j
            ok = m_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            dyb = b.to(tl.int64) * syb + oh * syh + ow * syw
            d = tl.load(dy_ptr + dyb[:, None] + (g * COUT + offs_o)[None, :] * syc, mask=m_ok[:, None] & o_ok[None, :],
                        other=0.0)
            xb = b.to(tl.int64) * sxb + ih * sxh + iw * sxw
            a = tl.load(x_ptr + xb[:, None] + (g * CIN + offs_c)[None, :] * sxc, mask=ok[:, None] & c_ok[None, :],
                        other=0.0)
            acc += tl.dot(tl.trans(d), a, input_precision=PREC)
        pb = ((((s * G + g) * KH + i) * KW + j) * COUT).to(tl.int64) * CIN
        tl.store(p_ptr + pb + offs_o[:, None] * CIN + offs_c[None, :], acc, mask=o_ok[:, None] & c_ok[None, :])

    return triton, conv_fwd, conv_wgt


def _precision(dtype: torch.dtype) -> str:
    """``tl.dot``'s input precision: float32 products as TF32 where cuDNN's convolutions use TF32
    (``torch.backends.cudnn.allow_tf32``, PyTorch's default), else exact ("ieee"); bf16/fp16 are exact."""
    return "tf32" if dtype == torch.float32 and torch.backends.cudnn.allow_tf32 else "ieee"


def _nhwc(t: torch.Tensor):
    """Strides of ``t`` ``[B, C, H, W]`` as (b, h, w, c): the kernels index any layout."""
    sb, sc, sh, sw = t.stride()
    return sb, sh, sw, sc


def _fwd(x: torch.Tensor, wp: torch.Tensor, stride: tuple, padding: tuple) -> torch.Tensor:
    """``y = conv(x, W)`` from the packed weight ``wp`` ``[G, kh, kw, C_in/G, C_out/G]`` (the groups and channels
    are its shape); ``y`` channels_last."""
    triton, conv_fwd, _ = _kernels()
    B, C, H, W = x.shape
    G, kh, kw, ci, co = wp.shape
    (sh, sw), (ph, pw) = stride, padding
    ho, wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y = torch.empty((B, G * co, ho, wo), dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    M = B * ho * wo
    grid = lambda meta: (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(co, meta["BLOCK_N"]) * G,)
    conv_fwd[grid](x, wp, y, B, H, W, ho, wo, G, ph, pw, *_nhwc(x), *_nhwc(y), CIN=ci, COUT=co,
                   KH=kh, KW=kw, SH=sh, SW=sw, PREC=_precision(x.dtype))
    return y


#: smallest chunk of positions per weight-gradient program (tests lower it to reach several chunks)
MIN_CHUNK = 1024


def _splits(M: int, tiles: int) -> int:
    """Chunks of the weight gradient's reduction over ``M`` positions: enough programs (about 8192 with
    ``tiles`` programs per chunk) to keep every SM busy, each chunk at least :data:`MIN_CHUNK` positions."""
    want = max(1, -(-8192 // max(1, tiles)))
    return max(1, min(want, M // MIN_CHUNK or 1))


def _wgt(x: torch.Tensor, dy: torch.Tensor, groups: int, kh: int, kw: int, stride: tuple, padding: tuple,
         gb: int = 1) -> torch.Tensor:
    """``dW`` ``[G·C_out/G, C_in/G, kh, kw]`` float32 (float64 for float64 input), deterministic (a
    fixed-order sum of the chunks). With ``gb > 1`` the kernel runs over ``G/gb`` blocks of ``gb`` groups
    (whole blocks of channels per program) and the diagonal blocks of each block's product are kept."""
    triton, _, conv_wgt = _kernels()
    B, C, H, W = x.shape
    _, c_out, ho, wo = dy.shape
    G = groups // gb
    ci, co = C // G, c_out // G
    (sh, sw), (ph, pw) = stride, padding
    M = B * ho * wo
    S = _splits(M, G * kh * kw)
    chunk = -(-M // S)
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    p = torch.empty((S, G, kh, kw, co, ci), dtype=acc, device=x.device)
    grid = lambda meta: (triton.cdiv(co, meta["BLOCK_O"]) * triton.cdiv(ci, meta["BLOCK_C"]) * G * kh * kw * S,)
    conv_wgt[grid](x, dy, p, B, H, W, ho, wo, G, ph, pw, *_nhwc(x), *_nhwc(dy), CIN=ci, COUT=co,
                   CHUNK=chunk, KH=kh, KW=kw, SH=sh, SW=sw, PREC=_precision(x.dtype))
    dw = p.sum(0) if S > 1 else p[0]  # [G, kh, kw, co, ci] (G blocks of gb·co × gb·ci)
    if gb > 1:
        a, b = co // gb, ci // gb
        dw = torch.diagonal(dw.view(G, kh, kw, gb, a, gb, b), dim1=3, dim2=5)  # [G, kh, kw, a, b, gb]
        dw = dw.permute(0, 5, 1, 2, 3, 4).reshape(G * gb, kh, kw, a, b)
        co, ci = a, b
    return dw.permute(0, 3, 4, 1, 2).reshape(groups * co, ci, kh, kw)


def _pack(w: torch.Tensor, groups: int) -> torch.Tensor:
    """``[G·C_out, C_in/G, kh, kw]`` → ``[G, kh, kw, C_in/G, C_out]`` contiguous."""
    o, ci, kh, kw = w.shape
    return w.view(groups, o // groups, ci, kh, kw).permute(0, 3, 4, 2, 1).contiguous()


def _pack_transposed(w: torch.Tensor, groups: int) -> torch.Tensor:
    """The packed weight of the input gradient's convolution (stride 1): ``W'[g, c, o, i, j] = W[g, o, c,
    kh−1−i, kw−1−j]`` as ``[G, kh, kw, C_out/G, C_in/G]``."""
    o, ci, kh, kw = w.shape
    return w.view(groups, o // groups, ci, kh, kw).flip(3, 4).permute(0, 3, 4, 1, 2).contiguous()


def _block_diagonal(wp: torch.Tensor, gb: int) -> torch.Tensor:
    """Packed ``[G, kh, kw, a, b]`` → ``[G/gb, kh, kw, gb·a, gb·b]``: each block of ``gb`` consecutive groups
    as one group whose weight is block-diagonal (zeros between the groups), so one program reads a whole
    block's channels of a pixel at once. Exact for finite activations (a zero weight adds an exact zero);
    like ``FusedConv2d``'s block-dense form, an inf/NaN of one group reaches the others of its block."""
    if gb == 1:
        return wp
    G, kh, kw, a, b = wp.shape
    v = wp.view(G // gb, gb, kh, kw, a, b).permute(0, 2, 3, 1, 4, 5)  # [G', kh, kw, gb, a, b]
    eye = torch.eye(gb, dtype=wp.dtype, device=wp.device)
    return torch.einsum("gijrab,rs->gijrasb", v, eye).reshape(G // gb, kh, kw, gb * a, gb * b).contiguous()


@torch.library.custom_op("sketchbound::grouped_conv2d_triton", mutates_args=())
def _op(x: torch.Tensor, weight: torch.Tensor, stride: list[int], padding: list[int], groups: int,
        gb: int) -> torch.Tensor:
    return _fwd(x, _block_diagonal(_pack(weight, groups), gb), tuple(stride), tuple(padding))


@_op.register_fake
def _(x, weight, stride, padding, groups, gb):
    B, C, H, W = x.shape
    o, ci, kh, kw = weight.shape
    ho, wo = (H + 2 * padding[0] - kh) // stride[0] + 1, (W + 2 * padding[1] - kw) // stride[1] + 1
    return x.new_empty((B, o, ho, wo)).contiguous(memory_format=torch.channels_last)


@torch.library.custom_op("sketchbound::grouped_conv2d_triton_backward", mutates_args=())
def _op_bwd(dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, stride: list[int], padding: list[int],
            groups: int, gb: int, need_x: bool, need_w: bool) -> tuple[torch.Tensor, torch.Tensor]:
    o, ci, kh, kw = weight.shape
    if need_x:
        if tuple(stride) == (1, 1) and padding[0] <= kh - 1 and padding[1] <= kw - 1:
            dx = _fwd(dy, _block_diagonal(_pack_transposed(weight, groups), gb), (1, 1),
                      (kh - 1 - padding[0], kw - 1 - padding[1]))
        else:
            dx = torch.nn.grad.conv2d_input(x.shape, weight, dy, stride=tuple(stride), padding=tuple(padding),
                                            groups=groups).contiguous(memory_format=torch.channels_last)
    else:
        dx = x.new_empty((0,))
    dw = _wgt(x, dy, groups, kh, kw, tuple(stride), tuple(padding), gb).to(weight.dtype) if need_w else weight.new_empty((0,))
    return dx, dw


@_op_bwd.register_fake
def _(dy, x, weight, stride, padding, groups, gb, need_x, need_w):
    dx = torch.empty_like(x, memory_format=torch.channels_last) if need_x else x.new_empty((0,))
    return dx, (torch.empty_like(weight) if need_w else weight.new_empty((0,)))


def _setup(ctx, inputs, output):
    x, weight, stride, padding, groups, gb = inputs
    ctx.save_for_backward(x, weight)
    ctx.conf = (list(stride), list(padding), int(groups), int(gb))


def _backward(ctx, dy):
    x, weight = ctx.saved_tensors
    stride, padding, groups, gb = ctx.conf
    nx, nw = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    dx, dw = _op_bwd(dy.contiguous(memory_format=torch.channels_last), x, weight, stride, padding, groups, gb, nx, nw)
    return (dx if nx else None), (dw if nw else None), None, None, None, None


_op.register_autograd(_backward, setup_context=_setup)


def grouped_conv2d_triton(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                          stride=1, padding=0, groups: int = 1, group_block: int = 1) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding, groups=groups)`` (dilation 1, zero padding) by the
    implicit-GEMM Triton kernels of this module; output channels_last, in ``x``'s dtype (under CUDA
    autocast both operands are cast to its dtype first, as autocast does for ``F.conv2d``).

    ``group_block=k`` (a divisor of ``groups``) runs each block of ``k`` consecutive groups as one group with
    a block-diagonal weight (:func:`_block_diagonal`): ``k``× the multiply-adds, but each program reads ``k``
    groups' channels of a pixel as one contiguous segment. Results equal ``k = 1`` up to floating-point order
    for finite activations.

    >>> import os, torch, torch.nn.functional as F                 # doctest: +SKIP
    >>> x, w = torch.randn(2, 32, 6, 6), torch.randn(32, 16, 3, 3)  # doctest: +SKIP
    >>> y = grouped_conv2d_triton(x, w, padding=1, groups=2)        # doctest: +SKIP
    """
    if not triton_available(x.device):
        raise ValueError(f"grouped_conv2d_triton: {triton_unavailable_reason(x.device)}")
    B, C, H, W = x.shape
    o, ci, kh, kw = weight.shape
    G = int(groups)
    if C != G * ci or o % G:
        raise ValueError(f"grouped_conv2d_triton: input channels {C} and weight shape {tuple(weight.shape)} do not "
                         f"fit groups={G}")
    if not isinstance(group_block, int) or isinstance(group_block, bool) or group_block < 1 or G % group_block:
        raise ValueError(f"grouped_conv2d_triton: group_block must be a positive divisor of groups={G}; "
                         f"got {group_block!r}")
    dt = x.device.type
    if torch.is_autocast_enabled(dt):  # as autocast casts F.conv2d's operands
        cast = torch.get_autocast_dtype(dt)
        x, weight = x.to(cast), weight.to(cast)
    elif weight.dtype != x.dtype:
        weight = weight.to(x.dtype)
    with torch.autocast(dt, enabled=False):
        y = _op(x, weight, list(_pair(stride)), list(_pair(padding)), G, group_block)
    if bias is not None:
        y = y + bias.to(y.dtype).view(1, -1, 1, 1)
    return y
