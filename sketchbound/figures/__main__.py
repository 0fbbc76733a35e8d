"""``python -m sketchbound.figures --fig 1|2|3|theory|deep|bridge [--quick] [--out figures/] [--seed S] [--device D]``

Each figure writes ``<out>/<stem>.png``, ``.pdf``, the ``.csv`` of exactly the numbers drawn (the plot
is made from the CSV read back from disk) and a ``.json`` with the command, settings and wall time.
``--quick`` makes a toy-size version in under a minute on a CPU (default ``--out figures/quick``).

Figs. 1 and 3 read Fashion-MNIST (``--data-root DIR``, else ``$SKETCHBOUND_DATA``, else the Debian
package's ``/usr/share/datasets/fashion-mnist``; ``python -m sketchbound.data`` shows what is
installed). Figs. 1–3 and ``deep`` need PyTorch (``pip install "sketchbound[dnn]"``); the theory figure
does not. ``deep`` trains nothing: it draws the recorded GPU runs of ``--results`` (default ``dnn/results``);
``bridge`` neither: it draws the rung CSVs of ``--bridge`` (default ``validation/bridge``), without torch.
Exit status: 0 written; 2 bad arguments, missing data, missing PyTorch, an output folder that cannot
be written or sizes larger than half of this machine's memory without ``--force`` (one line on stderr,
checked before the work starts); 130 interrupted.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

from .._cli import MAX_REPEATS, OneLineParser, check_budget, cli_errors, die, interruptible, pos_int, require
from .._io import check_output_path

FIGS = ("1", "2", "3", "theory", "deep", "bridge")
PROG = "python -m sketchbound.figures"
#: figures that read Fashion-MNIST
NEEDS_DATA = ("1", "3")


def _unit(v):
    f = float(v)
    if not 0 < f < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {v!r}")
    return f


def _units(v):
    out = [_unit(x) for x in str(v).split(",") if x.strip()]
    if not out:
        raise argparse.ArgumentTypeError(f"expected densities in (0, 1) separated by commas, got {v!r}")
    return out


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fig", required=True, choices=FIGS, help="which figure")
    p.add_argument("--quick", action="store_true", help="toy size, < 1 minute on CPU (tests)")
    p.add_argument("--out", default=None, help="output folder (default figures/, or figures/quick with --quick)")
    p.add_argument("--seed", type=pos_int("seed", lo=0), default=0, help="seed of initial weights, data order and random masks")
    p.add_argument("--device", default=None, help="torch device for Figs. 1-3 (cpu, cuda); default cpu")
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="folder with the Fashion-MNIST IDX files (Figs. 1, 3); default: $SKETCHBOUND_DATA, then "
                        "/usr/share/datasets/fashion-mnist")
    p.add_argument("--verbose", action="store_true", help="print one line per IMP level")
    p.add_argument("--redraw", action="store_true", help="Figs. 1-3, deep: redraw the PNG/PDF from the CSV and JSON "
                                                         "in --out with the current plot code, computing nothing")
    p.add_argument("--force", action="store_true", help="run sizes larger than half of this machine's memory "
                                                        "(refused otherwise, before any allocation)")
    p.add_argument("--results", default="dnn/results", metavar="DIR",
                   help="deep: the recorded GPU results (default dnn/results; its configs in DIR/../configs)")
    p.add_argument("--bridge", default="validation/bridge", metavar="DIR",
                   help="bridge: the folder of the rung CSVs (default validation/bridge)")
    g = p.add_argument_group("IMP (Figs. 1 and 3)")
    g.add_argument("--epochs-per-level", type=pos_int("epochs-per-level", hi=MAX_REPEATS), default=None,
                   help="epochs of SGD per IMP level")
    g.add_argument("--rewind-step", type=pos_int("rewind-step", lo=0), default=None, help="iteration k the weights are rewound to")
    g.add_argument("--prune-fraction", type=_unit, default=None, help="fraction of remaining weights pruned per level")
    g.add_argument("--batch-size", type=pos_int("batch-size"), default=None, help="SGD batch size (default 128, paper §7)")
    g = p.add_argument_group("densities and samples")
    g.add_argument("--density", type=_unit, default=None, help="Fig. 1: IMP target (default 0.012); Fig. 2: density (default 0.1)")
    g.add_argument("--densities", type=_units, default=None, help="Fig. 3: comma list (default 0.02,0.05)")
    g.add_argument("--rounds", type=pos_int("rounds"), default=None, help="SynFlow rounds (default 100, paper §7)")
    g.add_argument("--subset", type=pos_int("subset"), default=None, help="Fig. 2: weights drawn uniformly (default 1000)")
    g.add_argument("--n-random", type=pos_int("n-random"), default=None, help="Fig. 1: random masks per density (left)")
    g.add_argument("--n-hist", type=pos_int("n-hist"), default=None, help="Fig. 1: random masks in the histogram (default 10000)")
    g = p.add_argument_group("theory")
    g.add_argument("--d", type=pos_int("d"), default=None, help="weights (default 512)")
    g.add_argument("--n", type=pos_int("n"), default=None, help="examples (default 128)")
    g.add_argument("--trials", type=pos_int("trials"), default=None, help="max trials per check / trials per sketch and s")
    return p


def _check_inputs(args) -> None:
    """Everything that can be checked before minutes of work: torch, the data, the device, the output."""
    check_output_path(args.out, kind="dir", flag="--out")
    if args.fig == "theory":
        return
    if args.fig == "bridge":
        from .bridge import rung_csvs  # noqa: PLC0415
        rung_csvs(args.bridge)
        return
    if args.fig == "deep":  # reads the run files through the dnn package (no training, no GPU)
        require("torch", PROG)
        from .deep import check_results  # noqa: PLC0415
        check_results(args.results)
        return
    torch = require("torch", PROG)
    if args.device is not None:
        try:
            dev = torch.device(args.device)
        except RuntimeError:
            die(PROG, f"--device must be a torch device such as cpu or cuda, got {args.device!r}")
        if dev.type == "cuda" and not torch.cuda.is_available():
            die(PROG, "--device cuda requested but no CUDA device is available")
    if args.fig in NEEDS_DATA:
        from sketchbound.data import candidate_roots, find_dataset, missing_error  # noqa: PLC0415
        if find_dataset("fashion-mnist", args.data_root) is None:
            raise missing_error("fashion-mnist", candidate_roots("fashion-mnist", args.data_root),
                                "the four IDX files train-images-idx3-ubyte[.gz], ...")


def _check_theory_size(args, theory) -> None:
    """One line + exit 2 (unless ``--force``) when the theory figure's arrays cannot fit in memory: X and
    X̃ (``d x n`` float64) and one sketch's ``trials x d`` masks (float64)."""
    cfg = theory._settings(args)
    flags = " ".join(f"--{k} {getattr(args, k)}" for k in ("d", "n", "trials") if getattr(args, k) is not None)
    check_budget(PROG, flags or "--fig theory", 8 * cfg["d"] * (2 * cfg["n"] + cfg["trials_sketches"]),
                 f"X, X̃ and the masks (d = {cfg['d']}, n = {cfg['n']}, {cfg['trials_sketches']} trials)",
                 force=args.force)


@interruptible(PROG)
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.out is None:
        args.out = "figures/quick" if args.quick else "figures"
    from importlib import import_module  # noqa: PLC0415

    if args.redraw:
        if args.fig == "theory":
            die(PROG, "--redraw applies to --fig 1, 2, 3, deep (the theory figure recomputes in minutes), got --fig theory")
        from importlib import import_module as _imp  # noqa: PLC0415
        from .common import redraw  # noqa: PLC0415

        with cli_errors(PROG):
            check_output_path(args.out, kind="dir", flag="--out")
            mod = _imp(f".{'deep' if args.fig == 'deep' else 'fig' + args.fig}", __package__)
            argv_ = sys.argv[1:] if argv is None else list(argv)
            for p in redraw(mod, args.out, f"{PROG} " + " ".join(shlex.quote(a) for a in argv_)).values():
                print(p)
        return 0
    with cli_errors(PROG):
        _check_inputs(args)
        mod = import_module(f".{args.fig if args.fig in ('theory', 'deep', 'bridge') else 'fig' + args.fig}", __package__)
        if args.fig == "theory":  # before any array is drawn
            _check_theory_size(args, mod)
        t0 = time.perf_counter()
        written = mod.run(args)
    paths = written if isinstance(written, list) else [written]
    for w in paths:
        for p in w.values():
            print(p)
    print(f"figure {args.fig} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
