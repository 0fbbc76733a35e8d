"""The one Monte-Carlo engine shared by every claim: batched trials, interval, sequential stop, verdict.

How a check is decided
----------------------
Each trial draws a mask with the core sampler (and a fresh ``X`` when the claim's expectation runs
over ``X``) and records the claim's statistic (:mod:`sketchbound.claims`). Trials are i.i.d., so the
mean has a Student-t confidence interval (``scipy.stats.t``). It is valid here because every
statistic has finite variance: given ``X`` the mask is bounded (``m_i <= 1/(s p_i)``), and over
Gaussian ``X`` the error is a polynomial in Gaussian entries and row norms (for ``X̃`` independent
of ``X`` it involves ``1/||X̃_(k)||``, whose second moment is finite for ``n >= 3``). The CLT then
gives asymptotic coverage; the right-skew of squared errors makes small-sample coverage the
weak point, which is why every look uses at least ``batch`` (default 1000) trials, and why the
coverage is *measured* (validation/README.md: false-violation rate over 200+ seeds).

Skewness guard: squared errors are right-skewed, and a skewed mean makes the t-interval too short
on one side while the rare large values are unseen. A look may conclude only when
``n >= 25 g₁²`` (Cochran's rule, ``g₁`` the sample skewness from ``scipy.stats.skew``); otherwise
sampling continues, and a check that never meets it ends ``inconclusive``.

Sequential stopping: the engine looks at ``batch, 2·batch, 4·batch, ...`` trials up to
``max_trials``; with ``K`` looks and ``k`` components (vector claims: one per output), each interval
has level ``1 - α/(K k)`` (Bonferroni over looks and components), so the chance of a false
``violated`` stays ``<= α`` for the whole check. Verdicts:

* ``<=``: ``violated`` if the lower end exceeds the bound; ``holds`` if the upper end is below it;
  else keep sampling; ``inconclusive`` at the cap (e.g. a bound tight to 0.1%).
* ``=``:  ``violated`` if the exact value is outside the interval; ``holds`` once the interval is
  inside ``exact ± precision·|exact|``; ``inconclusive`` at the cap.

``exact=True`` replaces the Monte-Carlo over masks with exact enumeration of every outcome of
Algorithm 1 (small ``d``, ``s``): fixed-``X`` claims then have no noise and equalities are checked to
``1e-9``; claims whose expectation runs over ``X`` keep a Monte-Carlo over ``X`` only.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from . import exact as exact_enum
from . import scenarios as _scen
from . import theory
from .claims import Claim
from .sampling import algorithm1, as_generator, check_size
from .scenarios import Instance, Scenario

__all__ = ["Result", "run_check", "claim_scenario", "measure", "EXACT_RTOL", "DETERMINISTIC_TOL", "INTERVAL"]

EXACT_RTOL = 1e-9
#: default trial caps: masks on a fixed X cost ~20 µs a trial at d=512, a fresh X ~1 ms
DEFAULT_TRIALS = {"fixed": 256_000, "redrawn": 8_000}
DETERMINISTIC_TOL = 1e-10
#: above this many mask entries per call (trials x d) the dense masks are drawn in blocks
_DENSE_LIMIT = 1 << 26
INTERVAL = "Student-t interval on the mean of i.i.d. trials; Bonferroni over sequential looks and components"


@dataclass
class Result:
    """One check: a claim on one scenario, with what was measured and the verdict."""

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

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None if math.isnan(v) else (float("inf") if v > 0 else float("-inf"))
        return d


# -------------------------------------------------------------------------------------------------
# per-trial statistics (the claim's callable) and exact enumeration
# -------------------------------------------------------------------------------------------------
def _target(claim: Claim, inst: Instance) -> np.ndarray:
    return inst.w0 if claim.target == "w0" else inst.w_star


def _mask_p(claim: Claim, Xt: np.ndarray, w0: np.ndarray) -> np.ndarray:
    return claim.probabilities(Xt, w0)


def measure(claim: Claim, sc: Scenario, inst: Instance, gen: np.random.Generator, trials: int) -> np.ndarray:
    """``trials`` i.i.d. draws of the claim's statistic (rows), using the core sampler for masks."""
    w = _target(claim, inst)
    if sc.x_mode == "fixed":
        p = _mask_p(claim, inst.X_tilde, inst.w0)
        d = p.shape[0]
        if trials * d <= _DENSE_LIMIT:
            M = algorithm1(p, sc.s, rng=gen, trials=trials)
            return claim.statistic(inst.X, w, M)
        # large d (Theorem 6.2's MLPs): dense masks in blocks, so memory stays bounded
        step = max(1, _DENSE_LIMIT // (8 * d))
        return np.concatenate([claim.statistic(inst.X, w, algorithm1(p, sc.s, rng=gen, trials=min(step, trials - t0)))
                               for t0 in range(0, trials, step)])
    out = []
    chunk = max(1, min(trials, 2_000_000 // (sc.d * sc.n)))
    done = 0
    while done < trials:
        b = min(chunk, trials - done)
        Xs, Xts = _draw_inputs(claim, sc, gen, b)
        M = np.empty((b, sc.d))
        for t in range(b):
            M[t] = algorithm1(_mask_p(claim, Xts[t], inst.w0), sc.s, rng=gen)
        out.append(claim.statistic(Xs, w, M))
        done += b
    return np.concatenate(out)


def _draw_inputs(claim: Claim, sc: Scenario, gen, size: int | None = None):
    """A fresh ``X`` (``size`` of them) and the ``X̃`` the mask is found on (the same ``X`` when
    ``x_tilde="same"`` or when the mask law ignores data)."""
    X = sc.draw_x(gen, size=size)
    Xt = X if (sc.x_tilde == "same" or not claim.mask_uses_data) else sc.draw_x(gen, size=size)
    return X, Xt


def _exact_m(claim: Claim, sc: Scenario, X: np.ndarray, Xt: np.ndarray, inst: Instance) -> np.ndarray:
    """E_m of the statistic by enumerating every Algorithm-1 outcome (no noise)."""
    masks, probs = exact_enum.outcomes_algorithm1(_mask_p(claim, Xt, inst.w0), sc.s)
    vals = claim.statistic(X, _target(claim, inst), masks)
    return exact_enum.expectation(vals, probs)


# the §5 score computations moved to sketchbound.theory / scenarios (kept importable from here)
synflow_linear_scores = theory.synflow_linear_scores
snip_linear_scores = theory.snip_linear_scores
sparse_rows = _scen.sparse_rows


# -------------------------------------------------------------------------------------------------
# the engine
# -------------------------------------------------------------------------------------------------
def claim_scenario(claim: Claim, **overrides) -> Scenario:
    """The claim's default scenario (``Scenario()`` + the claim's overrides), then the user's overrides.

    For a claim with ``dimension`` (Theorem 6.2) ``d`` follows from the scenario and the default ``s``
    is 10% of it."""
    user = {k: v for k, v in overrides.items() if v is not None}
    sc = Scenario().replace(**claim.scenario).replace(**user)
    if claim.dimension is not None:
        d = int(claim.dimension(sc))
        sc = sc.replace(d=d, s=user.get("s", max(1, round(0.1 * d))))
    return sc


def _looks(batch: int, max_trials: int) -> list[int]:
    out, n = [], batch
    while n < max_trials:
        out.append(n)
        n *= 2
    out.append(max_trials)
    return out


def _interval(vals: np.ndarray, level_alpha: float):
    n = vals.shape[0]
    mean = vals.mean(axis=0)
    se = vals.std(axis=0, ddof=1) / np.sqrt(n)
    q = stats.t.ppf(1 - level_alpha / 2, df=n - 1)
    return mean, mean - q * se, mean + q * se


def _decide(relation: str, lo, hi, exact, bound, precision: float, scale=None) -> str | None:
    if relation == "<=":
        if np.any(lo > bound):
            return "violated"
        if np.all(hi <= bound):
            return "holds"
        return None
    ex = np.asarray(exact, dtype=float)
    if np.any((ex < lo) | (ex > hi)):
        return "violated"
    if scale is None:
        scale = np.abs(ex)
    if np.all(np.maximum(hi - ex, ex - lo) <= precision * np.maximum(scale, 1e-300)):
        return "holds"
    return None


def _summary(x) -> float:
    a = np.asarray(x, dtype=float)
    return float(a) if a.ndim == 0 else float(np.sqrt(np.mean(a**2)))


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
    inst = claim.instance_factory(sc, gen) if claim.instance_factory is not None else sc.instance(gen)
    ex = claim.exact(inst, sc) if claim.exact is not None else None
    scale = claim.scale(inst, sc) if claim.scale is not None else None
    bd = bound_override(inst, sc) if bound_override is not None else (claim.bound(inst, sc) if claim.bound is not None else None)
    outside = {k: getattr(sc, k) for k, v in claim.hypotheses.items() if getattr(sc, k) != v}
    base = dict(claim=claim.id, name=claim.name, relation=claim.relation, scenario=sc.as_dict(), seed=int(seed),
                within_hypotheses=not outside,
                alpha=alpha, statement=claim.statement,
                exact=None if ex is None else _summary(ex), bound=None if bd is None else float(bd),
                exact_vs_bound=None if (ex is None or bd is None) else _summary(ex) / float(bd))
    return _Setup(claim, sc, inst, gen, ex, bd, scale, max_trials, batch, alpha, precision, base)


def _check_deterministic(st: _Setup, progress) -> Result:
    claim = st.claim
    dev, extra = claim.evaluate(st.inst, st.sc, st.gen)
    extra = dict(extra)
    what = extra.pop("note", "deviation")
    verdict = "holds" if dev <= claim.tolerance else "violated"
    if progress is not None:
        progress.update(st.max_trials)
    return Result(**st.base, verdict=verdict, estimate=dev, ci_low=dev, ci_high=dev, trials=1, mode="deterministic",
                  effect=dev, note=f"{what}; holds if <= {claim.tolerance:g}", extra=extra)


def _check_enumerated(st: _Setup, progress) -> Result:
    """Fixed inputs, small ``d``/``s``: the expectation over masks by enumerating every outcome."""
    claim, inst, sc, ex, bd = st.claim, st.inst, st.sc, st.ex, st.bd
    val = _exact_m(claim, sc, inst.X, inst.X_tilde, inst)
    n_out = exact_enum.n_outcomes(int(np.count_nonzero(_mask_p(claim, inst.X_tilde, inst.w0))), sc.s)
    if claim.relation == "=":
        exv = np.asarray(ex, dtype=float)
        scale = max(float(np.max(np.abs(exv))), float(np.max(np.abs(val))), 1e-300)
        ok = np.all(np.abs(val - exv) <= EXACT_RTOL * scale)
        eff = _summary(val) / _summary(ex) if _summary(ex) != 0 else None
    else:
        ok = bool(np.all(val <= bd * (1 + EXACT_RTOL)))
        eff = _summary(val) / float(bd)
    if progress is not None:
        progress.update(st.max_trials)
    v = _summary(val)
    return Result(**st.base, verdict="holds" if ok else "violated", estimate=v, ci_low=v, ci_high=v, trials=n_out,
                  mode="exact", effect=eff, components=int(np.size(val)), extra=dict(inst.info),
                  note=f"exact enumeration of {n_out} outcomes; equality to {EXACT_RTOL:g} relative")


def _sampler(st: _Setup, exact: bool):
    """``draw(k)``: ``k`` more i.i.d. per-trial values of the estimator."""
    claim, sc, inst, gen = st.claim, st.sc, st.inst, st.gen
    if not exact:
        return lambda k: measure(claim, sc, inst, gen, k)

    def draw(k):
        vals = []
        for _ in range(k):
            X, Xt = _draw_inputs(claim, sc, gen)
            vals.append(_exact_m(claim, sc, X, Xt, inst))
        return np.asarray(vals)
    return draw


def _sequential(st: _Setup, draw, progress) -> dict:
    """Looks at ``batch, 2·batch, ...`` trials; returns the verdict (None at the cap) and the sample."""
    looks = _looks(st.batch, st.max_trials)
    chunks: list[np.ndarray] = []
    have, k, verdict, clt_ok, g1 = 0, 1, None, True, 0.0
    mean = lo = hi = None
    for n_look in looks:
        need = n_look - have
        chunks.append(draw(need))
        have = n_look
        if progress is not None:
            progress.update(need)
        allv = np.concatenate(chunks)
        k = 1 if allv.ndim == 1 else allv.shape[1]
        mean, lo, hi = _interval(allv, st.alpha / (len(looks) * k))
        # Cochran's rule (n >= 25 g1², g1 the sample skewness): below it the t-interval of a
        # right-skewed mean under-covers, so the look may not conclude
        g1 = float(np.max(np.abs(np.atleast_1d(stats.skew(allv, axis=0, bias=False)))))
        clt_ok = have >= 25 * g1**2
        verdict = _decide(st.claim.relation, lo, hi, st.ex, st.bd, st.precision, st.scale) if clt_ok else None
        if verdict is not None:
            break
    return dict(verdict=verdict, mean=mean, lo=lo, hi=hi, k=k, have=have, looks=len(looks), clt_ok=clt_ok, g1=g1,
                values=np.concatenate(chunks))


def _sequential_result(st: _Setup, seq: dict, mode: str) -> Result:
    claim, ex, bd, base = st.claim, st.ex, st.bd, dict(st.base)
    verdict, mean, lo, hi, k = seq["verdict"], seq["mean"], seq["lo"], seq["hi"], seq["k"]
    skew_note = ""
    if verdict is None:
        verdict = "inconclusive"
        if not seq["clt_ok"]:
            g1 = seq["g1"]
            skew_note = f"; sample skewness {g1:.3g} needs n >= {25 * g1**2:.3g} trials for a t-interval (Cochran's rule)"
    est = _summary(mean)
    if k == 1:
        lo_s, hi_s = float(lo), float(hi)
    else:  # report the component farthest from its exact value
        j = int(np.argmax(np.abs(mean - np.asarray(ex)) / np.maximum(hi - lo, 1e-300)))
        est, lo_s, hi_s = float(mean[j]), float(lo[j]), float(hi[j])
        base["exact"] = float(np.asarray(ex)[j])
    if claim.relation == "<=":
        effect = est / float(bd)
    else:
        effect = est / base["exact"] if base["exact"] not in (None, 0.0) else None
    note = (f"{INTERVAL}; a look concludes only if n >= 25 skew² (Cochran); {seq['looks']} looks; alpha={st.alpha:g}"
            + (f"; worst of {k} components shown" if k > 1 else "") + skew_note)
    if verdict == "inconclusive" and claim.relation == "<=" and ex is not None and bd is not None:
        gap = float(bd) - _summary(ex)
        if gap > 0:
            sd = float(np.std(seq["values"], ddof=1))
            need = (2 * stats.norm.ppf(1 - st.alpha / 2) * sd / gap) ** 2
            note += (f"; the closed form puts the value {gap / float(bd):.2%} below the bound: "
                     f"resolving that needs ~{need:.2g} trials")
    return Result(**base, verdict=verdict, estimate=est, ci_low=lo_s, ci_high=hi_s, trials=seq["have"], mode=mode,
                  effect=effect, components=k, note=note, extra=dict(st.inst.info))


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
    bound_override=None,
    progress=None,
) -> Result:
    """Measure ``claim`` on ``scenario`` and return a :class:`Result` with the verdict.

    ``bound_override`` replaces the claim's bound (used to test the engine's power with a
    deliberately wrong bound). ``progress`` is an optional tqdm-like object with ``update(n)``.
    """
    st = _setup(claim, scenario, seed, alpha, precision, batch, max_trials, bound_override)
    if claim.deterministic:
        return _check_deterministic(st, progress)
    if exact and st.sc.x_mode == "fixed":
        return _check_enumerated(st, progress)
    seq = _sequential(st, _sampler(st, exact), progress)
    return _sequential_result(st, seq, "exact over m, Monte-Carlo over X" if exact else "monte-carlo")
