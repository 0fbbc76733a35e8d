"""Where a table run's time goes beyond the training steps: seconds per epoch of one
``ConcurrentTrainer`` of N masked models on a small epoch (Fashion-MNIST-5k: 5,000 images, 39 steps of
128), timed three ways in one process on one device:

- ``no_checkpoints``: jobs without checkpoint files (what ``bench_train`` times, plus epoch boundaries);
- ``checkpoint_every_epoch``: a verified checkpoint per job after every epoch (the runner's default);
- ``checkpoint_every_s``: ``checkpoint_every_s`` = 1e9 (only the last epoch's checkpoint).

The gap between the first and the second is what per-epoch checkpoints cost; the first against
``steps x ms_per_step`` of ``bench_train`` is what epoch boundaries cost. Synthetic uint8 images of
the given shape (the arithmetic does not depend on their values).

    python benchmarks/scripts/table_overhead.py --model resnet20 --jobs 8 --epochs 20 --out $OUT
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=20, help="timed epochs per way (after one untimed epoch)")
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    a = ap.parse_args(argv)

    import torch

    from sketchbound._io import atomic_write

    from sketchbound.dnn.experiments.bench_data import random_jobs, sync, synthetic_data
    from sketchbound.dnn.training import ConcurrentTrainer, Schedule

    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    data = synthetic_data(a.n_train, a.channels, a.image_size, 10)
    steps = a.n_train // a.batch_size
    res = {}
    for way, every, ckpt in (("no_checkpoints", 0.0, False), ("checkpoint_every_epoch", 0.0, True),
                             ("checkpoint_every_s", 1e9, True)):
        with tempfile.TemporaryDirectory() as tmp:
            sched = Schedule(epochs=a.epochs + 1, batch_size=a.batch_size, milestones=())
            jobs = random_jobs(a.model, data, a.jobs, prefix="job", checkpoint_dir=tmp if ckpt else None)
            tr = ConcurrentTrainer(jobs, data, sched, device=dev, progress=False, checkpoint_every_s=every)
            tr.run(stop_after_epochs=1)  # untimed: graph capture, first augmentation
            sync(dev)
            t0 = time.perf_counter()
            tr.run()
            sync(dev)
            dt = time.perf_counter() - t0
            res[way] = {"s_per_epoch": round(dt / a.epochs, 4), "seconds": round(dt, 3)}
            del tr, jobs
    base = res["no_checkpoints"]["s_per_epoch"]
    out = {"model": a.model, "jobs": a.jobs, "epochs_timed": a.epochs, "steps_per_epoch": steps, "ways": res,
           "checkpoint_share_of_epoch": round(1 - base / res["checkpoint_every_epoch"]["s_per_epoch"], 3),
           "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
           "commit": os.environ.get("SKETCHBOUND_COMMIT"), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "command": "python benchmarks/scripts/table_overhead.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    text = json.dumps(out, indent=2)
    print(text)
    atomic_write(Path(a.out) / f"table_overhead_{a.model}.json", text + "\n")  # creates the folder; readable per the umask
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
