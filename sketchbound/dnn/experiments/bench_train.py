"""Throughput of the masked trainer vs a plain PyTorch loop, measured in the same call on the same device.

``python -m sketchbound.dnn.bench_train`` (defaults: ResNet-20, CIFAR-shaped synthetic data resident on
the device, batch 128, 8 concurrent masked jobs at density 0.1) prints images/s of

* ``plain``: one model, fp32, ``torch.optim.SGD(momentum=0.9, weight_decay=1e-4)``, batches sliced from
  a normalised float tensor already on the device (no masking, no augmentation) — the baseline of
  issue 5;
* ``concurrent``: :class:`~sketchbound.dnn.training.ConcurrentTrainer` with ``--jobs`` masked models
  (on CUDA: one CUDA graph per job on its own stream, bf16 autocast, channels_last, on-device
  augmentation), aggregate over jobs;

and their ratio (the target of issue 5 is ≥ 10× for ResNet-20 on an H100). Warm-up steps (and the
graph capture) are excluded from both timings. ``--json`` prints one JSON object instead.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Sequence

import torch
import torch.nn.functional as F

from sketchbound._cli import arg_type
from sketchbound.dnn.experiments.config import OneLineParser
from sketchbound.dnn.data import TensorDataset
from sketchbound.dnn.training import ConcurrentTrainer, Schedule, TrainJob

__all__ = ["bench_plain", "bench_concurrent", "main"]


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _synthetic(n: int, c: int, size: int, k: int, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, c, size, size), dtype=torch.uint8, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    return TensorDataset("synthetic", x, y, x[:1000], y[:1000], k, (0.5,) * c, (0.25,) * c)


def _model(name, data, width, seed):
    from sketchbound.dnn.models import get_model  # noqa: PLC0415
    return get_model(name, data.in_channels, data.num_classes, data.image_size, "kaiming", width=width, seed=seed)


def _random_masks(model, density: float, seed: int):
    from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: PLC0415
    g = torch.Generator().manual_seed(seed)
    return {n: (torch.rand(p.shape, generator=g) < density).float() for n, p in prunable_parameters(model)}


def bench_plain(model_name: str, data: TensorDataset, *, steps: int, warmup: int, batch_size: int, device, width=1.0) -> dict:
    """Images/s of a plain fp32 loop over device-resident normalised data (one model)."""
    dev = torch.device(device)
    model = _model(model_name, data, width, 0).to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = data.normalized(data.x_train.to(dev))
    y = data.y_train.to(dev)
    n = x.shape[0] // batch_size

    def step(i):
        j = (i % n) * batch_size
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[j:j + batch_size]), y[j:j + batch_size])
        loss.backward()
        opt.step()

    for i in range(warmup):
        step(i)
    _sync(dev)
    t = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    _sync(dev)
    dt = time.perf_counter() - t
    return {"images_per_s": steps * batch_size / dt, "ms_per_step": 1e3 * dt / steps, "seconds": dt}


def bench_concurrent(model_name: str, data: TensorDataset, *, jobs: int, steps: int, warmup: int, batch_size: int,
                     device, width=1.0, density=0.1, cuda_graphs=None, amp=None, channels_last=None) -> dict:
    """Aggregate images/s of :class:`ConcurrentTrainer` with ``jobs`` masked models (steady state)."""
    dev = torch.device(device)
    n_steps = len(data) // batch_size
    epochs = (warmup + steps) // n_steps + 1
    sched = Schedule(epochs=epochs, batch_size=batch_size, milestones=())
    js = []
    for j in range(jobs):
        m = _model(model_name, data, width, j)
        js.append(TrainJob(m, _random_masks(m, density, j), seed=j, name=f"bench{j}"))
    tr = ConcurrentTrainer(js, data, sched, device=dev, progress=False, cuda_graphs=cuda_graphs, amp=amp,
                           channels_last=channels_last)
    t0 = time.perf_counter()
    tr.run(max_steps=warmup)  # includes graph capture and the first epoch's augmentation
    _sync(dev)
    setup = time.perf_counter() - t0
    t = time.perf_counter()
    tr.run(max_steps=warmup + steps)
    _sync(dev)
    dt = time.perf_counter() - t
    exact = all(bool(((p.detach() != 0) & (m == 0)).sum() == 0)
                for st in tr.states for p, m in zip(st.masked_params, st.masks))
    return {"images_per_s": jobs * steps * batch_size / dt, "ms_per_step_per_model": 1e3 * dt / (steps * jobs),
            "masks_exact": exact,
            "seconds": dt, "setup_seconds": setup, "jobs": jobs, "cuda_graphs": tr.cuda_graphs, "amp": tr.amp,
            "channels_last": tr.channels_last}


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="python -m sketchbound.dnn.bench_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet20", help="architecture (default resnet20; see sketchbound.dnn.MODEL_NAMES)")
    p.add_argument("--jobs", type=int, default=8, help="concurrent masked models (default 8)")
    p.add_argument("--steps", type=int, default=400, help="timed steps (default 400)")
    p.add_argument("--warmup", type=int, default=30, help="untimed steps first (default 30)")
    p.add_argument("--batch-size", type=int, default=128, help="SGD batch size (default 128, paper §7)")
    p.add_argument("--n-train", type=int, default=50000, help="synthetic training images (default 50000)")
    p.add_argument("--image-size", type=int, default=32, help="side of the synthetic images (default 32, CIFAR)")
    p.add_argument("--channels", type=int, default=3, help="image channels (default 3)")
    p.add_argument("--classes", type=int, default=10, help="number of classes (default 10)")
    p.add_argument("--width", type=arg_type("width", float, lambda x: 0 < x < 1e6, "a positive finite number"), default=1.0, help="width multiplier of the model (default 1.0)")
    p.add_argument("--density", type=float, default=0.1, help="density of the random masks, in (0, 1] (default 0.1)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--no-graphs", action="store_true", help="concurrent trainer without CUDA graphs")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the text lines")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser()
    a = p.parse_args(argv)
    for name in ("jobs", "steps", "batch_size", "n_train", "image_size", "channels", "classes"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(a, name)}")
    if a.warmup < 1:
        p.error(f"--warmup must be >= 1, got {a.warmup}")
    if not (0 < a.density <= 1):
        p.error(f"--density must be in (0, 1], got {a.density}")
    if a.n_train < a.batch_size:
        p.error(f"--n-train {a.n_train} must be >= --batch-size {a.batch_size}")
    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = _synthetic(a.n_train, a.channels, a.image_size, a.classes)
    if dev.type == "cpu":  # a GPU benchmark started on the CPU: say so, with a measured estimate
        from sketchbound.dnn.experiments.cpu_warning import warn_if_long_on_cpu  # noqa: PLC0415
        shape = (a.channels, a.image_size, a.image_size)
        warn_if_long_on_cpu([((a.warmup + a.steps) * (1 + a.jobs), lambda: _model(a.model, data, a.width, 0), shape,
                              a.classes, a.batch_size, a.model)],
                            what=f"this benchmark (1 plain + {a.jobs} masked models x {a.warmup + a.steps} steps)",
                            hint="make it smaller (--steps 20 --warmup 2 --jobs 2 --n-train 2048)", threshold_s=60)
    common = dict(steps=a.steps, warmup=a.warmup, batch_size=a.batch_size, device=dev, width=a.width)
    from sketchbound._progress import elapsed  # noqa: PLC0415
    with elapsed(f"plain loop: {a.warmup + a.steps} steps of {a.model}"):
        plain = bench_plain(a.model, data, **common)
    with elapsed(f"ConcurrentTrainer: {a.jobs} models x {a.warmup + a.steps} steps"):
        conc = bench_concurrent(a.model, data, jobs=a.jobs, density=a.density,
                                cuda_graphs=False if a.no_graphs else None, **common)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    out = {"device": name, "model": a.model, "batch_size": a.batch_size, "plain": plain, "concurrent": conc,
           "ratio": conc["images_per_s"] / plain["images_per_s"], "torch": torch.__version__}
    if a.json:
        print(json.dumps(out))
    else:
        print(f"device {name}  model {a.model}  batch {a.batch_size}  torch {torch.__version__}")
        print(f"plain loop (1 model, fp32):   {plain['images_per_s']:12.0f} images/s  ({plain['ms_per_step']:.2f} ms/step)")
        print(f"ConcurrentTrainer ({a.jobs} jobs, graphs={conc['cuda_graphs']}, bf16={conc['amp']}): "
              f"{conc['images_per_s']:12.0f} images/s  ({conc['ms_per_step_per_model']:.2f} ms/step per model)")
        print(f"ratio: {out['ratio']:.2f}x   (pruned weights still exactly zero: {conc['masks_exact']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
