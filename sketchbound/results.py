"""The record of one check (:class:`Result`): what was measured, by which estimator, and the verdict.

Produced by :func:`sketchbound.montecarlo.run_check`, written by :mod:`sketchbound.report`; the
checks that sample nothing (an infinite closed form, an instance outside the hypotheses) are built here.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from .intervals import summary_value

__all__ = ["Result"]


@dataclass
class Result:
    """One check: a claim on one scenario, with what was measured and the verdict.

    Parameters
    ----------
    claim, name, relation, statement : str
        The claim's id, name, ``"<="`` or ``"="``, and its statement.
    scenario : dict
        The scenario actually run (:meth:`sketchbound.scenarios.Scenario.as_dict`).
    verdict : str
        ``"holds"``, ``"violated"`` or ``"inconclusive"``.
    estimate, ci_low, ci_high : float
        The measured value and its interval (the closed form itself for a derived verdict).
    exact, bound : float or None
        The closed form of the measured quantity and the claim's bound.
    trials, seed : int
        Trials drawn and the check's seed.
    alpha : float
        The check's error rate.
    mode : str
        How it was measured, in words.
    effect : float or None
        Measured / bound (``<=``) or measured / exact (``=``).
    exact_vs_bound : float or None
        Closed-form exact / bound (what the formulas say).
    note, components, extra, within_hypotheses, estimator, depends_on, chain, crosscheck, rests_on, reason
        As documented on each field below.

    Examples
    --------
    >>> r = Result("4.1", "Lemma 4.1", "=", {}, "holds", 1.0, 0.9, 1.1, 1.0, None, 100, 0, 0.01, "monte-carlo",
    ...            1.0, None)
    >>> r.as_dict()["verdict"], r.estimator
    ('holds', 'plain')
    """

    claim: str
    name: str
    relation: str
    scenario: dict
    verdict: str
    estimate: float
    ci_low: float
    ci_high: float
    exact: float | None
    bound: float | None
    trials: int
    seed: int
    alpha: float
    mode: str
    effect: float | None  # measured / bound (<=) or measured / exact (=)
    exact_vs_bound: float | None  # closed-form exact / bound (what the formulas say)
    note: str = ""
    components: int = 1
    statement: str = ""
    extra: dict = field(default_factory=dict)
    #: False when the scenario leaves the statement's hypotheses (e.g. mask found on X̃ ≠ X)
    within_hypotheses: bool = True
    #: which estimator produced the verdict: "plain" (Monte-Carlo over masks, and X where the claim's
    #: expectation runs over X), "rao-blackwell" (E_m given X in closed form, Monte-Carlo over X only),
    #: "derived" (closed form vs bound, cross-checked by plain Monte-Carlo), "enumeration" (every
    #: Algorithm-1 outcome), "enumeration-m" (enumeration over m, Monte-Carlo over X), "deterministic"
    estimator: str = "plain"
    #: the claims whose truth the verdict leans on (checked first by ``--all``)
    depends_on: list = field(default_factory=list)
    #: the derivation, one step a line (derived / Rao-Blackwell verdicts)
    chain: list = field(default_factory=list)
    #: derived verdicts: the independent plain Monte-Carlo check of the closed form on this instance
    crosscheck: dict | None = None
    #: what a "holds" (or any verdict) rests on, in words: exact arithmetic, or the assumptions of the interval
    rests_on: str = ""
    #: ``inconclusive`` only: why, and the trials (or precision) that would decide it (:mod:`sketchbound.inconclusive`)
    reason: str = ""

    def as_dict(self) -> dict:
        """The fields as a JSON-ready dict (a NaN becomes ``None``)."""
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None if math.isnan(v) else (float("inf") if v > 0 else float("-inf"))
        return d


def infinite_exact(st) -> bool:
    return (st.claim.relation == "<=" and st.ex is not None and st.bd is not None
            and np.isinf(summary_value(st.ex)) and np.isfinite(float(st.bd)))


def check_infinite(st, progress) -> Result:
    """The closed form of the expectation is infinite and the bound finite: no Monte-Carlo can estimate
    an infinite mean, and none is needed — the bound fails."""
    if progress is not None:
        progress.update(st.max_trials)
    bdv = float(st.bd)
    chain = [f"E = +inf in closed form (a moment of the data distribution diverges), bound {bdv:.6g}: violated"]
    return Result(**st.base, verdict="violated", estimate=float("inf"), ci_low=float("inf"), ci_high=float("inf"),
                  trials=0, mode="closed form", effect=float("inf"), estimator="closed-form", chain=chain,
                  note="the exact expectation is infinite (closed form), the bound is finite; no sampling",
                  extra=dict(st.inst.info))


def check_outside(st, progress) -> Result:
    """The drawn instance leaves the statement's hypotheses (``claim.precondition``): no verdict."""
    if progress is not None:
        progress.update(st.max_trials)
    exv = float("nan") if st.ex is None else summary_value(st.ex)
    return Result(**st.base, verdict="inconclusive", estimate=exv, ci_low=exv, ci_high=exv, trials=0,
                  mode="outside hypotheses", effect=None, estimator="none",
                  chain=[f"outside the statement's hypotheses: {st.outside_reason}"],
                  note=f"outside the statement's hypotheses: {st.outside_reason}; no verdict",
                  extra=dict(st.inst.info),
                  reason=f"inconclusive: the scenario is outside the statement's hypotheses ({st.outside_reason}); "
                         "no number of trials decides it: choose a scenario inside them")
