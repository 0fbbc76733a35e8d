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

*Offsets.* Bounds on both sides of the truth, ``(1 + offset) × exact`` for offsets such as ±0.5%, ±2%,
±5% (:data:`OFFSETS`), on a derived claim and two Rao-Blackwell ones (:data:`OFFSET_CLAIMS`), each with
its non-tautological designs only: ``plain`` (the statistic estimated by sampling alone, independently of
every closed form) and, where it is Rao-Blackwell, ``auto`` (Monte-Carlo over X of ``E_m`` given X against
the claim's closed form of ``E_X``). Above the truth ``violated`` is a false alarm, below it the power;
the table gives both per offset with their Clopper–Pearson limits::

    python -m sketchbound.reliability --parts offsets --update --out validation/reliability --no-progress
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
from .claims import CLAIMS, Statistic, get_claim
from .cluster import add_cluster_arguments, client_for, run_checks
from .montecarlo import choose_estimator, claim_scenario

__all__ = ["study", "power", "offsets", "summarise", "summarise_power", "summarise_offsets", "main", "SCENARIO",
           "NTK_SCENARIO", "POWER_ESTIMATORS", "PERTURB", "OFFSETS", "OFFSET_CLAIMS", "PARTS"]

PROG = "python -m sketchbound.reliability"
#: a reduced scenario so that 200+ seeds of every claim fit in minutes on 2 cores
SCENARIO = dict(d=64, n=16, s=6)
#: Theorem 6.2's claims (own model, d = width·(d_in+1)): a narrow MLP, a short run
NTK_SCENARIO = dict(n=16, s=6, width=32, steps=30)
POWER_ESTIMATORS = ("auto", "plain", "perturbed")
#: the wrong closed form of the ``perturbed`` design: this multiple of the true one
PERTURB = 0.97
#: the offsets study: bounds ``(1 + offset) × exact`` on both sides of the truth
OFFSETS = (-0.05, -0.02, -0.005, 0.005, 0.02, 0.05)
#: ... on a derived claim (checked by plain sampling) and two Rao-Blackwell ones
OFFSET_CLAIMS = ("4.3b", "4.5", "4.2-corrected")


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
    over a Dask cluster with identical rows (each check draws only from its own seed).

    Parameters
    ----------
    seeds : int
        Seeds per claim (seed ``1000 + i``: a fresh instance and fresh trials).
    alpha : float
        Error rate per check.
    scenario : dict, optional
        Scenario overrides (default :data:`SCENARIO`; Theorem 6.2's claims use :data:`NTK_SCENARIO`).
    progress : bool
        Show a progress bar.
    client : optional
        A Dask client; ``None`` runs here.
    estimator : str
        ``"auto"`` (the default estimators of ``validate``) or ``"plain"``.
    only : sequence of str, optional
        Only these random claims.

    Returns
    -------
    pandas.DataFrame
        ``claim, seed, verdict, estimator, exact_vs_bound, trials``.

    Examples
    --------
    >>> df = study(1, only=["4.5"], scenario=dict(d=16, n=4, s=2), progress=False)
    >>> df[["claim", "seed", "estimator"]].values.tolist()
    [['4.5', 1000, 'rao-blackwell']]
    """
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
    """One row per (bound claim, estimator, seed), the bound replaced by ``factor × exact``.

    Parameters
    ----------
    seeds : int
        Seeds per claim and design (seed ``5000 + i``).
    factor : float
        The wrong bound as a fraction of the truth, in (0, 1).
    alpha : float
        Error rate per check.
    scenario : dict, optional
        Scenario overrides (default :data:`SCENARIO`).
    estimators : sequence of str
        Designs among :data:`POWER_ESTIMATORS` (``perturbed``: the closed form itself made wrong).
    progress : bool
        Show a progress bar.
    client : optional
        A Dask client; ``None`` runs here.
    only : sequence of str, optional
        Only these random claims.

    Returns
    -------
    pandas.DataFrame
        ``claim, requested, estimator, seed, verdict, trials``.

    Examples
    --------
    >>> df = power(1, 0.9, estimators=("auto",), only=["4.5"], scenario=dict(d=16, n=4, s=2), progress=False)
    >>> df[["claim", "estimator", "verdict"]].values.tolist()
    [['4.5', 'rao-blackwell', 'violated']]
    """
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


def _offset_designs(claim) -> tuple[str, ...]:
    """The non-tautological estimators of a claim against ``(1 + offset) × exact``: ``plain`` always (the
    statistic estimated by sampling alone, independently of every closed form), ``auto`` only where it is
    Rao-Blackwell (Monte-Carlo over X of ``E_m`` given X, against the claim's closed form of ``E_X``, a
    different integral); a ``derived`` verdict would compare the closed form with a multiple of itself."""
    auto = choose_estimator(claim, claim.scenario.get("x_mode", "fixed"))
    return ("auto", "plain") if auto == "rao-blackwell" else ("plain",)


def offsets(seeds: int = 100, offsets_=OFFSETS, alpha: float = 0.01, scenario: dict | None = None,
            claims=OFFSET_CLAIMS, progress: bool = True, client=None, designs=None) -> pd.DataFrame:
    """Every claim of ``claims`` against a bound ``(1 + offset) × exact`` for each offset, with each of its
    non-tautological designs (:func:`_offset_designs`), over ``seeds`` seeds.

    A positive offset puts the bound above the truth (the claim holds: ``violated`` is a false alarm), a
    negative one below it (``violated`` is the right answer: power).

    Parameters
    ----------
    seeds : int
        Seeds per (claim, design, offset); each a fresh instance and fresh trials.
    offsets_ : sequence of float
        Relative offsets of the bound from the exact value, each in (-1, 1) and not 0.
    alpha : float
        Error rate per check.
    scenario : dict, optional
        Scenario overrides (default :data:`SCENARIO`).
    claims : sequence of str
        Bound claims with a closed-form exact value.
    progress : bool
        Show a progress bar.
    client : optional
        A Dask client (:func:`sketchbound.cluster.client_for`); ``None`` runs here.
    designs : sequence of str, optional
        Only these of each claim's designs (``"auto"``, ``"plain"``); default all of them.

    Returns
    -------
    pandas.DataFrame
        One row per check: ``claim, design, estimator, offset, seed, verdict, trials``.

    Examples
    --------
    >>> df = offsets(1, (-0.5, 0.5), claims=("4.5",), scenario=dict(d=8, n=4, s=2), progress=False,
    ...              designs=("auto",))
    >>> df[["design", "offset", "verdict"]].values.tolist()
    [['auto', -0.5, 'violated'], ['auto', 0.5, 'holds']]
    """
    bad = [o for o in offsets_ if not (-1 < o < 1) or o == 0]
    if bad:
        raise ValueError(f"offsets must be non-zero numbers in (-1, 1) (relative distance of the bound from the "
                         f"exact value); got {bad[0]!r}")
    if designs is not None and not set(designs) <= {"auto", "plain"}:
        raise ValueError(f"designs must be 'auto' and/or 'plain'; got {list(designs)!r}")
    scenario = dict(SCENARIO if scenario is None else scenario)
    chosen = [get_claim(cid) for cid in claims]
    for c in chosen:
        if c.relation != "<=" or c.exact is None or c.deterministic:
            raise ValueError(f"claims: {c.id!r} is not a random bound with a closed-form exact value; "
                             f"accepted e.g. {', '.join(OFFSET_CLAIMS)}")
    calls, keys = [], []
    for c in chosen:
        for design in (d for d in _offset_designs(c) if designs is None or d in designs):
            for sd in range(seeds):  # a seed's offsets one after the other: their draws are shared (_draw_cache)
                for off in offsets_:
                    calls.append((c, _scenario(c, scenario), dict(seed=9000 + sd, alpha=alpha, estimator=design,
                                                                   bound_override=functools.partial(_scaled_exact, c, 1 + off))))
                    keys.append((design, off))
    results = run_checks(calls, client, progress=progress)
    return pd.DataFrame([dict(claim=c.id, design=design, estimator=r.estimator, offset=off, seed=kw["seed"],
                              verdict=r.verdict, trials=r.trials)
                         for (c, _, kw), (design, off), r in zip(calls, keys, results)])


def summarise_offsets(df: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """One row per (claim, design, offset): for a positive offset the false-alarm rate (``violated``
    fraction) with its one-sided 95% Clopper–Pearson upper limit, for a negative one the power with its
    lower limit.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of :func:`offsets`.
    alpha : float
        The error rate per check the verdicts were built for (recorded in each row).

    Returns
    -------
    pandas.DataFrame
        ``claim, design, estimator, offset, kind, seeds, violated, rate, limit95, holds, inconclusive,
        alpha, mean_trials``.

    Examples
    --------
    >>> df = pd.DataFrame(dict(claim="4.5", design="auto", estimator="rao-blackwell", offset=[0.02] * 4,
    ...                        seed=range(4), verdict=["holds"] * 4, trials=1000))
    >>> row = summarise_offsets(df, 0.01).iloc[0]
    >>> row.kind, int(row.violated), round(float(row.limit95), 3)
    ('false alarm', 0, 0.527)
    """
    out = []
    for (cid, design, off), g in df.groupby(["claim", "design", "offset"], sort=False):
        n, k = len(g), int((g.verdict == "violated").sum())
        alarm = off > 0
        if alarm:
            limit = float(stats.beta.ppf(0.95, k + 1, n - k)) if k < n else 1.0
        else:
            limit = float(stats.beta.ppf(0.05, k, n - k + 1)) if k > 0 else 0.0
        out.append(dict(claim=cid, design=design, estimator="/".join(sorted(set(g.estimator))), offset=float(off),
                        kind="false alarm" if alarm else "power", seeds=n, violated=k, rate=k / n, limit95=limit,
                        holds=int((g.verdict == "holds").sum()), inconclusive=int((g.verdict == "inconclusive").sum()),
                        alpha=alpha, mean_trials=float(g.trials.mean())))
    return pd.DataFrame(out)


def summarise(df: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """One row per claim of :func:`study`: the ``violated`` fraction with its one-sided 95%
    Clopper–Pearson upper limit (a false alarm where the closed forms say the claim holds).

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of :func:`study`.
    alpha : float
        The error rate per check (recorded).

    Returns
    -------
    pandas.DataFrame
        ``claim, estimator, seeds, true_by_closed_form, violated, violated_fraction, upper95, holds,
        inconclusive, alpha, mean_trials``.

    Examples
    --------
    >>> df = pd.DataFrame(dict(claim="4.5", seed=[0, 1], verdict="holds", estimator="plain",
    ...                        exact_vs_bound=0.5, trials=1000))
    >>> round(float(summarise(df, 0.01).upper95[0]), 3)
    0.776
    """
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
    """One row per (claim, design) of :func:`power`: the power with its one-sided 95% Clopper–Pearson
    lower limit, and the wrong ``holds`` (``false_holds``).

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of :func:`power`.
    factor : float
        The wrong bound's fraction of the truth (recorded).

    Returns
    -------
    pandas.DataFrame
        ``claim, estimator, design, bound_factor, seeds, violated, power, lower95, inconclusive,
        false_holds, mean_trials``.

    Examples
    --------
    >>> df = pd.DataFrame(dict(claim="4.5", requested="auto", estimator="rao-blackwell", seed=[0, 1],
    ...                        verdict="violated", trials=1000))
    >>> round(float(summarise_power(df, 0.99).lower95[0]), 3)
    0.224
    """
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


PARTS = ("false-alarm", "power", "offsets")


def _merge(old_path: str, new: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``new`` with the rows of the earlier file at ``old_path`` whose ``keys`` were not run now, in the
    registry's claim order."""
    if Path(old_path).is_file():
        old = pd.read_csv(old_path, dtype={"claim": str})
        ran = set(map(tuple, new[keys].to_numpy().tolist()))
        keep = [tuple(r) not in ran for r in old[keys].to_numpy().tolist()]
        new = pd.concat([old[keep], new], ignore_index=True)
    order = {c.id: i for i, c in enumerate(CLAIMS)}
    return new.sort_values("claim", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def _parser() -> OneLineParser:
    ap = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=pos_int("seeds"), default=200, help="seeds per claim, false-violation study (default 200)")
    ap.add_argument("--power-seeds", type=pos_int("power-seeds", lo=0), default=40,
                    help="seeds per claim and estimator, power study (default 40; 0 skips it)")
    ap.add_argument("--power-factor", type=arg_type("power-factor", float, lambda x: 0 < x < 1, "a number in (0, 1)"),
                    default=0.99, help="the wrong bound of the power study, as a fraction of the truth (default 0.99)")
    ap.add_argument("--offset-seeds", type=pos_int("offset-seeds", lo=0), default=80,
                    help="seeds per claim, design and offset, offsets study (default 80; 0 skips it)")
    ap.add_argument("--offsets", type=arg_type("offsets", float, lambda x: -1 < x < 1 and x != 0,
                                               "non-zero numbers in (-1, 1), comma-separated", many=True),
                    default=list(OFFSETS), help="the offsets study's bounds (1 + offset) x exact (default "
                                                + ",".join(f"{o:g}" for o in OFFSETS) + ")")
    ap.add_argument("--offset-claims", type=arg_type("offset-claims", str, lambda x: bool(x), "claim ids separated by commas",
                                                     many=True),
                    help=f"claims of the offsets study (default {','.join(OFFSET_CLAIMS)})")
    ap.add_argument("--parts", type=arg_type("parts", str, lambda x: x in PARTS, f"{', '.join(PARTS)}, comma-separated",
                                             many=True),
                    default=list(PARTS), help="which studies run (default: all three; with --update the others are kept)")
    ap.add_argument("--alpha", type=arg_type("alpha", float, lambda x: 0 < x < 1, "a number in (0, 1)"), default=0.01,
                    help="error rate per check the verdicts are built for (default 0.01)")
    ap.add_argument("--out", default="validation/reliability",
                    help="writes OUT.csv, OUT.json, OUT_raw.csv, OUT_power.csv, OUT_power_raw.csv, OUT_offsets.csv, "
                         "OUT_offsets_raw.csv")
    ap.add_argument("--claims", type=arg_type("claims", str, lambda x: bool(x), "claim ids separated by commas", many=True),
                    help="only these claims (default: every random claim)")
    ap.add_argument("--power-estimators", type=arg_type("power-estimators", str, lambda x: x in POWER_ESTIMATORS,
                                                        f"{' or '.join(POWER_ESTIMATORS)}, comma-separated", many=True),
                    default=list(POWER_ESTIMATORS), help="designs of the power study (default: auto,plain,perturbed; perturbed: the closed form itself made wrong)")
    ap.add_argument("--update", action="store_true",
                    help="replace only the rows of the claims (and power estimators, offsets) run now in existing OUT "
                         "files, keep the others (e.g. after a change to one estimator); the commands are recorded")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_cluster_arguments(ap, what="checks")
    return ap


@interruptible(PROG)
def main(argv=None) -> int:
    """The CLI (``python -m sketchbound.reliability --help``); writes the tables and prints them.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success; bad usage exits 2 with one line on stderr.

    Examples
    --------
    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err), contextlib.suppress(SystemExit):
    ...     main(["--seeds", "0"])
    >>> print(err.getvalue().strip())
    python -m sketchbound.reliability: error: argument --seeds: --seeds must be an integer >= 1, got '0'
    """
    a = _parser().parse_args(argv)
    parts = set(a.parts)
    with cli_errors(PROG):
        check_output_path(a.out + ".json", flag="--out")
        _random_claims(a.claims)
        known = {c.id for c in _random_claims()}
        offset_claims = [c for c in a.offset_claims or [c for c in OFFSET_CLAIMS if c in known]
                         if not a.claims or c in a.claims]
        if "offsets" in parts and a.offset_seeds:
            _random_claims(offset_claims)
            for cid in offset_claims:
                c = get_claim(cid)
                if c.relation != "<=" or c.exact is None:
                    raise ValueError(f"--offset-claims: {cid!r} is not a bound with a closed-form exact value; "
                                     f"accepted e.g. {','.join(OFFSET_CLAIMS)}")
        if a.update and not Path(a.out + ".json").is_file():
            raise ValueError(f"--update: no earlier study at {a.out}.json")
        if parts != set(PARTS) and not a.update:
            raise ValueError(f"--parts {','.join(a.parts)}: the other parts' files would be lost; add --update to keep them")
    command = f"{PROG} " + " ".join(argv if argv is not None else sys.argv[1:])
    old = json.loads(Path(a.out + ".json").read_text()) if a.update else {}
    df = pw = off = None
    secs = {}
    with client_for(a.workers, a.scheduler, prog=PROG) as client:
        if "false-alarm" in parts:
            t0 = time.time()
            df = study(a.seeds, a.alpha, client=client, progress=not a.no_progress, only=a.claims)
            secs["seconds"] = round(time.time() - t0, 1)
        if "power" in parts and a.power_seeds:
            t0 = time.time()
            pw = power(a.power_seeds, a.power_factor, a.alpha, client=client, progress=not a.no_progress,
                       estimators=tuple(a.power_estimators), only=a.claims)
            secs["power_seconds"] = round(time.time() - t0, 1)
        if "offsets" in parts and a.offset_seeds and offset_claims:
            t0, c0 = time.time(), time.process_time()
            off = offsets(a.offset_seeds, tuple(a.offsets), a.alpha, claims=tuple(offset_claims), client=client,
                          progress=not a.no_progress)
            secs["offsets_seconds"] = round(time.time() - t0, 1)
            secs["offsets_cpu_seconds"] = round(time.process_time() - c0, 1)
    meta = dict(command=command, scenario=SCENARIO, ntk_scenario=NTK_SCENARIO, power_factor=a.power_factor, **secs)
    if off is not None:
        meta["offsets"] = dict(command=command, seeds=a.offset_seeds, offsets=list(a.offsets), claims=offset_claims,
                               seconds=secs["offsets_seconds"], cpu_seconds=secs["offsets_cpu_seconds"],
                               scenario=SCENARIO)
    if a.update:
        ran = sorted(set(df.claim)) if df is not None else []
        if df is not None:
            df = _merge(a.out + "_raw.csv", df, ["claim"])
        if pw is not None:
            pw = _merge(a.out + "_power_raw.csv", pw, ["claim", "requested"])
        if off is not None:
            off = _merge(a.out + "_offsets_raw.csv", off, ["claim", "design", "offset"])
        om = old.get("meta", {})
        upd = om.get("updates", [])
        if df is not None or pw is not None:
            upd = upd + [dict(command=command, claims=ran, seconds=secs.get("seconds"),
                              power_seconds=secs.get("power_seconds"))]
        meta = dict(om, updates=upd, **({"offsets": meta["offsets"]} if off is not None else {}))
    summ = summarise(df, a.alpha) if df is not None else None
    psumm = summarise_power(pw, a.power_factor) if pw is not None else None
    osumm = summarise_offsets(off, a.alpha) if off is not None else None
    for suffix, raw, table in (("", df, summ), ("_power", pw, psumm), ("_offsets", off, osumm)):
        if raw is not None:
            atomic_write(a.out + suffix + "_raw.csv", raw.to_csv(index=False))
            atomic_write(a.out + suffix + ".csv", table.to_csv(index=False))
    records = dict(summary=old.get("summary", []), power=old.get("power", []), offsets=old.get("offsets", []))
    for key, table in (("summary", summ), ("power", psumm), ("offsets", osumm)):
        if table is not None:
            records[key] = table.to_dict(orient="records")
    atomic_write(a.out + ".json", json.dumps(dict(meta=meta, **records), indent=2))
    for title, table in (("false violations:", summ), (f"power against a bound {a.power_factor:g} x the truth:", psumm),
                         ("bounds (1 + offset) x the truth:", osumm)):
        if table is not None:
            print(f"{title}\n{table.to_string(index=False)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
