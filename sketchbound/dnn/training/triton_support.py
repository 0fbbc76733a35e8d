"""Whether Triton's kernels can run here: shared by :mod:`~sketchbound.dnn.training.sgd_kernel` and the
benchmark's Triton convolution, ``benchmarks/triton_conv.py`` (imports no trainer module, so both can import it).

Triton is optional (the ``test`` extra installs it on Linux x86-64). Its interpreter (``TRITON_INTERPRET=1``,
read by Triton when it is imported) runs the same kernels on the CPU with NumPy; that is how the tests
check the kernels' arithmetic.
"""
from __future__ import annotations

import functools
import os

import torch

__all__ = ["triton_available", "triton_unavailable_reason"]


@functools.lru_cache(maxsize=None)
def _triton():
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception as e:  # pragma: no cover - depends on the machine
        return None, f"Triton is not importable ({type(e).__name__}: {e})"
    return triton, ""


def interpret() -> bool:
    """Whether Triton's interpreter is on (``TRITON_INTERPRET=1``): the kernels then run on the CPU."""
    return os.environ.get("TRITON_INTERPRET", "") == "1"


def triton_available(device: torch.device | str | None = None) -> bool:
    """Whether the Triton kernels can run on ``device``: Triton importable, and the device CUDA (or any
    device under ``TRITON_INTERPRET=1``).

    Parameters
    ----------
    device : torch.device or str, optional
        Where the kernels would run.

    Returns
    -------
    bool

    Examples
    --------
    >>> triton_available("cuda:0") == (triton_unavailable_reason("cuda:0") == "")
    True
    """
    if _triton()[0] is None:
        return False
    dev = torch.device(device) if device is not None else None
    return interpret() or (dev is not None and dev.type == "cuda" and torch.cuda.is_available())


def triton_unavailable_reason(device) -> str:
    """Why :func:`triton_available` is false for ``device`` (empty when it is true).

    Parameters
    ----------
    device : torch.device or str
        Where the kernels would run.

    Returns
    -------
    str
        One line for an error message, or ``""``.

    Examples
    --------
    >>> import os
    >>> os.environ.get("TRITON_INTERPRET") == "1" or triton_unavailable_reason("cpu") != ""
    True
    """
    t, why = _triton()
    if t is None:
        return why
    if not triton_available(device):
        return f"the Triton kernels need a CUDA device (or TRITON_INTERPRET=1), got {torch.device(device)}"
    return ""
