"""The benchmark's analytic cost model: FLOPs and memory traffic per training image, the cards' peak
compute and bandwidth, and the extra FLOPs a fused trainer's block-dense convolutions do. No timing."""
from __future__ import annotations

import copy
from typing import Sequence

import torch

from sketchbound.dnn.training.fused import FusedTrainer

__all__ = ["PEAK_TFLOPS", "PEAK_TBPS", "peak_tflops", "peak_tbps", "flops_per_image", "layer_macs",
           "traffic_per_image", "bytes_per_image", "conv_flop_factor"]

#: dense peak TFLOP/s by card (vendor data sheets; bf16 = tensor cores without sparsity, fp32 = CUDA cores)
PEAK_TFLOPS = {
    "H100 SXM": {"bf16": 989.0, "fp32": 67.0},
    "H100 NVL": {"bf16": 835.0, "fp32": 60.0},
    "H100 PCIe": {"bf16": 756.0, "fp32": 51.0},
    "H200": {"bf16": 989.0, "fp32": 67.0},
    "A100": {"bf16": 312.0, "fp32": 19.5},
}


#: peak memory bandwidth in TB/s by card (vendor data sheets; HBM); A100 is left out (40 / 80 GB parts differ)
PEAK_TBPS = {"H100 SXM": 3.35, "H100 NVL": 3.9, "H100 PCIe": 2.0, "H200": 4.8}


def _card(name: str) -> str | None:
    n = name.upper()
    if "H200" in n:
        return "H200"
    if "H100" in n:
        if "NVL" in n:
            return "H100 NVL"
        if "PCIE" in n:
            return "H100 PCIe"
        return "H100 SXM"  # "NVIDIA H100 80GB HBM3" is the SXM part
    if "A100" in n:
        return "A100"
    return None


def peak_tflops(device_name: str, precision: str) -> float | None:
    """The card's dense peak TFLOP/s for ``precision`` (``"bf16"`` or ``"fp32"``), or None when unknown.

    Parameters
    ----------
    device_name : str
        ``torch.cuda.get_device_name()``.
    precision : {"bf16", "fp32"}
        The arithmetic.

    Returns
    -------
    float or None

    Examples
    --------
    >>> peak_tflops("NVIDIA H100 80GB HBM3", "bf16"), peak_tflops("cpu", "fp32")
    (989.0, None)
    """
    card = _card(device_name)
    return PEAK_TFLOPS[card][precision] if card else None


def peak_tbps(device_name: str) -> float | None:
    """The card's peak memory bandwidth in TB/s, or None when unknown.

    Parameters
    ----------
    device_name : str
        ``torch.cuda.get_device_name()``.

    Returns
    -------
    float or None

    Examples
    --------
    >>> peak_tbps("NVIDIA H200"), peak_tbps("NVIDIA A100-SXM4-80GB")
    (4.8, None)
    """
    return PEAK_TBPS.get(_card(device_name))


def flops_per_image(model: torch.nn.Module, shape: Sequence[int]) -> float:
    """Training FLOPs per image: 2 × 3 × (multiply-accumulates of every Conv2d and Linear in one forward).

    A convolution's MACs are ``out.numel() · C_in/groups · k_h · k_w`` per image, a linear layer's
    ``in · out``; the factor 2 counts a MAC as two FLOPs and 3 adds the backward pass (gradients w.r.t.
    inputs and weights). BatchNorm, ReLU, pooling and the optimiser are left out (memory-bound, few FLOPs).

    Parameters
    ----------
    model : torch.nn.Module
        The network (a CPU copy runs one forward).
    shape : sequence of int
        One image's shape ``(C, H, W)``.

    Returns
    -------
    float

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 3))
    >>> flops_per_image(net, (1, 4, 4))  # 6 × (32·9 + 32·3)
    2304.0
    """
    return 6.0 * sum(layer_macs(model, shape).values())


def layer_macs(model: torch.nn.Module, shape: Sequence[int], kinds: tuple = (torch.nn.Conv2d, torch.nn.Linear)
               ) -> dict[str, int]:
    """Multiply-accumulates per image of each ``Conv2d`` and ``Linear`` (or only those of ``kinds``) of
    ``model`` in one forward, by module path: ``out.numel() · C_in/groups · k_h · k_w`` for a convolution,
    ``out.numel() · in`` for a linear layer (per image: ``shape`` is one image).

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    shape : sequence of int
        One image's shape ``(C, H, W)``.
    kinds : tuple of type, optional
        The layer types counted.

    Returns
    -------
    dict of str to int

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 3))
    >>> layer_macs(net, (1, 4, 4))
    {'0': 288, '2': 96}
    """
    macs: dict[int, int] = {}

    def count(m, _inp, out):
        if isinstance(m, torch.nn.Conv2d) and isinstance(m, kinds):
            macs[id(m)] = out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.Linear) and isinstance(m, kinds):
            macs[id(m)] = out.numel() * m.in_features

    copy_ = _hooked_forward(model, shape, count)
    return {path: macs[id(m)] for path, m in copy_.named_modules() if id(m) in macs}


def _hooked_forward(model: torch.nn.Module, shape: Sequence[int], hook) -> torch.nn.Module:
    """One forward pass of a CPU copy of ``model`` (eval mode, no grad) on one zero image of ``shape``, with
    ``hook(module, inputs, output)`` on every leaf module; returns the copy."""
    m = copy.deepcopy(model).cpu().eval()
    hooks = [mod.register_forward_hook(hook) for mod in m.modules() if not list(mod.children())]
    try:
        with torch.no_grad():
            m(torch.zeros((1,) + tuple(shape)))
    finally:
        for h in hooks:
            h.remove()
    return m


def traffic_per_image(model: torch.nn.Module, shape: Sequence[int]) -> dict:
    """Element counts of a model of one training step's memory traffic, per image (not a measurement).

    ``activations``: for every leaf module whose output is a new tensor (views such as ``Flatten`` are left
    out), the forward pass reads its input and writes its output, and the backward pass reads the output's
    gradient and the saved input and writes the input's gradient: ``3·in + 2·out`` elements.
    ``parameters``: the model's parameter count; per batch they are read forward and backward, their
    gradient written, and SGD with momentum reads parameter, gradient and momentum and writes parameter
    and momentum (8 accesses). Kernels that fuse layers move less; layout transforms, residual additions
    and the masks move more. :func:`bytes_per_image` turns the counts into bytes.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    shape : sequence of int
        One image's shape ``(C, H, W)``.

    Returns
    -------
    dict
        ``activations`` and ``parameters`` (element counts).

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 3))
    >>> traffic_per_image(net, (1, 4, 4))  # conv 3·16 + 2·32, linear 3·32 + 2·3; Flatten is a view
    {'activations': 214, 'parameters': 119}
    """
    acts = [0]

    def leaf(_m, inp, out):
        x = inp[0] if inp else None
        if not isinstance(out, torch.Tensor) or not isinstance(x, torch.Tensor):
            return
        if out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr():
            return  # a view (Flatten, in-place ReLU): no new tensor
        acts[0] += 3 * x.numel() + 2 * out.numel()

    m = _hooked_forward(model, shape, leaf)
    return {"activations": acts[0], "parameters": sum(p.numel() for p in m.parameters())}


def bytes_per_image(traffic: dict, *, batch_size: int, precision: str) -> float:
    """Bytes per training image of :func:`traffic_per_image`'s model: activations in bf16 (2 bytes) or fp32
    (4), fp32 parameters with 8 accesses per batch shared by its ``batch_size`` images.

    Parameters
    ----------
    traffic : dict
        :func:`traffic_per_image`'s counts.
    batch_size : int
        Images per batch.
    precision : {"bf16", "fp32"}
        The activations' dtype.

    Returns
    -------
    float

    Examples
    --------
    >>> bytes_per_image({"activations": 10, "parameters": 4}, batch_size=2, precision="bf16")
    84.0
    """
    if precision not in ("bf16", "fp32"):
        raise ValueError(f"precision must be 'bf16' or 'fp32', got {precision!r}")
    return float(traffic["activations"] * (2 if precision == "bf16" else 4) + 8 * 4 * traffic["parameters"] / batch_size)


def conv_flop_factor(trainer: FusedTrainer, model: torch.nn.Module, shape: Sequence[int]) -> float:
    """Convolution work the fused cohorts of ``trainer`` do per unit of useful convolution work: each fused
    convolution does ``block``× its models' MACs (block-dense, :class:`~sketchbound.dnn.training.fused.FusedConv2d`),
    weighted by the per-image MACs of ``model`` (the cohorts' architecture; ``shape``: one image) and the
    models per cohort. 1.0 for grouped convolutions (``conv_block=1``), ``k`` when every cohort uses block ``k``.

    Parameters
    ----------
    trainer : FusedTrainer
        The trainer (its ``cohorts``).
    model : torch.nn.Module
        The cohorts' architecture.
    shape : sequence of int
        One image's shape.

    Returns
    -------
    float

    Examples
    --------
    A trainer without cohorts does no extra work:

    >>> from types import SimpleNamespace
    >>> conv_flop_factor(SimpleNamespace(cohorts=[]), torch.nn.Conv2d(1, 1, 1), (1, 2, 2))
    1.0
    """
    macs = layer_macs(model, shape, kinds=(torch.nn.Conv2d,))
    done = useful = 0
    for c in trainer.cohorts:
        for path, block in c.fused.conv_blocks().items():
            done += c.n * macs[path] * block
            useful += c.n * macs[path]
    return done / useful if useful else 1.0
