"""`dnn.table` says what ran: overrides and commit in every written table, a legend for every column,
a progress bar over all runs and a time estimate for --dry-run."""
import hashlib
import json
import re

import pytest

torch = pytest.importorskip("torch")

from sketchbound.dnn.experiments import table as T  # noqa: E402
from sketchbound.dnn.experiments import table_estimate as E  # noqa: E402
from sketchbound.dnn.experiments.config import to_toml  # noqa: E402
from test_runner import _write_cifar10  # noqa: E402  (tests/dnn is on sys.path; one toy-data writer)

TITLE = "Toy, LeNet, 160 epochs: random vs magnitude on fresh seeds 5-6 (confirmatory)"


def _table(tmp_path, data_root="unused") -> "Path":  # noqa: F821
    spec = {"table": {"name": "toy", "title": TITLE, "rows": ["density"]},
            "base": {"dataset": "cifar10", "model": "lenet300100", "width": 0.05, "epochs": 160, "batch_size": 32,
                     "train_subset": 96, "data_root": str(data_root)},
            "grid": {"density": [0.5, 0.2], "seed": [5, 6]},
            "variant": [{"name": "Random", "method": "random", "mask": "global"},
                        {"name": "Magnitude", "method": "magnitude", "mask": "global"}],
            "compare": [{"a": "Magnitude", "b": "Random"}]}
    p = tmp_path / "toy.toml"
    p.write_text(to_toml(spec))
    return p


def _finish(spec, runs, *, wall_s=None, device="cpu"):
    """A result.json for every run of ``spec``: accuracies that differ by variant and seed."""
    for name, row, c in T.expand(spec):
        d = c.run_dir(runs)
        d.mkdir(parents=True, exist_ok=True)
        res = {"accuracy": 50.0 + 10 * (name == "Magnitude") + c.seed + c.density, "git_commit": "c0ffee",
               "config": c.to_dict(), "epochs": c.epochs, "data": {"n_train": c.train_subset}, "device": device}
        if wall_s is not None:
            res["wall_s"] = wall_s
        (d / "result.json").write_text(json.dumps(res))


def _columns(md: str) -> list[str]:
    """The header cells of the first pipe table of a Markdown file."""
    head = next(line for line in md.splitlines() if line.startswith("| "))
    return [c.strip() for c in head.strip("|").split("|")]


def test_overrides_are_in_every_written_table(tmp_path, monkeypatch, capsys):
    """Acceptance: --epochs/--seeds/--set reach the title and the metadata of every file written."""
    path = _table(tmp_path)
    runs, out = tmp_path / "runs", tmp_path / "out"
    _finish(T.load_table(path, overrides={"epochs": 2, "width": 0.25}, seeds=3), runs)
    monkeypatch.setenv("SKETCHBOUND_COMMIT", "feedbeef")
    argv = [str(path), "--no-train", "--stats", "--epochs", "2", "--seeds", "3", "--set", "width=0.25",
            "--runs-dir", str(runs), "--out", str(out)]
    assert T.main(argv) == 0
    prefix = "[overridden: epochs=2, seeds=0-2, width=0.25] "
    assert capsys.readouterr().out.startswith(f"# {prefix}{TITLE}\n")
    for name in ("toy.md", "toy_paired.md", "toy_stats.md"):
        md = (out / name).read_text()
        assert md.startswith(f"# {prefix}{TITLE}"), name
        assert "**Not the recorded design:** 12 of these 12 runs" in md, name
        assert "- overrides of the table file: epochs=2, seeds=0-2, width=0.25 (**not the recorded design**)" in md
        assert "- commit of the code that wrote this table: `feedbeef`" in md
        assert "`c0ffee` (12)" in md and "- runs: 12 of 12 finished" in md
        assert hashlib.sha256(path.read_bytes()).hexdigest() in md
    meta = json.loads((out / "toy_meta.json").read_text())
    assert meta["overrides"] == {"epochs": "2", "seeds": "0-2", "width": "0.25"}
    assert meta["recorded_design"] is False and meta["title"] == prefix + TITLE and meta["recorded_title"] == TITLE
    assert meta["commit"] == "feedbeef" and meta["config_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert set(meta["files"]) == {"toy.csv", "toy_long.csv", "toy.md", "toy_paired.csv", "toy_paired.md",
                                  "toy_stats.csv", "toy_stats.md"}
    assert (out / "toy.csv").read_text().splitlines()[0] == "density,Random,Magnitude"  # plain data for pandas


def test_a_table_without_overrides_keeps_its_title(tmp_path, monkeypatch):
    """The recorded design: the title as written; an override equal to the file's value changes no run."""
    path = _table(tmp_path)
    runs, out = tmp_path / "runs", tmp_path / "out"
    _finish(T.load_table(path), runs)
    monkeypatch.delenv("SKETCHBOUND_COMMIT", raising=False)
    assert T.main([str(path), "--no-train", "--runs-dir", str(runs), "--out", str(out)]) == 0
    md = (out / "toy.md").read_text()
    assert md.startswith(f"# {TITLE}\n\n| density | Random | Magnitude |")
    assert "Not the recorded design" not in md and "none (the file's recorded design)" in md
    assert re.search(r"commit of the code that wrote this table: `([0-9a-f]{40}(-dirty)?|unknown)`", md)
    assert T.main([str(path), "--no-train", "--epochs", "160", "--device", "cpu", "--runs-dir", str(runs),
                   "--out", str(out)]) == 0
    md = (out / "toy.md").read_text()
    assert md.startswith(f"# {TITLE}\n") and "epochs=160 (the same runs as the file's design)" in md
    assert "- options: device=cpu" in md


def test_every_column_of_every_markdown_is_explained(tmp_path):
    path = _table(tmp_path)
    runs, out = tmp_path / "runs", tmp_path / "out"
    _finish(T.load_table(path), runs)
    assert T.main([str(path), "--no-train", "--stats", "--runs-dir", str(runs), "--out", str(out)]) == 0
    for name in ("toy.md", "toy_paired.md", "toy_stats.md"):
        md = (out / name).read_text()
        legend = md[md.index("Columns"):md.index("## What ran")]
        cols = _columns(md)
        assert len(cols) >= 3
        for col in cols:
            assert f"- `{col}`:" in legend or f"- {col}:" in legend or f"`{col}`" in legend, (name, col)
    stats = (out / "toy_stats.md").read_text()
    assert "c_q50" in _columns(stats) and "the constant c of Theorem 4.4" in stats


def test_dry_run_estimates_from_recorded_runs_else_documented_rates(tmp_path, capsys):
    path = _table(tmp_path)
    runs = tmp_path / "runs"
    spec = T.load_table(path)
    T.main([str(path), "--dry-run", "--runs-dir", str(runs), "--device", "cpu"])
    out = capsys.readouterr().out
    rate = E.RATES[("lenet300100", "cpu")][0]
    assert "8 run(s) to train in 8 group(s) of up to 1 at once on cpu" in out and "documented rate" in out
    chunks = [[c] for c in T.distinct_runs(spec)]
    one = rate * 0.05 ** 2 * 160 * 96  # the documented CPU rate scaled by width²
    assert E.estimate(chunks, runs, "cpu")["seconds"] == pytest.approx(8 * one)
    assert E.estimate([chunks[0] + chunks[1]], runs, "cpu")["seconds"] == pytest.approx(2 * one)  # a group: the sum
    # two finished runs of the same model, width and dataset recorded 4.8 s for 160 epochs of 96 images
    done = T.load_table(path, seeds=1)
    done.variants = done.variants[:1]
    done.grid["seed"] = [5]
    _finish(done, runs, wall_s=4.8)
    T.main([str(path), "--dry-run", "--runs-dir", str(runs), "--device", "cpu"])
    out = capsys.readouterr().out
    assert "2/8 finished" in out and "6 run(s) to train" in out
    assert "median of 2 finished lenet300100 runs" in out and "estimated time ≈ 29 s" in out  # 6 × 4.8 s
    assert E.estimate([[c] for c in T.distinct_runs(T.load_table(path, overrides={"model": "resnet18"}))],
                      runs, "cpu")["seconds"] is None


def test_training_shows_one_bar_over_all_runs(tmp_path, capsys):
    """Tiny CPU runs with overrides: "run k/N" with a time estimate on stderr, overrides in the tables."""
    pytest.importorskip("sketchbound.dnn.models")
    root = tmp_path / "data"
    _write_cifar10(root)
    path = _table(tmp_path, root)
    runs, out = tmp_path / "runs", tmp_path / "out"
    assert T.main([str(path), "--epochs", "1", "--seeds", "1", "--set", "density=0.5", "--device", "cpu",
                   "--runs-dir", str(runs), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "2 run(s) to train in 2 group(s) of up to 1 at once on cpu; estimated time" in err
    assert "run 2/2" in err and "elapsed" in err and "left ~" in err
    md = (out / "toy.md").read_text()
    assert md.startswith(f"# [overridden: epochs=1, seeds=0, density=0.5] {TITLE}")
    assert "- runs: 2 of 2 finished" in md


def test_overrides_that_make_an_invalid_file_valid_are_reported(tmp_path):
    """A file whose own runs are no valid config (density 1.5) written with --set density=0.5: the table is
    written, marked as not the recorded design, instead of a traceback."""
    p = tmp_path / "bad.toml"
    p.write_text(to_toml({"table": {"name": "bad", "title": "bad", "rows": ["model"]},
                          "base": {"dataset": "cifar10", "density": 1.5, "epochs": 1, "train_subset": 96, "batch_size": 32},
                          "grid": {"model": ["lenet300100"], "seed": [0]},
                          "variant": [{"name": "Random", "method": "random", "mask": "global"}]}))
    runs, out = tmp_path / "runs", tmp_path / "out"
    _finish(T.load_table(p, overrides={"density": 0.5}), runs)
    assert T.main([str(p), "--no-train", "--set", "density=0.5", "--runs-dir", str(runs), "--out", str(out)]) == 0
    md = (out / "bad.md").read_text()
    assert md.startswith("# [overridden: density=0.5] bad\n") and "**Not the recorded design:** 1 of these 1 runs" in md
