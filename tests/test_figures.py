"""``python -m sketchbound.figures --fig 1|2|3|theory --quick``: the files exist, are non-empty, and the
figure shows exactly the numbers of its CSV. Each quick figure takes < 60 s on a 2-core CPU; each
is made once per test session (module fixtures) and then inspected. Figs. 1 and 3 read the real
Fashion-MNIST through the ``fmnist_root`` fixture: skipped, with the reason, where it is not installed.
The CLI's one-line errors (missing data, bad output folder) and the files' permissions are checked too."""
from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from sketchbound.figures.__main__ import build_parser, main  # noqa: E402


def _make(tmp_path_factory, fig: str, *extra) -> Path:
    out = tmp_path_factory.mktemp(f"fig{fig}")
    assert main(["--fig", fig, "--quick", "--out", str(out), *extra]) == 0
    return out


def _check_files(out: Path, stem: str) -> pd.DataFrame:
    for ext in ("csv", "png", "pdf", "json"):
        f = out / f"{stem}.{ext}"
        assert f.is_file() and f.stat().st_size > 0, f
    assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
    meta = json.loads((out / f"{stem}.json").read_text())
    assert meta["quick"] is True and "caption" in meta and meta["seed"] == 0
    assert not list(out.glob(".*"))  # no temporary files left behind
    df = pd.read_csv(out / f"{stem}.csv")
    assert len(df) == meta["rows"] > 0
    return df


def _hist_heights(ax) -> float:
    return float(sum(p.get_height() for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)))


def _line(ax, label_start: str):
    lines = [ln for ln in ax.get_lines() if str(ln.get_label()).startswith(label_start)]
    assert lines, f"no line labelled {label_start!r} in {[ln.get_label() for ln in ax.get_lines()]}"
    return lines[0]


# ------------------------------------------------------------------------------------------ theory (no torch)
# the quick theory figure takes ~30 s on 2 cores, Fig. 3 ~50 s: marked slow (CI runs them; `-m "not slow"` skips)
@pytest.fixture(scope="module")
def theory_out(tmp_path_factory):
    return _make(tmp_path_factory, "theory")


@pytest.mark.slow
def test_theory_quick_claims_plot_matches_csv(theory_out):
    from sketchbound.claims import CLAIMS
    from sketchbound.figures.theory import plot_claims

    df = _check_files(theory_out, "theory_claims")
    assert set(df.claim) == {c.id for c in CLAIMS if not c.deterministic}
    assert df.ratio.notna().all() and (df.ratio_hi >= df.ratio_lo).all()
    fig = plot_claims(df)
    try:
        points = {ln.get_label(): ln for ax in fig.axes for ln in ax.get_lines()}
        for r in df.itertuples():  # every check is one point at its CSV ratio
            np.testing.assert_array_equal(points[f"_{r.claim}@{r.s}"].get_xdata(), [r.ratio])
        derived = df[df.ratio_kind != "measured"]
        assert (derived.estimator == "derived").all()
        assert {points[f"_{r.claim}@{r.s}"].get_marker() for r in derived.itertuples()} <= {"D"}
    finally:
        plt.close(fig)
    # Lemma 4.1 is an equality: its closed form lies in the measured interval at every s (up to rounding:
    # the interval may have zero width where the statistic does not vary)
    e = df[df.claim == "4.1"]
    tol = 1e-9 * e.exact.abs()
    assert ((e.ci_low <= e.exact + tol) & (e.exact - tol <= e.ci_high)).all()


@pytest.mark.slow
def test_theory_quick_sketches_plot_matches_csv(theory_out):
    from sketchbound.figures.theory import SKETCHES, plot_sketches

    df = _check_files(theory_out, "theory_sketches")
    assert set(df.sketch) == set(SKETCHES) and set(df.target) == {"w0", "w_star"}
    # closed forms exist for Algorithm 1 (both p), Bernoulli HT and top-s; top-s is deterministic
    have = set(df[df.exact.notna()].sketch)
    assert have == {"algorithm1", "uniform_algorithm1", "bernoulli_ht", "top_s"}
    top = df[df.sketch == "top_s"]
    np.testing.assert_allclose(top["mean"], top.exact, rtol=1e-9)
    fig = plot_sketches(df)
    try:
        for ax, target in zip(fig.axes[:2], ("w0", "w_star")):
            for key, label in SKETCHES.items():
                sub = df[(df.target == target) & (df.sketch == key)].sort_values("s")
                np.testing.assert_array_equal(_line(ax, f"{label}: measured").get_ydata(), sub["mean"].to_numpy())
    finally:
        plt.close(fig)


def test_theory_sketches_same_seed_same_numbers():
    from sketchbound.figures.theory import compute_sketches

    cfg = dict(d=32, n=8, trials_sketches=50)
    a = compute_sketches(cfg, 3, True)
    b = compute_sketches(cfg, 3, True)
    pd.testing.assert_frame_equal(a, b)
    c = compute_sketches(cfg, 4, True)
    assert not np.allclose(a["mean"], c["mean"])


def test_cli_rejects_bad_flags(capsys):
    p = build_parser()
    for bad in (["--fig", "4"], ["--fig", "1", "--density", "1.5"], ["--fig", "2", "--rounds", "0"]):
        with pytest.raises(SystemExit):
            p.parse_args(bad)


# ------------------------------------------------------------------------------------------ Figs. 1-3 (torch)
@pytest.fixture(scope="module")
def fig1_out(tmp_path_factory, fmnist_root):
    pytest.importorskip("torch")
    return _make(tmp_path_factory, "1", "--data-root", str(fmnist_root))


@pytest.mark.slow
def test_fig1_quick_plot_matches_csv(fig1_out):
    pytest.importorskip("torch")
    from sketchbound.figures.fig1 import plot

    df = _check_files(fig1_out, "fig1")
    left, right = df[df.panel == "left"], df[df.panel == "right"]
    imp = left[left["mask"] == "imp"].sort_values("density")
    assert np.isclose(imp.density.min(), 0.012)
    # the IMP ticket keeps larger initial weights than the random masks of the same size (Fig. 1's claim)
    means = left[left.stat == "mean"].pivot(index="density", columns="mask", values="value")
    assert (imp.set_index("density").value > means["random_uniform"]).all()
    fig = plot(df)
    try:
        a, b = fig.axes[:2]
        np.testing.assert_array_equal(_line(a, "IMP").get_ydata(), imp.value.to_numpy())
        mean_u = left[(left["mask"] == "random_uniform") & (left.stat == "mean")].sort_values("density")
        np.testing.assert_array_equal(_line(a, "random, uniform").get_ydata(), mean_u.value.to_numpy())
        n_samples = int((right.stat == "sample").sum())
        assert _hist_heights(b) == n_samples
        ticket = float(right[right["mask"] == "imp"].value.iloc[0])
        assert _line(b, "IMP").get_xdata()[0] == ticket
    finally:
        plt.close(fig)


@pytest.mark.slow
def test_fig2_quick_plot_matches_csv_and_is_reproducible(tmp_path_factory):
    pytest.importorskip("torch")
    from sketchbound.figures.fig2 import plot

    out = _make(tmp_path_factory, "2")
    df = _check_files(out, "fig2")
    assert len(df) == 1000 and df["index"].is_unique
    assert set(df.kept_synflow.unique()) <= {0, 1} and df.kept_synflow.sum() > 0
    fig = plot(df)
    try:
        ax = fig.axes[0]
        x = df.log10_score.to_numpy()
        # the filled histogram is the whole subset; the step histograms are the kept ones
        filled = [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
        assert sum(p.get_height() for p in filled) == np.isfinite(x).sum()
        steps = [p for p in ax.patches if not isinstance(p, matplotlib.patches.Rectangle)]
        assert len(steps) == 2  # hard threshold, randomized mask
    finally:
        plt.close(fig)
    again = _make(tmp_path_factory, "2")
    pd.testing.assert_frame_equal(df, pd.read_csv(again / "fig2.csv"))
    # --redraw: new PNG/PDF from the CSV and JSON already there, numbers untouched
    csv = (again / "fig2.csv").read_bytes()
    assert main(["--fig", "2", "--redraw", "--out", str(again)]) == 0
    assert (again / "fig2.csv").read_bytes() == csv
    meta = json.loads((again / "fig2.json").read_text())
    assert "--redraw" in meta["redrawn"]["command"] and meta["command"] != meta["redrawn"]["command"]


def test_fig2_right_panel_draws_every_legend_entry():
    """The committed Fig. 2: the 41 weights kept only by the randomized mask score 0 in the threshold run's
    final round; they are drawn in a bin of their own, so every legend entry has a visible histogram."""
    from sketchbound.figures.fig2 import plot

    df = pd.read_csv(FIGS / "fig2.csv")
    g, r = df.kept_synflow == 1, df.kept_synflow_randomized == 1
    zero = ~np.isfinite(df.log10_final_score)
    assert zero[~g & r].all() and (~g & r).sum() > 0
    fig = plot(df)
    try:
        ax = fig.axes[1]
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert len(labels) == 3
        for patch_label in labels:
            drawn = [p for p in ax.patches if p.get_label() == patch_label]
            assert drawn, patch_label
            if isinstance(drawn[0], matplotlib.patches.Polygon):
                assert drawn[0].get_xy()[:, 1].max() > 0, patch_label
            else:
                assert sum(p.get_height() for p in ax.patches if p.get_facecolor() == drawn[0].get_facecolor()) > 0
        only_r = next(p for p in ax.patches if p.get_label().startswith("only by the randomized mask"))
        xy = only_r.get_xy()
        first = df.log10_final_score[~zero].min()
        assert xy[xy[:, 0] < first, 1].max() == int((~g & r & zero).sum())
    finally:
        plt.close(fig)


def test_redraw_refuses_the_theory_figure(capsys, tmp_path):
    _one_line_error(capsys, ["--fig", "theory", "--redraw", "--out", str(tmp_path)], "--redraw", "theory")


def test_redraw_without_files_is_one_line_exit_2(capsys, tmp_path):
    _one_line_error(capsys, ["--fig", "2", "--redraw", "--out", str(tmp_path)], "fig2.csv")


@pytest.mark.slow
def test_fig3_quick_plot_matches_csv(tmp_path_factory, fmnist_root):
    pytest.importorskip("torch")
    from sketchbound.figures.fig3 import METHODS, plot

    out = _make(tmp_path_factory, "3", "--data-root", str(fmnist_root))
    df = _check_files(out, "fig3")
    assert sorted(df.density.unique()) == [0.02, 0.05]
    bins = df[df.kind == "bin"]
    kept = df[df.kind == "kept"].set_index(["density", "method"]).value
    for (dens, m), g in bins.groupby(["density", "method"]):
        assert g["count"].sum() == kept[(dens, m)]  # every kept weight is in a bin
    # same k for every method at a density
    assert kept.groupby(level=0).nunique().eq(1).all()
    fig = plot(df)
    try:
        for ax, dens in zip(fig.axes, sorted(df.density.unique())):
            stairs = [a for a in ax.patches if isinstance(a, matplotlib.patches.StepPatch)]
            assert len(stairs) == len(METHODS)
            for st, m in zip(stairs, METHODS):
                g = bins[(bins.density == dens) & (bins.method == m)].sort_values("lo")
                np.testing.assert_array_equal(st.get_data().values, g.fraction.to_numpy())
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------------------ CLI errors, files
def _one_line_error(capsys, argv, *needles) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m sketchbound.figures: error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, (n, err)
    return err


@pytest.mark.parametrize("fig", ["1", "3"])
def test_missing_data_is_one_line_exit_2(capsys, tmp_path, fig):
    pytest.importorskip("torch")
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(capsys, ["--fig", fig, "--quick", "--data-root", str(empty), "--out", str(tmp_path / "o")],
                    "fashion-mnist not found", str(empty), "--data-root", "SKETCHBOUND_DATA",
                    "apt-get install dataset-fashion-mnist", "python -m sketchbound.data")
    assert not (tmp_path / "o").exists()  # nothing written before the check


def test_data_root_falls_back_to_the_variable(capsys, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("SKETCHBOUND_DATA", str(tmp_path))
    import sketchbound.data as data

    monkeypatch.setattr(data, "DEFAULT_ROOTS", {**data.DEFAULT_ROOTS, "fashion-mnist": ()})
    _one_line_error(capsys, ["--fig", "1", "--quick", "--out", str(tmp_path / "o")], f"looked in {tmp_path},")


def test_unwritable_output_is_one_line_exit_2(capsys, tmp_path):
    f = tmp_path / "a_file"
    f.write_text("x")
    _one_line_error(capsys, ["--fig", "theory", "--quick", "--out", str(f)], "--out")


def test_bad_device_is_one_line_exit_2(capsys, tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        _one_line_error(capsys, ["--fig", "2", "--quick", "--device", "cuda", "--out", str(tmp_path)], "CUDA")
    _one_line_error(capsys, ["--fig", "2", "--quick", "--device", "nonsense", "--out", str(tmp_path)], "--device")


@pytest.mark.slow
def test_written_files_follow_the_umask(theory_out):
    """The atomic writer's temporary file is 0600; the final files must get what the umask gives."""
    cur = os.umask(0)
    os.umask(cur)
    for f in theory_out.iterdir():
        assert f.stat().st_mode & 0o777 == 0o666 & ~cur, (f, oct(f.stat().st_mode), oct(cur))


def test_written_files_follow_a_strict_umask(tmp_path):
    """Same with umask 0077 and 0022 on one small figure's CSV/PNG/PDF/JSON (the publish step alone)."""
    from sketchbound.figures.common import publish

    def plot(df):
        fig, ax = plt.subplots()
        ax.plot(df.x, df.y)
        return fig

    old = os.umask(0o077)
    try:
        for mask in (0o077, 0o022):
            os.umask(mask)
            paths = publish(pd.DataFrame(dict(x=[1, 2], y=[3, 4])), plot, tmp_path / oct(mask), "t")
            for p in paths.values():
                assert p.stat().st_mode & 0o777 == 0o666 & ~mask, (p, oct(p.stat().st_mode))
    finally:
        os.umask(old)


REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_deep_figure_draws_the_recorded_paired_statistics(tmp_path, monkeypatch):
    """--fig deep reads the recorded GPU runs (no training, no torch needed): per seed Δ = acc(randomized)
    − acc(threshold), whose mean over seeds equals the table's recorded paired Δ (checked in compute, and
    here again from the CSV); the confirmatory table has its 10 seeds per density and its Holm family of 3."""
    pytest.importorskip("torch")  # the run files are read through the dnn package
    monkeypatch.chdir(REPO)
    assert main(["--fig", "deep", "--out", str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "deep_randomized_vs_threshold.csv")
    conf = df[df.table == "table1_fmnist5k_confirm"]
    assert sorted(conf.density.unique()) == [0.005, 0.02, 0.1]
    assert (conf.groupby("density").seed.apply(sorted) == pd.Series([list(range(5, 15))] * 3,
                                                                    index=[0.005, 0.02, 0.1])).all()
    assert (conf.holm_family == 3).all() and (conf.p_holm < 0.05).all()
    mn = df[df.table == "table1_mnist5k_transfer"]  # the pre-registered MNIST family: 3 densities x seeds 0-9
    assert (mn.holm_family == 3).all() and sorted(mn.seed.unique()) == list(range(10)) and len(mn) == 30
    mc = df[df.table == "table1_mnist5k_confirm"]  # its 2% cell on 20 fresh seeds, one comparison
    assert (mc.holm_family == 1).all() and sorted(mc.seed) == list(range(10, 30)) and (mc.density == 0.02).all()
    vc = df[df.table == "table1_mnist5k_vgg19_confirm"]  # VGG-19's 0.02% cell on 24 fresh seeds, one comparison
    assert (vc.holm_family == 1).all() and sorted(vc.seed) == list(range(10, 34)) and (vc.density == 0.0002).all()
    for (table, method, density), g in df.groupby(["table", "method", "density"]):
        paired = pd.read_csv(REPO / "dnn" / "results" / f"{table}_paired.csv")
        row = paired[(paired.a == f"{method} randomized") & (paired.b == f"{method} threshold")
                     & np.isclose(paired.density, density)].iloc[0]
        assert g.delta.mean() == pytest.approx(row.delta, abs=5e-3) and len(g) == row.pairs
    meta = json.loads((tmp_path / "deep_randomized_vs_threshold.json").read_text())
    assert meta["rows"] == len(df) and "table1_fmnist5k_confirm" in meta["caption"]


def test_deep_figure_refuses_runs_that_disagree_with_their_paired_table(tmp_path, capsys):
    """A paired CSV that does not match its runs is an error (exit 2, one line), not a figure; a results
    folder without the recorded tables is one line and exit 2 before any work."""
    pytest.importorskip("torch")
    from sketchbound.figures.deep import ROWS
    res = tmp_path / "dnn" / "results"
    res.mkdir(parents=True)
    (tmp_path / "dnn" / "configs").symlink_to(REPO / "dnn" / "configs")
    for table in {t for t, _, _ in ROWS}:
        (res / f"{table}_runs").symlink_to(REPO / "dnn" / "results" / f"{table}_runs")
        paired = pd.read_csv(REPO / "dnn" / "results" / f"{table}_paired.csv")
        if table == "table1_fmnist5k_confirm":
            paired.loc[0, "delta"] += 0.5
        paired.to_csv(res / f"{table}_paired.csv", index=False)
    _one_line_error(capsys, ["--fig", "deep", "--results", str(res), "--out", str(tmp_path / "out")],
                    "table1_fmnist5k_confirm", "paired table")
    assert not (tmp_path / "out" / "deep_randomized_vs_threshold.png").exists()
    (res / "table1_fmnist_60ep_runs").unlink()
    _one_line_error(capsys, ["--fig", "deep", "--results", str(res), "--out", str(tmp_path / "out2")],
                    "--results", "table1_fmnist_60ep_runs")
    assert not (tmp_path / "out2").exists()  # nothing written before the check


# ------------------------------------------------------------------------------------------ readings
# Every number that figures/README.md and validation/deep.md state about the committed files, recomputed
# from the CSV/JSON/text beside them: a regenerated figure whose numbers move makes these fail until the
# prose is updated.
ROOT = Path(__file__).resolve().parents[1]
FIGS = ROOT / "figures"


def _readme() -> str:
    return " ".join((FIGS / "README.md").read_text().split())


def _json(stem: str) -> dict:
    return json.loads((FIGS / f"{stem}.json").read_text())


def test_readme_theory_claims_readings():
    from sketchbound.claims import CLAIMS

    text = _readme()
    df = pd.read_csv(FIGS / "theory_claims.csv")
    ids = {c.id for c in CLAIMS if not c.deterministic}
    assert set(df.claim) == ids and f"({len(ids)} claims;" in text
    counts = df.verdict.value_counts()
    assert f"all {len(df)} checks are decisive — {counts['holds']} hold, {counts['violated']} violated" in text
    assert "inconclusive" not in set(df.verdict)
    derived = df.estimator == "derived"
    lo = np.where(derived, df.cc_low, df.ci_low)
    hi = np.where(derived, df.cc_high, df.ci_high)
    inside = int(((lo <= df.exact) & (df.exact <= hi)).sum())
    assert f"in {inside} of {int(df.exact.notna().sum())} rows" in text
    assert set(df[derived].claim) == {"4.3b", "6.2", "6.2b"} and "4.3b, 6.2 and 6.2b points" in text
    r = df.groupby("claim").ratio
    assert f"{r.mean()['4.2']:.1f}× *below*" in text
    assert f"measured/exact {r.mean()['4.2-exact']:.4f}" in text
    for cid, nd in (("4.2-corrected", 3), ("4.3b", 3), ("4.5", 3), ("6.2", 3)):
        assert f"{cid} ({r.mean()[cid]:.{nd}f})" in text, cid
    assert "ratios " + ", ".join(f"{r.mean()[c]:.3f}" for c in ("4.4", "4.4-datafree", "4.5c")) in text
    assert f"bridge-va holds at {r.min()['bridge-va']:.3f}–{r.max()['bridge-va']:.3f}" in text
    inv = 1 / df[df.claim == "6.2b"].ratio
    assert np.allclose(inv, inv.iloc[0]) and f"{inv.iloc[0] / 1e16:.1f}×10¹⁶ times the error" in text
    sketches = _json("theory_sketches")
    assert f"{_json('theory_claims')['wall_s']:.1f} s (claims) + {sketches['wall_s']:.1f} s (sketches)" in text


def test_readme_theory_sketches_readings():
    text = _readme()
    df = pd.read_csv(FIGS / "theory_sketches.csv")
    w = df[df.target == "w0"].pivot_table(index="s", columns="sketch", values="mean")
    assert (f"s = 26: {w.bernoulli_ht[26]:.1f} and {w.systematic_ht[26]:.1f}, priority {w.priority[26]:.1f}") in text
    assert (f"({w.priority[5]:.1f} and {w.priority[10]:.1f} vs {w.algorithm1[5]:.1f} and {w.algorithm1[10]:.1f})") in text
    assert f"Bernoulli-HT {w.bernoulli_ht[256]:.3f} vs {w.algorithm1[256]:.3f}" in text
    ratio = w.uniform_algorithm1 / w.algorithm1
    assert f"{ratio.min():.2f}–{ratio.max():.2f}× Algorithm 1" in text
    unbiased = w[["algorithm1", "uniform_algorithm1", "systematic_ht", "bernoulli_ht", "priority"]].min(axis=1)
    assert (w.top_s < unbiased / 4).all() and f"(s = 256: {w.top_s[256]:.3f})" in text
    assert f"(s = 5: {w.successive[5]:.2f} vs {w.bernoulli_ht[5]:.1f} for Bernoulli-HT)" in text
    assert (f"only {w.bernoulli_ht[256] / w.successive[256]:.1f}× smaller at s = 256 ({w.successive[256]:.3f} vs "
            f"Bernoulli-HT {w.bernoulli_ht[256]:.3f})") in text


def test_readme_deep_fig2_fig3_readings():
    from sketchbound.figures.deep import axis_cut

    text = _readme()
    df = pd.read_csv(FIGS / "deep_randomized_vs_threshold.csv")
    assert f"recorded GPU runs of {df.table.nunique()} tables" in text
    cells = df.groupby(["method", "table", "density"]).first().reset_index()
    green = cells[cells.p_holm < 0.05]
    assert f"{len(green)} of the {len(cells)} cells are green, all SynFlow" in text and set(green.method) == {"SynFlow"}
    assert green.setting.str.contains("confirmatory").sum() == 6 and green.setting.str.contains("pre-registered").sum() == 1
    snip = df[df.method == "SNIP"]
    lim = axis_cut(snip.delta, np.concatenate([snip.ci_low, snip.ci_high]))
    assert f"cut at ±{lim:.1f} points" in text and axis_cut(df[df.method == "SynFlow"].delta) is None
    vgg = snip[(snip.table == "table1_fmnist5k_vgg19_low") & np.isclose(snip.density, 0.001)].delta
    assert " / ".join(f"{x:+.1f}".replace("-", "−") for x in sorted(vgg[vgg.abs() > lim])) in text
    for table in ("table1_fmnist5k", "table1_fmnist_60ep"):
        assert f"+{snip[(snip.table == table) & np.isclose(snip.density, 0.005)].delta.max():.1f}" in text
    f2 = _json("fig2")
    t = f2["timings"]
    assert (f"{t['synflow_global_s']:.1f} s for 100 SynFlow rounds with the hard threshold and "
            f"{t['synflow_randomized_s']:.1f} s with the randomized mask, i.e. {t['synflow_global_s'] / 100:.1f} and "
            f"{t['synflow_randomized_s'] / 100:.1f} s per round") in text
    assert f"{f2['wall_s']:,.0f} s ≈ {f2['wall_s'] / 60:.0f} minutes" in text
    assert f"| {f2['wall_s']:,.1f} s |" in text and f"| {_json('fig1')['wall_s']:.1f} s |" in text
    f3 = _json("fig3")
    assert f"| {f3['wall_s']:.1f} s |" in text and f"| {_json('deep_randomized_vs_threshold')['wall_s']:.1f} s |" in text
    assert f"{f3['timings']['imp_s']:.1f} s for IMP" in text
    m = pd.read_csv(FIGS / "fig3.csv").query("kind == 'mean'").set_index(["density", "method"]).value
    assert m[(0.02, "imp")] > m[(0.02, "synflow")] and m[(0.05, "imp")] > m[(0.05, "synflow")]
    assert "the reverse of the paper's Fig. 3" in f3["caption"]
    assert "H200" not in text.split("Fig. 2 and Fig. 3, what the runs show")[1].split("**Fig. 2**")[0].split("Fig. 3 on")[0]


def test_deep_md_readings():
    text = " ".join((ROOT / "validation" / "deep.md").read_text().split())
    raw = (ROOT / "validation" / "deep" / "validate_6.2_default.txt").read_text()
    assert "6.2 holds" in " ".join(raw.split()) and "6.2b holds" in " ".join(raw.split())
    assert "| 6.2 (first inequality of B.5 = Lemma 4.3 bound with J's) | **holds** (derived)" in text
    user = raw.split("user")[1].split()[0]  # "0m7.684s"
    assert f"takes {float(user.split('m')[1].rstrip('s')):.1f} s of CPU" in text
    s_raw = (ROOT / "validation" / "deep" / "validate_6.2b_s.txt").read_text()
    for s in (23, 115):
        line = next(ln for ln in s_raw.splitlines() if f" s={s} " in ln and ln.strip().startswith("6.2b"))
        assert line.split()[1] == "holds"
        assert f"| {s} (" in text and "| holds (derived) |" in text
    w4096 = json.loads((ROOT / "validation" / "deep" / "validate_6.2_width4096.json").read_text())
    w4096 = w4096[0] if isinstance(w4096, list) else w4096
    assert f"{100 * (w4096['bound'] / w4096['exact'] - 1):.4f}% at width 4096" in text
    assert f"exact {w4096['exact']:.4f}, bound {w4096['bound']:.4f}" in text
    claims = pd.read_csv(FIGS / "theory_claims.csv")
    gap256 = 100 * (1 / claims[claims.claim == "6.2"].ratio.iloc[0] - 1)
    assert f"loses {gap256:.2f}% at width 256" in text
    toy = pd.read_csv(ROOT / "validation" / "deep" / "toy_resnet20_cpu" / "lemma43.csv")
    a = toy[toy.method == "algorithm1"].set_index("layer").exact
    u = toy[toy.method == "uniform"].set_index("layer").exact
    assert f"in {int((a < u[a.index]).sum())} of {len(a)} layers on the exact values" in text
    for f in ("validate_6.2_default.txt", "validate_6.2b_s.txt", "validate_6.2b_width.txt"):
        assert (ROOT / "validation" / "deep" / f).read_text().startswith("$ python -m sketchbound.validate")


def test_readme_fig1_readings():
    text = _readme()
    df = pd.read_csv(FIGS / "fig1.csv")
    right = df[df.panel == "right"]
    ticket = float(right[right["mask"] == "imp"].value.iloc[0])
    u = right[right["mask"] == "random_uniform"].value
    lm = right[right["mask"] == "random_layer_matched"].value
    assert (f"at 1.2%: {ticket:.2f} vs a uniform-random mean of {u.mean():.2f} (sd {u.std():.3f}, "
            f"z ≈ {(ticket - u.mean()) / u.std():.0f}); layer-matched mean {lm.mean():.2f} (sd {lm.std():.3f}, "
            f"z ≈ {(ticket - lm.mean()) / lm.std():.0f})") in text
    levels = _json("fig1")["imp_levels"]
    acc = [lv["test_accuracy"] for lv in levels[1:] if lv["test_accuracy"] is not None]
    assert f"within {min(acc):.1f}–{max(acc):.1f}%" in text and f"(dense: {levels[0]['test_accuracy']:.1f}%" in text
    assert f"down to {100 * levels[-2]['density']:.1f}% density" in text


def test_readme_fig2_readings():
    text = _readme()
    df = pd.read_csv(FIGS / "fig2.csv")
    meta = _json("fig2")
    g, r = df.kept_synflow == 1, df.kept_synflow_randomized == 1
    o, k = meta["overlap_all_weights"], meta["kept_total"]
    assert f"both masks keep {k['global']:,}" in text and k["global"] == k["randomized"]
    assert f"They share {o['kept_by_both']:,} and differ in {o['only_threshold']:,} each, so " \
           f"{100 * o['only_threshold'] / k['global']:.0f}% of each mask is its own" in text
    s = df.log10_score
    assert (f"The hard threshold keeps {g.sum()} weights, with initial scores 10^{s[g].min():.2f} to "
            f"10^{s[g].max():.1f}. The randomized mask keeps {r.sum()}") in text
    assert f"10^{s[r].min():.2f} to 10^{s[r].max():.1f}" in text
    assert (f"The {(~g & r).sum()} weights kept only by the randomized mask have *higher* initial scores "
            f"(median 10^{s[~g & r].median():.2f}) than the {(g & ~r).sum()} kept only by the threshold "
            f"(median 10^{s[g & ~r].median():.2f})") in text
    assert (df.final_score[~g & r] == 0).all() and f"All {(~g & r).sum()} subset weights kept only by the" in text
