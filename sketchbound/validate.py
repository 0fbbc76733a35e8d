"""``python -m sketchbound.validate``: check the paper's claims numerically and report verdicts.

Examples::

    python -m sketchbound.validate --lemma 4.3
    python -m sketchbound.validate --all --save          # writes validation/<claim>.{csv,json,md}
    python -m sketchbound.validate --lemma 4.4 --s 5,10,50,100 --plot validation/thm44.png
    python -m sketchbound.validate --lemma 4.2 --exact --d 4 --s 2 --n 3
    python -m sketchbound.validate --lemma 4.2 --search
    python -m sketchbound.validate --lemma 6.2                     # Theorem 6.2 on a two-layer MLP (CPU, ~20 s)
    python -m sketchbound.validate --lemma 6.2 --width 256,1024,4096 --s 50,200

Exit status: 0 every check holds; 1 some check is violated; 3 none violated but some inconclusive;
2 bad usage or input (one line on stderr).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys

from . import __version__
from .claims import CLAIMS, get_claim, get_claims
from .montecarlo import claim_scenario, run_check
from .scenarios import INITS, RATIOS, X_TILDES, s_grid

EXIT_OK, EXIT_VIOLATED, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr, exit 2
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _arg(name: str, cast, ok, accepted: str, *, many: bool = False):
    """An argparse ``type``: ``cast`` each (comma-separated when ``many``) value, check it with ``ok``,
    and name the flag, the value and what is accepted when it fails (one line, exit 2)."""
    def parse(v):
        out = []
        for part in (v.split(",") if many else [v]):
            try:
                x = cast(part)
            except ValueError:
                x = None
            if x is None or not ok(x):
                raise argparse.ArgumentTypeError(f"--{name} must be {accepted}, got {v!r}")
            out.append(x)
        return out if many else out[0]
    return parse


def _pos_int(name):
    return _arg(name, int, lambda x: x >= 1, "a positive integer")


_POS_INTS = "positive integers separated by commas"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m sketchbound.validate", description="Check the claims of Bar & Giryes numerically.")
    what = p.add_argument_group("what to check")
    what.add_argument("--lemma", action="append", metavar="ID", help="claim id (repeatable): 4.1 4.2 4.3 4.4 4.5 B.1 B.2 5.1 5.2 6.2, or an exact id like 4.3b")
    what.add_argument("--all", action="store_true", help="every claim (Bonferroni across checks)")
    what.add_argument("--list", action="store_true", help="list the claims and exit")
    sc = p.add_argument_group("scenario (defaults: each claim's own, see --list)")
    sc.add_argument("--d", type=_pos_int("d"), help="number of weights")
    sc.add_argument("--n", type=_pos_int("n"), help="number of examples (columns of X)")
    sc.add_argument("--s", type=_arg("s", int, lambda x: x >= 1, _POS_INTS, many=True), help="draws of Algorithm 1; a comma list sweeps s")
    sc.add_argument("--sweep", action="store_true", help="sweep s over densities 1%%..50%% of d")
    sc.add_argument("--c", type=_arg("c", float, lambda x: 0 < x < float("inf"), "a positive finite number"), help="ratio c = max|w*/w0| (w* = w0 ⊙ r, r ~ U[-c, c])")
    sc.add_argument("--init", choices=INITS, help="initialisation of w0")
    sc.add_argument("--ratio", choices=RATIOS, help="w* = w0 ⊙ U[-c,c] (uniform) or c·w0 (equal)")
    sc.add_argument("--x-tilde", choices=X_TILDES, help="mask found on the same X or an independent X̃")
    ntk = p.add_argument_group("Theorem 6.2 (claims 6.2, 6.2b: two-layer MLP f = v·relu(Wx)/√width, d = width·(d_in+1))")
    ntk.add_argument("--width", type=_arg("width", int, lambda x: x >= 1, _POS_INTS, many=True), help="hidden width; a comma list sweeps it (default 256)")
    ntk.add_argument("--steps", type=_arg("steps", int, lambda x: x >= 0, "an integer >= 0"), help="full-batch GD steps t (default 100)")
    ntk.add_argument("--d-in", type=_pos_int("d-in"), help="input dimension (default 8); --n is the batch size (default 16)")
    ntk.add_argument("--lr-factor", type=_arg("lr-factor", float, lambda x: 0 < x <= 1, "a number in (0, 1] (η ≤ η_critical)"), help="learning rate as a fraction of η_critical = 2/(λ_min+λ_max) (default 0.5)")
    run = p.add_argument_group("measurement")
    run.add_argument("--trials", type=_pos_int("trials"), help="trial cap per check (default 256000 for fixed X, 8000 when X is redrawn, 32000 for Theorem 6.2)")
    run.add_argument("--batch", type=_pos_int("batch"), default=1000, help="trials at the first look (doubling after)")
    run.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    run.add_argument("--alpha", type=_arg("alpha", float, lambda x: 0 < x < 1, "a number in (0, 1)"), default=0.01, help="false-violation rate per check (default 0.01)")
    run.add_argument("--precision", type=_arg("precision", float, lambda x: 0 < x < 1, "a number in (0, 1)"), default=0.02, help="relative precision for equalities (default 0.02)")
    run.add_argument("--exact", action="store_true", help="enumerate every outcome of Algorithm 1 (small d, s)")
    run.add_argument("--search", action="store_true", help="search small scenarios for the worst measured/bound")
    run.add_argument("--budget", type=_pos_int("budget"), default=150, help="scenarios tried by --search")
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print a JSON list, one object per check")
    out.add_argument("--save", nargs="?", const="validation", metavar="DIR", help="write DIR/<claim>.{csv,json,md} (default DIR: validation)")
    out.add_argument("--plot", nargs="?", const="validation/sweep.png", metavar="PNG", help="plot error vs s (log-log) with exact and bound")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--version", action="version", version=f"sketchbound {__version__}")
    return p


def _list_claims() -> str:
    lines = []
    for c in CLAIMS:
        sc = claim_scenario(c)
        lines.append(f"{c.id:5s} {c.relation:2s} {c.name}\n      {c.statement}\n      default: {sc.label()}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(_list_claims())
        return EXIT_OK
    if not args.all and not args.lemma:
        parser.error("say which claims to check: --lemma ID (repeatable), --all, or --list")
    try:
        claims = list(CLAIMS) if args.all else [c for lem in args.lemma for c in get_claims(lem)]
    except ValueError as e:
        parser.error(str(e))
    seen, uniq = set(), []
    for c in claims:
        if c.id not in seen:
            seen.add(c.id)
            uniq.append(c)
    claims = uniq
    overrides = dict(d=args.d, n=args.n, c=args.c, init=args.init, ratio=args.ratio, x_tilde=args.x_tilde)
    ntk_over = dict(steps=args.steps, d_in=args.d_in, lr_factor=args.lr_factor)
    ntk_given = [f for f, v in (("--width", args.width), ("--steps", args.steps), ("--d-in", args.d_in),
                                ("--lr-factor", args.lr_factor)) if v is not None]
    if ntk_given and not any(c.ntk for c in claims):
        parser.error(f"{', '.join(ntk_given)} only apply to Theorem 6.2 (--lemma 6.2); selected: {', '.join(c.id for c in claims)}")
    if args.d is not None and any(c.ntk for c in claims):
        parser.error("--d does not apply to Theorem 6.2 (d = width·(d_in+1)); use --width and --d-in")

    if args.search:
        from .search import search
        reports = []
        for c in claims:
            if c.deterministic:
                continue
            try:
                reports.append(search(c, budget=args.budget, seed=args.seed, alpha=args.alpha))
            except ValueError as e:
                parser.error(str(e))
        print(json.dumps(reports, indent=2, default=str))
        return EXIT_VIOLATED if any(r.get("violations_found") for r in reports) else EXIT_OK

    jobs = []
    try:
        for c in claims:
            for width in (args.width or [None]) if c.ntk else [None]:
                extra = dict(ntk_over, width=width) if c.ntk else {}
                base = claim_scenario(c, **overrides, **extra)
                s_values = args.s or (s_grid(base.d) if args.sweep else [base.s if args.d is None else max(1, round(0.1 * base.d))])
                for s in s_values:
                    jobs.append((c, base.replace(s=s)))
    except ValueError as e:
        parser.error(str(e))
    alpha = args.alpha / len(jobs) if len(jobs) > 1 else args.alpha  # Bonferroni across checks
    from tqdm import tqdm

    results = []
    bar = tqdm(total=len(jobs), unit="check", disable=args.no_progress or args.json or None, file=sys.stderr)
    try:
        for c, sc in jobs:
            bar.set_postfix_str(f"{c.id} s={sc.s}")
            results.append(run_check(c, sc, seed=args.seed, alpha=alpha, precision=args.precision,
                                     batch=args.batch, max_trials=args.trials, exact=args.exact))
            bar.update(1)
    except ValueError as e:
        bar.close()
        sys.stderr.write(f"{parser.prog}: error: {e}\n")
        return EXIT_USAGE
    bar.close()

    from .report import format_table, plot_sweep, save_index, save_reports, to_json

    meta = {"command": "python -m sketchbound.validate " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))}
    if args.json:
        print(to_json(results, meta))
    else:
        print(format_table(results))
        from .report import format_ntk_chain
        chain = format_ntk_chain(results)
        if chain:
            print("\n" + chain)
        violated = [r for r in results if r.verdict == "violated"]
        for r in violated:
            where = "" if r.within_hypotheses else (" OUTSIDE the statement's hypotheses (the paper assumes "
                                                     + ", ".join(f"{k}={v}" for k, v in get_claim(r.claim).hypotheses.items()) + ")")
            print(f"\n!! {r.name} is VIOLATED{where}: measured {r.estimate:.4g} (CI [{r.ci_low:.4g}, {r.ci_high:.4g}], "
                  f"{r.trials} trials) vs {'bound' if r.relation == '<=' else 'exact value'} "
                  f"{(r.bound if r.relation == '<=' else r.exact):.4g}: measured/ref = {r.effect:.4g}. "
                  f"Scenario: {r.scenario}. Closed form: {r.exact if r.exact is not None else '–'}.")
    if args.save:
        for path in save_reports(results, args.save, meta):
            print(f"wrote {path}", file=sys.stderr)
        if args.all:
            print(f"wrote {save_index(results, args.save, meta)}", file=sys.stderr)
    if args.plot:
        print(f"wrote {plot_sweep(results, args.plot)}", file=sys.stderr)
    if any(r.verdict == "violated" for r in results):
        return EXIT_VIOLATED
    if any(r.verdict == "inconclusive" for r in results):
        return EXIT_INCONCLUSIVE
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
