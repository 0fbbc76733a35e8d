"""The bridge's CPU rungs (sketchbound.bridge): the CLI's files, reproducibility, one-line errors, and the
pieces the rungs are built from checked against the library's one-vector forms and exact solutions."""
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sketchbound.bridge.analysis import COLUMNS, summarize
from sketchbound.bridge.errors import expected_alg1_errors, fixed_mask_predictions, mask_errors
from sketchbound.bridge.laws import LAWS, draw_mask, estimate_c_sigma, keep_count, law_probabilities
from sketchbound.bridge.linear import cgls
from sketchbound.bridge.ntk_rung import gd, ntk_lambda_max
from sketchbound.data import find_dataset
from sketchbound.ntk import init_mlp, mlp_jacobian, train_mlp
from sketchbound.probabilities import optimal_probabilities, row_norms
from sketchbound.sampling import top_s
from sketchbound.theory import expected_algorithm1_error, mask_error

ROOT = Path(__file__).resolve().parents[1]
BRIDGE = ROOT / "sketchbound" / "bridge"
needs_data = pytest.mark.skipif(find_dataset("fashion-mnist") is None, reason="Fashion-MNIST is not installed")


def _cli(*args, tmp=None):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "sketchbound.bridge", *args], capture_output=True, text=True,
                          env=env, cwd=tmp or ROOT, timeout=600)


# ------------------------------------------------------------------------------------------ the CLI
@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("rung", ["linear", "ntk"])
def test_quick_run_writes_documented_columns_and_same_seed_same_csv(rung, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        r = _cli("--rung", rung, "--quick", "--out", str(out), "--no-progress")
        assert r.returncode == 0, r.stderr
        assert f"rung {rung}: " in r.stdout and " masks in " in r.stdout
    csv = (a / f"{rung}.csv").read_bytes()
    assert csv == (b / f"{rung}.csv").read_bytes()
    df = pd.read_csv(a / f"{rung}.csv")
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS
    assert set(df.law) == set(LAWS) and set(df.procedure) == {"alg1", "sec7"}
    assert not ((df.law == "beta=inf") & (df.procedure == "alg1")).any()
    num = df[["predicted_error", "measured_error", "test_acc", "test_loss"]].to_numpy()
    assert np.isfinite(num).all() and (df.test_acc.between(0, 1)).all()
    import json
    prov = json.loads((a / f"{rung}.json").read_text())
    assert {"command", "commit", "wall_s", "machine", "settings"} <= set(prov)
    summ = json.loads((a / f"{rung}_summary.json").read_text())
    assert summ["cells"] and summ["variance_aware_vs_randomized"]


def _main_exit(argv, capsys):
    from sketchbound.bridge.__main__ import main
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    return e.value.code, err


@pytest.mark.parametrize("args, needle", [
    (["--rung", "cubic", "--quick"], "--rung"),
    (["--quick"], "--rung"),
    (["--rung", "linear", "--bogus"], "--bogus"),
])
def test_bad_flags_exit_2_with_one_line(args, needle, capsys):
    code, err = _main_exit(args, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and needle in lines[0] and "Traceback" not in err


def test_output_that_is_a_file_exits_2_with_one_line(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    code, err = _main_exit(["--rung", "ntk", "--quick", "--out", str(f)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--out" in err


def test_missing_data_exits_2_with_one_line(tmp_path, capsys):
    code, err = _main_exit(["--rung", "linear", "--quick", "--out", str(tmp_path / "o"), "--data-root",
                            str(tmp_path)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "fashion-mnist" in err


@pytest.mark.slow
def test_bad_flag_from_the_shell_is_one_line():
    r = _cli("--rung", "cubic")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_bridge_imports_no_torch():
    for p in BRIDGE.glob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "torch" for n in names), p


@pytest.mark.slow
def test_running_the_bridge_summary_loads_no_torch():
    code = ("import sys, sketchbound.bridge as b; b.summarize([dict(rung='r', model='m', density=0.1, law=l, "
            "procedure='sec7', seed=s, predicted_error=1.0 + s, measured_error=1.0, test_acc=0.5 + s / 10, "
            "test_loss=0.0) for s in (0, 1) for l in ('beta=1', 'variance-aware')], n_boot=5); "
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


# ------------------------------------------------------------------------------------------ pieces
def _problem(d=40, n=12, k=3, seed=0):
    g = np.random.default_rng(seed)
    X = g.standard_normal((d, n)) * g.uniform(0.1, 2.0, (d, 1))
    W0 = g.standard_normal((d, k))
    return g, X, W0


def test_batched_errors_equal_the_library_column_by_column():
    g, X, W0 = _problem()
    r2 = row_norms(X) ** 2
    s = 7
    Q = np.column_stack([law_probabilities(law, optimal_probabilities(X, W0[:, j]), np.sqrt(r2), W0[:, j], 0.7, 0.3)
                         for j, law in enumerate(["beta=0.5", "beta=2", "variance-aware"])])
    got = expected_alg1_errors(X, r2, W0, Q, s, 0.7, 0.3)
    want = [expected_algorithm1_error(X, W0[:, j], Q[:, j], s, 0.7, 0.3) for j in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-10)
    M = g.integers(0, 3, W0.shape) / 2.0
    np.testing.assert_allclose(mask_errors(X, W0, M), [mask_error(X, W0[:, j], M[:, j]) for j in range(3)], rtol=1e-10)


def test_fixed_mask_prediction_is_the_mean_over_noise():
    g, X, W0 = _problem(d=20, n=5, k=1)
    M = (g.random(W0.shape) < 0.4).astype(float)
    r2 = row_norms(X) ** 2
    c, sig = 0.8, 0.5
    eps = g.standard_normal((20000, 20)) * sig
    mc = np.array([mask_error(X, c * W0[:, 0] + e, M[:, 0]) for e in eps[:4000]])
    want = fixed_mask_predictions(X, r2, W0, M, c, sig)[0]
    assert abs(mc.mean() - want) < 5 * mc.std() / np.sqrt(mc.size)


def test_alg1_prediction_is_inf_when_a_needed_index_has_zero_probability():
    _, X, W0 = _problem(k=1)
    q = np.zeros(X.shape[0])
    q[:5] = 0.2
    out = expected_alg1_errors(X, row_norms(X) ** 2, W0, q[:, None], 3, 1.0, 0.1)
    assert np.isinf(out).all()


def test_cgls_reaches_least_squares_and_respects_the_mask():
    g = np.random.default_rng(1)
    X = g.standard_normal((6, 30))
    Y = g.standard_normal((30, 2))
    W = cgls(X, Y, g.standard_normal((6, 2)), 6)
    np.testing.assert_allclose(W, np.linalg.lstsq(X.T, Y, rcond=None)[0], atol=1e-8)
    M = np.array([[1, 0], [1, 1], [0, 1], [0, 0], [1, 0], [0, 1]], dtype=bool)
    Wm = cgls(X, Y, np.zeros((6, 2)), 6, M)
    assert np.all(Wm[~M] == 0)
    for j in range(2):
        rows = np.flatnonzero(M[:, j])
        np.testing.assert_allclose(Wm[rows, j], np.linalg.lstsq(X[rows].T, Y[:, j], rcond=None)[0], atol=1e-8)


def test_gd_gives_train_mlps_iterates_and_power_iteration_its_lambda_max():
    g = np.random.default_rng(2)
    X = g.standard_normal((10, 4))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.sign(X[:, 0])
    th0 = init_mlp(4, 32, g)
    run = train_mlp(X, y, 32, th0, 15, 0.5)
    np.testing.assert_allclose(gd(th0, X, y, 32, run.lr, 15, dtype=np.float64), run.theta_t, rtol=1e-9, atol=1e-12)
    J = mlp_jacobian(th0, X, 32)
    assert abs(ntk_lambda_max(th0, X, 32, iters=300) / np.linalg.eigvalsh(J @ J.T)[-1] - 1) < 1e-3
    keep = g.random(th0.size) < 0.3
    Jk = J[:, keep]
    assert abs(ntk_lambda_max(th0, X, 32, keep, iters=300) / np.linalg.eigvalsh(Jk @ Jk.T)[-1] - 1) < 1e-3


def test_sec7_masks_keep_the_thresholds_per_layer_counts():
    g, X, W0 = _problem(d=60, k=1)
    w0 = W0[:, 0]
    p0 = optimal_probabilities(X, w0)
    layers = [slice(0, 45), slice(45, 60)]
    s = keep_count(0.2, 60)
    thr = top_s(p0, s)
    for law in LAWS:
        q = law_probabilities(law, p0, row_norms(X), w0, 1.0, 0.2)
        m = draw_mask("sec7", law, q, p0, s, g, layers=layers)
        assert set(np.unique(m)) <= {0.0, 1.0}
        assert [m[sl].sum() for sl in layers] == [thr[sl].sum() for sl in layers]
    np.testing.assert_array_equal(draw_mask("sec7", "beta=inf", p0, p0, s, g), thr)
    with pytest.raises(ValueError, match="beta=inf"):
        draw_mask("alg1", "beta=inf", p0, p0, s, g)
    with pytest.raises(ValueError, match="procedure"):
        draw_mask("alg2", "beta=1", p0, p0, s, g)


def test_c_sigma_recover_the_model():
    g = np.random.default_rng(3)
    w0 = g.standard_normal(200_000)
    cs = estimate_c_sigma([w0], [1.7 * w0 + 0.3 * g.standard_normal(w0.size)])
    assert abs(cs.c - 1.7) < 0.01 and abs(cs.sigma - 0.3) < 0.01
    with pytest.raises(ValueError, match="w0s"):
        estimate_c_sigma([np.zeros(3)], [np.ones(3)])


def test_summary_rank_correlation_and_paired_test():
    rows = [dict(rung="r", model="m", density=0.1, law=law, procedure="sec7", seed=s, predicted_error=e + 0.1 * s,
                 measured_error=e, test_acc=a + 0.01 * s * (law == "variance-aware"), test_loss=0.0)
            for s in range(4) for law, e, a in (("beta=0", 3.0, 0.5), ("beta=1", 2.0, 0.6), ("variance-aware", 1.0, 0.7))]
    out = summarize(rows, n_boot=20)
    cell = out["cells"][0]
    assert cell["law_min_predicted"] == "variance-aware" == cell["law_max_acc"]
    assert cell["spearman"] < -0.5 and cell["ci_low"] <= cell["spearman"] <= cell["ci_high"]
    comp = out["variance_aware_vs_randomized"][0]
    assert comp["pairs"] == 4 and comp["delta_acc"] > 0 and 0 <= comp["p"] <= comp["p_holm"] <= 1
    with pytest.raises(ValueError, match="test_acc"):
        summarize(pd.DataFrame(rows).drop(columns="test_acc"))


@pytest.mark.slow
def test_bridge_figure_draws_every_rung_csv_with_the_shared_columns(tmp_path):
    from sketchbound.figures.__main__ import main
    src = tmp_path / "in"
    src.mkdir()
    for name, rung in (("linear.csv", "linear"), ("resnet20.csv", "resnet20")):
        pd.DataFrame([dict(rung=rung, model="m", density=dens, law=law, procedure=proc, seed=s,
                           predicted_error=1.0 + i, measured_error=2.0 + i, test_acc=0.5 + i / 100, test_loss=0.1)
                      for dens in (0.1, 0.02) for i, law in enumerate(LAWS) for proc in ("alg1", "sec7")
                      for s in (0, 1)]).to_csv(src / name, index=False)
    (src / "notes.csv").write_text("a,b\n1,2\n")  # not a rung CSV: ignored
    assert main(["--fig", "bridge", "--bridge", str(src), "--out", str(tmp_path / "out")]) == 0
    drawn = pd.read_csv(tmp_path / "out" / "bridge.csv")
    assert set(drawn.rung) == {"linear", "resnet20"} and (tmp_path / "out" / "bridge.png").stat().st_size > 0
    np.testing.assert_allclose(drawn[drawn.law == "beta=1"].predicted_error_rel, 1.0)


def test_bridge_figure_without_rung_csvs_exits_2(tmp_path, capsys):
    from sketchbound.figures.__main__ import main
    with pytest.raises(SystemExit) as e:
        main(["--fig", "bridge", "--bridge", str(tmp_path), "--out", str(tmp_path / "out")])
    assert e.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_bridge_md_table_is_the_one_the_summaries_give():
    """Every number of validation/bridge.md's predicted-vs-measured table is recomputable: the table
    between the markers equals the one rendered from validation/bridge/*_summary.json."""
    from pathlib import Path

    from sketchbound.bridge.report import BEGIN, END, load_summaries, table_markdown
    root = Path(__file__).resolve().parents[1]
    doc = (root / "validation" / "bridge.md").read_text()
    shown = doc.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    folder = root / "validation" / "bridge"
    assert shown == table_markdown(load_summaries(folder)).strip()


def test_cpu_rung_summaries_recompute_from_their_csvs():
    """The CPU rungs' summaries (the table's source) equal those recomputed from the CSVs (same bootstrap
    stream): the summary files are not edited by hand."""
    import json
    from pathlib import Path

    from sketchbound.bridge.report import summary_from_csv
    folder = Path(__file__).resolve().parents[1] / "validation" / "bridge"
    for rung in ("linear", "ntk"):
        stored = json.loads((folder / f"{rung}_summary.json").read_text())
        again = summary_from_csv(folder / f"{rung}.csv")
        assert json.dumps(again["cells"], sort_keys=True) == json.dumps(stored["cells"], sort_keys=True)


def test_bootstrap_interval_equals_the_plain_resampling():
    """The bootstrap computes rho once per multiset of drawn seeds; the interval is the one a plain loop over
    the same draws gives (pooled Spearman does not depend on the order of the pooled masks)."""
    import math

    from scipy.stats import spearmanr

    from sketchbound.bridge.analysis import _bootstrap
    from sketchbound.seeds import stream_rng

    rng = np.random.default_rng(3)
    g = pd.DataFrame({"seed": np.repeat([0, 1, 2, 5], 6), "predicted_error": rng.random(24),
                      "measured_error": rng.random(24), "test_acc": rng.random(24)})
    for col in ("predicted_error", "measured_error"):
        draws, seeds, vals = stream_rng(0, "bridge-bootstrap"), np.array([0, 1, 2, 5]), []
        for _ in range(300):
            pick = draws.choice(seeds, seeds.size, replace=True)
            d = pd.concat([g[g.seed == s] for s in pick])
            r = spearmanr(d[col], d.test_acc).statistic
            if not math.isnan(r):
                vals.append(r)
        assert _bootstrap(g, 300, col) == pytest.approx((np.percentile(vals, 2.5), np.percentile(vals, 97.5)),
                                                        abs=1e-12)
