"""Paired statistics of a table (`python -m sketchbound.dnn.table CONFIG --stats`), on a toy table whose
run files are written by hand: Δ by seed, Student-t CI, paired t-test, Holm over the table."""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sketchbound.dnn.experiments import paired as P
from sketchbound.dnn.experiments import table as T
from sketchbound.dnn.experiments.config import to_toml
from sketchbound.multiple_testing import holm


def test_holm_matches_the_step_down_definition():
    p = [0.01, 0.04, 0.03, float("nan"), 0.005]
    # sorted: 0.005 (×4), 0.01 (×3), 0.03 (×2), 0.04 (×1), running max, capped at 1
    assert holm(p)[4] == pytest.approx(0.02) and holm(p)[0] == pytest.approx(0.03)
    assert holm(p)[2] == pytest.approx(0.06) and holm(p)[1] == pytest.approx(0.06) and math.isnan(holm(p)[3])
    assert holm([0.9, 0.8]) == [1.0, 1.0] and holm([0.02, 0.5]) == [0.04, 0.5]


def _toy(tmp_path):
    spec = {"table": {"name": "toy", "rows": ["density"]},
            "base": {"model": "lenet300100", "dataset": "mnist", "epochs": 1},
            "grid": {"density": [0.1, 0.02], "seed": [0, 1, 2, 3, 4]},
            "variant": [{"name": "thr", "method": "magnitude", "mask": "global"},
                        {"name": "rand", "method": "magnitude", "mask": "randomized"},
                        {"name": "shuf", "method": "magnitude", "mask": "shuffled"}],
            "compare": [{"a": "rand", "b": "thr"}, {"a": "rand", "b": "shuf"}]}
    p = tmp_path / "toy.toml"
    p.write_text(to_toml(spec))
    return p


def test_paired_table_from_run_files(tmp_path, capsys):
    path = _toy(tmp_path)
    spec = T.load_table(path)
    runs = tmp_path / "runs"
    rng = np.random.default_rng(0)
    acc = {}
    for name, row, cfg in T.expand(spec):
        a = 80 + 10 * row["density"] + cfg.seed + {"thr": 0.0, "rand": 0.5, "shuf": 0.4}[name] + rng.normal(0, 0.3)
        acc[(name, row["density"], cfg.seed)] = a
        d = cfg.run_dir(runs)
        d.mkdir(parents=True)
        (d / "result.json").write_text(json.dumps({"accuracy": a}))
    (T.expand(spec)[0][2].run_dir(runs) / "result.json").unlink()  # thr, density 0.1, seed 0 missing: 4 pairs
    df = T.paired_table(spec, runs)
    assert len(df) == 4
    for _, r in df.iterrows():
        seeds = [s for s in range(5) if (r["b"], r["density"], s) in acc and not (r["b"] == "thr" and r["density"] == 0.1 and s == 0)]
        d = np.array([acc[(r["a"], r["density"], s)] - acc[(r["b"], r["density"], s)] for s in seeds])
        assert r["pairs"] == len(seeds) and r["delta"] == pytest.approx(d.mean())
        ref = stats.ttest_rel([acc[(r["a"], r["density"], s)] for s in seeds], [acc[(r["b"], r["density"], s)] for s in seeds])
        assert r["p"] == pytest.approx(ref.pvalue) and r["t"] == pytest.approx(ref.statistic)
        h = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        assert (r["ci_low"], r["ci_high"]) == pytest.approx((d.mean() - h, d.mean() + h))
        assert r["wins"] == int((d > 0).sum())
        # how informative: the MDE and pairs needed at Holm's strictest level, 0.05 / 4 planned comparisons
        assert r["sd"] == pytest.approx(d.std(ddof=1))
        assert r["mde80"] == pytest.approx(P.detectable_delta(d.std(ddof=1), len(d), 0.05 / 4))
        k = P.pairs_needed(d.mean(), d.std(ddof=1), 0.05 / 4)
        assert (math.isnan(r["seeds80"]) and k is None) or r["seeds80"] == k
    assert df["p_holm"].tolist() == pytest.approx(holm(df["p"].tolist()))
    assert (df["p_holm"] >= df["p"]).all()
    # a planned comparison without runs still counts in Holm's family, as p = 1: delete every shuf run at
    # density 0.02, and the remaining tests are corrected over all 4 planned comparisons, not 3
    for name, row, cfg in T.expand(spec):
        if name == "shuf" and row["density"] == 0.02:
            (cfg.run_dir(runs) / "result.json").unlink()
    df2 = T.paired_table(spec, runs)
    gone = (df2["b"] == "shuf") & (df2["density"] == 0.02)
    assert gone.sum() == 1 and math.isnan(df2.loc[gone, "p"].item()) and math.isnan(df2.loc[gone, "p_holm"].item())
    family = df2["p"].fillna(1.0).tolist()
    assert df2.loc[~gone, "p_holm"].tolist() == pytest.approx([holm(family)[i] for i in np.flatnonzero(~gone)])
    assert df2.loc[~gone, "p_holm"].min() == pytest.approx(min(1.0, 4 * df2["p"].min()))
    for name, row, cfg in T.expand(spec):  # restore the deleted runs for the CLI check below
        d = cfg.run_dir(runs)
        if not (d / "result.json").exists() and (name, row["density"], cfg.seed) in acc and not (name == "thr" and row["density"] == 0.1 and cfg.seed == 0):
            (d / "result.json").write_text(json.dumps({"accuracy": acc[(name, row["density"], cfg.seed)]}))
    # the CLI: --stats on finished runs (no training, no GPU)
    assert T.main([str(path), "--runs-dir", str(runs), "--no-train", "--stats", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "| density | A | B | mean A | mean B | Δ (A − B) |" in out and "| MDE (80%) | seeds for 80% |" in out
    assert out.count("/4 |") == 1 and out.count("/5 |") == 3  # wins/pairs: 4 pairs only at density 0.1 vs thr
    assert (tmp_path / "out" / "toy_paired.csv").is_file() and (tmp_path / "out" / "toy_paired.md").is_file()


def test_compare_must_name_variants(tmp_path):
    p = _toy(tmp_path)
    p.write_text(p.read_text().replace('b = "thr"', 'b = "nope"'))
    with pytest.raises(ValueError, match="compare"):
        T.load_table(p)


# ---- how informative a comparison is: power of the paired t-test (noncentral t), MDE, pairs needed
def test_power_matches_a_simulated_paired_t_test():
    """power(Δ, sd, n, α) = P(reject) when the n differences are N(Δ, sd²): 40,000 simulated tests at
    the MDE of 5 pairs and Holm's strictest level for 18 comparisons reject 80% ± 1%."""
    alpha, n, sd = 0.05 / 18, 5, 0.7
    mde = P.detectable_delta(sd, n, alpha)
    assert P.power(mde, sd, n, alpha) == pytest.approx(0.8, abs=1e-8)
    d = np.random.default_rng(0).normal(mde, sd, size=(40_000, n))
    t = d.mean(1) / (d.std(1, ddof=1) / np.sqrt(n))
    rate = (np.abs(t) > stats.t.ppf(1 - alpha / 2, n - 1)).mean()
    assert abs(rate - 0.8) < 0.01, rate


def test_textbook_values_and_pairs_needed_is_the_smallest_sufficient_n():
    """Two-sided paired t, α = 0.05, 80% power: d = Δ/sd ≈ 1.68 at n = 5 and n = 10 at d = 1 (the
    standard tables); pairs_needed gives n with power ≥ 0.8 and n − 1 without."""
    assert P.detectable_delta(1.0, 5, 0.05) == pytest.approx(1.682, abs=1e-3)
    assert P.pairs_needed(1.0, 1.0, 0.05) == 10
    for delta, sd, alpha in [(0.65, 0.3, 0.05 / 18), (0.1, 0.5, 0.05 / 12), (3.0, 1.0, 0.01)]:
        k = P.pairs_needed(delta, sd, alpha)
        assert P.power(delta, sd, k, alpha) >= 0.8 and (k == 2 or P.power(delta, sd, k - 1, alpha) < 0.8)
    assert P.pairs_needed(0.0, 1.0, 0.05) is None and P.pairs_needed(1e-4, 1.0, 0.05) is None  # > MAX_PAIRS
    with pytest.raises(ValueError, match="sd > 0"):
        P.power(1.0, 0.0, 5, 0.05)


@settings(max_examples=40, deadline=None)
@given(sd=st.floats(0.01, 10), n=st.integers(2, 40), m=st.integers(1, 30))
def test_detectable_delta_scales_with_sd_and_falls_with_pairs(sd, n, m):
    """The MDE is sd × (a function of n and α): proportional to sd, smaller with more pairs, larger
    at a stricter level."""
    alpha = 0.05 / m
    base = P.detectable_delta(1.0, n, alpha)
    assert P.detectable_delta(sd, n, alpha) == pytest.approx(sd * base, rel=1e-6)
    assert P.detectable_delta(1.0, n + 1, alpha) < base
    assert P.detectable_delta(1.0, n, alpha / 2) > base
