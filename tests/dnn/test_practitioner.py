"""The practitioner's path: prune your own model, train it with any optimizer or with ``fit``, and the
pruning stays (pruned weights exactly zero, density unchanged)."""
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from sketchbound.dnn import compute_scores, global_randomized_sketch, make_mask, target_count  # noqa: E402
from sketchbound.dnn.models.prunable import prunable_modules  # noqa: E402
from sketchbound.dnn.pruning.apply import apply_mask, current_masks, remove_masks  # noqa: E402
from sketchbound.dnn.training import Schedule, train  # noqa: E402
from sketchbound.dnn.training.fit import FitResult, as_tensor_dataset, fit  # noqa: E402

OPTIMIZERS = {
    "sgd_momentum_wd": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4),
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-2),
    "adam_wd": lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=1e-3),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=1e-2),
}


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 16), nn.ReLU(),
                         nn.Linear(16, 3))


def _effective(net):
    return {f"{n}.weight": m.weight.detach().clone() for n, m in prunable_modules(net)}


def _plain_loop(net, opt, steps=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(32, 1, 6, 6, generator=g), torch.randint(0, 3, (32,), generator=g)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()


def _density(ws):
    return sum(int((w != 0).sum()) for w in ws.values()) / sum(w.numel() for w in ws.values())


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_apply_mask_keeps_pruned_weights_zero_under_any_optimizer(opt):
    net = _net()
    masks = make_mask(compute_scores("magnitude", net), 0.2, "randomized", rng=0)
    apply_mask(net, masks)
    before = _effective(net)
    d0 = _density(before)
    assert d0 == pytest.approx(0.2, abs=1e-3)
    _plain_loop(net, OPTIMIZERS[opt](net.parameters()))
    after = _effective(net)
    for n, m in masks.items():
        assert torch.all(after[n][m == 0] == 0), n  # exactly zero, not small
        assert not torch.equal(after[n][m != 0], before[n][m != 0]), n  # the kept weights did train
    assert _density(after) == d0


def test_in_place_masking_alone_regrows_under_plain_sgd():
    """The control: without the reparametrization, a plain loop undoes the pruning (what apply_mask prevents)."""
    net = _net()
    masks = make_mask(compute_scores("magnitude", net), 0.2, "global")
    with torch.no_grad():
        for n, m in masks.items():
            dict(net.named_parameters())[n].mul_(m)
    _plain_loop(net, OPTIMIZERS["sgd_momentum_wd"](net.parameters()))
    assert _density(_effective(net)) > 0.5


def test_plugin_pruned_model_keeps_zeros_under_adamw():
    net = _net()
    params = [(m, "weight") for _, m in prunable_modules(net)]
    global_randomized_sketch(params, amount=0.8, seed=0)  # amount = fraction pruned (torch's convention)
    before = _effective(net)
    _plain_loop(net, OPTIMIZERS["adamw"](net.parameters()))
    after = _effective(net)
    for n in before:
        assert torch.equal(after[n] == 0, before[n] == 0)
    assert _density(after) == pytest.approx(0.2, abs=1e-3)


def test_remove_masks_bakes_zeros_and_current_masks_reads_them_back():
    net = _net()
    masks = make_mask(compute_scores("magnitude", net), 0.3, "global")
    apply_mask(net, masks)
    got = current_masks(net)
    assert set(got) == set(masks) and all(torch.equal(got[n], masks[n]) for n in masks)
    eff = _effective(net)
    remove_masks(net)
    assert not any(n.endswith("_orig") for n, _ in net.named_parameters())
    assert all(torch.equal(eff[n], w) for n, w in _effective(net).items())
    assert current_masks(net) == {}


def test_weighted_masks_scale_once_and_keep_their_support():
    net = nn.Sequential(nn.Linear(3, 2, bias=False))
    w0 = net[0].weight.detach().clone()
    m = torch.tensor([[2.0, 0.0, 0.5], [0.0, 1.0, 0.0]])
    apply_mask(net, {"0.weight": m})
    assert torch.allclose(net[0].weight, w0 * m)
    assert torch.equal(net[0].weight_mask, (m != 0).float())


def test_apply_mask_refuses_bad_masks():
    net = _net()
    with pytest.raises(ValueError, match="shape"):
        apply_mask(net, {"0.weight": torch.ones(3, 3)})
    with pytest.raises(ValueError, match="NaN or inf"):
        apply_mask(net, {"0.weight": torch.full((4, 1, 3, 3), float("nan"))})


def test_toolkit_trainer_accepts_a_model_pruned_by_apply_mask():
    net = _net()
    masks = make_mask(compute_scores("magnitude", net), 0.25, "global")
    apply_mask(net, masks)
    ds = as_tensor_dataset((torch.randn(64, 1, 6, 6), torch.arange(64) % 3))
    res = train(net, ds, Schedule(epochs=2, batch_size=16), masks=masks, progress=False, device="cpu")
    assert res.finished
    after = _effective(net)
    assert all(torch.all(after[n][m == 0] == 0) for n, m in masks.items())
    assert _density(after) == pytest.approx(0.25, abs=1e-3)


def _xy(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 1, 6, 6, generator=g) * 0.5 + y.view(-1, 1, 1, 1).float()  # separable classes
    return x, y


def test_fit_on_a_tensor_pair_scales_the_schedule_and_reports_each_epoch(capsys):
    net = _net()
    apply_mask(net, make_mask(compute_scores("magnitude", net), 0.3, "randomized", rng=0))
    r = fit(net, _xy(), 4, test=_xy(48, 1), batch_size=16, progress=False)
    assert isinstance(r, FitResult)
    assert r.lr == pytest.approx([0.1, 0.1, 0.01, 0.001])  # milestones at 50% / 75% as 80/120 of 160
    assert len(r.test_accuracy) == len(r.test_loss) == len(r.train_loss) == 4
    assert r.total == sum(p.numel() for p in _effective(net).values()) and r.kept == target_count(0.3, r.total)
    assert r.final_test_accuracy > 50  # three separable classes; chance is 33%
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == r.summary() and f"density {r.kept / r.total:.4f}" in r.summary()


def test_fit_on_a_dataloader_equals_fit_on_the_same_tensors():
    x, y = _xy()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=False)
    results = []
    for data in (loader, (x, y)):
        net = _net(3)
        apply_mask(net, make_mask(compute_scores("magnitude", net), 0.5, "global"))
        results.append(fit(net, data, 2, test=(x, y), batch_size=16, seed=5, progress=False, log=None))
    assert results[0].train_loss == results[1].train_loss and results[0].test_accuracy == results[1].test_accuracy


def test_fit_refuses_bad_arguments():
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        fit(_net(), _xy(), 0)
    with pytest.raises(ValueError, match="DataLoader or an \\(x, y\\) pair"):
        fit(_net(), [1, 2, 3], 1)
    with pytest.raises(ValueError, match=r"images must have shape \(N, C, H, W\)"):
        fit(_net(), (torch.randn(8, 36), torch.zeros(8, dtype=torch.long)), 1)
    with pytest.raises(ValueError, match="unknown dataset"):
        fit(_net(), "no-such-data", 1)


@pytest.mark.slow
def test_quickstart_runs_as_written():
    """docs/quickstart_prune_train.md, run by the README checker (needs Fashion-MNIST; about a minute)."""
    from pathlib import Path

    from sketchbound import _docs_check as D
    from sketchbound.data import find_dataset

    if find_dataset("fashion-mnist") is None:
        pytest.skip("needs fashion-mnist: apt-get install dataset-fashion-mnist, or set SKETCHBOUND_DATA")
    root = Path(D.ROOT)
    cmds = [c for c in D.extract(root / "docs/quickstart_prune_train.md", "docs/quickstart_prune_train.md") if c.python]
    assert len(cmds) == 1 and cmds[0].expect is not None and cmds[0].expect.exit == 0
    d = D.scratch_dir()
    try:
        problems = D.check(cmds[0], d)
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)
    assert not problems, problems


def test_run_trains_the_mask_prune_saved(fmnist_root, tmp_path, capsys, one_torch_thread):
    """``dnn.prune --save FILE`` → ``dnn.run --masks FILE``: the run trains exactly that mask; a rerun says
    it is cached; a flag that would change the mask, or a file that fits no such model, is one line, exit 2."""
    from sketchbound.dnn.experiments import prune as P
    from sketchbound.dnn.experiments import run as R
    from sketchbound.dnn.experiments.masks_file import MASKS_FILE_KIND
    from sketchbound.dnn.training.checkpoint import load_verified

    save, runs = tmp_path / "m.pt", tmp_path / "runs"
    common = ["--model", "lenet300100", "--method", "magnitude", "--density", "0.1", "--train-subset", "512",
              "--data-root", str(fmnist_root)]
    assert P.main(common + ["--save", str(save)]) == 0
    obj = torch.load(save, weights_only=True)  # plain tensors and metadata only
    assert obj["kind"] == MASKS_FILE_KIND and obj["config"]["dataset"] == "fashion-mnist"
    capsys.readouterr()
    args = ["--masks", str(save), "--epochs", "1", "--runs-dir", str(runs), "--no-progress", "--device", "cpu"]
    assert R.main(args) == 0
    out = capsys.readouterr()
    run_dir = Path(json.loads(out.out.strip().splitlines()[-1])["run_dir"])
    saved, _ = load_verified(run_dir / "mask.pt", identity={"kind": "mask", "run": run_dir.name})
    assert all(torch.equal(saved["masks"][n], obj["masks"][n]) for n in obj["masks"])
    assert json.loads((run_dir / "result.json").read_text())["masks_file"] == str(save)
    assert "cached" not in out.err
    assert R.main(args) == 0
    assert f"cached: {run_dir}" in capsys.readouterr().err
    from sketchbound.dnn.training.checkpoint import save_verified
    other = dict(saved, masks={n: torch.ones_like(m) for n, m in saved["masks"].items()})
    save_verified(run_dir / "mask.pt", other, identity={"kind": "mask", "run": run_dir.name})
    with pytest.raises(SystemExit) as e:
        R.main(args)
    assert e.value.code == 2 and "already holds a different mask.pt" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        R.main(args + ["--density", "0.2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "density=0.1" in err[0] and "density=0.2" in err[0]
    bad = dict(obj, masks={n: m[:, :-1] for n, m in obj["masks"].items()})
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(SystemExit) as e:
        R.main(["--masks", str(tmp_path / "bad.pt"), "--epochs", "1", "--runs-dir", str(tmp_path / "r2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "shape" in err[0]
    torch.save({"not": "ours"}, tmp_path / "other.pt")
    with pytest.raises(SystemExit) as e:
        R.main(["--masks", str(tmp_path / "other.pt"), "--runs-dir", str(tmp_path / "r3")])
    assert e.value.code == 2 and "not a file written by" in capsys.readouterr().err


def test_prune_help_lists_names_true_default_and_only_acting_flags(capsys):
    from sketchbound.dnn.data import DATASETS
    from sketchbound.dnn.experiments import prune as P
    from sketchbound.dnn.experiments import run as R
    from sketchbound.dnn.models import MODEL_NAMES

    text = " ".join(P.build_parser().format_help().split())
    assert all(m in text for m in MODEL_NAMES) and all(d in text for d in DATASETS if d != "imagenet")
    assert "(default: fashion-mnist)" in text and "cifar10)" not in text.replace("cifar10,", "")
    for flag in ("--eval-every", "--checkpoint-every-s", "--mask-values"):
        assert flag not in text
    assert "IMP only" in text and "--masks FILE" in text  # --save says where the file goes
    run_help = " ".join(R.build_parser().format_help().split())
    assert "default: global" in run_help and "--mask randomized" in run_help and "--masks FILE" in run_help


def test_fit_with_masks_leaves_the_model_pruned_for_later_plain_training():
    net = _net(7)
    masks = make_mask(compute_scores("magnitude", net), 0.25, "global")
    fit(net, _xy(), 1, masks=masks, batch_size=16, progress=False, log=None)
    assert set(current_masks(net)) == set(masks)
    _plain_loop(net, OPTIMIZERS["adam"](net.parameters()))
    after = _effective(net)
    assert all(torch.all(after[n][m == 0] == 0) for n, m in masks.items())


def test_run_says_when_its_accuracy_is_chance(tmp_path, capsys, monkeypatch):
    from sketchbound.dnn.experiments import run as R
    res = {"accuracy": 10.3, "density": 0.1, "seed": 0, "data": {"num_classes": 10}}
    monkeypatch.setattr(R, "run_one", lambda *a, **k: res)
    args = ["--model", "lenet300100", "--dataset", "mnist", "--epochs", "2", "--runs-dir", str(tmp_path)]
    assert R.main(args) == 0
    assert "about chance (10% for 10 classes)" in capsys.readouterr().err
    res["accuracy"] = 80.0
    assert R.main(args) == 0
    assert "chance" not in capsys.readouterr().err
