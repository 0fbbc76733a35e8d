"""Reporting: tables (pandas), atomic CSV/JSON/Markdown writes, and the plot of a claim vs ``s``."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from . import __version__, _io

__all__ = ["results_frame", "format_table", "format_rests_on", "atomic_write", "save_reports", "save_index", "to_json", "plot_sweep"]

COLUMNS = ["claim", "verdict", "relation", "estimate", "ci_low", "ci_high", "exact", "bound", "effect",
           "trials", "estimator", "mode", "depends_on", "seed", "within_hypotheses", "scenario"]


def _scenario_label(sc: dict) -> str:
    if sc.get("model") == "mlp2":
        keys = ("width", "d_in", "d", "n", "s", "steps", "lr_factor")
        return "mlp2 " + " ".join(f"{k}={sc[k]}" for k in keys if k in sc)
    keys = ("d", "n", "s", "init", "c", "ratio", "x_mode", "x_tilde")
    return " ".join(f"{k}={sc[k]}" for k in keys if k in sc)


def results_frame(results) -> pd.DataFrame:
    """The checks as a table, one row per check, with the columns of :data:`COLUMNS`.

    Parameters
    ----------
    results : iterable of Result
        Results of :func:`sketchbound.montecarlo.run_check` (anything with ``as_dict()``).

    Returns
    -------
    pandas.DataFrame
        One row per result; ``scenario`` as a one-line label, ``depends_on`` space-separated.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> from sketchbound.montecarlo import run_check
    >>> results = [run_check(get_claim("5.1"), seed=0)]
    >>> results_frame(results)[["claim", "verdict"]].values.tolist()
    [['5.1', 'holds']]
    """
    rows = []
    for r in results:
        d = r.as_dict()
        d["scenario"] = _scenario_label(d["scenario"])
        d["depends_on"] = " ".join(d.get("depends_on") or [])
        rows.append({k: d.get(k) for k in COLUMNS})
    return pd.DataFrame(rows, columns=COLUMNS)


def md_escape(text: str) -> str:
    """Escape a table cell for Markdown (``|`` would end the cell)."""
    return str(text).replace("|", "\\|")


def fmt_number(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def format_table(results) -> str:
    """A fixed-width table, one row per check: verdict, measured mean and interval, exact, bound.

    Parameters
    ----------
    results : iterable of Result
        Results of :func:`sketchbound.montecarlo.run_check`.

    Returns
    -------
    str
        The table, as ``validate`` prints it.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> from sketchbound.montecarlo import run_check
    >>> results = [run_check(get_claim("5.1"), seed=0)]
    >>> format_table(results).split()[:3]
    ['claim', 'verdict', 'relation']
    """
    df = results_frame(results)
    show = df[["claim", "verdict", "relation", "estimate", "ci_low", "ci_high", "exact", "bound", "effect", "trials",
               "estimator", "scenario"]].copy()
    show = show.rename(columns={"effect": "measured/ref"})
    for c in ("estimate", "ci_low", "ci_high", "exact", "bound", "measured/ref"):
        show[c] = show[c].map(fmt_number)
    return show.to_string(index=False)


def format_rests_on(results) -> str:
    """One line per sampled check: its verdict and what that verdict rests on (the interval's
    assumptions, how rare indices were covered), so that a "holds" never hides its assumptions.

    Parameters
    ----------
    results : iterable of Result
        Results with ``claim``, ``verdict`` and ``rests_on`` attributes.

    Returns
    -------
    str
        ``"verdicts rest on:"`` and one line per result with a ``rests_on``; ``""`` when none has one.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> print(format_rests_on([SimpleNamespace(claim="4.1", verdict="holds", rests_on="finite variance")]))
    verdicts rest on:
      4.1 holds: finite variance
    """
    lines = [f"  {r.claim} {r.verdict}: {r.rests_on}" for r in results if getattr(r, "rests_on", "")]
    return "verdicts rest on:\n" + "\n".join(lines) if lines else ""


def format_chains(results) -> str:
    """How each derived / Rao-Blackwell / closed-form verdict was reached: its dependency chain, one
    block per check (empty string when there is none)."""
    blocks = []
    for r in results:
        if not r.chain or r.estimator not in ("derived", "closed-form") and r.verdict != "inconclusive":
            continue
        deps = f" (leans on {', '.join(r.depends_on)})" if r.depends_on else ""
        blocks.append(f"{r.claim} [{r.estimator}] {r.verdict}{deps}:\n" + "\n".join(f"  {line}" for line in r.chain))
    return "\n".join(blocks)


_CONST_KEYS = ("K", "K_jac_norm", "K_jac_lipschitz", "lambda_min", "lambda_max", "R0", "lr", "loss_t",
               "displacement", "relative_displacement", "jacobian_change")


def format_ntk_chain(results) -> str:
    """Theorem 6.2 results: the estimated constants and every inequality of the proof (App. B.5) with
    its verdict, one block per (width, s) — each step is a number; the verdict of a step compares it
    with the previous one. Empty string when no result carries a chain."""
    blocks, seen = [], set()
    for r in results:
        ch = (r.extra or {}).get("chain")
        if not ch:
            continue
        key = (_scenario_label(r.scenario), r.seed)
        if key in seen:
            continue
        seen.add(key)
        c = r.extra["constants"]
        mc = r.crosscheck or dict(mean=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high)
        lines = [f"Theorem 6.2 chain, {key[0]} (seed {r.seed}); Monte-Carlo E_m = {fmt_number(mc['mean'])} "
                 f"[{fmt_number(mc['ci_low'])}, {fmt_number(mc['ci_high'])}]",
                 "  estimated constants: " + ", ".join(f"{k}={fmt_number(float(c[k]))}" for k in _CONST_KEYS if k in c)]
        v, verd, text = ch["values"], ch["verdicts"], ch["text"]
        lines.append(f"  {'exact':8s} {fmt_number(v['exact']):>11s}            Lemma 4.3 equality line (closed form)")
        for step in [k for k in v if k in verd]:
            lines.append(f"  {step:8s} {fmt_number(v[step]):>11s}  {verd[step]:9s} {text.get(step, '')}")
        lines.append(f"  g4 check: ||θ_t − θ₀|| = {fmt_number(v['displacement'])} vs 3KR₀/λ_min = {fmt_number(v['g4_radius'])}: "
                     f"{verd['g4_displacement']}")
        lines.append(f"  final / exact = {fmt_number(v['final'] / v['exact']) if v['exact'] else '–'}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


#: kept importable for sketchbound.dnn / figures / bench (``from ..report import atomic_write``)
atomic_write = _io.atomic_write


def _clean(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None if math.isnan(o) else ("inf" if o > 0 else "-inf")
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def to_json(results, meta: dict | None = None) -> str:
    """A JSON list, one object per check (claim, scenario, relation, verdict, estimate, ci_low, ci_high,
    exact, bound, trials, seed, ...), each carrying the package version. Non-finite floats become
    ``null`` / ``"inf"`` / ``"-inf"``.

    Parameters
    ----------
    results : iterable of Result
        Results of :func:`sketchbound.montecarlo.run_check`.
    meta : dict, optional
        Extra keys added to every object (e.g. the command).

    Returns
    -------
    str
        The JSON text.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> from sketchbound.montecarlo import run_check
    >>> results = [run_check(get_claim("5.1"), seed=0)]
    >>> import json
    >>> json.loads(to_json(results, {"command": "doc"}))[0]["command"]
    'doc'
    """
    out = []
    for r in results:
        d = r.as_dict()
        d["version"] = __version__
        if meta:
            d.update(meta)
        out.append(_clean(d))
    return json.dumps(out, indent=2, ensure_ascii=False)


def _markdown(claim_id: str, results, meta: dict) -> str:
    r0 = results[0]
    lines = [f"# {r0.name}", "", f"Statement: `{r0.statement}`", "",
             f"Command: `{meta.get('command', '')}`  ", f"sketchbound {__version__}, seed {r0.seed}, α = {r0.alpha:g} per check", "",
             "| verdict | relation | measured (CI) | exact | bound | measured/ref | estimator | trials | depends on | scenario |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| **{r.verdict}** | {r.relation} | {fmt_number(r.estimate)} [{fmt_number(r.ci_low)}, {fmt_number(r.ci_high)}] | "
                     f"{fmt_number(r.exact)} | {fmt_number(r.bound)} | {fmt_number(r.effect)} | {r.estimator} | {r.trials} | "
                     f"{', '.join(r.depends_on) or '–'} | {_scenario_label(r.scenario)} |")
    lines += ["", f"Notes: {results[-1].note}", ""]
    lines += [f"Why {_scenario_label(r.scenario)} is {md_escape(r.reason)}.\n" for r in results if r.reason]
    rests = [r.rests_on for r in results if getattr(r, "rests_on", "")]
    if rests:
        lines += [f"The verdict rests on: {md_escape(rests[-1])}.", ""]
    for r in results:
        if r.chain:
            lines += [f"How the verdict was reached ({r.estimator}, {_scenario_label(r.scenario)}):", ""]
            lines += [f"{k}. {md_escape(step)}" for k, step in enumerate(r.chain, 1)] + [""]
        if r.crosscheck:
            cc = r.crosscheck
            lines += [f"Cross-check ({cc['estimator']} Monte-Carlo, {cc['trials']} trials): {fmt_number(cc['mean'])} "
                      f"[{fmt_number(cc['ci_low'])}, {fmt_number(cc['ci_high'])}], {cc['agrees']} with the closed form"
                      + (f"; resolution ±{fmt_number(cc['resolution'])} vs gap {fmt_number(cc['gap'])}" if "gap" in cc else "")
                      + ".", ""]
    chain = format_ntk_chain(results)
    if chain:
        lines += ["```", chain, "```", ""]
    return "\n".join(lines)


def save_reports(results, outdir="validation", meta: dict | None = None) -> list[Path]:
    """Write ``<outdir>/<claim>.{csv,json,md}`` for each claim in ``results``, atomically.

    Parameters
    ----------
    results : iterable of Result
        Results of :func:`sketchbound.montecarlo.run_check`.
    outdir : str or PathLike, optional
        The folder (created if needed).
    meta : dict, optional
        Extra keys for the JSON objects and the Markdown header (``command``).

    Returns
    -------
    list of pathlib.Path
        The files written.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> from sketchbound.montecarlo import run_check
    >>> results = [run_check(get_claim("5.1"), seed=0)]
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as t:
    ...     [p.name for p in save_reports(results, t)]
    ['5.1.csv', '5.1.json', '5.1.md']
    """
    meta = dict(meta or {})
    outdir = Path(outdir)
    written = []
    by_claim: dict[str, list] = {}
    for r in results:
        by_claim.setdefault(r.claim, []).append(r)
    for cid, rs in by_claim.items():
        df = results_frame(rs)
        df["version"] = __version__
        for name, text in ((f"{cid}.csv", df.to_csv(index=False)), (f"{cid}.json", to_json(rs, meta)),
                           (f"{cid}.md", _markdown(cid, rs, meta))):
            atomic_write(outdir / name, text)
            written.append(outdir / name)
    return written


def save_index(results, outdir="validation", meta: dict | None = None, source_dir=None) -> Path:
    """Write ``<outdir>/README.md``, atomically: one row per check (claim, statement, verdict, measured vs
    bound/exact, estimator, what it leans on), the command that made it, and the reliability study and
    ``NOTES.md`` found in ``source_dir``.

    Parameters
    ----------
    results : iterable of Result
        Results of :func:`sketchbound.montecarlo.run_check`.
    outdir : str or PathLike, optional
        The folder (created if needed).
    meta : dict, optional
        ``command``: the command shown as the one that made the reports.
    source_dir : str or PathLike, optional
        Where ``reliability.json`` and ``NOTES.md`` are looked for (default ``outdir``).

    Returns
    -------
    pathlib.Path
        The README written.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> from sketchbound.montecarlo import run_check
    >>> results = [run_check(get_claim("5.1"), seed=0)]
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as t:
    ...     save_index(results, t).read_text().splitlines()[0]
    '# Validation reports'
    """
    meta = dict(meta or {})
    outdir = Path(outdir)
    src = Path(source_dir) if source_dir is not None else outdir
    lines = ["# Validation reports", "",
             f"Made by `{meta.get('command', 'python -m sketchbound.validate --all --save')}` "
             f"(sketchbound {__version__}). One file set per claim: `<claim>.csv`, `<claim>.json`, `<claim>.md`.",
             "Estimators (column *estimator*): `plain` — Monte-Carlo over masks (and over X where the claim's expectation "
             "is over X); `rao-blackwell` — E_m given X in closed form (the Lemma 4.3 equality, i.e. the sum of Lemma B.2's "
             "variances), Monte-Carlo over X only; `derived` — fixed inputs: the closed form of the measured quantity "
             "against the bound, with a plain Monte-Carlo cross-check that must contain the closed form; "
             "`deterministic` — an identity computed once. *Leans on*: the claims a verdict's closed form rests on "
             "(`--all` checks them first; a verdict leaning on a claim violated in the same run is withheld); "
             "every closed form a `rao-blackwell` or `derived` verdict uses is also compared with exact enumeration of "
             "the claim's own mask law on small instances. Tails: before sampling fixed data, the indices expected in "
             "fewer than 30 trials of the first look are found from p, and their share of the mean (the unseen mass) is "
             "added exactly where the statistic has it in closed form, or covered by stratification; a verdict never "
             "says holds while that mass could close the gap. Each claim's `.md` says what its verdict rests on. "
             "`exact` is the closed form of the measured quantity (sketchbound.theory).", "",
             "| claim | statement | verdict | measured (CI) | exact | bound | measured/bound (or /exact) | estimator | trials | leans on | reproduce |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        flag = "" if r.within_hypotheses else " (outside the statement's hypotheses)"
        lines.append(f"| {r.claim} | {md_escape(r.statement)} | **{r.verdict}**{flag} | {fmt_number(r.estimate)} [{fmt_number(r.ci_low)}, {fmt_number(r.ci_high)}] | "
                     f"{fmt_number(r.exact)} | {fmt_number(r.bound)} | {fmt_number(r.effect)} | {r.estimator} | {r.trials} | "
                     f"{', '.join(r.depends_on) or '–'} | `python -m sketchbound.validate --lemma {r.claim} --seed {r.seed}` |")
    rel = src / "reliability.json"
    if rel.exists():
        lines += reliability_section(json.loads(rel.read_text()))
    extra = src / "NOTES.md"
    if extra.exists():
        lines += ["", extra.read_text()]
    path = outdir / "README.md"
    atomic_write(path, "\n".join(lines) + "\n")
    return path


def reliability_section(data: dict) -> list[str]:
    """Markdown lines for ``validation/reliability.json`` (:mod:`sketchbound.reliability`): the
    false-violation table and, when present, the power table."""
    m = data.get("meta", {})
    lines = ["", "## How often does the validator cry wolf? (measured)", "",
             f"`{m.get('command', 'python -m sketchbound.reliability')}` ran every random claim on "
             f"{m.get('scenario')} (Theorem 6.2: {m.get('ntk_scenario', 'its default')}) for many seeds (fresh instance "
             f"and trials per seed, α = 0.01 per check, the default estimators) in {m.get('seconds')} s. For claims that "
             "hold by their closed form, `violated` is a false alarm and its rate should be ≤ α; for Lemma 4.2 "
             "(false) it is the power."]
    for u in m.get("updates", []):
        took = " + ".join(f"{u[k]} s{w}" for k, w in (("seconds", ""), ("power_seconds", " power")) if u.get(k) is not None)
        what = f"Rows of {', '.join(u['claims'])}" if u.get("claims") else "The power rows"
        lines += ["", f"{what} re-run by `{u['command']}` ({took}) with the current engine; the other rows are unchanged."]
    lines += ["",
             "| claim | estimator | true by closed form | seeds | violated | fraction | 95% upper limit | holds | inconclusive | mean trials |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in data["summary"]:
        lines.append(f"| {s['claim']} | {s.get('estimator', '')} | {s['true_by_closed_form']} | {s['seeds']} | {s['violated']} | "
                     f"{s['violated_fraction']:.4f} | {s['upper95']:.4f} | {s['holds']} | {s['inconclusive']} | {s['mean_trials']:.0f} |")
    true_rows = [s for s in data["summary"] if s["true_by_closed_form"]]
    k = sum(s["violated"] for s in true_rows)
    n = sum(s["seeds"] for s in true_rows)
    if n:
        lines += ["", f"Pooled over the claims that hold: {k} false `violated` in {n} checks = {k / n:.4f} "
                      f"(α = {true_rows[0]['alpha']})."]
    if data.get("power"):
        from .reliability import PERTURB  # noqa: PLC0415  (the report stays light to import)
        f = m.get("power_factor", 0.99)
        lines += ["", f"### Power: the bound replaced by {f:g} × the truth ({m.get('power_seconds')} s)", "",
                  "Each bound with a closed-form exact value, checked against a deliberately wrong bound "
                  f"{f:g} × exact with each estimator; `violated` is then the right answer and `holds` a false one. "
                  "Design `auto`: the default estimator; `plain`: Monte-Carlo alone; `perturbed`: the default estimator "
                  "with the closed form it relies on (a derived claim's exact value, or the Rao-Blackwell conditional "
                  f"mean) itself made wrong (× {PERTURB:g}): its cross-checks must then refuse a verdict.", "",
                  "| claim | design | estimator | seeds | violated | power | 95% lower limit | inconclusive | holds (wrong) | mean trials |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for s in data["power"]:
            wrong = s["seeds"] - s["violated"] - s["inconclusive"]
            lines.append(f"| {s['claim']} | {s.get('design', '')} | {s['estimator']} | {s['seeds']} | {s['violated']} | "
                         f"{s['power']:.3f} | {s['lower95']:.3f} | {s['inconclusive']} | {wrong} | {s['mean_trials']:.0f} |")
    return lines + _offsets_section(data)


def _offsets_section(data: dict) -> list[str]:
    """The offsets study of :func:`sketchbound.reliability.offsets`, when present."""
    o = data.get("meta", {}).get("offsets")
    if not data.get("offsets") or not o:
        return []
    lines = ["", f"### Bounds on both sides of the truth: (1 + offset) × exact ({o['seconds']} s wall, "
                 f"{o['cpu_seconds']} s CPU)", "",
             f"`{o['command']}` checked {', '.join(o['claims'])} on {o.get('scenario')} against the bound "
             "(1 + offset) × the exact value, over fresh seeds. Not tautological: `plain` estimates the statistic "
             "by sampling alone (no closed form), `rao-blackwell` averages the mask out given X and samples X, "
             "against the claim's closed form of the expectation over X (a different integral); the `derived` "
             "estimator (closed form against a multiple of itself) is left out. A positive offset makes the claim "
             "true: `violated` is a false alarm (its 95% upper limit should stay near α or below); a negative one "
             "makes it false: `violated` is the power (95% lower limit).", "",
             "| claim | estimator | offset | kind | seeds | violated | rate | 95% limit | holds | inconclusive | mean trials |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in data["offsets"]:
        lines.append(f"| {s['claim']} | {s['estimator']} | {s['offset']:+.1%} | {s['kind']} | {s['seeds']} | "
                     f"{s['violated']} | {s['rate']:.3f} | {s['limit95']:.3f} | {s['holds']} | {s['inconclusive']} | "
                     f"{s['mean_trials']:.0f} |")
    alarms = [s for s in data["offsets"] if s["kind"] == "false alarm"]
    k, n = sum(s["violated"] for s in alarms), sum(s["seeds"] for s in alarms)
    if n:
        lines += ["", f"Pooled false alarms over the true bounds: {k} `violated` in {n} checks = {k / n:.4f} "
                      f"(α = {alarms[0]['alpha']} per check)."]
    return lines


def plot_sweep(results, path) -> Path:
    """Measured error vs ``s`` (log–log) with its confidence band, the exact curve and the bound, one
    panel per claim; deterministic checks are left out. Needs matplotlib (imported here only).

    Parameters
    ----------
    results : iterable of Result
        Results of :func:`sketchbound.montecarlo.run_check` over several ``s``.
    path : str or PathLike
        The image to write (atomically; the format follows the suffix).

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as t:
    ...     plot_sweep([], Path(t) / "sweep.png").name
    'sweep.png'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_claim: dict[str, list] = {}
    for r in results:
        if r.mode != "deterministic":
            by_claim.setdefault(r.claim, []).append(r)
    n = max(1, len(by_claim))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    for ax, (cid, rs) in zip(axes.flat, by_claim.items()):
        rs = sorted(rs, key=lambda r: r.scenario["s"])
        s = [r.scenario["s"] for r in rs]
        est = [r.estimate for r in rs]
        ax.fill_between(s, [r.ci_low for r in rs], [r.ci_high for r in rs], alpha=0.3, label="CI (measured)")
        ax.plot(s, est, "o-", label="measured mean")
        if all(r.exact is not None for r in rs):
            ax.plot(s, [r.exact for r in rs], "k--", label="exact (closed form)")
        if all(r.bound is not None for r in rs):
            ax.plot(s, [r.bound for r in rs], "r:", lw=2, label="paper's bound")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("s (draws of Algorithm 1)")
        ax.set_ylabel("E error" if rs[0].relation == "<=" or rs[0].claim.startswith("4") else "value")
        ax.set_title(f"{cid}: {', '.join(sorted({r.verdict for r in rs}))}", fontsize=9)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(by_claim):]:
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    try:
        return atomic_write(path, lambda f: fig.savefig(f, format=path.suffix.lstrip(".") or "png", dpi=120))
    finally:
        plt.close(fig)
