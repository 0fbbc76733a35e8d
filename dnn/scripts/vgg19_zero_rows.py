"""Where do the zero feature rows of VGG-19 at initialisation come from? (validation/deep.md, item 2)
Recorded result: ``validation/deep/vgg19/zero_rows_init.csv``.

Rebuilds exactly the initial network and the batch of `python -m sketchbound.dnn.deep_theory lemma43
--model vgg19 --dataset fashion-mnist` (seed 0, 256 images, 1,024 patch columns per layer, the same
seed streams) and, for every conv layer, counts the rows j = (input channel, kernel offset) of the
patch matrix X̃ with ‖X̃_(j)‖ = 0 on the sampled columns — the rows whose weights eq. (2) gives p = 0.
Each zero row is classified as part of a *dead channel* (all 9 offsets of that input channel zero)
or as a *lone offset* (that offset zero while the channel is active at other offsets).

    python dnn/scripts/vgg19_zero_rows.py [--data-root DIR] [--out validation/deep/vgg19/zero_rows_init.csv]
"""
import argparse

import pandas as pd
import torch

from sketchbound._io import atomic_write
from sketchbound.dnn.data import load_dataset
from sketchbound.dnn.models import get_model
from sketchbound.dnn.models.prunable import prunable_modules
from sketchbound.dnn.theory.layers import layer_inputs, patch_matrix
from sketchbound.seeds import stream_seed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", default="validation/deep/vgg19/zero_rows_init.csv")
    args = ap.parse_args()
    seed, batch, columns = 0, 256, 1024
    data = load_dataset("fashion-mnist", args.data_root).pad_to(32)
    torch.manual_seed(seed)
    model = get_model("vgg19", data.in_channels, data.num_classes, data.image_size, "kaiming", width=1.0, seed=seed)
    g = torch.Generator().manual_seed(stream_seed(seed, "deep-theory-data"))
    idx = torch.randperm(len(data), generator=g)[:batch]
    x = data.normalized(data.x_train[idx]).float()
    ins = layer_inputs(model, x)
    gcol = torch.Generator().manual_seed(stream_seed(seed, "deep-theory-columns"))
    rows = []
    for name, m in prunable_modules(model):
        key = f"{name}.weight"
        P = patch_matrix(m, ins[key])
        if P.shape[1] > columns:
            P = P[:, torch.randperm(P.shape[1], generator=gcol)[:columns]]
        if not isinstance(m, torch.nn.Conv2d):
            continue
        k = m.kernel_size[0] * m.kernel_size[1]
        zero = (P.norm(dim=1) == 0).reshape(m.in_channels, k)
        dead = zero.all(dim=1)
        hw = ins[key].shape[-1]
        rows.append({"layer": key, "input_map": f"{hw}x{hw}", "D": int(P.shape[0]), "zero_rows": int(zero.sum()),
                     "dead_channels": int(dead.sum()), "rows_in_dead_channels": int(dead.sum()) * k,
                     "lone_zero_offsets": int(zero[~dead].sum()),
                     "at_corner_offsets": int(zero[:, [0, k - 1, k - m.kernel_size[1], m.kernel_size[1] - 1]].sum())
                     if m.kernel_size == (3, 3) else None,
                     "zero_weights_p0": int(zero.sum()) * m.out_channels})
    df = pd.DataFrame(rows)
    atomic_write(args.out, df.to_csv(index=False))
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
