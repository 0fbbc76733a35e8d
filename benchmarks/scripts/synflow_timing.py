"""Time SynFlow (100 rounds) on VGG-19 / ResNet-20 on the current device: pruning cost per run."""
import time

import torch

from sketchbound.dnn.pruning.inputs import make_input_source
from sketchbound.dnn.pruning.masks import make_mask
from sketchbound.dnn.models import get_model
from sketchbound.dnn.pruning.scores import compute_scores

dev = "cuda" if torch.cuda.is_available() else "cpu"
for name in ("resnet20", "vgg19"):
    m = get_model(name, in_channels=1, num_classes=10, image_size=32).to(dev)
    src = make_input_source("ones", shape=(1, 32, 32), batch_size=1, num_classes=10)
    for rounds in (10, 100):
        t = time.time()
        sc = compute_scores("synflow", m, src, density=0.02, rounds=rounds)
        mk = make_mask(sc, 0.02, "randomized", rng=0)
        if dev == "cuda":
            torch.cuda.synchronize()
        print(f"{name} synflow rounds={rounds} + randomized mask: {time.time() - t:.2f} s on {dev}", flush=True)
