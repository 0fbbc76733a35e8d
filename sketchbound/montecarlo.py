"""The one Monte-Carlo engine shared by every claim: batched trials, interval, sequential stop, verdict.

How a check is decided
----------------------
Each trial draws data and a mask under the claim's laws (:mod:`sketchbound.trials`) and records its
statistic. Trials are i.i.d., so the mean has a Student-t interval (:mod:`sketchbound.intervals`),
valid under finite variance (given ``X`` Algorithm 1's mask is bounded, ``m_i <= 1/(s p_i)``; over
Gaussian ``X`` the error is a polynomial in Gaussian entries and row norms, with ``1/||X̃_(k)||``
for an independent ``X̃``, of finite second moment for ``n >= 3``); its coverage is *measured*
(validation/README.md). What each verdict rests on is said next to it (``Result.rests_on``).

* Skewness guard: a look concludes only when ``n >= 25 g₁²`` (Cochran's rule); where it never does
  and the statistic declares its range (``Statistic.value_range``), a distribution-free empirical-
  Bernstein interval may decide instead; an event (``Statistic.event``, values in {0, 1}) is decided
  by the exact Clopper–Pearson interval, valid for any probability and any rare index.
* Tail guard (:mod:`sketchbound.tails`): before sampling fixed data, the indices expected in fewer
  than ``RARE_SEEN`` trials of the first look are found from ``p``; a statistic that declares their
  unseen mass in closed form gets it added exactly, other Algorithm-1 statistics (events aside) a
  stratified estimator that draws them in every other trial; under other mask laws ``holds`` waits.
* Sequential stopping: looks at ``batch, 2·batch, ...`` up to ``max_trials``; with ``K`` looks and
  ``k`` components each interval has level ``1 - α/(K k)``, so a false ``violated`` stays ``<= α``.
  ``<=``: ``violated`` if the lower end exceeds the bound, ``holds`` if the upper end is below it;
  ``=``: ``violated`` if the exact value is outside, ``holds`` once the interval is inside
  ``exact ± precision·scale``; ``inconclusive`` at the cap.

Estimators (:func:`choose_estimator`; every :class:`Result` records which one decided it)
------------------------------------------------------------------------------------------
* ``plain`` — the sequential Monte-Carlo above (tail-aware).
* ``rao-blackwell`` — ``E_X E_m`` claims under Algorithm 1 whose statistic carries ``given_x`` (``E_m``
  given the data in closed form): Monte-Carlo over ``X`` only (~900x less variance on Lemma 4.5).
* ``derived`` — bounds on fixed inputs whose ``exact`` is a closed form covered by ``exact_from``
  (:func:`sketchbound.claims.exact_from_coverage`): exact vs bound, with a tail-aware plain
  cross-check (its resolution vs the gap is reported) that must not contradict it.
  Both closed-form routes also compare their closed form with exact enumeration of the claim's own
  law on small instances (:mod:`sketchbound.crosscheck`): resolution ~1e-9, finer than any gap; a
  mismatch leaves the verdict ``inconclusive``. :func:`sketchbound.cluster.run_jobs` withholds a verdict whose
  ``depends_on`` claim is violated in the same run.
* ``enumeration`` (``exact=True``, or automatic for at most ``AUTO_ENUMERATE`` outcomes when the
  statistic declares ``enumerable``), ``deterministic`` (§5 identities), ``closed-form`` (an
  infinite exact value against a finite bound: violated).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from . import exact as exact_enum
from . import theory
from ._draw_cache import memoised
from .check_jobs import claim_scenario, expand_jobs, order_by_dependencies, withhold_dependents
from .claims import Claim, exact_from_coverage
from .crosscheck import bound_slack, law_check, rests_on_line, tail_note
from .inconclusive import sequential_reason
from .intervals import (EVENT_INTERVAL, INTERVAL, bernstein_interval, clopper_pearson_interval, decide_look,
                        look_schedule, mean_interval, sample_skewness, summary_value)
from .results import Result, check_infinite, check_outside, infinite_exact
from .sampling import as_generator, check_size
from .scenarios import Scenario, sparse_rows
from .trials import call_user, measure, tail_ok, tail_plan, tail_sampler
from .trials import draw_inputs as _draw_inputs, exact_m as _exact_m, mask_p as _mask_p, target as _target

__all__ = ["Result", "run_check", "claim_scenario", "measure", "choose_estimator", "order_by_dependencies",
           "expand_jobs", "withhold_dependents", "EXACT_RTOL", "DETERMINISTIC_TOL", "INTERVAL", "ESTIMATORS"]

EXACT_RTOL = 1e-9
#: default trial caps: masks on a fixed X cost ~20 µs a trial at d=512, a fresh X ~1 ms
DEFAULT_TRIALS = {"fixed": 256_000, "redrawn": 8_000}
DETERMINISTIC_TOL = 1e-10
#: trials of the plain Monte-Carlo cross-check of a derived verdict (capped by the claim's trial cap)
CROSSCHECK_TRIALS = 16000
ESTIMATORS = ("auto", "plain")
#: with ``estimator="auto"``, fixed inputs whose Algorithm-1 outcomes number at most this are enumerated
AUTO_ENUMERATE = 200


# the §5 score computations moved to sketchbound.theory / scenarios (kept importable from here)
synflow_linear_scores = theory.synflow_linear_scores
snip_linear_scores = theory.snip_linear_scores


# -------------------------------------------------------------------------------------------------
# the engine
# -------------------------------------------------------------------------------------------------
@dataclass
class _Setup:
    """What every estimator needs: the scenario actually run, the instance, its closed forms, and the
    fields every Result of this check shares."""

    claim: Claim
    sc: Scenario
    inst: Instance
    gen: np.random.Generator
    ex: object
    bd: object
    scale: object
    max_trials: int
    batch: int
    alpha: float
    precision: float
    base: dict
    outside_reason: str | None = None
    #: fixed-data checks with rarely drawn indices: how the sample covers them (:func:`trials.tail_plan`)
    tail: dict | None = None
    event: bool = False  #: plain sampling of an event statistic: the exact Clopper–Pearson interval decides


def _closed(claim: Claim, what: str, fn, inst, sc):
    """A claim's closed form (``exact``, ``bound``, ``scale``) on the instance: user errors and NaN are a
    ``ValueError`` naming the claim (exit 2), never a verdict; ``None`` when the claim has none."""
    if fn is None:
        return None
    v = call_user(claim, what, fn, inst, sc)
    try:
        a = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"claim {claim.id!r}: its {what} must return a number or an array of numbers; "
                         f"got {type(v).__name__}") from None
    if np.any(np.isnan(a)) or (what == "bound" and a.ndim != 0):
        raise ValueError(f"claim {claim.id!r}: its {what} returned {v!r} on this instance; it must return "
                         + ("one number (not NaN)" if what == "bound" else "numbers (not NaN)"))
    return v


def _setup(claim, scenario, seed, alpha, precision, batch, max_trials, bound_override) -> _Setup:
    if not (0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not (0 < precision < 1):
        raise ValueError(f"precision must be in (0, 1), got {precision!r}")
    batch = check_size(batch, name="batch")
    sc = claim_scenario(claim) if scenario is None else scenario
    # what the expectation runs over (X fixed or redrawn) is part of the claim, not of the scenario
    sc = sc.replace(x_mode=claim.scenario.get("x_mode", sc.x_mode))
    if max_trials is None:
        max_trials = claim.max_trials or DEFAULT_TRIALS[sc.x_mode]
    max_trials = check_size(max_trials, name="trials")
    if max_trials < 2:
        raise ValueError(f"trials must be >= 2 for an interval, got {max_trials}")
    batch = min(batch, max_trials)
    if claim.dimension is not None:
        sc = sc.replace(d=int(claim.dimension(sc)))
    gen = as_generator(seed)
    inst = (call_user(claim, "instance factory", claim.instance_factory, sc, gen) if claim.instance_factory is not None
            else sc.instance(gen))
    ex = _closed(claim, "exact", claim.exact, inst, sc)
    scale = _closed(claim, "scale", claim.scale, inst, sc)
    bd = _closed(claim, "bound", bound_override or claim.bound, inst, sc)
    outside = {k: getattr(sc, k) for k, v in claim.hypotheses.items() if getattr(sc, k) != v}
    reason = claim.precondition(inst, sc) if claim.precondition is not None else None
    if reason:
        outside["instance"] = reason
    base = dict(claim=claim.id, name=claim.name, relation=claim.relation, scenario=sc.as_dict(), seed=int(seed),
                within_hypotheses=not outside,
                alpha=alpha, statement=claim.statement,
                exact=None if ex is None else summary_value(ex), bound=None if bd is None else float(bd),
                exact_vs_bound=None if (ex is None or bd is None) else summary_value(ex) / float(bd))
    return _Setup(claim, sc, inst, gen, ex, bd, scale, max_trials, batch, alpha, precision, base, reason or None)


def _check_deterministic(st: _Setup, progress) -> Result:
    claim = st.claim
    dev, extra = claim.evaluate(st.inst, st.sc, st.gen)
    extra = dict(extra)
    what = extra.pop("note", "deviation")
    verdict = "holds" if dev <= claim.tolerance else "violated"
    if progress is not None:
        progress.update(st.max_trials)
    return Result(**st.base, verdict=verdict, estimate=dev, ci_low=dev, ci_high=dev, trials=1, mode="deterministic",
                  effect=dev, note=f"{what}; holds if <= {claim.tolerance:g}", extra=extra, estimator="deterministic")


def _check_enumerated(st: _Setup, progress) -> Result:
    """Fixed inputs, small ``d``/``s``: the expectation over masks by enumerating every outcome."""
    claim, inst, sc, ex, bd = st.claim, st.inst, st.sc, st.ex, st.bd
    val = _exact_m(claim, sc, inst.X, inst.X_tilde, inst)
    n_out = exact_enum.n_outcomes(int(np.count_nonzero(_mask_p(claim, inst.X_tilde, inst.w0))), sc.s)
    if claim.relation == "=":
        exv = np.asarray(ex, dtype=float)
        scale = max(float(np.max(np.abs(exv))), float(np.max(np.abs(val))), 1e-300)
        if st.scale is not None:  # the size of the terms the exact value is a difference of
            scale = max(scale, float(np.max(np.abs(st.scale))))
        ok = np.all(np.abs(val - exv) <= EXACT_RTOL * scale)
        eff = summary_value(val) / summary_value(ex) if summary_value(ex) != 0 else None
    else:
        ok = bool(np.all(val <= bd * (1 + EXACT_RTOL)))
        eff = summary_value(val) / float(bd)
    if progress is not None:
        progress.update(st.max_trials)
    v = summary_value(val)
    return Result(**st.base, verdict="holds" if ok else "violated", estimate=v, ci_low=v, ci_high=v, trials=n_out,
                  mode="exact", effect=eff, components=int(np.size(val)), extra=dict(inst.info), estimator="enumeration",
                  note=f"exact enumeration of {n_out} outcomes; equality to {EXACT_RTOL:g} relative",
                  rests_on=f"exact enumeration of every mask outcome (floating point to {EXACT_RTOL:g})")


def _sampler(st: _Setup, estimator: str):
    """``draw(k)``: ``k`` more i.i.d. per-trial values of the estimator (made once: :mod:`._draw_cache`)."""
    return memoised(st, estimator, _fresh_sampler(st, estimator))


def _fresh_sampler(st: _Setup, estimator: str):
    claim, sc, inst, gen = st.claim, st.sc, st.inst, st.gen
    if estimator == "plain":
        if st.tail is not None:
            return tail_sampler(claim, sc, inst, gen, st.tail)
        return lambda k: measure(claim, sc, inst, gen, k)
    if estimator == "rao-blackwell":
        given_x = claim.statistic.given_x
        w = _target(claim, inst)

        def draw_rb(k):
            vals = np.empty(k)
            chunk = max(1, min(k, 2_000_000 // (sc.d * sc.n)))
            for t0 in range(0, k, chunk):
                b = min(chunk, k - t0)
                Xs, Xts = _draw_inputs(claim, sc, gen, b)
                for t in range(b):
                    vals[t0 + t] = given_x(Xs[t], w, _mask_p(claim, Xts[t], inst.w0), sc.s)
            return vals
        return draw_rb

    def draw(k):  # "enumeration-m": every mask outcome, Monte-Carlo over X
        vals = []
        for _ in range(k):
            X, Xt = _draw_inputs(claim, sc, gen)
            vals.append(_exact_m(claim, sc, X, Xt, inst))
        return np.asarray(vals)
    return draw


def _sequential(st: _Setup, draw, progress) -> dict:
    """Looks at ``batch, 2·batch, ...`` trials; returns the verdict (None at the cap) and the sample."""
    looks = look_schedule(st.batch, st.max_trials)
    chunks: list[np.ndarray] = []
    have, k, verdict, clt_ok, g1, tail_blocked, distribution_free = 0, 1, None, True, 0.0, False, ""
    mean = lo = hi = None
    for n_look in looks:
        need = n_look - have
        chunks.append(draw(need))
        have = n_look
        if progress is not None:
            progress.update(need)
        allv = np.concatenate(chunks)
        k = 1 if allv.ndim == 1 else allv.shape[1]
        a_look = st.alpha / (len(looks) * k)  # an event: exact for i.i.d. Bernoulli trials, no skewness rule
        mean, lo, hi = (call_user(st.claim, "event statistic", clopper_pearson_interval, allv, a_look) if st.event
                        else mean_interval(allv, a_look))
        # Cochran's rule (n >= 25 g1², g1 the sample skewness): below it the t-interval of a
        # right-skewed mean under-covers, so the look may not conclude
        g1 = sample_skewness(allv)
        clt_ok = st.event or have >= 25 * g1**2
        verdict = decide_look(st.claim.relation, lo, hi, st.ex, st.bd, st.precision, st.scale) if clt_ok else None
        if verdict is None and not clt_ok and (width := _range_width(st)) is not None:
            # skewed beyond Cochran's rule: a distribution-free interval may still be decisive
            _, blo, bhi = bernstein_interval(allv, st.alpha / (len(looks) * k), width)
            verdict = decide_look(st.claim.relation, blo, bhi, st.ex, st.bd, st.precision, st.scale)
            if verdict is not None:
                lo, hi, distribution_free = blo, bhi, "the declared range of the values (empirical-Bernstein interval)"
        # rarely drawn indices the sample does not cover may carry the mass that closes the gap
        tail_blocked = verdict == "holds" and not tail_ok(st.tail, have, bound_slack(st, lo, hi))
        verdict = None if tail_blocked else verdict
        if verdict is not None:
            break
    return dict(verdict=verdict, mean=mean, lo=lo, hi=hi, k=k, have=have, looks=len(looks), clt_ok=clt_ok, g1=g1,
                values=np.concatenate(chunks), tail_blocked=tail_blocked, distribution_free=distribution_free)


def _range_width(st: _Setup) -> float | None:
    """The width of the range every trial value lies in, where the statistic declares it (fixed data,
    Algorithm 1, no tail stratification); ``None`` otherwise."""
    vr = getattr(st.claim.statistic, "value_range", None)
    if (vr is None or st.sc.x_mode != "fixed" or st.claim.mask_law != "algorithm1"
            or (st.tail is not None and st.tail["mode"] not in ("exact", "known"))):
        return None  # (exact mode: value + U with the same masks, so the same width)
    p = _mask_p(st.claim, st.inst.X_tilde, st.inst.w0)
    lo, hi = call_user(st.claim, "value range", vr, st.inst.X, _target(st.claim, st.inst), p / p.sum(), st.sc.s)
    return float(hi) - float(lo)


def _sequential_result(st: _Setup, seq: dict, mode: str, estimator: str = "plain") -> Result:
    claim, ex, bd, base = st.claim, st.ex, st.bd, dict(st.base)
    verdict, mean, lo, hi, k = seq["verdict"], seq["mean"], seq["lo"], seq["hi"], seq["k"]
    skew_note = ""
    if verdict is None:
        verdict = "inconclusive"
        if not seq["clt_ok"]:
            g1 = seq["g1"]
            skew_note = f"; sample skewness {g1:.3g} needs n >= {25 * g1**2:.3g} trials for a t-interval (Cochran's rule)"
    est = summary_value(mean)
    if k == 1:  # one component: (T,) values, or (T, 1) (e.g. OUTPUT with n = 1)
        lo_s, hi_s = float(np.ravel(lo)[0]), float(np.ravel(hi)[0])
    else:  # report the component farthest from its exact value
        j = int(np.argmax(np.abs(mean - np.asarray(ex)) / np.maximum(hi - lo, 1e-300)))
        est, lo_s, hi_s = float(mean[j]), float(lo[j]), float(hi[j])
        base["exact"] = float(np.asarray(ex)[j])
    if claim.relation == "<=":
        effect = est / float(bd)
    else:
        effect = est / base["exact"] if base["exact"] not in (None, 0.0) else None
    note = ((EVENT_INTERVAL if st.event else f"{INTERVAL}; a look concludes only if n >= 25 skew² (Cochran)")
            + f"; {seq['looks']} looks; alpha={st.alpha:g}"
            + (f"; worst of {k} components shown" if k > 1 else "") + skew_note + tail_note(st, seq, est))
    if st.event:
        seq["distribution_free"] = ("i.i.d. Bernoulli trials only (exact Clopper–Pearson interval on an event statistic)"
                                    + ("; rare indices: " + st.tail["line"] if st.tail else ""))
    elif seq.get("distribution_free"):
        note += ("; decided by a distribution-free empirical-Bernstein interval (values in a known range) where "
                 "the skewness rule blocked the t-interval")
    reason = ""
    if verdict == "inconclusive":
        a_k = st.alpha / k  # the interval's level at N trials: 1 - a_k / (its number of looks)
        reason = sequential_reason(
            relation=claim.relation, estimate=est, lo=lo_s, hi=hi_s, n=seq["have"], g1=seq["g1"], clt_ok=seq["clt_ok"],
            ref=float(bd) if claim.relation == "<=" else base["exact"], level=1 - a_k / seq["looks"],
            precision=st.precision, scale=None if st.scale is None else float(np.max(np.abs(st.scale))),
            closed_form=summary_value(ex) if claim.relation == "<=" and ex is not None and k == 1 else None,
            quantile=lambda N: stats.t.ppf(1 - a_k / len(look_schedule(st.batch, N)) / 2, df=N - 1))
    if verdict == "inconclusive" and claim.relation == "<=" and ex is not None and bd is not None:
        gap = float(bd) - summary_value(ex)
        if gap > 0:
            sd = float(np.std(seq["values"], ddof=1))
            need = (2 * stats.norm.ppf(1 - st.alpha / 2) * sd / gap) ** 2
            note += (f"; the closed form puts the value {gap / float(bd):.2%} below the bound: "
                     f"resolving that needs ~{need:.2g} trials")
    depends, chain = [], []
    if estimator == "rao-blackwell":
        depends = list(claim.statistic.depends_on)
        chain = [f"E_m[{claim.statistic.name} | X, X̃] in closed form ({_deps_text(depends)}): no mask is sampled",
                 f"Monte-Carlo over X only: mean {est:.6g}, CI [{lo_s:.6g}, {hi_s:.6g}] over {seq['have']} draws of X"]
        if claim.relation == "<=":
            chain.append(f"vs bound {float(bd):.6g}: {verdict}")
        law = law_check(st)
        chain.append(law["line"])
        if not law["ok"] and verdict != "inconclusive":
            verdict = "inconclusive"
            note += f"; {law['line']}: verdict left inconclusive"
            reason = (f"inconclusive: {law['line']}; the Rao-Blackwell closed form is not trusted for this law: "
                      "pass --estimator plain to decide it by sampling alone")
    return Result(**base, verdict=verdict, estimate=est, ci_low=lo_s, ci_high=hi_s, trials=seq["have"], mode=mode,
                  effect=effect, components=k, note=note, extra=dict(st.inst.info), estimator=estimator,
                  depends_on=depends, chain=chain, reason=reason,
                  rests_on=seq.get("distribution_free") or rests_on_line(st, estimator))


def _deps_text(ids) -> str:
    return "the equality checked as claim" + ("s " if len(ids) > 1 else " ") + ", ".join(ids) if ids else "closed form"


def _check_derived(st: _Setup, progress) -> Result:
    """Fixed inputs and ``E_m`` in closed form (``claim.exact_from``): the verdict is exact vs bound,
    cross-checked by an independent plain Monte-Carlo of the same quantity.

    The cross-check tests the closed form one-sidedly, in the direction that would overturn the
    verdict: a derived ``holds`` is contradicted if the Monte-Carlo interval lies *above* the closed
    form (the true value could exceed the bound), a derived ``violated`` if it lies *below* it. A
    contradiction leaves the verdict ``inconclusive``. (The errors are heavily right-skewed on sparse
    masks: a sample mean falls short of the true mean far more often than it overshoots, because the
    rare large errors are unseen; so the lower side is the one that can be trusted as evidence.)"""
    claim, ex, bd = st.claim, st.ex, st.bd
    exv, bdv = summary_value(ex), float(bd)
    derived = "holds" if exv <= bdv * (1 + EXACT_RTOL) else "violated"
    n_cc = min(st.max_trials, CROSSCHECK_TRIALS)
    # the cross-check is tail-aware too: a sample that misses rare heavy indices is biased low
    st.tail = tail_plan(claim, st.sc, st.inst, n_cc)
    vals = _sampler(st, "plain")(n_cc)
    if progress is not None:
        progress.update(st.max_trials)
    mean, lo, hi = mean_interval(vals, st.alpha)
    lo, hi = float(lo), float(hi)
    contains = bool(lo <= exv <= hi)
    contradicts = (lo > exv) if derived == "holds" else (hi < exv)
    law = law_check(st)
    res, gap = (hi - lo) / 2, abs(bdv - exv)
    cc = dict(estimator="plain" + (" (tail-aware)" if st.tail else ""), trials=n_cc, mean=float(mean), ci_low=lo,
              ci_high=hi, alpha=st.alpha, cochran_ok=bool(n_cc >= 25 * sample_skewness(vals) ** 2), contains_exact=contains,
              agrees="contradicts" if contradicts else "consistent", resolution=res, gap=gap,
              resolves_gap=bool(res < gap), law_check=law)
    verdict = "inconclusive" if contradicts or not law["ok"] else derived
    side = "above" if derived == "holds" else "below"
    chain = [f"E_m[{claim.statistic.name}] = {exv:.6g} in closed form on this instance ({_deps_text(list(claim.exact_from))})",
             f"{exv:.6g} {'<=' if derived == 'holds' else '>'} bound {bdv:.6g} (exact/bound = {exv / bdv:.6g}): {derived}",
             f"plain Monte-Carlo cross-check, {n_cc} trials: {float(mean):.6g} [{lo:.6g}, {hi:.6g}], "
             f"{'inside' if contains else 'outside'} the interval; "
             + (f"the interval lies {side} the closed form: CONTRADICTS the derived verdict" if contradicts else
                f"not {side} the closed form: consistent"),
             f"its resolution ±{res:.3g} ({res / max(abs(exv), 1e-300):.2%}) is "
             + ("finer than" if res < gap else "COARSER than") + f" the gap {gap:.3g} ({gap / max(abs(bdv), 1e-300):.2%})"
             + ("" if res < gap else ": it can catch an error of the closed form larger than its resolution, not one "
                "the size of the gap; the exact check below is the one that resolves it"),
             law["line"]]
    note = (f"derived: the closed form of the measured quantity against the bound; a plain Monte-Carlo "
            f"cross-check ({1 - st.alpha:.4g} interval) must not lie {side} the closed form")
    reason = ""
    if contradicts:
        note += "; it does: the derivation is not trusted here, verdict left inconclusive"
        reason = (f"inconclusive: the closed form {exv:.6g} lies outside the plain Monte-Carlo cross-check's interval "
                  f"[{lo:.6g}, {hi:.6g}] ({n_cc} trials), on the side that would overturn the derived verdict; "
                  f"pass --estimator plain to decide it by sampling alone")
    if not law["ok"]:
        note += f"; {law['line']}: verdict left inconclusive"
        reason = reason or (f"inconclusive: {law['line']}; the closed form is not trusted for this law: "
                            "pass --estimator plain to decide it by sampling alone")
    note += tail_note(st, {}, exv)
    return Result(**st.base, verdict=verdict, estimate=exv, ci_low=exv, ci_high=exv, trials=n_cc, mode="derived",
                  effect=exv / bdv, note=note, extra=dict(st.inst.info), estimator="derived",
                  depends_on=list(claim.exact_from), chain=chain, crosscheck=cc, reason=reason,
                  rests_on=(f"exact arithmetic on the closed form of {', '.join(claim.exact_from)} (checked against "
                            "enumeration of this law); the Monte-Carlo cross-check "
                            + ("resolves" if cc["resolves_gap"] else "does not resolve") + " the gap"))


def choose_estimator(claim: Claim, x_mode: str, *, estimator: str = "auto", exact: bool = False,
                     outcomes: int | None = None) -> str:
    """The estimator a check uses: ``deterministic`` / ``enumeration`` / ``enumeration-m`` when asked
    for exact enumeration; with ``estimator="auto"``, ``rao-blackwell`` where the expectation runs over
    ``X`` and the statistic has ``E_m`` given ``X`` in closed form, ``derived`` for bounds on fixed
    inputs whose exact value is a checked closed form covering the claim's statistic and law
    (:func:`sketchbound.claims.exact_from_coverage`), else ``plain``; fixed inputs with at most
    ``AUTO_ENUMERATE`` mask outcomes (``outcomes``) are enumerated (no noise, e.g. ``d = 1``) when the
    statistic declares it accepts them (``Statistic.enumerable``). The Rao-Blackwell, derived and
    enumeration routes exist for Algorithm 1's law only (``Claim.mask_law``).

    Parameters
    ----------
    claim : Claim
        The claim checked.
    x_mode : {"fixed", "redrawn"}
        Whether the inputs ``X`` stay fixed or are redrawn every trial.
    estimator : {"auto", "plain"}, optional
        ``"plain"`` forces plain Monte-Carlo.
    exact : bool, optional
        Enumerate Algorithm 1's outcomes (``--exact``).
    outcomes : int, optional
        The number of mask outcomes on fixed inputs, when known.

    Returns
    -------
    str
        One of ``deterministic``, ``enumeration``, ``enumeration-m``, ``rao-blackwell``, ``derived``, ``plain``.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> choose_estimator(get_claim("4.5"), "redrawn"), choose_estimator(get_claim("4.3b"), "fixed")
    ('rao-blackwell', 'derived')
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}; got {estimator!r}")
    if claim.deterministic:
        return "deterministic"
    a1 = claim.mask_law == "algorithm1"
    if exact:
        if not a1:
            raise ValueError(f"--exact enumerates Algorithm 1's outcomes; claim {claim.id!r} draws its mask with "
                             f"mask_law={claim.mask_law!r} (accepted with --exact: algorithm1)")
        return "enumeration" if x_mode == "fixed" else "enumeration-m"
    if estimator == "plain":
        return "plain"
    if (outcomes is not None and x_mode == "fixed" and outcomes <= AUTO_ENUMERATE and a1
            and getattr(claim.statistic, "enumerable", False)):
        return "enumeration"
    if x_mode == "redrawn" and a1 and getattr(claim.statistic, "given_x", None) is not None:
        return "rao-blackwell"
    if (x_mode == "fixed" and claim.relation == "<=" and claim.exact_from and claim.exact is not None
            and claim.bound is not None and exact_from_coverage(claim) is None):
        return "derived"
    return "plain"


def run_check(
    claim: Claim,
    scenario: Scenario | None = None,
    *,
    seed: int = 0,
    alpha: float = 0.01,
    precision: float = 0.02,
    batch: int = 1000,
    max_trials: int | None = None,
    exact: bool = False,
    estimator: str = "auto",
    bound_override=None,
    progress=None,
) -> Result:
    """Measure ``claim`` on ``scenario`` and return a :class:`Result` with the verdict.

    ``estimator``: ``"auto"`` (Rao-Blackwell / derived where they apply, see :func:`choose_estimator`)
    or ``"plain"``. ``bound_override`` replaces the claim's bound (used to test the engine's power
    with a deliberately wrong bound). ``progress`` is an optional tqdm-like object with ``update(n)``.

    Parameters
    ----------
    claim : Claim
        The claim (:func:`sketchbound.claims.get_claim`).
    scenario : Scenario, optional
        Where to check it (default: :func:`claim_scenario` of ``claim``).
    seed : int, optional
        The one seed every draw of the check comes from (same seed, same result).
    alpha : float, optional
        The level of the verdict's sequential test, in (0, 1).
    precision : float, optional
        The relative half-width at which the estimate is precise enough to stop.
    batch : int, optional
        Trials per look of the sequential test.
    max_trials : int, optional
        The trial cap (default: ``DEFAULT_TRIALS`` of the scenario's ``x_mode``).
    exact : bool, optional
        Enumerate Algorithm 1's outcomes instead of sampling.
    estimator : {"auto", "plain"}, optional
        See :func:`choose_estimator`.
    bound_override : callable, optional
        Replaces the claim's bound.
    progress : tqdm-like, optional
        Advanced as trials are drawn.

    Returns
    -------
    Result
        The verdict (``holds`` / ``violated`` / ``inconclusive`` / ...) with its estimate and interval.

    Examples
    --------
    >>> from sketchbound.claims import get_claim
    >>> c = get_claim("4.3")
    >>> r = run_check(c, claim_scenario(c, d=6, n=3, s=2), seed=0, max_trials=2000)
    >>> r.claim, r.verdict
    ('4.3', 'holds')
    """
    if claim.exact_from and (why := exact_from_coverage(claim)):
        raise ValueError(why)
    st = _setup(claim, scenario, seed, alpha, precision, batch, max_trials, bound_override)
    outcomes = None
    if st.sc.x_mode == "fixed" and not claim.deterministic and st.inst.X_tilde is not None:
        outcomes = exact_enum.n_outcomes(int(np.count_nonzero(_mask_p(claim, st.inst.X_tilde, st.inst.w0))), st.sc.s)
    how = choose_estimator(claim, st.sc.x_mode, estimator=estimator, exact=exact, outcomes=outcomes)
    if st.outside_reason:
        return check_outside(st, progress)
    if how not in ("deterministic", "enumeration") and infinite_exact(st):
        return check_infinite(st, progress)
    if how == "deterministic":
        return _check_deterministic(st, progress)
    if how == "enumeration":
        return _check_enumerated(st, progress)
    if how == "derived":
        return _check_derived(st, progress)
    st.event = how == "plain" and getattr(claim.statistic, "event", False)
    if how == "plain" and st.sc.x_mode == "fixed":
        st.tail = tail_plan(claim, st.sc, st.inst, st.batch)
    seq = _sequential(st, _sampler(st, how), progress)
    mode = {"enumeration-m": "exact over m, Monte-Carlo over X", "plain": "monte-carlo",
            "rao-blackwell": "exact over m (closed form), Monte-Carlo over X"}[how]
    return _sequential_result(st, seq, mode, how)
