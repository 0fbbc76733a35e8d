"""``python -m sketchbound.bridge --rung linear|ntk [--quick] [--out DIR] [--data-root DIR]``

Runs one rung of the bridge on the CPU and writes ``DIR/<rung>.csv`` (one row per mask),
``DIR/<rung>.json`` (command, commit, wall time, machine, settings) and ``DIR/<rung>_summary.json``;
prints the paths and a benchmark line ``rung <rung>: N masks in T s``. ``--quick`` is a toy size
(seconds; the tests). Reads Fashion-MNIST (``--data-root DIR``, else ``$SKETCHBOUND_DATA``, else
``/usr/share/datasets/fashion-mnist``). Exit status: 0 written; 2 bad arguments, missing data or an
output folder that cannot be written (one line on stderr); 130 interrupted. On a shared machine run
it with ``OPENBLAS_NUM_THREADS=1`` (recorded in the JSON): the many small products are several times
slower with a BLAS thread per busy core, and the thread count can change the last digits.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

from .._cli import OneLineParser, cli_errors
from .._io import check_output_path
from ..data import candidate_roots, find_dataset, missing_error

PROG = "python -m sketchbound.bridge"


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rung", choices=("linear", "ntk"), help="which rung to run (CPU)")
    p.add_argument("--report", action="store_true",
                   help="instead of running a rung: summarise every rung CSV of --out again (rewriting its "
                        "_summary.json, so a summary never lags its CSV or the analysis), and rewrite the "
                        "predicted-vs-measured table of --doc from the summaries")
    p.add_argument("--doc", default="validation/bridge.md", metavar="FILE",
                   help="--report: the Markdown file whose bridge table is rewritten (default validation/bridge.md)")
    p.add_argument("--quick", action="store_true", help="toy size, seconds (tests)")
    p.add_argument("--out", default="validation/bridge", metavar="DIR", help="output folder (default validation/bridge)")
    p.add_argument("--data-root", default=None, metavar="DIR", help="folder with the Fashion-MNIST IDX files")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def report(out, doc) -> list:
    """Every rung CSV of ``out`` summarised again, then the table of ``doc`` rewritten."""
    from pathlib import Path  # noqa: PLC0415

    from .._io import atomic_write, atomic_write_json  # noqa: PLC0415
    from .report import load_summaries, replace_table, summary_from_csv, table_markdown  # noqa: PLC0415
    out, written = Path(out), []
    if not out.is_dir():
        raise ValueError(f"--out must be a folder of rung CSVs, got {str(out)!r}")
    for csv in sorted(out.glob("*.csv")):
        summ = csv.with_name(csv.stem + "_summary.json")
        atomic_write_json(summ, summary_from_csv(csv))
        written.append(summ)
    doc = Path(doc)
    try:
        text = doc.read_text()
    except OSError as e:
        raise ValueError(f"--doc {doc}: cannot be read ({e.strerror})") from None
    atomic_write(doc, replace_table(text, table_markdown(load_summaries(out))))
    return written + [doc]


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if args.report == (args.rung is not None):
        p.error("give exactly one of --rung and --report")
    if args.report:
        with cli_errors(PROG):
            for path in report(args.out, args.doc):
                print(path)
        return 0
    from . import LinearConfig, NTKConfig, run_linear, run_ntk, write_rung  # noqa: PLC0415

    with cli_errors(PROG):
        check_output_path(args.out, kind="dir", flag="--out")
        if find_dataset("fashion-mnist", args.data_root) is None:
            raise missing_error("fashion-mnist", candidate_roots("fashion-mnist", args.data_root),
                                "the four IDX files train-images-idx3-ubyte[.gz], ...")
        run, cfg = {"linear": (run_linear, LinearConfig), "ntk": (run_ntk, NTKConfig)}[args.rung]
        cfg = cfg.quick() if args.quick else cfg()
        from .record import commit  # noqa: PLC0415

        commit_id = commit()
        t0 = time.perf_counter()
        rows, info = run(cfg, args.data_root, progress=not args.no_progress)
        wall = time.perf_counter() - t0
        command = PROG + " " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
        paths = write_rung(args.rung, rows, info, cfg, args.out, command=command, wall_s=wall,
                           commit_id=commit_id)
    for p in paths.values():
        print(p)
    print(f"rung {args.rung}: {len(rows)} masks in {time.perf_counter() - t0:.1f} s (the masks {wall:.1f} s, "
          "then the summary and the files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
