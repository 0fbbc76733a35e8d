"""``python -m sketchbound.dnn.prune``: prune a freshly initialised network at initialization and report.

It runs the pruning half of a run (:func:`sketchbound.dnn.experiments.run.prune_at_init`): the same
model, scores, pruning inputs, mask and seed streams that ``python -m sketchbound.dnn.run`` would
train, and prints per layer the kept count, the density, the mean ``|w|`` of the kept weights (the
quantity of Fig. 1/3) and how many kept weights are *effective*, on a path from the input to the output
(:mod:`sketchbound.dnn.pruning.effective`). The flags are the run flags that act on the mask (``--pad-to``,
``--prune-batch-size``, ``--synflow-rounds``, ``--min-per-layer``, …; the training flags only with
``--method imp``, whose mask search trains). The dataset defaults to Fashion-MNIST.

``--save FILE`` writes the mask with what a run needs to train it
(:mod:`sketchbound.dnn.experiments.masks_file`: a plain dict of tensors and plain metadata, readable with
``torch.load(weights_only=True)``); ``python -m
sketchbound.dnn.run --masks FILE`` trains exactly that mask (it checks that the run is the
one the file was made for, :func:`~sketchbound.dnn.experiments.masks_file.load_masks`).

Example::

    python -m sketchbound.dnn.prune --model vgg19 --dataset fashion-mnist --method synflow \\
        --inputs chi --mask randomized --density 0.05 --seed 0 --json --save mask.pt

Nothing is downloaded (``--data-root`` or ``SKETCHBOUND_DATA`` point at the data). Bad arguments or a
missing dataset, or a network larger than half of this machine's memory (``--force`` tries anyway): one line
on stderr, exit code 2; Ctrl-C: exit code 130. Same seed ⇒ same mask.
"""
from __future__ import annotations

import json
import sys
from typing import Sequence

from sketchbound._cli import OneLineParser, cli_errors, interruptible, require, torch_device
from sketchbound._io import check_output_path
from sketchbound.dnn.experiments.cli_help import flag_helps
from sketchbound.dnn.experiments.config import add_config_arguments, config_from_args
from sketchbound.dnn.experiments.masks_file import save_masks

__all__ = ["main", "build_parser", "prune_report", "prune_saved"]

_IMP_FLAGS = ("imp_rewind", "imp_data", "imp_epochs", "prune_fraction", "epochs", "batch_size", "lr", "momentum",
              "weight_decay", "augment")
_NEVER = ("mask_values", "eval_every", "checkpoint_every_s")  # training-only: nothing to act on here


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
    """The parser of ``python -m sketchbound.dnn.prune``: the run flags that act on the mask (IMP's training
    flags in their own group), ``--device``, ``--json``, ``--save FILE`` and ``--force``.

    Returns
    -------
    OneLineParser

    Examples
    --------
    >>> build_parser().parse_args(["--method", "snip", "--density", "0.1"]).method
    'snip'
    """
    p = OneLineParser(prog="python -m sketchbound.dnn.prune", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--save", default=None, metavar="FILE",
                   help="write the masks and the run's config to FILE (atomically); train them with "
                        "python -m sketchbound.dnn.run --masks FILE")
    p.add_argument("--force", action="store_true", help="prune a network larger than half of this machine's memory "
                                                        "(refused otherwise, before it is built)")
    add_config_arguments(_PruneFlags(p))
    return p


def prune_report(cfg, device="cpu", *, data=None) -> tuple[dict, dict]:
    """``(report, masks)`` of the pruning half of the run ``cfg`` (see the module docstring).

    Parameters
    ----------
    cfg : RunConfig
        The run (any method but ``dense``).
    device : torch.device or str, optional
        Where the network and its scores live (default ``"cpu"``).
    data : TensorDataset, optional
        The run's data (default: read by :func:`~sketchbound.dnn.experiments.data_cache.data_for`).

    Returns
    -------
    tuple
        ``(report, masks)``: the per-layer report (:func:`prune_saved`) and ``{"<layer>.weight": mask}``.

    Examples
    --------
    With ``data`` given nothing is read (here four random images of MNIST's shape):

    >>> from sketchbound.dnn.experiments.bench_data import synthetic_data
    >>> from sketchbound.dnn.experiments.config import RunConfig
    >>> cfg = RunConfig(model="lenet300100", dataset="mnist", method="magnitude", density=0.1, width=0.25)
    >>> report, masks = prune_report(cfg, data=synthetic_data(4, 1, 28, 10))
    >>> report["total"], report["kept"], sorted(masks)  # kept = round(0.1 · total)
    (60925, 6093, ['fc1.weight', 'fc2.weight', 'fc3.weight'])
    """
    report, saved = prune_saved(cfg, device, data=data)
    return report, saved.masks


def prune_saved(cfg, device="cpu", *, data=None) -> tuple[dict, dict]:
    """``(report, saved)``: the per-layer report and what
    :func:`~sketchbound.dnn.experiments.masking.compute_mask` returns for the run ``cfg``.

    Parameters
    ----------
    cfg : RunConfig
        The run (any method but ``dense``: ``ValueError``).
    device : torch.device or str, optional
        Where the network and its scores live (default ``"cpu"``).
    data : TensorDataset, optional
        The run's data (default: read by :func:`~sketchbound.dnn.experiments.data_cache.data_for`).

    Returns
    -------
    tuple
        ``(report, saved)``: ``report`` holds the run's fields, ``total``, ``kept``, ``kept_density``,
        ``effective`` (kept weights on an input–output path), the mean ``|w|`` of the kept and of all weights
        and ``layers`` (one row per layer); ``saved`` is the
        :class:`~sketchbound.dnn.experiments.masking.MaskResult` (what ``--save`` writes).

    Examples
    --------
    >>> from sketchbound.dnn.experiments.bench_data import synthetic_data
    >>> from sketchbound.dnn.experiments.config import RunConfig
    >>> cfg = RunConfig(model="lenet300100", dataset="mnist", method="magnitude", density=0.1, width=0.25)
    >>> report, saved = prune_saved(cfg, data=synthetic_data(4, 1, 28, 10))
    >>> [row["layer"] for row in report["layers"]], saved.start_step, report["connected"]
    (['fc1.weight', 'fc2.weight', 'fc3.weight'], 0, True)
    >>> prune_saved(RunConfig(model="lenet300100", dataset="mnist", method="dense"), data=synthetic_data(4, 1, 28, 10))
    Traceback (most recent call last):
    ValueError: method 'dense' prunes nothing; choose a pruning method
    """
    import torch  # noqa: PLC0415

    from sketchbound.dnn.experiments.run import prune_at_init  # noqa: PLC0415
    from sketchbound.dnn.pruning.masks import kept_count, mask_summary  # noqa: PLC0415
    cfg = cfg.resolved()
    model, saved, data = prune_at_init(cfg, device, data=data)
    masks = saved.masks
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
        "mean_abs_kept": float(abs_all[keep_all].double().mean()) if kept else None, "mean_abs_all": float(abs_all.double().mean()),
        "layers": rows, **{k: v for k, v in saved.extra.items() if k != "mask_seconds"},
    }
    return report, saved


def _mean(value: float | None) -> str:
    """A mean |w| for the text table; "-" where no weight is kept (no mean exists)."""
    return "-" if value is None else f"{value:.6f}"


def format_table(report: dict) -> str:
    """The CLI's text table of a :func:`prune_saved` report (one row per layer, then the totals)."""
    lines = [f"{report['model']} / {report['method']} ({report['inputs']} inputs) / mask {report['mask']} / "
             f"density {report['density']} / seed {report['seed']}",
             f"{'layer':<34} {'shape':<20} {'total':>10} {'kept':>9} {'density':>8} {'mean|w| kept':>13} {'effective':>9}"]
    for r in report["layers"]:
        lines.append(f"{r['layer']:<34} {'x'.join(map(str, r['shape'])):<20} {r['total']:>10} {r['kept']:>9} "
                     f"{r['density']:>8.4f} {_mean(r['mean_abs_kept']):>13} {r['effective']:>9}")
    lines.append(f"{'total':<34} {'':<20} {report['total']:>10} {report['kept']:>9} {report['kept_density']:>8.4f} "
                 f"{_mean(report['mean_abs_kept']):>13} {report['effective']:>9}   (mean|w| all: {report['mean_abs_all']:.6f})")
    lines.append("effective: kept weights on a path from the input to the output"
                 + ("" if report["connected"] else "; NONE: the output does not depend on the input (chance accuracy)"))
    return "\n".join(lines)


@interruptible("python -m sketchbound.dnn.prune")
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sketchbound.dnn.prune``: prune one network at initialisation and print the per-layer table
    (``--json``: the report), optionally saving the masks (``--save FILE``).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0; bad arguments or a missing dataset: one line on stderr and ``SystemExit(2)``.

    Examples
    --------
    >>> main(["--density", "1.5"])
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    prog = "prune"
    p = build_parser()
    args = p.parse_args(argv)
    given = {k for k in vars(args)}
    base = {"dataset": "fashion-mnist"}
    if "inputs" not in given and getattr(args, "method", "synflow") != "synflow":
        base["inputs"] = "real"  # data-driven methods default to real batches here; SynFlow to all-ones
    with cli_errors(prog):
        cfg = config_from_args(args, base).resolved()
        from sketchbound.dnn.experiments.budget import COPIES_PRUNE, check_run_budget  # noqa: PLC0415
        check_run_budget(p.prog, [cfg], force=args.force, copies=COPIES_PRUNE)
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
