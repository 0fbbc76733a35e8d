"""``python -m sketchbound.reliability``: how often does the validator cry wolf?

Runs every claim whose closed forms say it *holds* (equalities, and bounds with exact <= bound)
over many seeds (a fresh instance and fresh trials per seed) and counts ``violated`` verdicts.
A correct engine at level ``α`` per check should give a false-violation fraction ``<= α``; the
report gives the observed fraction with a one-sided 95% Clopper–Pearson upper limit
(``scipy.stats.beta``). Claims the closed forms say are false (Lemma 4.2) are reported apart: there
the fraction of ``violated`` is the engine's power.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import pandas as pd
from scipy import stats
from .claims import CLAIMS
from .cluster import add_cluster_arguments, client_for, run_checks
from .montecarlo import claim_scenario

#: a reduced scenario so that 200+ seeds of every claim fit in minutes on 2 cores
SCENARIO = dict(d=64, n=16, s=6)


def study(seeds: int = 200, alpha: float = 0.01, scenario: dict | None = None, progress: bool = True,
          client=None) -> pd.DataFrame:
    """One row per (claim, seed); ``client`` (:func:`sketchbound.cluster.client_for`) spreads the checks
    over a Dask cluster with identical rows (each check draws only from its own seed)."""
    scenario = dict(SCENARIO if scenario is None else scenario)
    claims = [c for c in CLAIMS if not c.deterministic]
    calls = [(c, sc, dict(seed=1000 + sd, alpha=alpha))
             for c, sc in ((c, claim_scenario(c, **scenario)) for c in claims) for sd in range(seeds)]
    results = run_checks(calls, client, progress=progress)
    return pd.DataFrame([dict(claim=c.id, seed=kw["seed"], verdict=r.verdict, exact_vs_bound=r.exact_vs_bound,
                              trials=r.trials) for (c, _, kw), r in zip(calls, results)])


def summarise(df: pd.DataFrame, alpha: float) -> pd.DataFrame:
    out = []
    for cid, g in df.groupby("claim", sort=False):
        n = len(g)
        k = int((g.verdict == "violated").sum())
        ratio = g.exact_vs_bound.dropna()
        true_by_formula = ratio.empty or bool((ratio <= 1).all())
        upper = float(stats.beta.ppf(0.95, k + 1, n - k)) if k < n else 1.0
        out.append(dict(claim=cid, seeds=n, true_by_closed_form=true_by_formula, violated=k, violated_fraction=k / n,
                        upper95=upper, holds=int((g.verdict == "holds").sum()),
                        inconclusive=int((g.verdict == "inconclusive").sum()), alpha=alpha,
                        mean_trials=float(g.trials.mean())))
    return pd.DataFrame(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sketchbound.reliability", description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--out", default="validation/reliability", help="writes OUT.csv, OUT.json, OUT_raw.csv")
    add_cluster_arguments(ap, what="checks")
    a = ap.parse_args(argv)
    if a.seeds < 1 or not (0 < a.alpha < 1):
        ap.error("--seeds must be >= 1 and --alpha in (0, 1)")
    t0 = time.time()
    with client_for(a.workers, a.scheduler, prog=ap.prog) as client:
        df = study(a.seeds, a.alpha, client=client)
    summ = summarise(df, a.alpha)
    from .report import atomic_write

    meta = dict(command="python -m sketchbound.reliability " + " ".join(argv if argv is not None else sys.argv[1:]),
                scenario=SCENARIO, seconds=round(time.time() - t0, 1))
    atomic_write(a.out + "_raw.csv", df.to_csv(index=False))
    atomic_write(a.out + ".csv", summ.to_csv(index=False))
    atomic_write(a.out + ".json", json.dumps(dict(meta=meta, summary=summ.to_dict(orient="records")), indent=2))
    print(summ.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
