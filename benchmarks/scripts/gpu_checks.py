"""Small checks of the fused trainer's GPU code, each writing one JSON file (cited by ``benchmarks/RESULTS.md``,
files ``gpu/triton_conv_check_*``, ``gpu/choose_fusion_*``, ``gpu/sgd_kernel_check_*``).

    python benchmarks/scripts/gpu_checks.py triton-conv --out $OUT     # Triton grouped convolution against cuDNN
    python benchmarks/scripts/gpu_checks.py choose-fusion --out $OUT   # --fusion auto with the fused trainer's options
    python benchmarks/scripts/gpu_checks.py sgd-kernel --out $OUT      # the Triton SGD step against the foreach one

``triton-conv`` (``triton_conv_check.json``): for a few grouped-convolution shapes (batch, groups, channels in
and out per group, size, kernel, stride, padding), the relative L2 error of the output, input gradient and
weight gradient of ``grouped_conv2d_triton`` and of ``F.conv2d`` (cuDNN), both against ``F.conv2d`` in
float64 on the same bf16 data; and whether a second run gives the same bits (``repeat_equal``).

``choose-fusion`` (``choose_fusion.json``): ``choose_fusion`` for 16 ResNet-20s at batch 128 with
``fused_kw={"compile_mode": "default", "conv_gemm": "strided"}``: which trainer it picks and the times it
measured. On a CPU it runs too (``choose_fusion`` answers "streams" without timing).

``sgd-kernel`` (``sgd_kernel_check.json``): for parameters of VGG-19's and ResNet-20's shapes (channels_last
convolution weights with masks, vectors, a linear weight), one masked SGD step (lr 0.1, momentum 0.9, weight decay
5e-4) by the Triton kernel and by the ``foreach`` passes from the same state: the largest difference of the
weights and of the momentum relative to their largest magnitude, whether every masked weight is exactly 0, whether
the bfloat16 copy equals torch's ``.to(torch.bfloat16)`` of the updated weight bit for bit, and whether a second
run repeats the bits.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

#: (batch, groups, c_in, c_out per group, size, kernel, stride, padding)
SHAPES = [(8, 4, 16, 16, 32, 3, 1, 1), (8, 4, 16, 32, 32, 3, 2, 1), (8, 4, 32, 64, 16, 1, 2, 0), (8, 3, 64, 64, 8, 3, 1, 1),
          (5, 3, 24, 40, 9, 3, 1, 1)]


def triton_conv(device, dtype_name: str = "bfloat16", shapes=SHAPES) -> list[dict]:
    """Per shape: relative errors (output, input gradient, weight gradient) of the Triton form and of
    cuDNN against float64, and whether the Triton form repeats bit for bit."""
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # the benchmark-only kernels
    from triton_conv import grouped_conv2d_triton
    dt = getattr(torch, dtype_name)
    gen = torch.Generator().manual_seed(0)
    out = []

    def rel(a, b):
        return ((a.double() - b).norm() / b.norm()).item()
    for (B, G, ci, co, H, k, s, p) in shapes:
        ho = (H + 2 * p - k) // s + 1
        x0 = torch.randn(B, G * ci, H, H, generator=gen).to(device, dt).contiguous(memory_format=torch.channels_last)
        w0 = torch.randn(G * co, ci, k, k, generator=gen).to(device, dt)
        gy = torch.randn(B, G * co, ho, ho, generator=gen).to(device, dt)
        x, w = x0.clone().requires_grad_(), w0.clone().requires_grad_()
        y = grouped_conv2d_triton(x, w, None, s, p, G)
        y.backward(gy)
        xr, wr = x0.double().requires_grad_(), w0.double().requires_grad_()
        yr = F.conv2d(xr, wr, None, s, p, 1, G)
        yr.backward(gy.double())
        x2, w2 = x0.clone().requires_grad_(), w0.clone().requires_grad_()
        y2 = F.conv2d(x2, w2, None, s, p, 1, G)
        y2.backward(gy)
        x3, w3 = x0.clone().requires_grad_(), w0.clone().requires_grad_()
        y3 = grouped_conv2d_triton(x3, w3, None, s, p, G)
        y3.backward(gy)
        out.append({"dtype": dtype_name, "shape": [B, G, ci, co, H, k, s, p],
                    "triton": [rel(y, yr), rel(x.grad, xr.grad), rel(w.grad, wr.grad)],
                    "cudnn": [rel(y2, yr), rel(x2.grad, xr.grad), rel(w2.grad, wr.grad)],
                    "repeat_equal": bool(torch.equal(y3, y) and torch.equal(x3.grad, x.grad) and torch.equal(w3.grad, w.grad))})
        print(out[-1], flush=True)
    return out


#: parameter shapes of the SGD check: VGG-19's widest convolution, ResNet-20's first and a 1x1 shortcut, a linear
#: weight, a bias vector, and a vector just past one 2048-element block of the kernel
SGD_SHAPES = [(512, 512, 3, 3), (16, 3, 3, 3), (64, 32, 1, 1), (10, 512), (512,), (2049,)]


def sgd_kernel_check(device, shapes=SGD_SHAPES, seed: int = 0) -> list[dict]:
    """Per shape: the Triton masked SGD step against the foreach one (see the module's docstring)."""
    import torch

    from sketchbound.dnn.training import masked_sgd_step
    out = []
    for shape in shapes:
        def fresh():
            g2 = torch.Generator().manual_seed(seed + len(out))
            t = [torch.randn(shape, generator=g2).to(device) for _ in range(3)]
            m = (torch.rand(shape, generator=g2) < 0.1).float().to(device) if len(shape) > 1 else None
            if len(shape) == 4:
                t = [x.contiguous(memory_format=torch.channels_last) for x in t]
                m = m.contiguous(memory_format=torch.channels_last)
            if m is not None:
                t[0].mul_(m)
            return t, m
        lr = torch.tensor(0.1, device=device)

        def step(kernel):
            (w, g, b), m = fresh()
            masked = ([w], [g], [m]) if m is not None else ([], [], [])
            c = torch.empty_like(w, dtype=torch.bfloat16) if kernel == "triton" else None
            masked_sgd_step([w], [g], [b], lr, 0.9, 5e-4, *masked, kernel=kernel, copies=None if c is None else [c])
            return w, b, c, m
        wf, bf, _, m = step("foreach")
        runs = [step("triton")[:3] for _ in range(2)]
        (w, b, c), (w2, b2, c2) = runs

        def rel(a, ref):
            return ((a.double() - ref.double()).abs().max() / ref.double().abs().max()).item()
        out.append({"shape": list(shape), "masked": m is not None, "weight_rel_diff": rel(w, wf),
                    "momentum_rel_diff": rel(b, bf), "weights_equal_foreach": bool(torch.equal(w, wf)),
                    "masked_zero": bool(m is None or int(((w != 0) & (m == 0)).sum()) == 0),
                    "copy_is_torch_bf16": bool(torch.equal(c.view(torch.int16), w.to(torch.bfloat16).view(torch.int16))),
                    "repeat_equal": bool(torch.equal(w, w2) and torch.equal(b, b2) and torch.equal(c, c2))})
        print(out[-1], flush=True)
    return out


def choose_fusion_check(device, n: int = 16) -> dict:
    """``choose_fusion`` for ``n`` ResNet-20s with the fused trainer compiled and ``conv_gemm="strided"``."""
    from sketchbound.dnn.models import get_model
    from sketchbound.dnn.training.fused import choose_fusion
    kw = {"compile_mode": "default", "conv_gemm": "strided"}
    t = time.time()
    r = choose_fusion(get_model("resnet20", 3, 10, 32, "kaiming", seed=0), batch_size=128, n=n, device=device,
                      image_shape=(3, 32, 32), num_classes=10, fused_kw=kw)
    r = dict(r, wall_s=round(time.time() - t, 1), fused_kw=kw)
    print(r, flush=True)
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("check", choices=("triton-conv", "choose-fusion", "sgd-kernel"))
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    a = ap.parse_args(argv)
    import torch

    from sketchbound._io import atomic_write
    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    head = {"commit": os.environ.get("SKETCHBOUND_COMMIT"), "torch": torch.__version__,
            "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else str(dev),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": "python benchmarks/scripts/gpu_checks.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    if a.check in ("triton-conv", "sgd-kernel"):
        from sketchbound.dnn.training.triton_support import triton_unavailable_reason, triton_available
        if not triton_available(dev):
            print(f"gpu_checks.py: error: {triton_unavailable_reason(dev)}", file=sys.stderr)
            return 2
    if a.check == "triton-conv":
        body, name = {"cases": triton_conv(dev)}, "triton_conv_check.json"
    elif a.check == "sgd-kernel":
        body, name = {"cases": sgd_kernel_check(dev)}, "sgd_kernel_check.json"
    else:
        body, name = {"choices": [choose_fusion_check(dev)]}, "choose_fusion.json"
    atomic_write(Path(a.out) / name, json.dumps({**head, **body}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
