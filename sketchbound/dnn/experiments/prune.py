"""``python -m sketchbound.dnn.prune``: prune a freshly initialised network at initialization and report.

It runs the pruning half of a run (:func:`sketchbound.dnn.experiments.run.prune_at_init`): the same
model, scores, pruning inputs, mask and seed streams that ``python -m sketchbound.dnn.run`` would
train, and prints per layer the kept count, the density, the mean ``|w|`` of the kept weights (the
quantity of Fig. 1/3) and how many kept weights are *effective*, on a path from the input to the output
(:mod:`sketchbound.dnn.pruning.effective`). The flags are the run flags that act on the mask (``--pad-to``,
``--prune-batch-size``, ``--synflow-rounds``, ``--min-per-layer``, …; the training flags only with
``--method imp``, whose mask search trains). The dataset defaults to Fashion-MNIST.

``--save FILE`` writes the mask with what a run needs to train it (:func:`save_masks`: a plain dict of
tensors and plain metadata, readable with ``torch.load(weights_only=True)``); ``python -m
sketchbound.dnn.run --masks FILE`` trains exactly that mask (:func:`load_masks` checks that the run is the
one the file was made for).

Example::

    python -m sketchbound.dnn.prune --model vgg19 --dataset fashion-mnist --method synflow \\
        --inputs chi --mask randomized --density 0.05 --seed 0 --json --save mask.pt

Nothing is downloaded (``--data-root`` or ``SKETCHBOUND_DATA`` point at the data). Bad arguments or a
missing dataset: one line on stderr, exit code 2. Same seed ⇒ same mask.
"""
from __future__ import annotations

import json
import sys
from typing import Sequence

from sketchbound._cli import OneLineParser, cli_errors, require, torch_device
from sketchbound._io import check_output_path
from sketchbound.dnn.experiments.config import add_config_arguments, config_from_args

__all__ = ["build_parser", "prune_report", "prune_saved", "format_table", "save_masks", "load_masks", "flag_helps",
           "MASKS_FILE_KIND", "TRAINING_ONLY", "main"]

#: the ``kind`` of a file written by ``--save`` (:func:`save_masks`)
MASKS_FILE_KIND = "sketchbound.dnn.prune masks"
#: run fields that do not change the mask of a method other than IMP: a run may differ from the file's in them
TRAINING_ONLY = frozenset({"epochs", "batch_size", "lr", "momentum", "weight_decay", "augment", "mask_values",
                           "data_root", "eval_every", "checkpoint_every_s", "imp_rewind", "imp_data", "imp_epochs",
                           "prune_fraction"})
_IMP_FLAGS = ("imp_rewind", "imp_data", "imp_epochs", "prune_fraction", "epochs", "batch_size", "lr", "momentum",
              "weight_decay", "augment")
_NEVER = ("mask_values", "eval_every", "checkpoint_every_s")  # training-only: nothing to act on here


def flag_helps(dataset_default: str) -> dict[str, str]:
    """``--help`` texts naming the accepted models, datasets, methods and masks with their true defaults
    (shared by ``dnn.prune``, ``dnn.run`` and ``dnn.table``; imports torch for the model list).

    Parameters
    ----------
    dataset_default : str
        The dataset the CLI uses when none is given.

    Returns
    -------
    dict
        ``{field: help text}`` for ``model``, ``dataset``, ``method`` and ``mask``.

    Examples
    --------
    >>> "randomized" in flag_helps("cifar10")["mask"]
    True
    """
    from sketchbound.dnn.data import DATASETS  # noqa: PLC0415
    from sketchbound.dnn.experiments.config import MASKS, METHODS  # noqa: PLC0415
    from sketchbound.dnn.models import MODEL_NAMES  # noqa: PLC0415
    return {
        "model": f"model name: {', '.join(MODEL_NAMES)} (default: resnet20)",
        "dataset": f"dataset: {', '.join(d for d in DATASETS if d != 'imagenet')} (default: {dataset_default})",
        "method": f"pruning method: {', '.join(METHODS)} (default: synflow)",
        "mask": (f"mask mode: {', '.join(MASKS)} (default: global, the hard threshold of the published methods; "
                 "the paper's randomized mask of §7: --mask randomized. The default stays global so that recorded "
                 "runs and table files that omit the mask keep their names)"),
    }


class _PruneFlags:
    """What :func:`add_config_arguments` adds, sorted: the mask's flags, IMP's (its search trains), none else."""

    def __init__(self, parser):
        self.main = parser
        self.imp = parser.add_argument_group("IMP only (--method imp trains to find its mask)")
        self.helps = {**flag_helps("fashion-mnist"), "inputs": "pruning input (§5): ones, chi, normal, sparse, real "
                      "(default: ones for synflow, real otherwise)"}

    def add_argument(self, flag, **kw):
        dest = kw["dest"]
        if dest in _NEVER:
            return
        if dest in self.helps:
            kw["help"] = self.helps[dest]
        (self.imp if dest in _IMP_FLAGS else self.main).add_argument(flag, **kw)


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="python -m sketchbound.dnn.prune", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--save", default=None, metavar="FILE",
                   help="write the masks and the run's config to FILE (atomically); train them with "
                        "python -m sketchbound.dnn.run --masks FILE")
    add_config_arguments(_PruneFlags(p))
    return p


def prune_report(cfg, device="cpu", *, data=None) -> tuple[dict, dict]:
    """``(report, masks)`` of the pruning half of the run ``cfg`` (see the module docstring)."""
    report, saved = prune_saved(cfg, device, data=data)
    return report, saved["masks"]


def prune_saved(cfg, device="cpu", *, data=None) -> tuple[dict, dict]:
    """``(report, saved)``: the report and what :func:`~sketchbound.dnn.experiments.run.compute_mask` returns
    (``{"masks", "start_step", "init_state", "extra"}``) for the run ``cfg``."""
    import torch  # noqa: PLC0415

    from sketchbound.dnn.experiments.run import prune_at_init  # noqa: PLC0415
    from sketchbound.dnn.pruning.masks import kept_count, mask_summary  # noqa: PLC0415
    cfg = cfg.resolved()
    model, saved, data = prune_at_init(cfg, device, data=data)
    masks = saved["masks"]
    if masks is None:
        raise ValueError("method 'dense' prunes nothing; choose a pruning method")
    from sketchbound.dnn.pruning.effective import effective_summary  # noqa: PLC0415
    rows = mask_summary(model, masks)
    eff = effective_summary(model, masks, (data.in_channels, data.image_size, data.image_size))
    for r in rows:
        r["effective"] = eff["layers"][r["layer"]][1]
    total = sum(r["total"] for r in rows)
    kept = kept_count(masks)
    params = dict(model.named_parameters())
    abs_all = torch.cat([params[r["layer"]].detach().abs().flatten().cpu() for r in rows])
    keep_all = torch.cat([(masks[r["layer"]] != 0).flatten().cpu() for r in rows])
    report = {
        "model": cfg.model, "dataset": cfg.dataset, "method": cfg.method, "inputs": cfg.inputs, "mask": cfg.mask,
        "density": cfg.density, "seed": cfg.seed, "image_size": data.image_size, "run": cfg.run_name(),
        "total": total, "kept": kept, "kept_density": kept / total,
        "effective": eff["effective"], "effective_density": eff["effective"] / total, "connected": eff["connected"],
        "mean_abs_kept": float(abs_all[keep_all].double().mean()), "mean_abs_all": float(abs_all.double().mean()),
        "layers": rows, **{k: v for k, v in saved.get("extra", {}).items() if k != "mask_seconds"},
    }
    return report, saved


def format_table(report: dict) -> str:
    lines = [f"{report['model']} / {report['method']} ({report['inputs']} inputs) / mask {report['mask']} / "
             f"density {report['density']} / seed {report['seed']}",
             f"{'layer':<34} {'shape':<20} {'total':>10} {'kept':>9} {'density':>8} {'mean|w| kept':>13} {'effective':>9}"]
    for r in report["layers"]:
        lines.append(f"{r['layer']:<34} {'x'.join(map(str, r['shape'])):<20} {r['total']:>10} {r['kept']:>9} "
                     f"{r['density']:>8.4f} {r['mean_abs_kept']:>13.6f} {r['effective']:>9}")
    lines.append(f"{'total':<34} {'':<20} {report['total']:>10} {report['kept']:>9} {report['kept_density']:>8.4f} "
                 f"{report['mean_abs_kept']:>13.6f} {report['effective']:>9}   (mean|w| all: {report['mean_abs_all']:.6f})")
    lines.append("effective: kept weights on a path from the input to the output"
                 + ("" if report["connected"] else "; NONE: the output does not depend on the input (chance accuracy)"))
    return "\n".join(lines)


def save_masks(path, saved: dict, cfg, report: dict) -> None:
    """Write ``saved`` (:func:`prune_saved`) for ``dnn.run --masks``: plain tensors and plain metadata, atomically.

    Parameters
    ----------
    path : str or Path
        The file to write (``torch.save`` format; loads with ``torch.load(weights_only=True)``).
    saved : dict
        ``{"masks", "start_step", "init_state", "extra"}`` of the run's pruning half.
    cfg : RunConfig
        The run the masks were made for (recorded resolved; :func:`load_masks` checks a run against it).
    report : dict
        The per-layer report printed by the CLI.

    Returns
    -------
    None

    Examples
    --------
    See ``tests/dnn/test_prune_cli.py``: ``dnn.prune --save FILE`` then ``dnn.run --masks FILE``.
    """
    import torch  # noqa: PLC0415

    from sketchbound._io import atomic_write  # noqa: PLC0415
    init = saved.get("init_state")
    obj = {"kind": MASKS_FILE_KIND, "format": 1, "config": cfg.resolved().to_dict(), "report": report,
           "masks": {n: m.detach().cpu() for n, m in saved["masks"].items()},
           "start_step": int(saved.get("start_step", 0)), "extra": saved.get("extra", {}),
           "init_state": None if init is None else {k: v.detach().cpu() for k, v in init.items()}}
    atomic_write(path, lambda f: torch.save(obj, f))


def load_masks(path, cfg=None) -> tuple[dict, dict]:
    """Read a ``dnn.prune --save`` file: ``(saved, config dict)``; with ``cfg``, check the file was made for it.

    Parameters
    ----------
    path : str or Path
        The file (``torch.load(weights_only=True)``: no code runs on loading).
    cfg : RunConfig, optional
        The run that will train the masks: every field that changes the mask (all but
        :data:`TRAINING_ONLY`; all fields for IMP, whose search trains) must equal the file's, and the
        masks must fit the run's model.

    Returns
    -------
    tuple
        ``(saved, config)``: ``saved`` as :func:`~sketchbound.dnn.experiments.run.compute_mask` returns it
        (without ``mask_seconds``), ``config`` the run config dict recorded in the file.

    Raises
    ------
    ValueError
        A file that is not a ``dnn.prune --save`` file, or a run it was not made for (message names the field).
    FileNotFoundError
        No such file.

    Examples
    --------
    >>> load_masks("no/such/file.pt")
    Traceback (most recent call last):
    ...
    FileNotFoundError: --masks no/such/file.pt: no such file
    """
    from pathlib import Path  # noqa: PLC0415

    import torch  # noqa: PLC0415
    if not Path(path).is_file():
        raise FileNotFoundError(f"--masks {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (any unreadable file: one line)
        raise ValueError(f"--masks {path}: not a file written by python -m sketchbound.dnn.prune --save "
                         f"({type(e).__name__}: {' '.join(str(e).split())[:120]})") from None
    if not isinstance(obj, dict) or obj.get("kind") != MASKS_FILE_KIND or not isinstance(obj.get("masks"), dict):
        raise ValueError(f"--masks {path}: not a file written by python -m sketchbound.dnn.prune --save")
    conf = obj["config"]
    if cfg is not None:
        cfg = cfg.resolved()
        mine = cfg.to_dict()
        skip = set() if cfg.method == "imp" else TRAINING_ONLY | {"data_root"}
        diff = [k for k in mine if k not in skip and k in conf and mine[k] != conf[k]]
        if diff:
            k = diff[0]
            raise ValueError(f"--masks {path} was made for {k}={conf[k]!r}, this run has {k}={mine[k]!r}; "
                             f"drop --{k.replace('_', '-')} or prune again with it")
        from sketchbound.dnn.experiments.run import _data_for, build_model  # noqa: PLC0415
        from sketchbound.dnn.pruning.masks import _check_masks_for  # noqa: PLC0415
        _check_masks_for(build_model(cfg, _data_for(cfg), "cpu"), obj["masks"])
    extra = {k: v for k, v in obj.get("extra", {}).items() if k != "mask_seconds"}
    saved = {"masks": obj["masks"], "start_step": int(obj.get("start_step", 0)), "init_state": obj.get("init_state"),
             "extra": {**extra, "masks_file": str(path)}}
    return saved, conf


def main(argv: Sequence[str] | None = None) -> int:
    prog = "prune"
    p = build_parser()
    args = p.parse_args(argv)
    given = {k for k in vars(args)}
    base = {"dataset": "fashion-mnist"}
    if "inputs" not in given and getattr(args, "method", "synflow") != "synflow":
        base["inputs"] = "real"  # data-driven methods default to real batches here; SynFlow to all-ones
    with cli_errors(prog):
        cfg = config_from_args(args, base).resolved()
        if args.save is not None:
            check_output_path(args.save, flag="--save")
        require("torch", prog)
        device = torch_device(prog, args.device)
        report, saved = prune_saved(cfg, device)
        if args.save:
            save_masks(args.save, saved, cfg, report)
    print(json.dumps(report, indent=1) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
