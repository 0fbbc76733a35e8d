"""Device-side image operations of the training loop: normalisation and one augmented epoch (permutation,
random crop with zero padding, horizontal flip) in a few batched tensor ops, no CPU data loader.
"""
from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["normalize", "augment_epoch"]


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``uint8`` ``(N, C, H, W)`` → float32 ``(x/255 - mean)/std`` per channel, on ``x``'s device.

    Parameters
    ----------
    x : torch.Tensor
        ``uint8`` images ``(N, C, H, W)``.
    mean, std : sequence of float
        Per-channel statistics in ``[0, 1]`` units.

    Returns
    -------
    torch.Tensor
        float32, ``x``'s shape and device.

    Examples
    --------
    >>> normalize(torch.tensor([[[[0, 255]]]], dtype=torch.uint8), (0.5,), (0.5,)).tolist()
    [[[[-1.0, 1.0]]]]
    """
    m = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    return (x.float().div_(255.0) - m) / s


def augment_epoch(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, *, padding: int = 4,
                  flip: bool = True, crop: bool = True, out_x: torch.Tensor | None = None,
                  out_y: torch.Tensor | None = None, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """One training epoch of ``uint8`` images: permutation + random crop (zero padding) + horizontal flip.

    All randomness comes from ``generator`` (on ``x``'s device) and is drawn in a fixed order
    (permutation, crop offsets, flips), so the same generator state gives the same epoch — this is what
    makes resumed training identical. Everything is batched tensor ops on the device; ``chunk`` bounds
    the temporary memory of the padded copy. Results are written into ``out_x``/``out_y`` when given
    (static buffers of a CUDA graph).

    Parameters
    ----------
    x, y : torch.Tensor
        ``uint8`` images ``(N, C, H, W)`` and their labels.
    generator : torch.Generator
        On ``x``'s device; all the epoch's randomness.
    padding : int, default 4
        Zero padding of the random crop.
    flip, crop : bool, default True
        Apply the horizontal flips / the random crops.
    out_x, out_y : torch.Tensor, optional
        Buffers to write the epoch into.
    chunk : int, default 8192
        Images padded at a time.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        The epoch's images and labels (``out_x``/``out_y`` when given).

    Examples
    --------
    >>> x = torch.arange(3, dtype=torch.uint8).view(3, 1, 1, 1).expand(3, 1, 2, 2).contiguous()
    >>> xe, ye = augment_epoch(x, torch.arange(3), torch.Generator().manual_seed(0), crop=False)
    >>> torch.equal(xe[:, 0, 0, 0].long(), ye)    # images stay with their labels
    True
    """
    n = x.shape[0]
    dev = x.device
    perm = torch.randperm(n, generator=generator, device=dev)
    if crop and padding > 0:
        offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator, device=dev)
    else:
        offsets = None
    flips = (torch.rand(n, generator=generator, device=dev) < 0.5) if flip else None
    out_x = torch.empty_like(x) if out_x is None else out_x
    out_y = torch.empty_like(y) if out_y is None else out_y
    out_y.copy_(y[perm])
    h, w = x.shape[-2:]
    ar_h = torch.arange(h, device=dev)
    ar_w = torch.arange(w, device=dev)
    for i in range(0, n, chunk):
        idx = perm[i:i + chunk]
        xb = x[idx]
        if offsets is not None:
            p = padding
            xp = torch.nn.functional.pad(xb, (p, p, p, p))
            off = offsets[i:i + chunk]
            rows = (off[:, 0:1] + ar_h)[:, None, :, None]  # (B,1,H,1)
            cols = (off[:, 1:2] + ar_w)[:, None, None, :]  # (B,1,1,W)
            b = torch.arange(xb.shape[0], device=dev)[:, None, None, None]
            c = torch.arange(xb.shape[1], device=dev)[None, :, None, None]
            xb = xp[b, c, rows, cols]
        if flips is not None:
            xb = torch.where(flips[i:i + chunk, None, None, None], xb.flip(-1), xb)
        out_x[i:i + xb.shape[0]].copy_(xb)
    return out_x, out_y
