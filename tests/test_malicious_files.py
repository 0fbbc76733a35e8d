"""No code runs from a data file: crafted checkpoints, masks and CIFAR batches are refused by name and
their code never runs; compressed IDX files are decompressed only up to the size their header declares;
a bad data folder or results file is named in one line."""
import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sketchbound.dnn.training.checkpoint import MAGIC, conditions, load_verified, save_verified  # noqa: E402


class _Evil:
    """Unpickling this runs ``touch marker`` — if anything unpickles it unrestricted."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _forge(path: Path, obj, identity: dict) -> None:
    """A verified file holding ``obj``, with the digest recomputed (as an attacker would)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getvalue()
    core = {"bytes": len(payload), "identity": identity, "conditions": conditions("cpu")}
    digest = hashlib.sha256(json.dumps(core, sort_keys=True).encode() + payload).hexdigest()
    path.write_bytes(MAGIC + json.dumps({"core": core, "sha256": digest}, sort_keys=True).encode() + b"\n" + payload)


# ------------------------------------------------------------------------------------ checkpoints and masks
def test_the_crafted_object_would_run_code_if_unpickled_unrestricted(tmp_path):
    import pickle
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Evil(marker)))
    assert marker.exists()  # so "marker absent" below means "refused", not "the payload was inert"


def test_forged_checkpoint_with_valid_digest_is_refused_and_runs_nothing(tmp_path):
    ident = {"kind": "checkpoint", "name": "r", "seed": 0}
    marker = tmp_path / "marker"
    p = tmp_path / "checkpoint.pt"
    _forge(p, {"model": {"w": torch.ones(2)}, "epoch": 1, "x": _Evil(marker)}, ident)
    with pytest.raises(ValueError) as e:
        load_verified(p, identity=ident)
    msg = str(e.value)
    assert str(p) in msg and "refused" in msg and "\n" not in msg
    assert not marker.exists()


def test_verified_files_hold_only_tensors_and_plain_data(tmp_path):
    ident = {"kind": "mask"}
    p = tmp_path / "m.pt"
    obj = {"masks": {"a": torch.zeros(3)}, "start_step": 0, "init_state": None,
           "extra": {"levels": [1, 2.5, None, True, "s"], "n": np.int64(7), "t": (1, 2)}}
    save_verified(p, obj, identity=ident)
    back = torch.load(io.BytesIO(p.read_bytes().split(b"\n", 2)[2]), weights_only=True)  # readable as such
    assert back["extra"]["n"] == 7 and type(back["extra"]["n"]) is int and back["extra"]["t"] == (1, 2)
    assert load_verified(p, identity=ident)[0]["extra"]["levels"] == [1, 2.5, None, True, "s"]
    with pytest.raises(TypeError, match=r"obj\['extra'\]\['rng'\].*numpy.random"):
        save_verified(p, {"extra": {"rng": np.random.default_rng(0)}}, identity=ident)


def test_checkpoint_path_that_is_a_directory_is_named(tmp_path):
    d = tmp_path / "checkpoint.pt"
    d.mkdir()
    for call in (lambda: load_verified(d, identity={}), lambda: save_verified(d, {"a": 1}, identity={})):
        with pytest.raises(ValueError, match="checkpoint.pt: is a directory"):
            call()


def _write_cifar10(root: Path, n=40):
    import pickle
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        y = rng.integers(0, 10, n)
        x = (rng.integers(0, 100, (n, 3072)) + 15 * y[:, None]).astype(np.uint8)
        with open(d / name, "wb") as f:
            pickle.dump({b"batch_label": b"s", b"labels": y.tolist(), b"data": x, b"filenames": [b"f"] * n}, f,
                        protocol=2)
    return d


def test_run_cli_refuses_forged_checkpoint_mask_and_a_directory_in_one_line(tmp_path, capsys):
    """dnn.run on a run folder whose checkpoint.pt / mask.pt was crafted to run code (digest recomputed),
    or whose checkpoint.pt is a directory: exit 2, one line naming the file, before training, no code run."""
    pytest.importorskip("sketchbound.dnn.models")
    from sketchbound.dnn.experiments import run as R
    root = tmp_path / "data"
    _write_cifar10(root)
    argv = ["--model", "lenet300100", "--dataset", "cifar10", "--method", "magnitude", "--density", "0.3",
            "--width", "0.05", "--epochs", "1", "--batch-size", "32", "--train-subset", "64", "--data-root", str(root),
            "--runs-dir", str(tmp_path / "runs"), "--no-progress", "--seed", "3"]
    assert R.main(argv) == 0
    d = Path(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"])
    (d / "result.json").unlink()
    good_ck, good_mask = (d / "checkpoint.pt").read_bytes(), (d / "mask.pt").read_bytes()
    marker = tmp_path / "marker"
    mask_identity = json.loads(good_mask[len(MAGIC):].split(b"\n", 1)[0])["core"]["identity"]
    cases = {
        "checkpoint.pt": lambda: _forge(d / "checkpoint.pt", {"format": _Evil(marker)},
                                        {"kind": "checkpoint", "name": d.name, "seed": 3}),
        "mask.pt": lambda: _forge(d / "mask.pt", {"masks": _Evil(marker)}, mask_identity),
    }
    for fname, forge in cases.items():
        (d / "checkpoint.pt").write_bytes(good_ck)
        (d / "mask.pt").write_bytes(good_mask)
        forge()
        with pytest.raises(SystemExit) as e:
            R.main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2 and "Traceback" not in "\n".join(err)
        assert err[-1].startswith("python -m sketchbound.dnn.run: error:") and fname in err[-1]
        assert "refused" in err[-1] and not marker.exists()
    (d / "mask.pt").write_bytes(good_mask)
    (d / "checkpoint.pt").unlink()
    (d / "checkpoint.pt").mkdir()
    with pytest.raises(SystemExit) as e:
        R.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and "checkpoint.pt: is a directory" in err[-1] and not (d / "result.json").exists()


# ------------------------------------------------------------------------------------ CIFAR batches
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_valid_synthetic_cifar_batches_read_under_every_pickle_protocol(tmp_path, protocol):
    import pickle
    from sketchbound.dnn.data import load_cifar10
    d = _write_cifar10(tmp_path, n=4)
    x = np.arange(4 * 3072, dtype=np.uint8).reshape(4, 3072)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (d / name).write_bytes(pickle.dumps({b"labels": [0, 1, 2, 9], b"data": x, b"filenames": [b"a"] * 4},
                                            protocol=protocol))
    ds = load_cifar10(tmp_path)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.y_test.tolist() == [0, 1, 2, 9]
    assert int(ds.x_test[1, 2, 5, 7]) == int(x[1, 2 * 1024 + 5 * 32 + 7])


@pytest.mark.parametrize("batch", ["data_batch_3", "test_batch"])
def test_crafted_cifar_batch_is_refused_by_name_and_runs_nothing(tmp_path, batch):
    import pickle
    from sketchbound.dnn.data import load_cifar10
    d = _write_cifar10(tmp_path, n=4)
    marker = tmp_path / "marker"
    (d / batch).write_bytes(pickle.dumps({b"labels": [0] * 4, b"data": _Evil(marker)}, protocol=2))
    with pytest.raises(ValueError) as e:
        load_cifar10(tmp_path)
    msg = str(e.value)
    assert str(d / batch) in msg and "system" in msg and "refused" in msg and "\n" not in msg
    assert not marker.exists()


@pytest.mark.parametrize("content,needle", [
    (b"", "not a readable CIFAR batch"),
    (b"\x80\x02}q\x00(", "not a readable CIFAR batch"),  # truncated pickle
    (b"garbage bytes, not a pickle", "not a readable CIFAR batch"),
    ("list", "expected a dict"),
    ("float", "uint8 array of shape (N, 3072)"),
    ("labels", "must lie in [0, 10)"),
])
def test_malformed_cifar_batch_is_named(tmp_path, content, needle):
    import pickle
    from sketchbound.dnn.data import load_cifar10
    d = _write_cifar10(tmp_path, n=4)
    x = np.zeros((4, 3072), np.uint8)
    content = {"list": pickle.dumps([1, 2]), "float": pickle.dumps({b"labels": [0] * 4, b"data": x / 2}),
               "labels": pickle.dumps({b"labels": [0, 1, 2, 10], b"data": x})}.get(content, content)
    (d / "data_batch_1").write_bytes(content)
    with pytest.raises(ValueError) as e:
        load_cifar10(tmp_path)
    assert str(d / "data_batch_1") in str(e.value) and needle in str(e.value)
