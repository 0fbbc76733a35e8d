"""The masked SGD step as one Triton kernel per parameter: each element read and written once.

:func:`~sketchbound.dnn.training.masked_sgd_step` with ``foreach`` kernels runs seven passes over every
parameter (mask the gradient, add weight decay, scale the momentum, add the gradient, scale by the learning
rate, subtract, mask the weight): 12 float32 reads and 7 writes, 76 bytes per parameter. VGG-19 has 20 M
parameters per model, so at batch 128 that is 11.9 MB per training image, as much as all its activations
move (``benchmarks/RESULTS.md``). This kernel does the same update,

    g ← g ⊙ m;  g ← g + λ w;  b ← μ b + g;  w ← (w − lr · b) ⊙ m

(``torch.optim.SGD`` with ``dampening=0`` and a mask ``m`` that keeps pruned weights exactly zero), reading
``w, g, b, m`` and writing ``w, b``: 24 bytes per parameter. The gradient is left as backward wrote it
(unmasked, without weight decay). Results equal the ``foreach`` step up to floating-point rounding: Triton
may contract ``μ b + g`` and ``w − lr · b`` into fused multiply-adds, which round once instead of twice; a
masked weight is exactly zero either way.

It needs Triton and a CUDA tensor, or Triton's interpreter (``TRITON_INTERPRET=1``) on the CPU, which is how
the tests check it (``tests/dnn/triton_interp_cases.py``).

>>> import torch
>>> from sketchbound.dnn.training.sgd_kernel import check_sgd_kernel, dense_alike
>>> w = torch.zeros(8, 4, 3, 3).contiguous(memory_format=torch.channels_last)
>>> dense_alike([w, torch.zeros_like(w)]), dense_alike([w, torch.zeros(8, 4, 3, 3)])
(True, False)
>>> dense_alike([torch.zeros(16, 4, 1, 1), torch.zeros(16, 4, 1, 1).as_strided((16, 4, 1, 1), (4, 1, 4, 4))])
True
>>> check_sgd_kernel("foreach", "cpu")
'foreach'
"""
from __future__ import annotations

import functools
from typing import Sequence

import torch

from sketchbound.dnn.training.options import SGD_KERNELS
from sketchbound.dnn.training.triton_support import triton_available, triton_unavailable_reason

# masked_sgd_triton (reached through masked_sgd_step(kernel="triton")) and dense_alike are the kernel's
# implementation: importable, not part of the API
__all__ = ["SGD_KERNELS", "check_sgd_kernel", "check_weight_copies"]

_BLOCK = 2048


def check_sgd_kernel(sgd_kernel, device, name: str = "sgd_kernel") -> str:
    """``sgd_kernel`` if it is one of :data:`SGD_KERNELS` and can run on ``device``; ``ValueError`` otherwise
    (``"triton"`` needs Triton and a CUDA device, or ``TRITON_INTERPRET=1``).

    Parameters
    ----------
    sgd_kernel : str
        One of :data:`SGD_KERNELS`.
    device : torch.device or str
        Where the step will run.
    name : str, default "sgd_kernel"
        The option's name in the message (e.g. a CLI flag).

    Returns
    -------
    str
        ``sgd_kernel``.

    Examples
    --------
    >>> check_sgd_kernel("foreach", "cpu")
    'foreach'
    """
    if sgd_kernel not in SGD_KERNELS:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, SGD_KERNELS))}, got {sgd_kernel!r}")
    if sgd_kernel == "triton" and not triton_available(device):
        raise ValueError(f"{name}='triton' cannot run: {triton_unavailable_reason(device)}")
    return sgd_kernel


def check_weight_copies(weight_copies, sgd_kernel, name: str = "weight_copies") -> bool:
    """``weight_copies`` if it is a bool and, when true, ``sgd_kernel`` is ``"triton"`` (the kernel writes the
    copies); ``ValueError`` otherwise.

    Parameters
    ----------
    weight_copies : bool
        The option.
    sgd_kernel : str
        The SGD kernel it goes with.
    name : str, default "weight_copies"
        The option's name in the message.

    Returns
    -------
    bool
        ``weight_copies``.

    Examples
    --------
    >>> check_weight_copies(False, "foreach")
    False
    >>> check_weight_copies(True, "foreach")
    Traceback (most recent call last):
    ValueError: weight_copies=True needs ...
    """
    if not isinstance(weight_copies, bool):
        raise ValueError(f"{name} must be True or False, got {weight_copies!r}")
    if weight_copies and sgd_kernel != "triton":
        raise ValueError(f"{name}=True needs sgd_kernel='triton' (the kernel writes the copies), "
                         f"got sgd_kernel={sgd_kernel!r}")
    return weight_copies


def dense_alike(ts: Sequence[torch.Tensor], same_dtype: int | None = None) -> bool:
    """Whether the tensors can be walked as one flat array each, element ``i`` of one matching element ``i``
    of the others: same shape, same strides (where the size is not 1), same device, dense (contiguous, or
    channels_last in 4-D), and the first ``same_dtype`` of them (default all) of one dtype."""
    t0 = ts[0]
    if not (t0.is_contiguous() or (t0.dim() == 4 and t0.is_contiguous(memory_format=torch.channels_last))):
        return False
    k = len(ts) if same_dtype is None else same_dtype

    def strides(t):  # a dimension of size 1 moves nothing: its stride is arbitrary (compiled gradients differ there)
        return [st for st, n in zip(t.stride(), t.shape) if n > 1]
    return all(t.shape == t0.shape and strides(t) == strides(t0) and t.device == t0.device for t in ts[1:]) \
        and all(t.dtype == t0.dtype for t in ts[1:k])


@functools.lru_cache(maxsize=None)
def _kernel():
    import triton
    import triton.language as tl

    @triton.jit
    def masked_sgd(p_ptr, g_ptr, b_ptr, m_ptr, c_ptr, lr_ptr, n, weight_decay, momentum,
                   HAS_MASK: tl.constexpr, HAS_WD: tl.constexpr, HAS_MOMENTUM: tl.constexpr, HAS_COPY: tl.constexpr,
                   COPY_BF16: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        ok = offs < n
        p = tl.load(p_ptr + offs, mask=ok)
        g = tl.load(g_ptr + offs, mask=ok).to(p.dtype)  # a bfloat16 gradient (of a weight copy) is exact in float32
        lr = tl.load(lr_ptr).to(p.dtype)
        if HAS_MASK:
            m = tl.load(m_ptr + offs, mask=ok)
            g = g * m
        if HAS_WD:
            g = g + weight_decay * p
        if HAS_MOMENTUM:
            b = tl.load(b_ptr + offs, mask=ok)
            b = b * momentum + g
            tl.store(b_ptr + offs, b, mask=ok)
            p = p - b * lr
        else:
            p = p - g * lr
        if HAS_MASK:
            p = p * m
        tl.store(p_ptr + offs, p, mask=ok)
        if COPY_BF16:  # the copy the forward reads, rounded to nearest, ties to even, as torch's .to(bfloat16):
            # done on the bits, so Triton's interpreter (whose conversion truncates) computes it too; NaN → 0x7FC0
            u = p.to(tl.uint32, bitcast=True)
            hi = tl.where(p == p, (u + (((u >> 16) & 1) + 0x7FFF)) >> 16, 0x7FC0).to(tl.uint16)
            tl.store(c_ptr + offs, hi.to(tl.bfloat16, bitcast=True), mask=ok)
        elif HAS_COPY:
            tl.store(c_ptr + offs, p.to(c_ptr.dtype.element_ty), mask=ok)

    return masked_sgd


def masked_sgd_triton(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], bufs: Sequence[torch.Tensor],
                      lr: torch.Tensor, momentum: float, weight_decay: float,
                      masks: Sequence[torch.Tensor | None] | None = None,
                      copies: Sequence[torch.Tensor | None] | None = None) -> None:
    """One masked SGD step in place, one kernel launch per parameter (see the module's docstring).

    ``masks[i]`` is parameter ``i``'s mask or ``None`` (not masked); ``lr`` a 0-d float32 tensor on the
    parameters' device (a captured CUDA graph reads it when replayed). ``copies[i]``, when given, receives
    the updated parameter in its own dtype (e.g. the bfloat16 weight a mixed-precision forward reads, so that
    it needs no cast; :class:`~sketchbound.dnn.training.fused.FusedTrainer` ``(weight_copies=True)``); the
    gradient may then be that copy's, in its dtype. Each ``(param, buf, mask)`` must be :func:`dense_alike`
    in one dtype, with the gradient and the copy of the same shape and strides; ``ValueError`` otherwise,
    before anything is updated.
    """
    if params and not triton_available(params[0].device):
        raise ValueError(f"the Triton SGD kernel cannot run: {triton_unavailable_reason(params[0].device)}")
    masks = list(masks) if masks is not None else [None] * len(params)
    copies = list(copies) if copies is not None else [None] * len(params)
    if not (len(params) == len(grads) == len(bufs) == len(masks) == len(copies)):
        raise ValueError(f"params, grads, bufs, masks and copies must have one entry per parameter, got lengths "
                         f"{len(params)}, {len(grads)}, {len(bufs)}, {len(masks)}, {len(copies)}")
    if not isinstance(lr, torch.Tensor) or lr.dim() != 0:
        raise ValueError(f"lr must be a 0-d tensor for the Triton SGD kernel, got {lr!r}")
    big = [i for i, p in enumerate(params) if p.numel() >= 2 ** 31 - _BLOCK]
    if big:  # the kernel's offsets are 32-bit
        raise ValueError(f"parameter {big[0]} has {params[big[0]].numel()} elements; the Triton SGD kernel takes "
                         f"fewer than 2**31 - {_BLOCK} per parameter")
    for i, (p, g, b, m, c) in enumerate(zip(params, grads, bufs, masks, copies)):
        same = [p] + ([b] if momentum else []) + ([m] if m is not None else [])
        ts = same + [g] + ([c] if c is not None else [])
        if not dense_alike(ts, same_dtype=len(same)) or not (g.is_floating_point() and (c is None or c.is_floating_point())):
            raise ValueError(f"parameter {i}: its momentum and mask must be dense with the parameter's shape, strides "
                             f"and dtype, its gradient and copy floating point with its shape and strides, for the "
                             f"Triton SGD kernel, got {[(tuple(t.shape), t.stride(), t.dtype) for t in ts]}")
    k = _kernel()
    for p, g, b, m, c in zip(params, grads, bufs, masks, copies):
        n = p.numel()
        if n == 0:
            continue
        k[(-(-n // _BLOCK),)](p, g, b, m if m is not None else p, c if c is not None else p, lr, n,
                              float(weight_decay), float(momentum), HAS_MASK=m is not None, HAS_WD=bool(weight_decay),
                              HAS_MOMENTUM=bool(momentum), HAS_COPY=c is not None,
                              COPY_BF16=c is not None and c.dtype == torch.bfloat16 and p.dtype == torch.float32,
                              BLOCK=_BLOCK)
