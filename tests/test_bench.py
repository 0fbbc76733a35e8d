"""``python -m sketchbound.bench`` in-process at tiny sizes: the table, JSON, --out, one-line errors."""
import json
import os

import pytest

from sketchbound import bench


def test_bench_tiny_run_writes_table(tmp_path, capsys):
    out = tmp_path / "sub" / "bench.md"
    assert bench.main(["--d", "3000", "--s", "2000", "--big-d", "5000", "--big-s", "700", "--repeats", "1",
                       "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    whole = out.read_text()
    assert whole.startswith(bench.BEGIN) and whole.endswith(bench.END)
    text = whole[len(bench.BEGIN):-len(bench.END)]
    assert text in printed + "\n"
    assert "| sketchbound.algorithm1_counts |" in text and "algorithm1_sparse" in text
    assert "d = s = 3e+03" in text and "d = 5e+03, s = 7e+02" in text
    assert not [f for f in os.listdir(out.parent) if f.endswith(".tmp")]


def test_bench_out_replaces_only_its_own_block(tmp_path, capsys):
    """A shared results file (benchmarks/RESULTS.md holds GPU sections too): --out replaces the text
    between the benchmark's markers and keeps every byte before and after them."""
    out = tmp_path / "RESULTS.md"
    before, after = "# Results\nintro\n", "\n## GPU section\n| a | b |\n"
    out.write_text(before + bench.BEGIN + "old table\n" + bench.END + after)
    assert bench.main(["--d", "2000", "--s", "2000", "--big-d", "0", "--repeats", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith(before + bench.BEGIN) and text.endswith(bench.END + after)
    assert "old table" not in text and "| sketchbound.algorithm1_counts |" in text
    capsys.readouterr()


def test_bench_json(capsys):
    assert bench.main(["--d", "2000", "--s", "2000", "--big-d", "0", "--repeats", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["d"] == 2000 and r["s"] == 2000 and "big_d" not in r
    assert r["algorithm1_s"] > 0 and r["speedup_vs_multinomial"] > 0


@pytest.mark.parametrize("argv,msg", [
    (["--repeats", "0"], "--repeats must be an integer >= 1"),
    (["--repeats", "x"], "--repeats must be an integer >= 1"),
    (["--bogus"], "unrecognized arguments"),
    (["--d", "-5"], "--d must be an integer >= 1"),
    (["--out", "/proc/x"], "not writable"),
])
def test_bench_usage_errors_are_one_line_exit_2_before_running(argv, msg, capsys, monkeypatch):
    ran = []
    monkeypatch.setattr(bench, "run", lambda **kw: ran.append(kw) or pytest.fail("the benchmark ran"))
    with pytest.raises(SystemExit) as e:
        bench.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and msg in err and "usage:" not in err, err
    assert not ran
