"""Horizontal fusion on the GPU: FusedTrainer trains like ConcurrentTrainer under CUDA graphs + bf16.

    PYTHONPATH=. python3 benchmarks/scripts/gpu_fused_check.py [--out DIR] [--models resnet20,vgg19] [--jobs 4]
    (CPU smoke test: --device cpu --models resnet20 --width 0.25 --n-train 256 --image-size 8 --batch 32)

For each model, ``--jobs`` masked models (density 0.1, per-model seeds) train 3 epochs (lr drop after
epoch 2; lr 0.02) on learnable synthetic data, four ways: streams and fused as the table runner uses them (on CUDA:
graphs, bf16, channels_last), and both again eagerly in fp32. Reported: per model the train-loss history,
test accuracy, whether pruned weights are exactly zero, and the largest relative difference of the
train-loss histories fused vs streams (all epochs, and epoch 1 alone, which chaos has amplified least;
fp32 eager: float order only, expected ≲ 1e-3 in epoch 1; graphs + bf16: bf16 rounding, expected ≲ a few
%; a wrong fused layout would be off by O(1)). Then :func:`choose_fusion`'s measured decision for ``8`` models at
batch 128. One JSON object on stdout (and ``DIR/fused_check.json``).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch

from sketchbound._io import atomic_write_json
from sketchbound.dnn.data import TensorDataset
from sketchbound.dnn.models import get_model
from sketchbound.dnn.models.prunable import prunable_parameters
from sketchbound.dnn.training import ConcurrentTrainer, Schedule, TrainJob
from sketchbound.dnn.training.fused import FusedTrainer, choose_fusion


def learnable(n: int, size: int, classes: int = 10, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = (torch.randint(0, 140, (n, 3, size, size), generator=g) + 12 * y.view(-1, 1, 1, 1)).clamp(0, 255).to(torch.uint8)
    return TensorDataset("learnable", x, y, x[:1000].clone(), y[:1000].clone(), classes, (0.45,) * 3, (0.25,) * 3)


def jobs(model: str, k: int, data: TensorDataset, width: float) -> list[TrainJob]:
    out = []
    for i in range(k):
        m = get_model(model, 3, data.num_classes, data.image_size, "kaiming", width=width, seed=i)
        g = torch.Generator().manual_seed(100 + i)
        masks = {n: (torch.rand(p.shape, generator=g) < 0.1).float() for n, p in prunable_parameters(m)}
        out.append(TrainJob(m, masks, seed=i, name=f"{model}-{i}"))
    return out


def rel_diff(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a, b))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.environ.get("OUT"))
    p.add_argument("--device", default="cuda")
    p.add_argument("--models", default="resnet20,vgg19")
    p.add_argument("--jobs", type=int, default=4)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--n-train", type=int, default=4096)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batch", type=int, default=128)
    a = p.parse_args()
    dev = torch.device(a.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = learnable(a.n_train, a.image_size)
    sched = Schedule(epochs=3, batch_size=a.batch, lr=0.02, milestones=(2,))  # a small lr amplifies float noise less
    eager = dict(cuda_graphs=False, amp=False, channels_last=False)
    report = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
              "commit": os.environ.get("SKETCHBOUND_COMMIT"), "models": {}}
    for model in a.models.split(","):
        r: dict = {"ways": {}}
        for name, cls, kw in (("streams", ConcurrentTrainer, {}), ("fused", FusedTrainer, {}),
                              ("streams_eager_fp32", ConcurrentTrainer, eager), ("fused_eager_fp32", FusedTrainer, eager)):
            try:
                tr = cls(jobs(model, a.jobs, data, a.width), data, sched, device=dev, progress=False, **kw)
                t = time.perf_counter()
                res = tr.run()
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
                exact = all(bool(((q.detach() != 0) & (m == 0)).sum() == 0)
                            for st in tr.states for q, m in zip(st.masked_params, st.masks))
                r["ways"][name] = {"seconds": time.perf_counter() - t, "masks_exact": exact,
                                   "cuda_graphs": tr.cuda_graphs, "amp": tr.amp,
                                   "train_loss": [[h["train_loss"] for h in x.history] for x in res],
                                   "test_accuracy": [x.test_accuracy for x in res]}
                del tr
            except Exception as e:  # noqa: BLE001 — one failure must not hide the others
                r["ways"][name] = {"error": f"{type(e).__name__}: {e}"}
        w = r["ways"]
        for x, y, key in (("fused", "streams", "graphs_bf16"), ("fused_eager_fp32", "streams_eager_fp32", "eager_fp32")):
            if "train_loss" in w.get(x, {}) and "train_loss" in w.get(y, {}):
                r[f"max_rel_loss_diff_{key}"] = max(rel_diff(u, v) for u, v in zip(w[x]["train_loss"], w[y]["train_loss"]))
                r[f"max_rel_epoch1_loss_diff_{key}"] = max(rel_diff(u[:1], v[:1]) for u, v in
                                                           zip(w[x]["train_loss"], w[y]["train_loss"]))
        try:
            r["choose_fusion_8"] = choose_fusion(get_model(model, 3, 10, a.image_size, width=a.width), batch_size=a.batch,
                                                 n=8, device=dev, image_shape=(3, a.image_size, a.image_size),
                                                 num_classes=10)
        except Exception as e:  # noqa: BLE001
            r["choose_fusion_8"] = {"error": f"{type(e).__name__}: {e}"}
        report["models"][model] = r
        if a.out:
            atomic_write_json(os.path.join(a.out, "fused_check.json"), report)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
