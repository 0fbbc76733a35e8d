import gzip
import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from sketchbound.dnn.idx import DEFAULT_ROOTS, find_idx_files, load_idx_dataset, read_idx
from sketchbound.dnn.prune import main

FMNIST = DEFAULT_ROOTS["fashion-mnist"]
HAVE_FMNIST = all(os.path.exists(os.path.join(FMNIST, f)) for f in
                  ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"])


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "sketchbound.dnn.prune", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.skipif(not HAVE_FMNIST, reason=f"Fashion-MNIST IDX files absent from {FMNIST} (apt-get install dataset-fashion-mnist)")
def test_cli_resnet20_on_real_fashion_mnist(tmp_path):
    save = tmp_path / "mask.pt"
    args = ["--model", "resnet20", "--dataset", "fashion-mnist", "--method", "snip", "--inputs", "real",
            "--mask", "randomized", "--density", "0.05", "--seed", "0", "--batch-size", "16", "--json",
            "--save", str(save)]
    r = _cli(*args)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["kept"] == round(0.05 * rep["total"]) and rep["inputs"] == "real"
    assert sum(row["kept"] for row in rep["layers"]) == rep["kept"]
    assert rep["mean_abs_kept"] > rep["mean_abs_all"]
    saved = torch.load(save)
    assert sum(int(m.sum()) for m in saved["masks"].values()) == rep["kept"]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]
    again = _cli(*args[:-2])
    assert json.loads(again.stdout)["layers"] == rep["layers"]  # same seed ⇒ same mask


@pytest.mark.skipif(not HAVE_FMNIST, reason=f"Fashion-MNIST IDX files absent from {FMNIST}")
def test_cli_table_synflow_chi_and_normal(capsys):
    assert main(["--model", "resnet20", "--method", "synflow", "--inputs", "chi", "--mask", "randomized",
                 "--density", "0.05", "--rounds", "3", "--image-size", "16"]) == 0
    out = capsys.readouterr().out
    assert "blocks.3.shortcut.0.weight" in out and "mean|w| kept" in out
    assert main(["--model", "resnet20", "--method", "grasp", "--inputs", "normal", "--mask", "layerwise",
                 "--density", "0.1", "--batch-size", "8", "--width", "0.25", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kept_density"] == pytest.approx(0.1, abs=1e-4)


@pytest.mark.parametrize("args,needle", [
    (["--model", "resnet20", "--method", "snip", "--density", "1.5"], "--density"),
    (["--model", "resnet21", "--method", "snip", "--density", "0.1"], "unknown model"),
    (["--model", "resnet20", "--method", "snap", "--density", "0.1"], "--method"),
    (["--model", "resnet20", "--method", "snip", "--density", "0.1", "--mask", "soft"], "--mask"),
    (["--model", "resnet20", "--method", "snip"], "--density"),
    (["--model", "resnet20", "--method", "snip", "--density", "0.1", "--data-root", "/nonexistent"], "train-images-idx3-ubyte"),
])
def test_cli_bad_arguments_exit_2_with_one_line(args, needle):
    r = _cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr


def test_idx_reader_roundtrip(tmp_path):
    imgs = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    head = bytes([0, 0, 8, 3]) + b"".join(int(s).to_bytes(4, "big") for s in imgs.shape)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(head + imgs.tobytes())
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2, 5, 7]))
    x, y = load_idx_dataset(tmp_path)
    assert np.array_equal(x, imgs) and y.tolist() == [5, 7]
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        find_idx_files(tmp_path, "test")
