"""Where the fused step's convolution overhead comes from: ResNet-20's grouped convolution shapes
one by one, forward + backward, bf16 channels_last on CUDA, with N models as groups, timed and profiled.

A profile of the compiled fused step (``benchmarks/RESULTS.md``) has 192
``nhwcSliceCKernel`` launches per step of 16 models, as many as 4 layers × 3 passes (forward, input and
weight gradient) × 16 groups. ResNet-20 has exactly 4 stride-2 convolutions (two 3×3, two 1×1 shortcuts),
so the hypothesis was that cuDNN slices the channels of each group for its strided grouped convolutions
(measured with this script: it does not hold; slicing depends on the shape, ``benchmarks/RESULTS.md``).
This script counts the slicing and transform kernels per shape and times the arithmetically equivalent
stride-1 forms: a 1×1 stride-2 convolution is a 1×1 convolution of the subsampled input (same FLOPs);
a 3×3 stride-2 one is the even positions of the stride-1 output (4× the FLOPs of that layer). The
"GEMM" cases are the same convolutions as one batched matrix product over unfolded patches
(``sketchbound.dnn.training.fused.grouped_conv2d_gemm``, ``FusedTrainer(conv_gemm=...)``); with
``--compile`` the GEMM forms and the convolutions they replace are also timed through ``torch.compile``
(``… [compiled]``), as the compiled fused step runs them.

    python benchmarks/scripts/grouped_conv_bench.py --out $OUT [--compile]   # on a GPU: 16 models, batch 128
    python benchmarks/scripts/grouped_conv_bench.py --model vgg19 --compile --out $OUT   # every conv shape of VGG-19
    python benchmarks/scripts/grouped_conv_bench.py --model resnet20 --models 64 --forms cudnn,triton --only " s1 " --out $OUT
                                                          # cuDNN against the Triton form (triton_conv), stride 1

Writes ``$OUT/grouped_conv_bench.json`` (per case: ms per forward + backward, kernels launched, how many
of them slice channels or transform the layout, the top kernels) and prints one line per case. On a CPU
it runs (tiny sizes, for the tests) but measures nothing about cuDNN.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def conv_form(n: int, stride: int, pad: int):
    """(x, w) -> cuDNN's grouped convolution of ``n`` groups."""
    import torch.nn.functional as F
    return lambda x, w: F.conv2d(x, w, stride=stride, padding=pad, groups=n)


def gemm_form(n: int, stride: int, pad: int):
    """(x, w) -> the same convolution as one batched GEMM over unfolded patches."""
    from sketchbound.dnn.training.fused import grouped_conv2d_gemm
    return lambda x, w: grouped_conv2d_gemm(x, w, None, stride, pad, n)


def triton_form(n: int, stride: int, pad: int, group_block: int = 1):
    """(x, w) -> the same convolution by the implicit-GEMM Triton kernels (``triton_conv``), ``group_block``
    groups per program (block-diagonal weight)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # the benchmark-only kernels
    from triton_conv import grouped_conv2d_triton
    return lambda x, w: grouped_conv2d_triton(x, w, None, stride, pad, n, group_block)


FORMS = {"cudnn": ("", conv_form), "gemm": (" GEMM", gemm_form), "triton": (" Triton", triton_form),
         "triton2": (" Triton gb2", lambda n, s, p: triton_form(n, s, p, 2)),
         "triton4": (" Triton gb4", lambda n, s, p: triton_form(n, s, p, 4))}


def cases(n: int):
    """(name, c_in, c_out, size, kernel, form) for ResNet-20's strided layers, its first layer and a plain
    3×3 reference; ``form`` maps (x, w) to the convolution's output with ``n`` groups."""
    import torch.nn.functional as F

    def conv(stride, pad):
        return conv_form(n, stride, pad)

    def s1_then_even(x, w):
        return F.conv2d(x, w, stride=1, padding=1, groups=n)[:, :, ::2, ::2]

    def even_then_1x1(x, w):
        import torch
        return F.conv2d(x[:, :, ::2, ::2].contiguous(memory_format=torch.channels_last), w, groups=n)

    def gemm(stride, pad):
        return gemm_form(n, stride, pad)

    return [("first 3x3 3->16 s1 @32", 3, 16, 32, 3, conv(1, 1)),
            ("3x3 16->16 s1 @32 (reference)", 16, 16, 32, 3, conv(1, 1)),
            ("3x3 16->32 s2 @32", 16, 32, 32, 3, conv(2, 1)),
            ("3x3 16->32 as s1 + even positions", 16, 32, 32, 3, s1_then_even),
            ("1x1 16->32 s2 @32", 16, 32, 32, 1, conv(2, 0)),
            ("1x1 16->32 as even positions + s1", 16, 32, 32, 1, even_then_1x1),
            ("3x3 32->64 s2 @16", 32, 64, 16, 3, conv(2, 1)),
            ("3x3 32->64 as s1 + even positions", 32, 64, 16, 3, s1_then_even),
            ("1x1 32->64 s2 @16", 32, 64, 16, 1, conv(2, 0)),
            ("1x1 32->64 as even positions + s1", 32, 64, 16, 1, even_then_1x1),
            ("3x3 16->16 s1 @32 GEMM", 16, 16, 32, 3, gemm(1, 1)),
            ("3x3 16->32 s2 @32 GEMM", 16, 32, 32, 3, gemm(2, 1)),
            ("1x1 16->32 s2 @32 GEMM", 16, 32, 32, 1, gemm(2, 0)),
            ("3x3 32->64 s2 @16 GEMM", 32, 64, 16, 3, gemm(2, 1)),
            ("1x1 32->64 s2 @16 GEMM", 32, 64, 16, 1, gemm(2, 0))]


def model_cases(model: str, n: int, image_size: int = 32, forms=("cudnn", "gemm")):
    """(name, c_in, c_out, size, kernel, form) for every distinct convolution shape of ``model`` (the
    paper's width, ``image_size`` inputs), as ``n`` models' grouped convolution (cuDNN) and its GEMM form
    (``... GEMM``) or Triton form (``... Triton``), those of ``forms``, in the order the network runs them;
    the name gives the first layer of that shape."""
    import torch

    from sketchbound.dnn.models import get_model
    m = get_model(model, 3, 10, image_size, "kaiming", seed=0)
    seen: dict[tuple, str] = {}

    def record(path):
        def hook(mod, inp):  # returns None: the input is left alone
            seen.setdefault((mod.in_channels, mod.out_channels, inp[0].shape[-1], mod.kernel_size[0], mod.stride[0],
                             mod.padding[0]), path)
        return hook
    hooks = [mod.register_forward_pre_hook(record(p)) for p, mod in m.named_modules() if isinstance(mod, torch.nn.Conv2d)]
    with torch.no_grad():
        m.eval()(torch.zeros(1, 3, image_size, image_size))
    for h in hooks:
        h.remove()
    out = []
    for (cin, cout, size, k, stride, pad), path in seen.items():
        label = f"{model} {path}: {k}x{k} {cin}->{cout} s{stride} @{size}"
        for f in forms:
            suffix, build = FORMS[f]
            out.append((label + suffix, cin, cout, size, k, build(n, stride, pad)))
    return out


def compiled_too(name: str) -> bool:
    """Whether ``--compile`` times this case compiled too: the GEMM forms and the cuDNN convolutions they
    replace (not the stride-1 "as ..." forms or the first layer)."""
    return name.endswith(" GEMM") or (" as " not in name and not name.startswith("first"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=16, help="N models = groups (default 16)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--size-div", type=int, default=1, help="divide the spatial sizes by this (tests: 8)")
    ap.add_argument("--iters", type=int, default=30, help="timed forward + backward passes per case")
    ap.add_argument("--device", default=None)
    ap.add_argument("--model", default=None, choices=("resnet20", "vgg19"),
                    help="instead of the fixed cases: every distinct convolution shape of this model, cuDNN and GEMM")
    ap.add_argument("--forms", default="cudnn,gemm",
                    help="with --model: comma-separated forms among cudnn, gemm, triton, triton2, triton4 (Triton "
                         "with 2 or 4 groups per program; default cudnn,gemm)")
    ap.add_argument("--only", default=None, help="only the cases whose name contains this string (e.g. ' s1 ')")
    ap.add_argument("--compile", action="store_true",
                    help="also time the GEMM forms and the convolutions they replace through torch.compile (default mode)")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    a = ap.parse_args(argv)
    for name in ("models", "batch_size", "size_div", "iters"):
        if getattr(a, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(a, name)}")
    forms = tuple(f.strip() for f in a.forms.split(",") if f.strip())
    if not forms or any(f not in FORMS for f in forms):
        ap.error(f"--forms must list forms among {', '.join(FORMS)}; got {a.forms!r}")
    if forms != ("cudnn", "gemm") and not a.model:
        ap.error(f"--forms {a.forms!r} needs --model (the fixed cases have their own forms)")
    import torch
    from torch.profiler import ProfilerActivity, profile

    from sketchbound.dnn.training.fused import time_fwd_bwd

    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = dev.type == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    torch.backends.cudnn.benchmark = True

    def sync():
        if cuda:
            torch.cuda.synchronize()

    res = {}
    write = _writer(a, argv, dtype, dev, cuda)
    base = model_cases(a.model, a.models, forms=forms) if a.model else cases(a.models)
    if a.only:
        base = [c for c in base if a.only in c[0]]
        if not base:
            ap.error(f"--only {a.only!r} matches no case")
    todo = list(base)
    if a.compile:
        torch._dynamo.config.recompile_limit = 1024  # the cases share code objects: one compilation per shape
        todo += [(name + " [compiled]", cin, cout, size, k, torch.compile(form, dynamic=False))
                 for name, cin, cout, size, k, form in base if a.model or compiled_too(name)]
    for name, cin, cout, size, k, form in todo:
        h = max(2, size // a.size_div)
        x = torch.randn(a.batch_size, a.models * cin, h, h, device=dev, dtype=dtype)
        x = x.to(memory_format=torch.channels_last).requires_grad_()
        w = torch.randn(a.models * cout, cin, k, k, device=dev, dtype=dtype)
        w = w.to(memory_format=torch.channels_last).requires_grad_()

        def step():
            y = form(x, w)
            y.backward(torch.ones_like(y))
        ms = time_fwd_bwd(form, x, w, a.iters, warmup=3)
        with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
            step()
            sync()
        ks = [(e.key, int(e.count), float(getattr(e, "device_time_total", 0.0) or 0.0)) for e in prof.key_averages()
              if str(getattr(e, "device_type", "")).endswith("CUDA")]
        res[name] = {"ms_fwd_bwd": round(ms, 4), "kernels": sum(c for _, c, _ in ks),
                     "slice_kernels": sum(c for kk, c, _ in ks if "slice" in kk.lower()),
                     "transform_kernels": sum(c for kk, c, _ in ks if "transform" in kk.lower()),
                     "top": [{"kernel": kk[:120], "calls": c, "us": round(t, 1)}
                             for kk, c, t in sorted(ks, key=lambda r: -r[2])[:4]]}
        print(f"{name:49s} {ms:8.3f} ms  kernels {res[name]['kernels']:3d}  slice {res[name]['slice_kernels']:3d}  "
              f"transform {res[name]['transform_kernels']:3d}", flush=True)
        write(res)  # after each case, so a run cut short keeps what it measured
    return 0


def _writer(a, argv, dtype, dev, cuda):
    import torch

    from sketchbound._io import atomic_write

    def write(res):
        out = {"models": a.models, "model": a.model, "batch_size": a.batch_size, "size_div": a.size_div, "iters": a.iters,
               "compile": a.compile, "forms": a.forms, "only": a.only, "dtype": str(dtype).replace("torch.", ""), "cases": res,
               "device": torch.cuda.get_device_name(dev) if cuda else "cpu", "torch": torch.__version__,
               "commit": os.environ.get("SKETCHBOUND_COMMIT"),
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "command": "python benchmarks/scripts/grouped_conv_bench.py "
                          + " ".join(sys.argv[1:] if argv is None else argv)}
        atomic_write(Path(a.out) / "grouped_conv_bench.json", json.dumps(out, indent=1) + "\n")
    return write


if __name__ == "__main__":
    raise SystemExit(main())
