"""Two small checks of issue 14's code on a GPU, each writing one JSON file (``benchmarks/RESULTS.md``, ninth
measurement).

    python dnn/scripts/gpu_checks.py triton-conv --out $OUT     # Triton grouped convolution against cuDNN
    python dnn/scripts/gpu_checks.py choose-fusion --out $OUT   # --fusion auto with the fused trainer's options

``triton-conv`` (``triton_conv_check.json``): for a few grouped-convolution shapes (batch, groups, channels in
and out per group, size, kernel, stride, padding), the relative L2 error of the output, input gradient and
weight gradient of ``grouped_conv2d_triton`` and of ``F.conv2d`` (cuDNN), both against ``F.conv2d`` in
float64 on the same bf16 data; and whether a second run gives the same bits (``repeat_equal``).

``choose-fusion`` (``choose_fusion.json``): ``choose_fusion`` for 16 ResNet-20s at batch 128 with
``fused_kw={"compile_mode": "default", "conv_gemm": "strided"}``: which trainer it picks and the times it
measured. On a CPU it runs too (``choose_fusion`` answers "streams" without timing).
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

    from sketchbound.dnn.training.triton_conv import grouped_conv2d_triton
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
    ap.add_argument("check", choices=("triton-conv", "choose-fusion"))
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    a = ap.parse_args(argv)
    import torch

    from sketchbound._io import atomic_write
    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    head = {"commit": os.environ.get("SKETCHBOUND_COMMIT"), "torch": torch.__version__,
            "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else str(dev),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": "python dnn/scripts/gpu_checks.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    if a.check == "triton-conv":
        from sketchbound.dnn.training.triton_conv import triton_unavailable_reason, triton_available
        if not triton_available(dev):
            print(f"gpu_checks.py: error: {triton_unavailable_reason(dev)}", file=sys.stderr)
            return 2
        body, name = {"cases": triton_conv(dev)}, "triton_conv_check.json"
    else:
        body, name = {"choices": [choose_fusion_check(dev)]}, "choose_fusion.json"
    atomic_write(Path(a.out) / name, json.dumps({**head, **body}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
