"""How well-conditioned are the data-driven pruning scores? fp32 vs fp64 on the same CPU.
Recorded result: ``dnn/results/score_conditioning.json`` (``dnn/results/README.md``, §9).

The same model (ResNet-20, CIFAR size, Kaiming init, seed 0), the same batch source (matched-normal
inputs, random labels, batches of 64) and the same seed; scores once in float32 and once in float64. A
well-conditioned score keeps (nearly) the same 10 % global threshold mask; an ill-conditioned one keeps a
different set: then no two devices (CPU, GPU, another library version) can be expected to agree beyond
that, even though each device reproduces itself bit for bit (``dnn/scripts/gpu_determinism.py``).
Prints one JSON object: per method, the Jaccard index of the two kept sets and the max relative
difference of the unit-norm score vectors.

    python dnn/scripts/score_conditioning.py > dnn/results/score_conditioning.json
"""
from __future__ import annotations

import copy
import json
import platform
import sys
import time

import torch

from sketchbound.dnn.models import get_model
from sketchbound.dnn.pruning.inputs import make_input_source
from sketchbound.dnn.pruning.masks import make_mask
from sketchbound.dnn.pruning.scores import grasp_scores, prospr_scores, snip_scores

CASES = [("snip", snip_scores, {}), ("grasp_synflow", grasp_scores, {"variant": "synflow"}),
         ("grasp_original", grasp_scores, {"variant": "original", "samples_per_class": 6}),
         ("prospr", prospr_scores, {"inner_steps": 3})]


def _flat(sc):
    v = torch.cat([x.double().flatten() for x in sc.values()])
    return v / v.norm()


def _kept(sc):
    return torch.cat([m.flatten() for m in make_mask(sc, 0.1, "global", min_per_layer=0).values()]).bool()


def main() -> int:
    torch.manual_seed(0)
    src = make_input_source("normal", shape=(3, 32, 32), batch_size=64, num_classes=10,
                            mean=[0.49, 0.48, 0.45], std=[0.25, 0.24, 0.26])

    def src64(g):
        x, y = src(g)
        return x.double(), y

    m32 = get_model("resnet20", 3, 10, 32, width=1.0, seed=0)
    m64 = copy.deepcopy(m32).double()
    out = {"what": "ResNet-20 scores in float32 vs float64 on one CPU, same weights, inputs and seed; 10% global threshold mask",
           "torch": torch.__version__, "machine": platform.machine(), "threads": torch.get_num_threads(),
           "command": "python dnn/scripts/score_conditioning.py", "date": time.strftime("%Y-%m-%d"), "cases": []}
    for name, fn, kw in CASES:
        a, b = fn(m32, src, generator=0, **kw), fn(m64, src64, generator=0, **kw)
        ka, kb = _kept(a), _kept(b)
        fa, fb = _flat(a), _flat(b)
        out["cases"].append({"method": name, "jaccard_kept_fp32_vs_fp64": round(float((ka & kb).sum() / (ka | kb).sum()), 4),
                             "max_rel_diff_unit_scores": float((fa - fb).abs().max() / fb.abs().max())})
        print(json.dumps(out["cases"][-1]), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
