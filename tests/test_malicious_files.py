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


# ------------------------------------------------------------------------------------ IDX files and the data check
def _idx(dims, payload: bytes, type_byte=8) -> bytes:
    return bytes([0, 0, type_byte, len(dims)]) + b"".join(int(n).to_bytes(4, "big") for n in dims) + payload


def _gz_bomb(path: Path, header: bytes, zeros: int) -> None:
    """``header`` then ``zeros`` zero bytes, gzip-compressed chunk by chunk (a file of a few hundred kB)."""
    import zlib
    c = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: gzip container
    chunk = bytes(1 << 22)
    with open(path, "wb") as f:
        f.write(c.compress(header))
        for _ in range(zeros // len(chunk)):
            f.write(c.compress(chunk))
        f.write(c.flush())


def test_gzip_bomb_behind_a_small_header_is_refused_without_decompressing_it(tmp_path):
    import time
    import tracemalloc
    from sketchbound.data import read_idx
    p = tmp_path / "train-labels-idx1-ubyte.gz"
    _gz_bomb(p, _idx([10], b""), 300 << 20)  # 300 MB of zeros behind a header declaring 10 bytes
    assert p.stat().st_size < 4 << 20  # a few MB on disk
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ValueError) as e:
            read_idx(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(p) in str(e.value) and "trailing data" in str(e.value)
    assert peak < 32 << 20 and time.perf_counter() - t0 < 5  # one chunk decompressed, not 300 MB


@pytest.mark.parametrize("dims,needle", [
    ([2**31 - 1] * 3, "overflow int64"),  # 9.9e27 bytes
    ([60000, 60000, 60000], "more than the"),  # 2e14 bytes: over the cap, refused before reading
])
def test_idx_header_with_huge_dims_is_refused_by_name(tmp_path, dims, needle):
    from sketchbound.data import read_idx
    for name, write in (("x.gz", lambda p, b: _gz_bomb(p, b, 8 << 20)), ("x", lambda p, b: p.write_bytes(b))):
        p = tmp_path / name
        write(p, _idx(dims, b"\0" * 64))
        with pytest.raises(ValueError) as e:
            read_idx(p)
        assert str(p) in str(e.value) and needle in str(e.value) and str(dims) in str(e.value)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("damage,needle", [
    (lambda b: b[:-3], "truncated"),
    (lambda b: b + b"\1\2", "trailing data"),
    (lambda b: b[:6], "truncated IDX header"),
    (lambda b: b"", "empty file"),
])
def test_truncated_or_padded_idx_is_named(tmp_path, gz, damage, needle):
    import gzip
    from sketchbound.data import read_idx
    good = _idx([2, 3], bytes(range(6)))
    assert read_idx_bytes(tmp_path, good, gz).tolist() == [[0, 1, 2], [3, 4, 5]]
    p = tmp_path / "bad"
    raw = damage(good)
    p.write_bytes(gzip.compress(raw) if gz and raw else raw)
    with pytest.raises(ValueError) as e:
        read_idx(p)
    assert str(p) in str(e.value) and needle in str(e.value)


def read_idx_bytes(tmp_path, raw: bytes, gz: bool):
    import gzip
    from sketchbound.data import read_idx
    p = tmp_path / "good"
    p.write_bytes(gzip.compress(raw) if gz else raw)
    return read_idx(p)


def _idx_folder(d: Path, n_train=5, n_test=3) -> Path:
    import gzip
    d.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        (d / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx([n, 4, 4], bytes(16 * n))))
        (d / f"{split}-labels-idx1-ubyte").write_bytes(_idx([n], bytes(n)))
    return d


@pytest.mark.parametrize("case", ["truncated", "empty", "count mismatch"])
def test_data_check_does_not_call_a_bad_idx_folder_found(tmp_path, case, capsys):
    import re
    from sketchbound.data import main
    d = _idx_folder(tmp_path / "fm")
    bad = d / "train-labels-idx1-ubyte"
    if case == "truncated":
        bad.write_bytes(bad.read_bytes()[:-2])
    elif case == "empty":
        for f in d.iterdir():
            f.write_bytes(b"")
        bad = d / "train-images-idx3-ubyte.gz"
    else:
        bad.write_bytes(_idx([4], bytes(4)))
    rc = main(["--data-root", str(d)])
    out, err = capsys.readouterr()
    assert rc == 2 and err.count("\n") == 1
    assert not re.search(r"^\S+\s+found ", out, re.M) and "invalid" in out and str(bad) in err


def test_data_check_finds_a_valid_idx_folder(tmp_path, capsys):
    from sketchbound.data import main
    d = _idx_folder(tmp_path / "fm")
    assert main(["--data-root", str(d)]) == 0 and f"fashion-mnist  found      {d}" in capsys.readouterr().out


# ------------------------------------------------------------------------------------ results and configs
@pytest.mark.parametrize("content,needle", [
    (bytes(range(256)), "unreadable result"),  # binary
    (b"{\"accuracy\": 0.9", "unreadable result"),  # truncated JSON
    (b"[1, 2]", "expected an object"),
])
def test_garbage_result_json_is_named(tmp_path, content, needle):
    from sketchbound.dnn.experiments import run as R
    from sketchbound.dnn.experiments.config import RunConfig
    cfg = RunConfig(model="lenet300100", dataset="cifar10", method="magnitude", density=0.3).resolved()
    p = cfg.run_dir(tmp_path) / "result.json"
    p.parent.mkdir(parents=True)
    p.write_bytes(content)
    with pytest.raises(ValueError) as e:
        R.load_result(cfg, tmp_path)
    assert str(p) in str(e.value) and needle in str(e.value) and "delete it" in str(e.value)
    assert "\n" not in str(e.value)


def test_binary_config_file_is_named_in_one_line(tmp_path, capsys):
    from sketchbound.dnn.experiments import run as R
    from sketchbound.dnn.experiments.config import read_toml
    p = tmp_path / "c.toml"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(ValueError, match="c.toml: not a TOML text file"):
        read_toml(p)
    with pytest.raises(SystemExit) as e:
        R.main(["--config", str(p), "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and str(p) in err and "Traceback" not in err


# ------------------------------------------------------------------------------------ --claims-from
def test_claims_from_says_it_executes_the_file_and_refuses_an_exit_in_one_line(tmp_path, capsys):
    from sketchbound.claims import load_claims
    from sketchbound.validate import build_parser, main
    text = " ".join(build_parser().format_help().split())
    assert "EXECUTED as Python code with your privileges" in text and "os._exit" in text
    assert "executed as Python code" in load_claims.__doc__
    for body, needle in (("import sys\nsys.exit(0)\n", "raised SystemExit"), ("x = 1\n", "registers no claim")):
        p = tmp_path / "c.py"
        p.write_text(body)
        with pytest.raises(SystemExit) as e:
            main(["--claims-from", str(p), "--all", "--no-progress"])
        out, err = capsys.readouterr()
        assert e.value.code == 2 and out == "" and err.count("\n") == 1 and str(p) in err and needle in err


def test_crafted_tiny_imagenet_cache_is_refused_and_runs_nothing(tmp_path):
    import pickle
    from sketchbound.dnn.data import load_tiny_imagenet
    d = tmp_path / "tiny-imagenet-200"
    (d / "train").mkdir(parents=True)
    (d / "val").mkdir()
    (d / "wnids.txt").write_text("n0\n")
    (d / "val" / "val_annotations.txt").write_text("")
    marker = tmp_path / "marker"
    cache = d / "sketchbound-cache-8.npz"
    for content in (pickle.dumps(_Evil(marker)), None):
        if content is None:  # an npz whose arrays are objects (pickled inside)
            np.savez(cache, xtr=np.array([_Evil(marker)], dtype=object), ytr=0, xte=0, yte=0, k=1)
        else:
            cache.write_bytes(content)
        with pytest.raises(ValueError) as e:
            load_tiny_imagenet(tmp_path, image_size=8)
        assert str(cache) in str(e.value) and "delete it" in str(e.value) and not marker.exists()
