"""Same-seed determinism of the data-driven pruning scores on the GPU; prints one JSON object.
Recorded result: ``dnn/results/gpu_determinism_h200.json`` (``dnn/results/README.md``, §9).

    python dnn/scripts/gpu_determinism.py [--models resnet20,vgg19] [--batch 256] [--device cuda] [--cpu-check]
    (CPU smoke test: --device cpu --models resnet20 --width 0.25 --batch 16 --samples-per-class 2)

For each model (CIFAR size, Kaiming init, seed 0) and method (ProsPr, GraSP in both variants, SNIP) the
scores are computed twice with the same seed and the same data-free batch source (matched-normal inputs,
random labels) — as two paired runs would — once as the library runs them (inside
``deterministic_algorithms()``) and once with the plain kernels (``fn.__wrapped__``, what the recorded runs
used). Reported per case: ``bitwise_equal``, ``max_abs_diff``, and ``kept_diff``: how many weights of the
10 % global threshold mask differ between the two computations. ``--cpu-check`` also compares the GPU scores
with the CPU's (``cpu_kept_jaccard``, ``cpu_max_rel_diff`` of unit-norm score vectors); the two devices are
expected to agree to float rounding, not bit for bit.
"""
from __future__ import annotations

import os

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before the first CUDA matmul of the process

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import torch  # noqa: E402

from sketchbound.dnn.models import get_model  # noqa: E402
from sketchbound.dnn.pruning.inputs import make_input_source  # noqa: E402
from sketchbound.dnn.pruning.masks import make_mask  # noqa: E402
from sketchbound.dnn.pruning.scores import grasp_scores, prospr_scores, snip_scores  # noqa: E402

CASES = {
    "prospr": (prospr_scores, {"inner_steps": 3}),
    "grasp_synflow": (grasp_scores, {"variant": "synflow"}),
    "grasp_original": (grasp_scores, {"variant": "original"}),
    "snip": (snip_scores, {}),
}


def _flat(sc):
    return torch.cat([v.detach().double().flatten().cpu() for v in sc.values()])


def _kept(sc):
    return torch.cat([m.flatten().cpu() for m in make_mask(sc, 0.1, "global", min_per_layer=0).values()]).bool()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet20,vgg19")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--device", default="cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cpu-check", action="store_true")
    p.add_argument("--width", type=float, default=1.0, help="channel-width multiplier (smoke tests: 0.25)")
    p.add_argument("--samples-per-class", type=int, default=25, help="GraSP original variant (its default 25)")
    a = p.parse_args(argv)
    dev = torch.device(a.device)
    out = {"torch": torch.__version__, "device": str(dev), "width": a.width,
           "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
           "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"), "batch": a.batch, "cases": []}
    src = make_input_source("normal", shape=(3, 32, 32), batch_size=a.batch, num_classes=10,
                            mean=[0.49, 0.48, 0.45], std=[0.25, 0.24, 0.26])
    for name in a.models.split(","):
        model = get_model(name, 3, 10, 32, width=a.width, seed=a.seed).to(dev)
        for case, (fn, kw) in CASES.items():
            if case == "grasp_original":
                kw = {**kw, "samples_per_class": a.samples_per_class}
            row = {"model": name, "case": case}
            for label, f in (("deterministic", fn), ("plain", fn.__wrapped__)):
                t0 = time.perf_counter()
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    s1 = f(model, src, generator=a.seed, **kw)
                    s2 = f(model, src, generator=a.seed, **kw)
                nondet = sorted({str(w.message)[:160] for w in caught if "determinis" in str(w.message)})
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
                f1, f2 = _flat(s1), _flat(s2)
                row[label] = {"bitwise_equal": bool(torch.equal(f1, f2)),
                              "max_abs_diff": float((f1 - f2).abs().max()),
                              "kept_diff": int((_kept(s1) != _kept(s2)).sum()),
                              "seconds_for_two": round(time.perf_counter() - t0, 2),
                              "nondeterministic_op_warnings": nondet}
                if label == "deterministic":
                    det = s1
            if a.cpu_check and dev.type != "cpu":
                sc = fn(model.cpu(), src, generator=a.seed, **kw)
                model.to(dev)
                g, c = _flat(det), _flat(sc)
                g, c = g / g.norm(), c / c.norm()
                kg, kc = _kept(det), _kept(sc)
                row["cpu_max_rel_diff"] = float((g - c).abs().max() / c.abs().max())
                row["cpu_kept_jaccard"] = float((kg & kc).sum() / (kg | kc).sum())
            out["cases"].append(row)
            print(json.dumps(row), flush=True, file=__import__("sys").stderr)
    out["all_deterministic_bitwise_equal"] = all(r["deterministic"]["bitwise_equal"] for r in out["cases"])
    print(json.dumps(out, indent=1))
    return 0 if out["all_deterministic_bitwise_equal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
