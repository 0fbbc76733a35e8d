"""Bad config files and flags of `dnn.run` / `dnn.table`: exit 2 with one line naming the problem, before
any training. In-process (`main(argv)`), no data needed: every case fails first."""
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


# ---- impossible work, malformed fields and table inputs, all refused before any run starts
@pytest.mark.parametrize("text,needle", [
    (GOOD_TABLE.replace('rows = ["density"]', "rows = 5"), "rows must be a list"),
    (GOOD_TABLE.replace('rows = ["density"]', 'rows = ["density"]\nconcurrent = "x"'), "concurrent must be an integer"),
    (GOOD_TABLE.replace('rows = ["density"]', 'rows = ["density"]\ntranspose = "yes"'), "transpose must be true or false"),
    (GOOD_TABLE + "[base]\ntrain_subset = 100\nbatch_size = 128\n", "batch_size 128 exceeds the 100 training images"),
    (GOOD_TABLE + "[base]\nmask = {a=1}\n", "mask must be a string"),
])
def test_bad_table_fields_are_one_line(tmp_path, capsys, text, needle):
    f = tmp_path / "t.toml"
    f.write_text(text)
    with pytest.raises(SystemExit) as e:
        T.main([str(f), "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing started


@pytest.mark.parametrize("flags,needle", [
    (["--seeds", "100000000000"], "--seeds must be an integer >= 1 and <= 10000"),
    (["--epochs", "100000"], "--epochs must be an integer >= 1 and <= 10000"),
    (["--set", "width=1e6"], "--width 1e+06 needs ~"),
    (["--set", "epochs=9223372036854775807"], "epochs must be <= 10000"),
    (["--set", "lr=1e308"], "lr must be <= 10"),
    (["--device", "bogus"], "--device must be a torch device"),
    (["--lock-wait", "-1"], "--lock-wait must be a number of seconds >= 0"),
])
def test_table_refuses_impossible_work_up_front(tmp_path, capsys, flags, needle):
    f = tmp_path / "t.toml"
    f.write_text(GOOD_TABLE)
    with pytest.raises(SystemExit) as e:
        T.main([str(f), "--runs-dir", str(tmp_path / "runs"), "--no-progress"] + flags)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("extra,toml,needle", [
    ([], "[run]\nmask = {a=1}\n", "mask must be a string, one of global"),
    ([], "[run]\nlr = 1e308\n", "lr must be <= 10"),
    ([], "[run]\nlr = 0.0\n", "lr must be > 0"),
    ([], "[run]\nepochs = 9223372036854775807\n", "epochs must be <= 10000"),
    ([], "[run]\nwidth = 1e6\n", "--width 1e+06 needs ~"),
    (["--width", "1e6"], None, "--width 1e+06 needs ~"),
    (["--width", "1e300"], None, "--width 1e+300 needs more than 1e308 bytes"),
    (["--train-subset", "100", "--batch-size", "128"], None, "batch_size 128 exceeds the 100 training images"),
    (["--lock-wait", "x"], None, "--lock-wait must be a number of seconds"),
])
def test_run_refuses_impossible_work_up_front(tmp_path, capsys, extra, toml, needle):
    argv = RUN + ["--runs-dir", str(tmp_path / "runs")] + extra
    if toml is not None:
        (tmp_path / "c.toml").write_text(toml)
        argv += ["--config", str(tmp_path / "c.toml")]
    with pytest.raises(SystemExit) as e:
        R.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_prune_refuses_a_network_too_large_without_building_it(capsys):
    from sketchbound.dnn.experiments import prune as P
    with pytest.raises(SystemExit) as e:
        P.main(["--model", "resnet20", "--dataset", "fashion-mnist", "--width", "1000"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1, err
    assert "--width 1000 needs ~4.4 TB" in err[0] and "2.72e+11 parameters" in err[0] and "--force" in err[0]


def test_table_with_a_truncated_dataset_is_one_line_before_training(tmp_path, capsys, fmnist_root):
    """A truncated IDX file (the first 1000 bytes of the training images): one line, exit 2, no run trained."""
    bad = tmp_path / "fm"
    bad.mkdir()
    for f in sorted(__import__("pathlib").Path(fmnist_root).iterdir()):
        if "idx" in f.name:
            data = f.read_bytes()
            (bad / f.name).write_bytes(data[:1000] if f.name.startswith("train-images") else data)
    t = tmp_path / "t.toml"
    t.write_text(GOOD_TABLE + "[base]\ndataset = \"fashion-mnist\"\nmodel = \"lenet300100\"\n")
    rc = T.main([str(t), "--runs-dir", str(tmp_path / "runs"), "--no-progress", "--data-root", str(bad), "--epochs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "python -m sketchbound.dnn.table: error:" in err[0], err
    assert not list((tmp_path / "runs").glob("*/result.json")) and not list((tmp_path / "runs").glob("*/checkpoint.pt"))
