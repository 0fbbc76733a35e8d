"""``python -m sketchbound.reliability``: how often does the validator cry wolf, and how often does it
catch a wrong bound?

*False violations.* Every random claim runs over many seeds (a fresh instance and fresh trials per
seed) with the estimator ``validate`` uses by default (Rao-Blackwell / derived where they apply), and
``violated`` verdicts are counted. For a claim the closed forms say *holds* (equalities, and bounds
with exact <= bound) a correct engine at level ``α`` per check gives a false-violation fraction
``<= α``; the report gives the observed fraction with a one-sided 95% Clopper–Pearson upper limit
(``scipy.stats.beta``). Claims the closed forms say are false (Lemma 4.2) are reported apart: there
the fraction of ``violated`` is the engine's power.

*Power.* Every bound with a closed-form exact value is re-checked against a deliberately wrong bound,
``factor × exact`` (default 0.99: 1% below the truth), once with each estimator (``auto`` and
``plain``); the fraction of ``violated`` is the power, with a 95% Clopper–Pearson lower limit.
For a ``derived`` verdict that design alone is tautological (a closed form against a multiple of
itself), so estimator ``perturbed`` adds a design that is not: the claim's closed form itself is made
wrong (``exact``, or the statistic's ``given_x`` for Rao-Blackwell, times :data:`PERTURB`), so that
the closed form says *holds* against the wrong bound while the truth is *violated*; the engine must
not say ``holds`` (column ``false_holds``) — its independent checks (the tail-aware Monte-Carlo
cross-check, the exact comparison with enumeration of the claim's law) have to catch it.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import sys
import time
from pathlib import Path

import pandas as pd
from scipy import stats

from ._cli import OneLineParser, arg_type, cli_errors, interruptible, pos_int
from ._io import atomic_write, check_output_path
from .claims import CLAIMS, Statistic
from .cluster import add_cluster_arguments, client_for, run_checks
from .montecarlo import claim_scenario

PROG = "python -m sketchbound.reliability"
#: a reduced scenario so that 200+ seeds of every claim fit in minutes on 2 cores
SCENARIO = dict(d=64, n=16, s=6)
#: Theorem 6.2's claims (own model, d = width·(d_in+1)): a narrow MLP, a short run
NTK_SCENARIO = dict(n=16, s=6, width=32, steps=30)
POWER_ESTIMATORS = ("auto", "plain", "perturbed")
#: the wrong closed form of the ``perturbed`` design: this multiple of the true one
PERTURB = 0.97


def _scenario(c, scenario):
    return claim_scenario(c, **(NTK_SCENARIO if c.ntk else scenario))


def _random_claims(only=None):
    out = [c for c in CLAIMS if not c.deterministic]
    if only:
        unknown = set(only) - {c.id for c in out}
        if unknown:
            raise ValueError(f"--claims: unknown or deterministic claim(s) {', '.join(sorted(unknown))}; "
                             f"random claims: {', '.join(c.id for c in out)}")
        out = [c for c in out if c.id in only]
    return out


def study(seeds: int = 200, alpha: float = 0.01, scenario: dict | None = None, progress: bool = True,
          client=None, estimator: str = "auto", only=None) -> pd.DataFrame:
    """One row per (claim, seed); ``client`` (:func:`sketchbound.cluster.client_for`) spreads the checks
    over a Dask cluster with identical rows (each check draws only from its own seed)."""
    scenario = dict(SCENARIO if scenario is None else scenario)
    calls = [(c, sc, dict(seed=1000 + sd, alpha=alpha, estimator=estimator))
             for c, sc in ((c, _scenario(c, scenario)) for c in _random_claims(only)) for sd in range(seeds)]
    results = run_checks(calls, client, progress=progress)
    return pd.DataFrame([dict(claim=c.id, seed=kw["seed"], verdict=r.verdict, estimator=r.estimator,
                              exact_vs_bound=r.exact_vs_bound, trials=r.trials)
                         for (c, _, kw), r in zip(calls, results)])


def _scaled_exact(claim, factor, inst, sc):
    return factor * float(claim.exact(inst, sc))


def _scaled_given_x(given_x, factor, X, w, p, s):
    return factor * given_x(X, w, p, s)


def _perturbed(claim):
    """``claim`` with its closed form (``exact`` of a derived claim, else the statistic's ``given_x``)
    times :data:`PERTURB`; ``None`` where no closed form decides its verdict."""
    if claim.exact_from:
        return dataclasses.replace(claim, exact=functools.partial(_scaled_exact, claim, PERTURB))
    st = claim.statistic
    if claim.scenario.get("x_mode") == "redrawn" and getattr(st, "given_x", None) is not None:
        wrong = Statistic(st.name, st.fn, given_x=functools.partial(_scaled_given_x, st.given_x, PERTURB),
                          depends_on=st.depends_on, enumerable=st.enumerable, unseen=st.unseen,
                          unseen_from=st.unseen_from, value_range=st.value_range)
        return dataclasses.replace(claim, statistic=wrong)
    return None


def power(seeds: int = 40, factor: float = 0.99, alpha: float = 0.01, scenario: dict | None = None,
          estimators=POWER_ESTIMATORS, progress: bool = True, client=None, only=None) -> pd.DataFrame:
    """One row per (bound claim, estimator, seed), the bound replaced by ``factor × exact``."""
    if not (0 < factor < 1):
        raise ValueError(f"factor must be in (0, 1) (a bound below the truth), got {factor!r}")
    scenario = dict(SCENARIO if scenario is None else scenario)
    claims = [c for c in _random_claims(only) if c.relation == "<=" and c.exact is not None]
    calls, requested = [], []
    for c in claims:
        for est in estimators:
            run = _perturbed(c) if est == "perturbed" else c
            if run is None:
                continue
            for sd in range(seeds):
                calls.append((run, _scenario(c, scenario), dict(seed=5000 + sd, alpha=alpha,
                                                                estimator="auto" if est == "perturbed" else est,
                                                                bound_override=functools.partial(_scaled_exact, c, factor))))
                requested.append(est)
    results = run_checks(calls, client, progress=progress)
    return pd.DataFrame([dict(claim=c.id, requested=req, estimator=r.estimator, seed=kw["seed"],
                              verdict=r.verdict, trials=r.trials)
                         for (c, _, kw), req, r in zip(calls, requested, results)])


def summarise(df: pd.DataFrame, alpha: float) -> pd.DataFrame:
    out = []
    for cid, g in df.groupby("claim", sort=False):
        n = len(g)
        k = int((g.verdict == "violated").sum())
        ratio = g.exact_vs_bound.dropna()
        true_by_formula = ratio.empty or bool((ratio <= 1).all())
        upper = float(stats.beta.ppf(0.95, k + 1, n - k)) if k < n else 1.0
        ests = "/".join(sorted(set(g.estimator))) if "estimator" in g else ""
        out.append(dict(claim=cid, estimator=ests, seeds=n, true_by_closed_form=true_by_formula, violated=k,
                        violated_fraction=k / n, upper95=upper, holds=int((g.verdict == "holds").sum()),
                        inconclusive=int((g.verdict == "inconclusive").sum()), alpha=alpha,
                        mean_trials=float(g.trials.mean())))
    return pd.DataFrame(out)


def summarise_power(df: pd.DataFrame, factor: float) -> pd.DataFrame:
    out = []
    for (cid, req), g in df.groupby(["claim", "requested"], sort=False):
        n = len(g)
        k = int((g.verdict == "violated").sum())
        lower = float(stats.beta.ppf(0.05, k, n - k + 1)) if k > 0 else 0.0
        out.append(dict(claim=cid, estimator="/".join(sorted(set(g.estimator))), design=req, bound_factor=factor,
                        seeds=n, violated=k, power=k / n, lower95=lower,
                        inconclusive=int((g.verdict == "inconclusive").sum()),
                        false_holds=int((g.verdict == "holds").sum()), mean_trials=float(g.trials.mean())))
    return pd.DataFrame(out)


@interruptible(PROG)
def main(argv=None) -> int:
    ap = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=pos_int("seeds"), default=200, help="seeds per claim, false-violation study (default 200)")
    ap.add_argument("--power-seeds", type=pos_int("power-seeds", lo=0), default=40,
                    help="seeds per claim and estimator, power study (default 40; 0 skips it)")
    ap.add_argument("--power-factor", type=arg_type("power-factor", float, lambda x: 0 < x < 1, "a number in (0, 1)"),
                    default=0.99, help="the wrong bound of the power study, as a fraction of the truth (default 0.99)")
    ap.add_argument("--alpha", type=arg_type("alpha", float, lambda x: 0 < x < 1, "a number in (0, 1)"), default=0.01,
                    help="error rate per check the verdicts are built for (default 0.01)")
    ap.add_argument("--out", default="validation/reliability",
                    help="writes OUT.csv, OUT.json, OUT_raw.csv, OUT_power.csv, OUT_power_raw.csv")
    ap.add_argument("--claims", type=arg_type("claims", str, lambda x: bool(x), "claim ids separated by commas", many=True),
                    help="only these claims (default: every random claim)")
    ap.add_argument("--power-estimators", type=arg_type("power-estimators", str, lambda x: x in POWER_ESTIMATORS,
                                                        f"{' or '.join(POWER_ESTIMATORS)}, comma-separated", many=True),
                    default=list(POWER_ESTIMATORS), help="designs of the power study (default: auto,plain,perturbed; perturbed: the closed form itself made wrong)")
    ap.add_argument("--update", action="store_true",
                    help="replace only the rows of the claims (and power estimators) run now in existing OUT files, "
                         "keep the others (e.g. after a change to one estimator); the commands are recorded")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_cluster_arguments(ap, what="checks")
    a = ap.parse_args(argv)
    with cli_errors(PROG):
        check_output_path(a.out + ".json", flag="--out")
        _random_claims(a.claims)
        if a.update and not Path(a.out + "_raw.csv").is_file():
            raise ValueError(f"--update: no earlier study at {a.out}_raw.csv")
    command = f"{PROG} " + " ".join(argv if argv is not None else sys.argv[1:])
    t0 = time.time()
    with client_for(a.workers, a.scheduler, prog=PROG) as client:
        df = study(a.seeds, a.alpha, client=client, progress=not a.no_progress, only=a.claims)
        t1 = time.time()
        pw = (power(a.power_seeds, a.power_factor, a.alpha, client=client, progress=not a.no_progress,
                    estimators=tuple(a.power_estimators), only=a.claims) if a.power_seeds else None)
    meta = dict(command=command, scenario=SCENARIO, ntk_scenario=NTK_SCENARIO, seconds=round(t1 - t0, 1),
                power_seconds=round(time.time() - t1, 1), power_factor=a.power_factor)
    if a.update:
        old = json.loads(Path(a.out + ".json").read_text()).get("meta", {})
        ran = set(df.claim)
        df = pd.concat([pd.read_csv(a.out + "_raw.csv", dtype={"claim": str}).query("claim not in @ran"), df], ignore_index=True)
        if pw is not None and Path(a.out + "_power_raw.csv").is_file():
            keys = set(zip(pw.claim, pw.requested))
            opw = pd.read_csv(a.out + "_power_raw.csv", dtype={"claim": str})
            keep = [(c, r) not in keys for c, r in zip(opw.claim, opw.requested)]
            pw = pd.concat([opw[keep], pw], ignore_index=True)
        order = {c.id: i for i, c in enumerate(CLAIMS)}
        df = df.sort_values("claim", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
        if pw is not None:
            pw = pw.sort_values("claim", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
        meta = dict(old, updates=old.get("updates", []) + [dict(command=command, claims=sorted(ran),
                                                                 seconds=meta["seconds"],
                                                                 power_seconds=meta["power_seconds"])])
    summ = summarise(df, a.alpha)
    psumm = summarise_power(pw, a.power_factor) if pw is not None else None
    atomic_write(a.out + "_raw.csv", df.to_csv(index=False))
    atomic_write(a.out + ".csv", summ.to_csv(index=False))
    if psumm is not None:
        atomic_write(a.out + "_power_raw.csv", pw.to_csv(index=False))
        atomic_write(a.out + "_power.csv", psumm.to_csv(index=False))
    atomic_write(a.out + ".json", json.dumps(dict(meta=meta, summary=summ.to_dict(orient="records"),
                                                  power=[] if psumm is None else psumm.to_dict(orient="records")),
                                             indent=2))
    print(summ.to_string(index=False))
    if psumm is not None:
        print(f"\npower against a bound {a.power_factor:g} x the truth:")
        print(psumm.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
