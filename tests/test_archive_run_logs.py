"""dnn/scripts/archive_run_logs.py: the recorded runs' logs move into one archive per runs folder,
losslessly (read back byte for byte), incrementally, and never overwriting a member."""
import importlib.util
import tarfile
from pathlib import Path

import pytest

_path = Path(__file__).resolve().parents[1] / "dnn" / "scripts" / "archive_run_logs.py"
_spec = importlib.util.spec_from_file_location("archive_run_logs", _path)
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)


def _run(runs: Path, name: str, log: str) -> Path:
    d = runs / name
    d.mkdir(parents=True)
    (d / "result.json").write_text('{"accuracy": 1.0}')
    (d / "config.json").write_text("{}")
    (d / "config.toml").write_text(f"[run]\nname = '{name}'\n")
    (d / "log.txt").write_text(log)
    return d


def _members(runs: Path) -> dict:
    with tarfile.open(runs / A.ARCHIVE, "r:xz") as tf:
        return {m.name: tf.extractfile(m).read().decode() for m in tf.getmembers()}


def test_logs_move_into_the_archive_and_results_stay(tmp_path):
    runs = tmp_path / "t_runs"
    a, b = _run(runs, "a", "epoch 1\n"), _run(runs, "b", "epoch 1\nepoch 2\n")
    assert A.main([str(runs)]) == 0
    assert _members(runs) == {"a/log.txt": "epoch 1\n", "a/config.toml": "[run]\nname = 'a'\n",
                              "b/log.txt": "epoch 1\nepoch 2\n", "b/config.toml": "[run]\nname = 'b'\n"}
    for d in (a, b):
        assert sorted(p.name for p in d.iterdir()) == ["config.json", "result.json"]
    first = (runs / A.ARCHIVE).read_bytes()
    assert A.archive(runs) == (0, 4) and (runs / A.ARCHIVE).read_bytes() == first  # nothing loose: unchanged
    _run(runs, "c", "epoch 1 (later)\n")
    assert A.archive(runs) == (2, 6) and _members(runs)["c/log.txt"] == "epoch 1 (later)\n"
    assert _members(runs)["a/log.txt"] == "epoch 1\n"


def test_a_conflicting_loose_file_changes_nothing(tmp_path, capsys):
    runs = tmp_path / "t_runs"
    _run(runs, "a", "epoch 1\n")
    A.archive(runs)
    before = (runs / A.ARCHIVE).read_bytes()
    (runs / "a" / "log.txt").write_text("another log\n")
    with pytest.raises(SystemExit) as e:
        A.main([str(runs)])
    assert e.value.code == 2 and "already holds a/log.txt" in capsys.readouterr().err
    assert (runs / A.ARCHIVE).read_bytes() == before and (runs / "a" / "log.txt").is_file()
    with pytest.raises(SystemExit) as e:
        A.main([str(tmp_path / "missing")])
    assert e.value.code == 2
