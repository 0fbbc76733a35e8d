"""``python -m sketchbound.dnn.prune``: the pruning half of a run, as a CLI (in-process, one subprocess smoke test)."""
import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from sketchbound.dnn.experiments.config import RunConfig
from sketchbound.dnn.experiments.prune import main, prune_report
from sketchbound.dnn.experiments.run import prune_at_init


def test_smoke_subprocess_one_line_error():
    r = subprocess.run([sys.executable, "-m", "sketchbound.dnn.prune", "--model", "resnet20", "--method", "snip",
                        "--density", "1.5"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "density" in r.stderr


def test_real_fashion_mnist_same_mask_as_a_run(fmnist_root, tmp_path, capsys, one_torch_thread):
    save = tmp_path / "mask.pt"
    args = ["--model", "resnet20", "--width", "0.25", "--method", "snip", "--inputs", "real", "--mask", "randomized",
            "--density", "0.05", "--seed", "0", "--prune-batch-size", "16", "--data-root", str(fmnist_root),
            "--dataset", "fashion-mnist", "--json"]
    assert main(args + ["--save", str(save)]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["kept"] == round(0.05 * rep["total"]) and rep["inputs"] == "real"
    assert sum(row["kept"] for row in rep["layers"]) == rep["kept"]
    saved = torch.load(save)
    assert sum(int((m != 0).sum()) for m in saved["masks"].values()) == rep["kept"]
    assert [p.name for p in tmp_path.iterdir()] == ["mask.pt"]  # no temp file left behind
    # the CLI shows exactly the mask that `dnn.run` trains (one pipeline): same config ⇒ same masks
    cfg = RunConfig(model="resnet20", width=0.25, dataset="fashion-mnist", method="snip", inputs="real",
                    mask="randomized", density=0.05, seed=0, prune_batch_size=16, data_root=str(fmnist_root))
    _, run_saved, _ = prune_at_init(cfg)
    for n, m in run_saved.masks.items():
        assert torch.equal(m.cpu(), saved["masks"][n])


def test_synflow_report_on_synthetic_data(one_torch_thread):
    from sketchbound.dnn.data import TensorDataset
    g = torch.Generator().manual_seed(0)
    data = TensorDataset("toy", torch.randint(0, 256, (64, 1, 12, 12), dtype=torch.uint8, generator=g),
                         torch.randint(0, 10, (64,), generator=g), torch.randint(0, 256, (16, 1, 12, 12),
                         dtype=torch.uint8, generator=g), torch.randint(0, 10, (16,), generator=g), 10, (0.5,), (0.25,))
    cfg = RunConfig(model="resnet20", width=0.25, dataset="fashion-mnist", method="synflow", inputs="chi",
                    mask="randomized", density=0.05, synflow_rounds=3, pad_to=12)
    rep, masks = prune_report(cfg, data=data)
    assert rep["kept"] == round(0.05 * rep["total"])
    assert any(r["layer"] == "blocks.3.shortcut.0.weight" for r in rep["layers"])
    rep2, _ = prune_report(cfg, data=data)
    assert rep2["layers"] == rep["layers"]  # same seed ⇒ same mask
    # effective weights: per layer at most the kept ones, totals add up, and equal to effective_summary's
    from sketchbound.dnn.experiments.run import build_model
    from sketchbound.dnn.pruning.effective import effective_summary
    assert all(0 <= r["effective"] <= r["kept"] for r in rep["layers"])
    assert rep["effective"] == sum(r["effective"] for r in rep["layers"]) and rep["connected"] == (rep["effective"] > 0)
    eff = effective_summary(build_model(cfg.resolved(), data, "cpu"), masks, (1, 12, 12))
    assert eff["effective"] == rep["effective"]


@pytest.mark.parametrize("args,needle", [
    (["--model", "resnet20", "--method", "snip", "--density", "1.5"], "density"),
    (["--model", "resnet21", "--method", "snip", "--density", "0.1"], "model"),
    (["--model", "resnet20", "--method", "snap", "--density", "0.1"], "--method"),
    (["--model", "resnet20", "--method", "snip", "--density", "0.1", "--mask", "soft"], "--mask"),
    (["--model", "resnet20", "--method", "snip", "--density", "0.1", "--data-root", "/nonexistent"],
     "train-images-idx3-ubyte"),
    (["--model", "resnet20", "--method", "snip", "--density", "0.1", "--save", "/proc/x/mask.pt"], "--save"),
    (["--model", "resnet20", "--method", "snip", "--density", "0.1", "--device", "bogus"], "--device"),
])
def test_bad_arguments_exit_2_with_one_line(args, needle, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_mask_result_file_round_trip_is_plain_data(tmp_path):
    """A run's mask.pt holds MaskResult.to_dict (plain data, weights_only), reads back equal, and refuses
    another run; from_dict of a non-dict names the argument."""
    from sketchbound.dnn.experiments.masking import MaskResult, mask_identity, read_mask_file, write_mask_file
    from sketchbound.dnn.training.checkpoint import load_verified
    cfg = RunConfig(model="lenet300100", dataset="fashion-mnist", method="magnitude", density=0.1, seed=0)
    r = MaskResult(masks={"fc1.weight": torch.tensor([[1.0, 0.0], [0.0, 1.0]])}, start_step=2,
                   init_state={"fc1.weight": torch.full((2, 2), 0.5)}, extra={"mask_seconds": 1.5, "imp_levels": [1, 2]})
    write_mask_file(tmp_path / "mask.pt", r, cfg)
    raw, _ = load_verified(tmp_path / "mask.pt", identity=mask_identity(cfg))
    assert list(raw) == ["masks", "start_step", "init_state", "extra"] and raw["start_step"] == 2
    back = read_mask_file(tmp_path / "mask.pt", cfg)
    assert torch.equal(back.masks["fc1.weight"], r.masks["fc1.weight"]) and back.start_step == 2
    assert torch.equal(back.init_state["fc1.weight"], r.init_state["fc1.weight"]) and back.extra == r.extra
    with pytest.raises(ValueError):
        read_mask_file(tmp_path / "mask.pt", RunConfig.from_dict({**cfg.to_dict(), "seed": 1}))
    with pytest.raises(ValueError, match="obj must be a dict"):
        MaskResult.from_dict(["masks"])
