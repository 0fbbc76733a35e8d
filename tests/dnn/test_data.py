"""Dataset readers (standard on-disk formats, written synthetically) and on-device augmentation (paper §7)."""
import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sketchbound.dnn import data as D  # noqa: E402


def _cifar_entry(x, labels, key):
    return {b"batch_label": b"synthetic", key: list(labels), b"data": x, b"filenames": [b"f"] * len(labels)}


def _write_cifar10(root: Path, n_per_batch=3, seed=0):
    rng = np.random.default_rng(seed)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    xs, ys = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, n_per_batch)
        with open(d / name, "wb") as f:
            pickle.dump(_cifar_entry(x, y.tolist(), b"labels"), f)
        xs.append(x)
        ys.append(y)
    return xs, ys


def test_cifar10_reads_standard_pickles_in_row_major_channel_layout(tmp_path):
    xs, ys = _write_cifar10(tmp_path)
    for root in (tmp_path, tmp_path / "cifar-10-batches-py"):
        ds = D.load_cifar10(root)
        assert ds.x_train.shape == (15, 3, 32, 32) and ds.x_train.dtype == torch.uint8
        assert ds.x_test.shape == (3, 3, 32, 32) and ds.num_classes == 10
        # pixel (c, r, w) of image i is data[i, c*1024 + r*32 + w]
        assert int(ds.x_train[4, 2, 5, 7]) == int(xs[1][1, 2 * 1024 + 5 * 32 + 7])
        assert ds.y_train.tolist() == np.concatenate(ys[:5]).tolist()
        assert ds.y_test.tolist() == ys[5].tolist()
    allx = np.concatenate(xs[:5]).reshape(-1, 3, 32, 32) / 255.0
    np.testing.assert_allclose(ds.mean, allx.mean(axis=(0, 2, 3)), rtol=1e-9)
    np.testing.assert_allclose(ds.std, allx.std(axis=(0, 2, 3)), rtol=1e-9)


def test_cifar100_uses_fine_labels(tmp_path):
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    rng = np.random.default_rng(1)
    for name, n in (("train", 6), ("test", 4)):
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        entry = {b"filenames": [b"a"] * n, b"batch_label": b"x", b"fine_labels": list(range(90, 90 + n)),
                 b"coarse_labels": [0] * n, b"data": x}
        with open(d / name, "wb") as f:
            pickle.dump(entry, f)
    ds = D.load_dataset("CIFAR-100", tmp_path)
    assert ds.num_classes == 100 and ds.y_train.tolist() == list(range(90, 96)) and ds.y_test.tolist() == [90, 91, 92, 93]


def test_tiny_imagenet_folder_layout(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    root = tmp_path / "tiny-imagenet-200"
    wnids = ["n01443537", "n01629819"]
    colors = {wnids[0]: (250, 10, 10), wnids[1]: (10, 10, 250)}
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for w in wnids:
        (root / "train" / w / "images").mkdir(parents=True)
        (root / "train" / w / f"{w}_boxes.txt").write_text("")
        for i in range(2):
            Image.new("RGB", (8, 8), colors[w]).save(root / "train" / w / "images" / f"{w}_{i}.JPEG")
    ann = []
    for i, w in enumerate([wnids[1], wnids[0], wnids[1]]):
        Image.new("RGB", (8, 8), colors[w]).save(root / "val" / "images" / f"val_{i}.JPEG")
        ann.append(f"val_{i}.JPEG\t{w}\t0\t0\t7\t7")
    (root / "val" / "val_annotations.txt").write_text("\n".join(ann) + "\n")
    ds = D.load_tiny_imagenet(tmp_path, image_size=8)
    assert ds.x_train.shape == (4, 3, 8, 8) and ds.num_classes == 2
    assert ds.y_train.tolist() == [0, 0, 1, 1] and ds.y_test.tolist() == [1, 0, 1]
    red = ds.x_train[:, 0].float().mean((1, 2))
    blue = ds.x_train[:, 2].float().mean((1, 2))
    assert ((red > blue) == (ds.y_train == 0)).all()  # decoded pixels belong to the right class
    assert (root / "sketchbound-cache-8.npz").is_file()
    again = D.load_tiny_imagenet(root, image_size=8)  # from the cache
    assert torch.equal(again.x_train, ds.x_train) and torch.equal(again.y_test, ds.y_test)


def _write_idx(path: Path, arr: np.ndarray, gz: bool):
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    raw = header + arr.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


@pytest.mark.parametrize("gz,layout", [(False, "package/data"), (True, ".")])
def test_idx_reader_npm_and_gz_layouts(tmp_path, gz, layout):
    d = tmp_path / layout
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    xtr, ytr = rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 10, 5)
    xte, yte = rng.integers(0, 256, (2, 28, 28)), rng.integers(0, 10, 2)
    for stem, arr in (("train-images-idx3-ubyte", xtr), ("train-labels-idx1-ubyte", ytr),
                      ("t10k-images-idx3-ubyte", xte), ("t10k-labels-idx1-ubyte", yte)):
        _write_idx(d / stem, arr, gz)
    ds = D.load_mnist(tmp_path)
    assert ds.x_train.shape == (5, 1, 28, 28) and torch.equal(ds.x_train[:, 0], torch.from_numpy(xtr.astype(np.uint8)))
    assert ds.y_test.tolist() == yte.tolist()
    padded = ds.pad_to(32)
    assert padded.x_train.shape == (5, 1, 32, 32) and padded.x_train[:, :, :2].sum() == 0
    assert torch.equal(padded.x_train[:, :, 2:30, 2:30], ds.x_train)


def _idx_set(d: Path, gz=False, xtr=None, ytr=None, xte=None, yte=None):
    rng = np.random.default_rng(3)
    arrs = {"train-images-idx3-ubyte": rng.integers(0, 256, (4, 6, 6)) if xtr is None else xtr,
            "train-labels-idx1-ubyte": rng.integers(0, 10, 4) if ytr is None else ytr,
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (2, 6, 6)) if xte is None else xte,
            "t10k-labels-idx1-ubyte": rng.integers(0, 10, 2) if yte is None else yte}
    d.mkdir(parents=True, exist_ok=True)
    for stem, a in arrs.items():
        _write_idx(d / stem, a, gz)


def _raw_idx(type_byte, shape, payload: bytes) -> bytes:
    return bytes([0, 0, type_byte, len(shape)]) + b"".join(int(s).to_bytes(4, "big") for s in shape) + payload


@pytest.mark.parametrize("case,needle", [
    ("truncated", "truncated"), ("bad_magic", "bad magic"), ("empty", "empty file"),
    ("gz_suffix_not_gzip", "bad magic"), ("corrupt_gzip", "gzip"), ("float_images", "uint8 images"),
    ("labels_out_of_range", "labels must be in"), ("test_size_differs", "train images are"),
    ("count_mismatch", "labels"),
])
def test_idx_reader_rejects_malformed_files_naming_file_and_problem(tmp_path, case, needle):
    """Every malformed IDX set is a ValueError naming the file and the problem."""
    d = tmp_path / case
    _idx_set(d)
    img = d / "train-images-idx3-ubyte"
    if case == "truncated":
        img.write_bytes(img.read_bytes()[:-5])
    elif case == "bad_magic":
        img.write_bytes(b"\x01\x02" + img.read_bytes()[2:])
    elif case == "empty":
        img.write_bytes(b"")
    elif case == "gz_suffix_not_gzip":  # a .gz name on a file that is not gzip: detected by magic, not suffix
        img.rename(d / "train-images-idx3-ubyte.gz")
        (d / "train-images-idx3-ubyte.gz").write_bytes(b"PK\x03\x04 not gzip at all")
    elif case == "corrupt_gzip":
        raw = gzip.compress(img.read_bytes())
        img.unlink()
        (d / "train-images-idx3-ubyte.gz").write_bytes(raw[: len(raw) // 2])
    elif case == "float_images":
        img.write_bytes(_raw_idx(0x0D, (4, 6, 6), np.ones((4, 6, 6), ">f4").tobytes()))
    elif case == "labels_out_of_range":
        _write_idx(d / "train-labels-idx1-ubyte", np.array([0, 1, 2, 12]), False)
    elif case == "test_size_differs":
        _write_idx(d / "t10k-images-idx3-ubyte", np.zeros((2, 5, 5)), False)
    elif case == "count_mismatch":
        _write_idx(d / "train-labels-idx1-ubyte", np.array([0, 1, 2]), False)
    with pytest.raises(ValueError, match=needle) as e:
        D.load_mnist(d)
    assert str(d) in str(e.value)


def test_missing_dataset_names_expected_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        D.load_fashion_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        D.load_cifar10(tmp_path)
    with pytest.raises(FileNotFoundError, match="wnids.txt"):
        D.load_tiny_imagenet(tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        D.load_dataset("svhn", tmp_path)
    with pytest.raises(ValueError, match="pad_to"):
        D.TensorDataset("t", torch.zeros(1, 1, 28, 28, dtype=torch.uint8), torch.zeros(1, dtype=torch.long),
                        torch.zeros(1, 1, 28, 28, dtype=torch.uint8), torch.zeros(1, dtype=torch.long), 2,
                        (0.5,), (0.5,)).pad_to(31)


def test_fashion_mnist_real_files(fmnist_root):
    ds = D.load_dataset("fashion-mnist", fmnist_root, pad_to=32)
    assert ds.x_train.shape == (60000, 1, 32, 32) and ds.x_test.shape == (10000, 1, 32, 32)
    assert sorted(ds.y_train.unique().tolist()) == list(range(10))
    assert torch.bincount(ds.y_test).tolist() == [1000] * 10
    assert 0.25 < ds.mean[0] < 0.32 and 0.3 < ds.std[0] < 0.4  # Fashion-MNIST: 0.286, 0.353


def test_augment_epoch_is_crop_of_padded_flip_and_reproducible():
    g0 = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (9, 2, 5, 5), dtype=torch.uint8, generator=g0)
    y = torch.arange(9)
    g = torch.Generator().manual_seed(3)
    state = g.get_state()
    xa, ya = D.augment_epoch(x, y, g, padding=2, chunk=4)
    g.set_state(state)
    xb, yb = D.augment_epoch(x, y, g, padding=2, chunk=4)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert sorted(ya.tolist()) == list(range(9))  # a permutation, labels follow images
    flips_seen = 0
    for i in range(9):
        src = x[ya[i]]
        xp = torch.nn.functional.pad(src, (2, 2, 2, 2))
        found = None
        for dy in range(5):
            for dx in range(5):
                crop = xp[:, dy:dy + 5, dx:dx + 5]
                if torch.equal(crop, xa[i]):
                    found = "plain"
                elif torch.equal(crop.flip(-1), xa[i]):
                    found = found or "flip"
        assert found is not None, f"output {i} is not a (flipped) crop of its source image"
        flips_seen += found == "flip"
    no_aug, _ = D.augment_epoch(x, y, torch.Generator().manual_seed(3), crop=False, flip=False)
    assert torch.equal(no_aug, x[_])


def test_normalize_and_random_normal_like():
    x = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    out = D.normalize(x, (0.5, 0.5, 0.5), (0.25, 0.5, 1.0))
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([2.0, 1.0, 0.5]))
    ds = D.TensorDataset("t", torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.long),
                         torch.zeros(1, 1, 8, 8, dtype=torch.uint8), torch.zeros(1, dtype=torch.long), 3, (0.5,), (0.1,))
    r = D.random_normal_like(ds, 2000, torch.Generator().manual_seed(0))
    v = r.x_train.float() / 255
    assert abs(v.mean().item() - 0.5) < 0.01 and abs(v.std().item() - 0.1) < 0.01
    assert set(r.y_train.unique().tolist()) == {0, 1, 2}
