"""What the score functions share (private): the deterministic-kernels context, the checks of a scored model,
drawing a batch and the losses. :mod:`sketchbound.dnn.pruning.scores` re-exports :func:`deterministic_algorithms`."""
from __future__ import annotations

import contextlib
import functools
import os

import torch
from torch import nn
from torch.nn import functional as F

from sketchbound.dnn.models.prunable import prunable_parameters

__all__ = ["LOSSES", "deterministic_algorithms", "deterministic", "check_model", "check_dtype", "model_device",
           "draw_batch", "loss_value", "check_loss"]

LOSSES = ("cross_entropy", "l1", "mse")


@contextlib.contextmanager
def deterministic_algorithms():
    """Deterministic kernels for the duration (restored afterwards): ``torch.use_deterministic_algorithms``
    (warn-only for ops without a deterministic version), ``cudnn.deterministic``, no ``cudnn.benchmark``,
    no TF32 (full fp32 matmuls/convolutions on the GPU, as on the CPU). ``CUBLAS_WORKSPACE_CONFIG`` is set
    to ``:4096:8`` if unset (cuBLAS reads it when its handle is created: set it before the first CUDA
    matmul of the process for full effect).

    Returns
    -------
    contextlib.AbstractContextManager
        A context manager (``with deterministic_algorithms(): ...``).

    Yields
    ------
    None
        The settings hold inside the ``with`` block.

    Examples
    --------
    >>> with deterministic_algorithms():
    ...     torch.are_deterministic_algorithms_enabled()
    True
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    be = torch.backends
    prev = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            be.cudnn.deterministic, be.cudnn.benchmark, be.cudnn.allow_tf32, be.cuda.matmul.allow_tf32)
    torch.use_deterministic_algorithms(True, warn_only=True)
    be.cudnn.deterministic, be.cudnn.benchmark = True, False
    be.cudnn.allow_tf32 = be.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        be.cudnn.deterministic, be.cudnn.benchmark, be.cudnn.allow_tf32, be.cuda.matmul.allow_tf32 = prev[2:]


def deterministic(fn):
    @functools.wraps(fn)
    def wrapper(*a, **k):
        with deterministic_algorithms():
            return fn(*a, **k)
    return wrapper


def check_model(model):
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = prunable_parameters(model)
    if not params:
        raise ValueError("model has no prunable parameters (conv/linear weights)")
    return params


def check_dtype(dtype) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point or dtype.itemsize < 4:
        raise ValueError(f"dtype must be torch.float64 or torch.float32, got {dtype!r}")
    return dtype


def model_device(model):
    p = next(iter(model.parameters()))
    return p.device, p.dtype


def draw_batch(source, g, device, dtype):
    x, y = source(g)
    x = x.to(device=device, dtype=dtype)
    return x, (None if y is None else y.to(device))


def loss_value(out, y, loss: str):
    if y is None:
        raise ValueError(f"loss {loss!r} needs labels but the batch source returned y=None")
    if loss == "cross_entropy":
        return F.cross_entropy(out, y.long())
    if out.dim() == 2 and out.shape[1] == 1 and y.dim() == 1:
        target = y.to(out.dtype).unsqueeze(1)
    elif y.dim() == 1 and not torch.is_floating_point(y):
        target = F.one_hot(y.long(), out.shape[1]).to(out.dtype)
    else:
        target = y.to(out.dtype).reshape(out.shape)
    return F.l1_loss(out, target) if loss == "l1" else F.mse_loss(out, target)


def check_loss(loss):
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
