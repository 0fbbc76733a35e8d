"""Where a training step of N masked models spends its GPU time: the kernels of the streams
trainer (``ConcurrentTrainer``: a CUDA graph per model) and of the horizontally fused one
(``FusedTrainer``: grouped convolutions), profiled with ``torch.profiler`` over the same steps in one
process on one device, grouped into kernel families (convolution, batch norm, elementwise, ...).

The question it answers: is the fused step's time in its grouped convolutions (then another form of
the fused convolution is the lever) or elsewhere? Synthetic uint8 images (the arithmetic does not
depend on their values); untimed warm-up epoch first (graph capture, cuDNN's algorithm choice, with
``cudnn.benchmark`` on as in ``bench_train``; profiles of commit ``517a2ef`` and earlier had it off). The
profiled epoch is training only: profiles of commit ``77f1d46`` and earlier profiled the run's last epoch,
after which each model evaluated the 1,000 synthetic test images inside the profile.

    python benchmarks/scripts/profile_step.py --model resnet20 --jobs 16 --steps 40 --out $OUT

``--conv-block K``: the fused way with K models per dense block-diagonal convolution instead of one
grouped convolution (``FusedTrainer(conv_block=K)``). ``--fused-compile MODE``: the fused way's forward
and backward through ``torch.compile`` (``FusedTrainer(compile_mode=MODE)``), whose Inductor kernels form
a family of their own. ``--conv-gemm WHICH``: the fused way's convolutions in the batched-GEMM form
(``FusedTrainer(conv_gemm=WHICH)``). ``--sgd-kernel triton``: both ways' masked SGD step as one Triton kernel
per parameter (``sgd_kernel="triton"``; its kernel, ``masked_sgd``, falls in the optimizer family).
Writes ``$OUT/profile_<model>_j<jobs>[_k<K>][_c<MODE>][_g<WHICH>][_sgd<KERNEL>].json`` (per way: total
kernel time, families with their share, the top kernels by time) and prints it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

#: kernel-name patterns of each family, tried in order (names differ between cuDNN / CUTLASS / ATen builds)
FAMILIES = (
    # Inductor's generated kernels (triton_poi_/triton_red_/triton_per_fused_<ops>): one kernel is several
    # operators (batch norm + ReLU + add ...), so it is a family of its own, before the operator patterns
    ("Inductor (Triton)", r"^triton_"),
    ("batch norm", r"batch_norm|batchnorm|bn_|welford"),
    ("convolution", r"conv|implicit_gemm|xmma|cudnn|fprop|dgrad|wgrad|winograd|im2col|col2im"),
    ("gemm", r"gemm|cublas|matmul|cutlass"),
    ("optimizer / mask", r"foreach|multi_tensor|_amp_|sgd|lerp|addcmul"),
    ("reduction", r"reduce|sum_kernel|norm_kernel"),
    ("layout copy", r"nchw|nhwc|transpose|copy|cat_|permute"),
    ("elementwise", r"elementwise|vectorized|unrolled|relu|clamp|add|mul|threshold|fill"),
)


def family(name: str) -> str:
    low = name.lower()
    for fam, pat in FAMILIES:
        if re.search(pat, low):
            return fam
    return "other"


def summarize(events, steps: int, top: int) -> dict:
    """Kernel time by family and the top kernels, from a profiler's ``key_averages()``."""
    rows = []
    for e in events:
        # only the device's own events (kernels, memcpy/memset): a CPU operator's device_time_total is the
        # time of the kernels it launched, which are rows of their own, so counting both counts them twice
        if str(getattr(e, "device_type", "DeviceType.CPU")).rsplit(".", 1)[-1] == "CPU":
            continue
        t = getattr(e, "device_time_total", None)
        if t is None:
            t = getattr(e, "cuda_time_total", 0.0)
        if t and e.key and not e.key.startswith(("ProfilerStep", "cudaGraphLaunch", "cuda")):
            rows.append((e.key, float(t), int(e.count)))
    if not rows:  # CPU: no device kernels; fall back to the CPU time of the aten operators
        rows = [(e.key, float(e.self_cpu_time_total), int(e.count)) for e in events
                if e.key.startswith("aten::") and e.self_cpu_time_total > 0]
    total = sum(t for _, t, _ in rows)
    fams: dict[str, float] = {}
    for k, t, _ in rows:
        fams[family(k)] = fams.get(family(k), 0.0) + t
    rows.sort(key=lambda r: -r[1])
    return {"kernel_us_per_step": round(total / steps, 1),
            "families": {f: {"us_per_step": round(t / steps, 1), "share": round(t / total, 4) if total else None}
                         for f, t in sorted(fams.items(), key=lambda kv: -kv[1])},
            "top": [{"kernel": k[:160], "us_per_step": round(t / steps, 1), "calls": c,
                     "share": round(t / total, 4) if total else None} for k, t, c in rows[:top]]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--steps", type=int, default=40, help="profiled steps per way (one epoch of that many steps)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--ways", default="streams,fused")
    ap.add_argument("--device", default=None)
    ap.add_argument("--nchw", action="store_true", help="the trainers in NCHW instead of channels_last (CUDA default)")
    ap.add_argument("--conv-block", type=int, default=1,
                    help="fused way only: k models share one dense block-diagonal convolution (FusedTrainer(conv_block=k))")
    ap.add_argument("--fused-compile", default=None, metavar="MODE",
                    help="fused way only: its step through torch.compile in this mode "
                         "(FusedTrainer(compile_mode=MODE); default: eager)")
    ap.add_argument("--conv-gemm", default="off", metavar="WHICH",
                    help="fused way only: which convolutions run as one batched GEMM (FusedTrainer(conv_gemm=...); "
                         "off, strided, all, auto; default off)")
    ap.add_argument("--sgd-kernel", default="foreach", metavar="KERNEL",
                    help="both ways: the masked SGD step, foreach (default) or triton (ConcurrentTrainer(sgd_kernel=...))")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    a = ap.parse_args(argv)
    for name in ("jobs", "steps", "batch_size", "image_size", "channels", "top", "conv_block"):
        if getattr(a, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(a, name)}")
    import torch

    from sketchbound.dnn.training.fused import check_compile_mode, check_conv_gemm
    from sketchbound.dnn.training.sgd_kernel import check_sgd_kernel
    try:
        check_compile_mode(a.fused_compile, "--fused-compile")
        check_conv_gemm(a.conv_gemm, "--conv-gemm")
        check_sgd_kernel(a.sgd_kernel, a.device or ("cuda" if torch.cuda.is_available() else "cpu"), "--sgd-kernel")
    except ValueError as e:
        ap.error(str(e))
    ways = a.ways.split(",")
    bad = [w for w in ways if w not in ("streams", "fused")]
    if bad:
        ap.error(f"--ways: unknown {bad[0]!r}; accepted: streams, fused")

    import torch
    from torch.profiler import ProfilerActivity, profile

    from sketchbound._io import atomic_write

    from sketchbound.dnn.experiments.bench_data import random_jobs, sync, synthetic_data
    from sketchbound.dnn.training import ConcurrentTrainer, Schedule
    from sketchbound.dnn.training.fused import FusedTrainer

    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda":  # as bench_train does: cuDNN autotunes its algorithms in the untimed epoch
        torch.backends.cudnn.benchmark = True
    data = synthetic_data(a.steps * a.batch_size, a.channels, a.image_size, 10)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    res = {}
    for way in ways:
        # three epochs, of which two run: the profiled epoch is not the last, so the test-set evaluation that
        # follows a job's last epoch stays out of the profile (profiles of commit 77f1d46 and earlier held it)
        sched = Schedule(epochs=3, batch_size=a.batch_size, milestones=())
        jobs = random_jobs(a.model, data, a.jobs, prefix="job")
        kw = {"conv_block": a.conv_block, "compile_mode": a.fused_compile, "conv_gemm": a.conv_gemm} \
            if way == "fused" else {}
        cls = FusedTrainer if way == "fused" else ConcurrentTrainer
        tr = cls(jobs, data, sched, device=dev, progress=False, channels_last=False if a.nchw else None,
                 sgd_kernel=a.sgd_kernel, **kw)
        tr.run(stop_after_epochs=1)  # untimed: graph capture, cuDNN's choices, first augmentation
        sync(dev)
        t0 = time.perf_counter()
        with profile(activities=acts) as prof:
            tr.run(stop_after_epochs=1)
            sync(dev)
        wall = time.perf_counter() - t0
        res[way] = {"wall_ms_per_step": round(1e3 * wall / a.steps, 3),
                    "images_per_s_profiled": round(a.jobs * a.batch_size * a.steps / wall),
                    **summarize(prof.key_averages(), a.steps, a.top)}
        del tr, jobs
    out = {"model": a.model, "jobs": a.jobs, "steps": a.steps, "batch_size": a.batch_size, "nchw": a.nchw,
           "conv_block": a.conv_block, "fused_compile": a.fused_compile, "conv_gemm": a.conv_gemm,
           "sgd_kernel": a.sgd_kernel, "ways": res,
           "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
           "commit": os.environ.get("SKETCHBOUND_COMMIT"), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "command": "python benchmarks/scripts/profile_step.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "note": "times under the profiler (slower than bench_train); shares are of summed kernel time"}
    text = json.dumps(out, indent=2)
    print(text)
    name = f"profile_{a.model}_j{a.jobs}" + (f"_k{a.conv_block}" if a.conv_block > 1 else "") \
        + (f"_c{a.fused_compile}" if a.fused_compile else "") + (f"_g{a.conv_gemm}" if a.conv_gemm != "off" else "") \
        + (f"_sgd{a.sgd_kernel}" if a.sgd_kernel != "foreach" else "")
    atomic_write(Path(a.out) / f"{name}.json", text + "\n")  # creates the folder; readable per the umask
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
