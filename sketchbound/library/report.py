"""``validation/library.md``: the library's report, one section per claim (source, statement,
assumptions, exact value, default scenario, measured/bound, verdict, the command that reproduces it).
Written by ``python -m sketchbound.validate --library --save [DIR]`` (``DIR/library.md``)."""
from __future__ import annotations

from pathlib import Path

from scipy import stats

from .._io import atomic_write
from ..report import fmt_number, md_escape
from . import entry

__all__ = ["library_markdown", "save_library_report", "zero_event_upper"]


def zero_event_upper(trials: int, alpha: float) -> float:
    """The exact one-sided ``1 − α`` upper confidence bound of a probability with 0 events in
    ``trials`` Bernoulli trials: ``1 − α^{1/trials}`` (Clopper–Pearson).


    Parameters
    ----------
    trials : int
    alpha : float

    Returns
    -------
    float

    Examples
    --------
    >>> round(zero_event_upper(1000, 0.01), 5)
    0.00459
    """
    return float(stats.beta.ppf(1 - alpha, 1, trials))


def _scenario(sc: dict, law: str) -> str:
    """The scenario fields a library claim uses and its mask law (``s``: the sample or sketch size)."""
    data = "fixed inputs" if sc.get("x_mode") == "fixed" else "data redrawn per trial"
    return f"d={sc.get('d')} n={sc.get('n')} s={sc.get('s')} ({data}, mask law {law})"


def _tightness(mine) -> list[str]:
    """One line per bound, tightest first: how far below its bound the measured (and exact) value is."""
    rows = sorted(((r, e) for r, e in mine if r.relation == "<=" and r.bound),
                  key=lambda re: -(re[0].exact_vs_bound if re[0].exact_vs_bound is not None else re[0].effect or 0.0))
    out = ["", "## How tight the bounds are", "",
           "Measured/bound (and exact/bound where the exact value is known), tightest first:", ""]
    for r, _ in rows:
        out.append(f"- {r.claim}: measured/bound {fmt_number(r.effect)}"
                   + (f", exact/bound {fmt_number(r.exact_vs_bound)}" if r.exact_vs_bound is not None else "")
                   + f" ({r.verdict})")
    return out


def library_markdown(results, meta: dict | None = None) -> str:
    """The markdown report of a ``validate --library`` run.

    Parameters
    ----------
    results : list of Result
        The checks of the library's claims (other claims are skipped).
    meta : dict, optional
        ``{"command": ...}``: the command that made the run.

    Returns
    -------
    str

    Examples
    --------
    >>> library_markdown([], {"command": "python -m sketchbound.validate --library"}).splitlines()[0]
    "# A library of the field's bounds, checked"
    """
    meta = dict(meta or {})
    counts: dict[str, int] = {}
    for r in results:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    lines = ["# A library of the field's bounds, checked", "",
             f"Made by `{meta.get('command', 'python -m sketchbound.validate --library --save')}`: every claim of "
             "`sketchbound.library`, each on its default scenario, with the validator's engine (sequential Student-t "
             "intervals under Cochran's skewness rule, exact Clopper–Pearson intervals for the event (probability) "
             "claims, Bonferroni over looks, components and checks; α = 0.01 for the run). "
             "Exit status as `validate`: 0 all hold, 1 a violation, 3 inconclusive. "
             f"Verdicts: {', '.join(f'{v} {n}' for v, n in sorted(counts.items()))}.", "",
             "Every claim names its mask law (Algorithm 1, Poisson/HT `bernoulli`, `priority`, `countsketch`, "
             "`gaussian`; see `sketchbound/laws.py`): the engine draws one mask or sketch per trial from the claim's "
             "seeded stream with the core's samplers and sketches (`sketchbound/sampling.py`, `sketchbound/sketches.py`).", "",
             "| claim | verdict | measured [CI] | exact | bound | measured/bound (or /exact) | trials |",
             "|---|---|---|---|---|---|---|"]
    mine = []
    for r in results:
        try:
            e = entry(r.claim)
        except ValueError:
            continue
        mine.append((r, e))
        lines.append(f"| {r.claim} | **{r.verdict}** | {fmt_number(r.estimate)} [{fmt_number(r.ci_low)}, {fmt_number(r.ci_high)}] | "
                     f"{fmt_number(r.exact)} | {fmt_number(r.bound)} | {fmt_number(r.effect)} | {r.trials} |")
    for r, e in mine:
        c = e.claim
        lines += ["", f"## {c.id}: {md_escape(c.name)}", "",
                  f"- Source: {c.source}",
                  f"- Statement: `{c.statement}`",
                  f"- Measured quantity: {md_escape(c.quantity)}",
                  f"- Assumptions: {md_escape(e.assumptions)}",
                  f"- Exact value: {('`' + e.exact_value + '` = ' + fmt_number(r.exact)) if e.exact_value else 'none in closed form'}",
                  f"- Default scenario: {_scenario(r.scenario, c.mask_law)}",
                  f"- Measured: {fmt_number(r.estimate)} [{fmt_number(r.ci_low)}, {fmt_number(r.ci_high)}] over {r.trials} trials "
                  f"({r.estimator}); {'bound ' + fmt_number(r.bound) if r.relation == '<=' else 'exact ' + fmt_number(r.exact)}; "
                  f"measured/{'bound' if r.relation == '<=' else 'exact'} = {fmt_number(r.effect)}"
                  + (f"; exact/bound = {fmt_number(r.exact_vs_bound)}" if r.exact_vs_bound is not None else ""),
                  f"- Verdict: **{r.verdict}**" + ("" if r.within_hypotheses else " (outside the statement's hypotheses)")]
        uf = getattr(c.statistic, "unseen_from", ())
        lines.append(f"- Rests on: {md_escape(r.rests_on)}" + (f" (the closed form of {', '.join(uf)})"
                                                          if uf and "closed-form unseen" in r.rests_on else ""))
        if e.event and r.estimate == 0:
            lines.append(f"- No event in {r.trials} trials: the exact (Clopper–Pearson) upper bound of the probability "
                         f"at the check's level {r.alpha:.3g} is {fmt_number(zero_event_upper(r.trials, r.alpha))}, "
                         f"{'below' if zero_event_upper(r.trials, r.alpha) < r.bound else 'NOT below'} the bound "
                         f"{fmt_number(r.bound)}")
        lines.append(f"- Reproduce: `python -m sketchbound.validate --lemma {c.id} --seed {r.seed}`")
    lines += _tightness(mine)
    return "\n".join(lines) + "\n"


def save_library_report(results, outdir, meta: dict | None = None) -> Path:
    """Write ``<outdir>/library.md`` (:func:`library_markdown`) atomically and return its path.

    Parameters
    ----------
    results : list of Result
    outdir : str or pathlib.Path
    meta : dict, optional
        As :func:`library_markdown`.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> from sketchbound.montecarlo import run_check
    >>> r = run_check(entry("SENS-prob").claim, max_trials=200)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_library_report([r], d).name
    'library.md'
    """
    return atomic_write(Path(outdir) / "library.md", library_markdown(results, meta))
