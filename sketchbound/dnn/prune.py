"""``python -m sketchbound.dnn.prune``: prune a freshly initialised network at initialization and report.

Builds the model, computes a method's scores (:mod:`sketchbound.dnn.scores`) on the chosen inputs
(:mod:`sketchbound.dnn.inputs`), makes the mask (:mod:`sketchbound.dnn.masks`) and prints, per layer,
the kept count, the density and the mean ``|w|`` of the kept weights (the quantity of Fig. 1/3).

Example::

    python -m sketchbound.dnn.prune --model vgg19 --dataset fashion-mnist --method synflow \\
        --inputs chi --mask randomized --density 0.05 --seed 0 --json --save mask.pt

Real images are read from IDX files (``--data-root``, default the Debian ``dataset-fashion-mnist``
location); they are scaled to [0, 1] and standardised with the training set's mean/std, which is
what the network sees; "matched normal" inputs use that data's per-channel mean/std. Nothing is
downloaded. Bad arguments or a missing dataset: one line on stderr, exit code 2. Same seed ⇒ same mask.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile

import numpy as np
import torch
from torch.nn import functional as F

from .idx import DEFAULT_ROOTS, load_idx_dataset
from .inputs import INPUT_KINDS, as_torch_generator, make_input_source
from .masks import MASK_MODES, kept_count, make_mask, mask_summary
from .models import MODEL_NAMES, INIT_SCHEMES, canonical_name, get_model
from .scores import METHODS, compute_scores

DATASETS = {"fashion-mnist": (1, 10, 28), "mnist": (1, 10, 28)}


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump / traceback
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m sketchbound.dnn.prune", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help=f"one of {', '.join(MODEL_NAMES)}")
    p.add_argument("--dataset", default="fashion-mnist", choices=sorted(DATASETS))
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--inputs", choices=INPUT_KINDS, default=None,
                   help="pruning inputs (default: ones for synflow, real otherwise)")
    p.add_argument("--mask", default="global", type=lambda s: s.replace("-", "_"),
                   help=f"mask mode: {', '.join(MASK_MODES)}")
    p.add_argument("--density", type=float, required=True, help="fraction of prunable weights kept, in (0, 1]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", default="kaiming", choices=INIT_SCHEMES)
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier of the model (1 = paper)")
    p.add_argument("--image-size", type=int, default=None, help="resize inputs to this size (default: dataset's)")
    p.add_argument("--batch-size", type=int, default=256, help="pruning batch size (paper: 256; SynFlow with ones/chi inputs uses one input)")
    p.add_argument("--rounds", type=int, default=100, help="SynFlow rounds (paper: 100)")
    p.add_argument("--min-per-layer", type=int, default=1, help="weights every layer keeps at least (0 = unguarded)")
    p.add_argument("--data-root", default=None, help="directory with the IDX files (default: /usr/share/datasets/<dataset>)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--save", default=None, help="write {'masks', 'args'} with torch.save (atomically)")
    return p


def _check(args) -> None:
    if not (0 < args.density <= 1) or math.isnan(args.density):
        raise _UsageError(f"argument --density: must be in (0, 1], got {args.density}")
    if args.mask not in MASK_MODES:
        raise _UsageError(f"argument --mask: must be one of {', '.join(MASK_MODES)}, got {args.mask!r}")
    for flag in ("batch_size", "rounds"):
        if getattr(args, flag) < 1:
            raise _UsageError(f"argument --{flag.replace('_', '-')}: must be a positive integer, got {getattr(args, flag)}")
    if args.image_size is not None and args.image_size < 1:
        raise _UsageError(f"argument --image-size: must be a positive integer, got {args.image_size}")
    if args.seed < 0:
        raise _UsageError(f"argument --seed: must be non-negative, got {args.seed}")
    if not args.width > 0:
        raise _UsageError(f"argument --width: must be positive, got {args.width}")
    if args.min_per_layer < 0:
        raise _UsageError(f"argument --min-per-layer: must be >= 0, got {args.min_per_layer}")
    try:
        args.model = canonical_name(args.model)
    except ValueError as e:
        raise _UsageError(f"argument --model: {e}") from None
    if args.device == "cuda" and not torch.cuda.is_available():
        raise _UsageError("argument --device: cuda requested but torch.cuda.is_available() is False")
    if args.save is not None:
        d = os.path.dirname(os.path.abspath(args.save))
        if not os.path.isdir(d):
            raise _UsageError(f"argument --save: directory {d} does not exist")


def _real_source(images: np.ndarray, labels: np.ndarray, batch_size: int, size: int, mean: float, std: float):
    x_all = torch.from_numpy(images)
    y_all = torch.from_numpy(labels)
    if batch_size > x_all.shape[0]:
        raise ValueError(f"--batch-size {batch_size} exceeds the dataset size {x_all.shape[0]}")

    def source(generator=None):
        idx = torch.randperm(x_all.shape[0], generator=as_torch_generator(generator))[:batch_size]
        x = (x_all[idx].float().div_(255.0).unsqueeze(1) - mean) / std
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return x, y_all[idx]

    return source


def run(args) -> dict:
    """Do the work of the CLI for parsed ``args``; returns the report dict."""
    channels, classes, native = DATASETS[args.dataset]
    size = args.image_size or native
    kind = args.inputs or ("ones" if args.method == "synflow" else "real")
    device = torch.device(args.device)
    shape = (channels, size, size)
    source = None
    if kind in ("real", "normal"):
        root = args.data_root or DEFAULT_ROOTS[args.dataset]
        images, labels = load_idx_dataset(root, "train")
        pix = images.astype(np.float64) / 255.0
        mean, std = float(pix.mean()), float(pix.std())
        source = _real_source(images, labels, args.batch_size, size, mean, std)
        if kind == "normal":  # statistics of the data the network sees: standardised pixels
            xs, _ = source(torch.Generator().manual_seed(args.seed))
            source = make_input_source("normal", shape=shape, batch_size=args.batch_size, num_classes=classes,
                                       mean=float(xs.mean()), std=float(xs.std()))
    else:
        # SynFlow's input is one vector (eq. (3)/(4)): all ones, or χ entries redrawn every round
        bs = 1 if (args.method == "synflow" and kind in ("ones", "chi")) else args.batch_size
        source = make_input_source(kind, shape=shape, batch_size=bs, num_classes=classes)

    model = get_model(args.model, channels, classes, size, args.init, width=args.width, seed=args.seed).to(device)
    gen = torch.Generator().manual_seed(args.seed)
    kw = {"generator": gen}
    if args.method == "synflow":
        round_mode = args.mask if args.mask != "algorithm1" else "randomized"
        kw.update(density=args.density, rounds=args.rounds, mode=round_mode, min_per_layer=args.min_per_layer)
    scores = compute_scores(args.method, model, source, **kw)
    rng = args.seed + 1  # masks get their own stream, derived from the seed
    masks = make_mask(scores, args.density, args.mask, rng=rng, min_per_layer=args.min_per_layer)
    rows = mask_summary(model, masks)
    total = sum(r["total"] for r in rows)
    kept = kept_count(masks)
    abs_all = torch.cat([p.detach().abs().flatten() for p in (dict(model.named_parameters())[r["layer"]] for r in rows)])
    keep_all = torch.cat([(masks[r["layer"]] != 0).flatten().to(abs_all.device) for r in rows])
    report = {
        "model": args.model, "dataset": args.dataset, "method": args.method, "inputs": kind, "mask": args.mask,
        "density": args.density, "seed": args.seed, "image_size": size, "total": total, "kept": kept,
        "kept_density": kept / total, "mean_abs_kept": float(abs_all[keep_all].double().mean()),
        "mean_abs_all": float(abs_all.double().mean()), "layers": rows,
    }
    if args.save:
        _save_atomic(args.save, {"masks": {n: m.cpu() for n, m in masks.items()}, "args": vars(args), "report": report})
    return report


def _save_atomic(path: str, obj) -> None:
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def format_table(report: dict) -> str:
    lines = [f"{report['model']} / {report['method']} ({report['inputs']} inputs) / mask {report['mask']} / "
             f"density {report['density']} / seed {report['seed']}",
             f"{'layer':<34} {'shape':<20} {'total':>10} {'kept':>9} {'density':>8} {'mean|w| kept':>13}"]
    for r in report["layers"]:
        lines.append(f"{r['layer']:<34} {'x'.join(map(str, r['shape'])):<20} {r['total']:>10} {r['kept']:>9} "
                     f"{r['density']:>8.4f} {r['mean_abs_kept']:>13.6f}")
    lines.append(f"{'total':<34} {'':<20} {report['total']:>10} {report['kept']:>9} {report['kept_density']:>8.4f} "
                 f"{report['mean_abs_kept']:>13.6f}   (mean|w| all: {report['mean_abs_all']:.6f})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _check(args)
        report = run(args)
    except _UsageError as e:
        print(f"prune: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as e:
        print(f"prune: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=1) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
