"""Bad config files and flags of `dnn.run` / `dnn.table`: exit 2 with one line naming the problem, before
any training (issue 10, item 4). In-process (`main(argv)`), no data needed: every case fails first."""
import pytest

pytest.importorskip("torch")

from sketchbound.dnn.experiments import run as R  # noqa: E402
from sketchbound.dnn.experiments import table as T  # noqa: E402

GOOD_TABLE = '[table]\nname = "x"\nrows = ["density"]\n[grid]\ndensity = [0.1]\n[[variant]]\nname = "a"\nmethod = "magnitude"\n'

TABLE_CASES = [
    ('table = 5\n[[variant]]\nname = "a"\n', "'table' must be"),
    ('[table]\nname = "x"\n[base]\nepochs = 1\n[[variant]]\nname = "a"\n', "row key"),
    (GOOD_TABLE.replace('name = "x"', 'name = "../../x"'), "plain file name"),
    (GOOD_TABLE.replace("density = [0.1]", "density = []"), "has no values"),
    (GOOD_TABLE + "grid2 = 5\n", "unknown"),
    ('[table]\nname = "x"\nrows = ["density"]\ngrid = 5\n[[variant]]\nname = "a"\n', "row key"),
    ("variant = 5\n[table]\nname = 'x'\n", "variant"),
    (GOOD_TABLE + '[[compare]]\na = "a"\nb = "zzz"\n', "compare"),
    # IMP rewind k past a level / the final training, refused before any run trains or any data loads:
    # 256 images / batch 128 = 2 steps per epoch (imp_epochs 1: a level has 2 steps; epochs 1: 2 final steps)
    (GOOD_TABLE.replace('"magnitude"', '"imp"') + "[base]\ntrain_subset = 256\nimp_epochs = 1\nimp_rewind = 2\n",
     "imp_rewind=2 must be smaller than an IMP level's 2 steps"),
    (GOOD_TABLE.replace('"magnitude"', '"imp"') + "[base]\ntrain_subset = 256\nepochs = 1\nimp_epochs = 3\n"
     "imp_rewind = 2\n", "imp_rewind=2 must be smaller than the final training's 2 steps"),
]


@pytest.mark.parametrize("text,needle", TABLE_CASES)
def test_bad_table_files(tmp_path, capsys, text, needle):
    f = tmp_path / "t.toml"
    f.write_text(text)
    with pytest.raises(SystemExit) as e:
        T.main([str(f), "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and needle in err[0], err


@pytest.mark.parametrize("flags,needle", [
    (["--concurrent", "-1"], "--concurrent"), (["--epochs", "0"], "--epochs"), (["--seeds", "0"], "--seeds"),
    (["--out", "/proc/x"], "--out"), (["--runs-dir", "/proc/x"], "--runs-dir"), (["--set", "nope=1"], "nope"),
])
def test_bad_table_flags(tmp_path, capsys, flags, needle):
    f = tmp_path / "t.toml"
    f.write_text(GOOD_TABLE)
    argv = [str(f), "--no-progress"] + (["--runs-dir", str(tmp_path / "r")] if "--runs-dir" not in flags else []) + flags
    with pytest.raises(SystemExit) as e:
        T.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and needle in err[0], err


RUN = ["--model", "lenet300100", "--dataset", "fashion-mnist", "--method", "magnitude", "--no-progress"]


@pytest.mark.parametrize("extra,toml,needle", [
    (["--device", "bogus"], None, "--device"),
    (["--seed", str(2**64)], None, "seed"),
    (["--density", "0"], None, "density"),
    (["--runs-dir", "/proc/x"], None, "--runs-dir"),
    ([], "run = 5\n", "'run' must be a table"),
    ([], "density = 0.1\n[run]\nmethod = 'snip'\n", "beside the [run] table"),
    ([], "[run]\nbogus = 1\n", "unknown config keys"),
    # Fashion-MNIST has at most 60,000 training images: 468 steps per epoch, so 1 epoch per level is 468 steps
    (["--method", "imp", "--imp-epochs", "1", "--imp-rewind", "468"], None, "imp_rewind=468 must be smaller"),
])
def test_bad_run_flags_and_files(tmp_path, capsys, extra, toml, needle):
    argv = RUN + ["--runs-dir", str(tmp_path / "runs")] + extra
    if toml is not None:
        (tmp_path / "c.toml").write_text(toml)
        argv += ["--config", str(tmp_path / "c.toml")]
    with pytest.raises(SystemExit) as e:
        R.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing started


def test_bad_pad_to_is_one_line(tmp_path, capsys, fmnist_root):
    """pad_to is checked against the real images, so this case needs the data (skipped without it)."""
    with pytest.raises(SystemExit) as e:
        R.main(RUN + ["--runs-dir", str(tmp_path / "runs"), "--pad-to", "27", "--data-root", str(fmnist_root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and "pad_to" in err[-1] and "Traceback" not in "\n".join(err)
