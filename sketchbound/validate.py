"""``python -m sketchbound.validate``: check the paper's claims numerically and report verdicts.

Examples::

    python -m sketchbound.validate --all                 # every claim, decisive verdicts, ~25 s on 2 cores
    python -m sketchbound.validate --all --save          # writes validation/<claim>.{csv,json,md} + README.md
    python -m sketchbound.validate --lemma 4.5 --estimator plain   # plain Monte-Carlo instead of Rao-Blackwell
    python -m sketchbound.validate --lemma 4.4 --s 5,10,50,100 --plot validation/thm44.png
    python -m sketchbound.validate --lemma 4.2 --exact --d 4 --s 2 --n 3
    python -m sketchbound.validate --lemma 4.2 --search
    python -m sketchbound.validate --lemma 6.2                     # Theorem 6.2 on a two-layer MLP (CPU)
    python -m sketchbound.validate --lemma 6.2 --width 256,1024,4096 --s 50,200
    python -m sketchbound.validate --claims-from validation/examples/amm_claims.py --lemma DKM06
    python -m sketchbound.validate --library                 # the field's bounds (sketchbound.library)

``--claims-from FILE`` executes ``FILE`` as Python code with the user's privileges (like
``python FILE``): load only files you trust.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys

from . import __version__
from ._cli import OneLineParser, arg_type, check_budget, cli_errors, interruptible, pos_int
from ._io import atomic_replace_dir, check_output_path
from .claims import CLAIMS, get_claim, get_claims, load_claims
from .cluster import add_cluster_arguments, client_for, run_jobs
from .montecarlo import ESTIMATORS, claim_scenario, expand_jobs, order_by_dependencies
from .scenarios import INITS, RATIOS, X_TILDES

__all__ = ["main", "build_parser", "select_claims", "job_bytes", "EXIT_OK", "EXIT_VIOLATED", "EXIT_USAGE",
           "EXIT_INCONCLUSIVE", "EXIT_CODES", "PROG"]

EXIT_OK, EXIT_VIOLATED, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3
PROG = "python -m sketchbound.validate"
EXIT_CODES = """exit status:
  0  every check holds
  1  some check is violated
  2  bad usage or input: one line on stderr (unknown claim, bad value, unwritable --save/--plot path,
    a --claims-from file that is missing, raises or registers a malformed claim; a claim's statistic,
     exact value or bound that raises, returns NaN or the wrong shape; exact_from that does not cover
     the claim's statistic and mask law; a scenario too large for this machine's memory unless --force)
  3  none violated but some inconclusive
  130 interrupted (Ctrl-C)"""
PLOT_SUFFIXES = (".png", ".pdf", ".svg")
_POS_INTS = "positive integers separated by commas"


def _search_line(r: dict) -> str:
    """One readable line per searched claim (``--json`` prints the whole report)."""
    w = r["worst_scenario"]
    line = (f"{r['claim']}: {r['violations_found']} of {r['budget']} small scenarios violate; worst {r['score']} = "
            f"{r['worst_score']:.4g} at d={w.get('d')} n={w.get('n')} s={w.get('s')}")
    if r.get("smallest_scenario"):
        s, c = r["smallest_scenario"], r.get("confirmation", {})
        line += (f"; smallest counterexample d={s.get('d')} n={s.get('n')} s={s.get('s')} (seed {r['smallest_seed']}), "
                 f"re-checked: {c.get('verdict')}")
    return line


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m sketchbound.validate`` (bad values: one line, exit 2).

    Returns
    -------
    argparse.ArgumentParser
        The parser.

    Examples
    --------
    >>> args = build_parser().parse_args(["--lemma", "4.5", "--trials", "4000"])
    >>> args.lemma, args.trials, args.alpha
    (['4.5'], 4000, 0.01)
    """
    p = OneLineParser(prog=PROG, description="Check the claims of Bar & Giryes numerically.", epilog=EXIT_CODES,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_argument_group("what to check")
    what.add_argument("--lemma", action="append", metavar="ID", help="claim id (repeatable): 4.1 4.2 4.3 4.4 4.5 B.1 B.2 5.1 5.2 6.2, an exact id like 4.3b, or a corrected one (4.2-exact, 4.2-corrected, 4.4-datafree-exact, 4.4-datafree); see --list")
    what.add_argument("--all", action="store_true", help="every claim (Bonferroni across checks; the claims others lean on first)")
    what.add_argument("--library", action="store_true", help="every claim of the library of the field's bounds "
                      "(sketchbound.library: approximate matrix multiplication, Horvitz–Thompson, priority sampling, "
                      "leverage scores, CountSketch, Gaussian JL, sensitivity sampling); see validation/library.md")
    what.add_argument("--list", action="store_true", help="list the claims (the library's under their own heading) and exit")
    what.add_argument("--claims-from", action="append", metavar="FILE",
                      help="a Python file that registers claims of your own (sketchbound.claims.register); "
                           "repeatable. The file is EXECUTED as Python code with your privileges, like "
                           "`python FILE`, before anything is checked: load only files you trust. What it does "
                           "happens even if it is then refused; os._exit inside it ends the process and cannot "
                           "be prevented. A file that raises (sys.exit included) or registers no claim is "
                           "refused in one line, exit 2")
    sc = p.add_argument_group("scenario (defaults: each claim's own, see --list)")
    sc.add_argument("--d", type=pos_int("d"), help="number of weights")
    sc.add_argument("--n", type=pos_int("n"), help="number of examples (columns of X)")
    sc.add_argument("--s", type=arg_type("s", int, lambda x: x >= 1, _POS_INTS, many=True), help="draws of Algorithm 1; a comma list sweeps s")
    sc.add_argument("--sweep", action="store_true", help="sweep s over densities 1%%..50%% of d")
    sc.add_argument("--c", type=arg_type("c", float, lambda x: 0 < x < float("inf"), "a positive finite number"), help="ratio c = max|w*/w0| (w* = w0 ⊙ r, r ~ U[-c, c])")
    sc.add_argument("--init", choices=INITS, help="initialisation of w0")
    sc.add_argument("--ratio", choices=RATIOS, help="w* = w0 ⊙ U[-c,c] (uniform) or c·w0 (equal)")
    sc.add_argument("--x-tilde", choices=X_TILDES, help="mask found on the same X or an independent X̃")
    ntk = p.add_argument_group("Theorem 6.2 (claims 6.2, 6.2b: two-layer MLP f = v·relu(Wx)/√width, d = width·(d_in+1))")
    ntk.add_argument("--width", type=arg_type("width", int, lambda x: x >= 1, _POS_INTS, many=True), help="hidden width; a comma list sweeps it (default 256)")
    ntk.add_argument("--steps", type=arg_type("steps", int, lambda x: x >= 0, "an integer >= 0"), help="full-batch GD steps t (default 100)")
    ntk.add_argument("--d-in", type=pos_int("d-in"), help="input dimension (default 8); --n is the batch size (default 16)")
    ntk.add_argument("--lr-factor", type=arg_type("lr-factor", float, lambda x: 0 < x <= 1, "a number in (0, 1] (η ≤ η_critical)"), help="learning rate as a fraction of η_critical = 2/(λ_min+λ_max) (default 0.5)")
    run = p.add_argument_group("measurement")
    run.add_argument("--estimator", choices=ESTIMATORS, default="auto", help="auto (default): Rao-Blackwell (E_m given X in closed form, Monte-Carlo over X) where the expectation runs over X, derived (closed form vs bound, cross-checked by plain Monte-Carlo) for bounds on fixed inputs, plain Monte-Carlo elsewhere; plain: Monte-Carlo over masks (and X) everywhere")
    run.add_argument("--trials", type=pos_int("trials"), help="trial cap per check (default 256000 for fixed X, 8000 when X is redrawn, 32000 for Theorem 6.2)")
    run.add_argument("--batch", type=pos_int("batch"), default=1000, help="trials at the first look (doubling after)")
    run.add_argument("--seed", type=pos_int("seed", lo=0), default=0, help="seed (default 0)")
    run.add_argument("--alpha", type=arg_type("alpha", float, lambda x: 0 < x < 1, "a number in (0, 1)"), default=0.01, help="false-violation rate of the whole run (default 0.01; Bonferroni across checks)")
    run.add_argument("--precision", type=arg_type("precision", float, lambda x: 0 < x < 1, "a number in (0, 1)"), default=0.02, help="relative precision for equalities (default 0.02)")
    run.add_argument("--exact", action="store_true", help="enumerate every outcome of Algorithm 1 (small d, s)")
    run.add_argument("--search", action="store_true", help="search small scenarios for the worst measured/bound (one line per claim, JSON with --json; not with --save/--plot/--exact)")
    run.add_argument("--budget", type=pos_int("budget"), default=150, help="scenarios tried by --search")
    add_cluster_arguments(p, what="checks")
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print a JSON list, one object per check")
    out.add_argument("--save", nargs="?", const="validation", metavar="DIR", help="write DIR/<claim>.{csv,json,md} (default DIR: validation); with --all also DIR/README.md, with --library also DIR/library.md")
    out.add_argument("--plot", nargs="?", const="validation/sweep.png", metavar="PNG", help="plot error vs s (log-log) with exact and bound")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true", help="run scenarios larger than half of this machine's memory "
                                                        "(refused otherwise, before any allocation)")
    p.add_argument("--version", action="version", version=f"sketchbound {__version__}")
    return p


def _list_claims() -> str:
    from .library import LIBRARY_IDS  # noqa: PLC0415
    lines, lib = [], []
    for c in CLAIMS:
        sc = claim_scenario(c)
        (lib if c.id in LIBRARY_IDS else lines).append(
            f"{c.id:5s} {c.relation:2s} {c.name}\n      {c.statement}\n      default: {sc.label()}")
    if lib:
        lines += ["", "Library of the field's bounds (--library; sources in validation/library.md):"] + lib
    return "\n".join(lines)


def select_claims(lemmas: list[str] | None, all_claims: bool, library: bool = False) -> list:
    """The claims named by ``--lemma`` (families expanded) or all of them (the library's only with
    ``library``), plus the library's with ``library``; without duplicates, the claims others lean on first.

    Parameters
    ----------
    lemmas : list of str or None
        Claim ids or families (``"4.3"`` gives 4.3 and 4.3b).
    all_claims : bool
        Every claim of the paper (``--all``).
    library : bool
        Add the library of the field's bounds (``--library``).

    Returns
    -------
    list of Claim
        The claims, those others lean on (with ``all_claims``: B.1, B.2, 4.3) first.

    Examples
    --------
    >>> [c.id for c in select_claims(["4.5"], False)]
    ['4.5', '4.5c']
    """
    from .library import LIBRARY_IDS  # noqa: PLC0415
    chosen = [c for c in CLAIMS if c.id not in LIBRARY_IDS] if all_claims else [c for lem in lemmas or [] for c in get_claims(lem)]
    if library:
        chosen += [c for c in CLAIMS if c.id in LIBRARY_IDS]
    chosen = list({c.id: c for c in chosen}.values())
    return order_by_dependencies(chosen, registry=CLAIMS if all_claims and not library else chosen)


def _violation_line(r) -> str:
    where = "" if r.within_hypotheses else (" OUTSIDE the statement's hypotheses (the paper assumes "
                                            + ", ".join(f"{k}={v}" for k, v in get_claim(r.claim).hypotheses.items()) + ")")
    return (f"\n!! {r.name} is VIOLATED{where}: measured {r.estimate:.4g} (CI [{r.ci_low:.4g}, {r.ci_high:.4g}], "
            f"{r.trials} trials, {r.estimator}) vs {'bound' if r.relation == '<=' else 'exact value'} "
            f"{(r.bound if r.relation == '<=' else r.exact):.4g}: measured/ref = {r.effect:.4g}. "
            f"Scenario: {r.scenario}. Closed form: {r.exact if r.exact is not None else '–'}.")


def job_bytes(claim, sc) -> int:
    """Memory one check holds at once, in bytes: ``X`` and ``X̃`` (``d x n`` float64 each) and a few
    length-``d`` vectors (``w0``, ``w*``, ``p``, counts); ``d`` is the claim's own dimension where it has
    one (Theorem 6.2: ``width·(d_in+1)``, its Jacobian ``n x d``).

    Parameters
    ----------
    claim : Claim
        The claim checked.
    sc : Scenario
        Its scenario.

    Returns
    -------
    int
        Bytes.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> from sketchbound.scenarios import Scenario
    >>> job_bytes(get_claim("4.1"), Scenario(d=1000, n=10))
    192000
    """
    d = int(claim.dimension(sc)) if claim.dimension is not None else int(sc.d)
    return 8 * d * (2 * int(sc.n) + 4)


def _check_size(args, jobs) -> None:
    """One line + exit 2 when the largest check would not fit in memory (before any allocation)."""
    if not jobs:
        return
    claim, sc = max(jobs, key=lambda j: job_bytes(*j))
    flags = " ".join(f"--{k.replace('_', '-')} {','.join(map(str, v)) if isinstance(v, list) else v}"
                     for k, v in (("d", args.d), ("n", args.n), ("width", args.width), ("d_in", args.d_in))
                     if v is not None) or f"--lemma {claim.id}"
    d = int(claim.dimension(sc)) if claim.dimension is not None else sc.d
    check_budget(PROG, flags, job_bytes(claim, sc), f"the d x n float64 arrays of claim {claim.id} (d = {d}, n = {sc.n})",
                 force=args.force)


@interruptible(PROG)
def main(argv=None) -> int:
    """``python -m sketchbound.validate``: check the selected claims and print (or save) the verdicts.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``); ``--help`` lists them.

    Returns
    -------
    int
        :data:`EXIT_OK` (0) every check holds, :data:`EXIT_VIOLATED` (1) some check is violated,
        :data:`EXIT_INCONCLUSIVE` (3) none violated but some inconclusive; bad usage exits 2 with one line.

    Examples
    --------
    >>> import contextlib, io
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     rc = main(["--lemma", "5.1", "--no-progress"])
    >>> rc
    0
    """
    from .library import library_registered  # noqa: PLC0415
    with library_registered():  # --library, --list and --lemma ID see the library; --all leaves it out
        return _main(argv)


def _main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with cli_errors(PROG):
        for f in args.claims_from or []:
            load_claims(f)
    if args.list:
        print(_list_claims())
        return EXIT_OK
    if not args.all and not args.lemma and not args.library:
        parser.error("say which claims to check: --lemma ID (repeatable), --all, --library, or --list")
    if args.search:
        bad = [f for f, v in (("--save", args.save), ("--plot", args.plot), ("--exact", args.exact)) if v not in (None, False)]
        if bad:
            parser.error(f"{', '.join(bad)} not supported with --search (it prints its report; --json gives it as JSON)")
    with cli_errors(PROG):
        if args.save is not None:
            check_output_path(args.save, kind="dir", flag="--save")
        if args.plot is not None:
            check_output_path(args.plot, suffixes=PLOT_SUFFIXES, flag="--plot")
        claims = select_claims(args.lemma, args.all, args.library)
        jobs = expand_jobs(claims, overrides=dict(d=args.d, n=args.n, c=args.c, init=args.init, ratio=args.ratio,
                                                  x_tilde=args.x_tilde),
                           ntk_overrides=dict(steps=args.steps, d_in=args.d_in, lr_factor=args.lr_factor),
                           widths=args.width, s_values=args.s, sweep=args.sweep)
        _check_size(args, jobs)

    if args.search:
        from .search import search
        with cli_errors(PROG):
            reports = [search(c, budget=args.budget, seed=args.seed, alpha=args.alpha) for c in claims if not c.deterministic]
        if args.json:
            print(json.dumps(reports, indent=2, default=str))
        else:
            for r in reports:
                print(_search_line(r))
        return EXIT_VIOLATED if any(r.get("violations_found") for r in reports) else EXIT_OK

    from tqdm import tqdm

    bar = tqdm(total=len(jobs), unit="check", disable=args.no_progress or args.json or None, file=sys.stderr)
    try:
        with cli_errors(PROG):
            with client_for(args.workers, args.scheduler, prog=PROG) as client:  # None: in this process
                results = run_jobs(jobs, client, alpha=args.alpha, progress=bar, seed=args.seed, precision=args.precision,
                                   batch=args.batch, max_trials=args.trials, exact=args.exact, estimator=args.estimator)
    finally:
        bar.close()

    from .report import format_chains, format_ntk_chain, format_rests_on, format_table, plot_sweep, save_index, save_reports, to_json

    meta = {"command": "python -m sketchbound.validate " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))}
    if args.json:
        print(to_json(results, meta))
    else:
        print(format_table(results))
        for block in (format_rests_on(results), format_chains(results), format_ntk_chain(results)):
            if block:
                print("\n" + block)
        for r in results:
            if r.verdict == "violated":
                print(_violation_line(r))
            elif r.verdict == "inconclusive":
                print(f"\n?? {r.name} is {r.reason or 'inconclusive: ' + r.note}.")
    if args.save is not None:
        def build(tmp):
            save_reports(results, tmp, meta)
            if args.all:
                save_index(results, tmp, meta, source_dir=args.save)
            if args.library:
                from .library.report import save_library_report  # noqa: PLC0415
                save_library_report(results, tmp, meta)
        with cli_errors(PROG):
            atomic_replace_dir(build, args.save)
        print(f"wrote {len(results)} check(s) to {args.save}/", file=sys.stderr)
    if args.plot:
        with cli_errors(PROG):
            print(f"wrote {plot_sweep(results, args.plot)}", file=sys.stderr)
    if any(r.verdict == "violated" for r in results):
        return EXIT_VIOLATED
    if any(r.verdict == "inconclusive" for r in results):
        return EXIT_INCONCLUSIVE
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
