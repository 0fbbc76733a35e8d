"""Masked training (paper §7): exact masks, SGD semantics, checkpoint/resume identity, lockstep jobs, IMP."""
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from sketchbound.dnn.data import TensorDataset  # noqa: E402
from sketchbound.dnn.training import (  # noqa: E402
    ConcurrentTrainer, Schedule, TrainJob, masked_sgd_step, resolve_masks, train,
)


def toy_data(n=64, classes=3, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = torch.randint(0, 120, (n, 3, size, size), generator=g) + 40 * y.view(-1, 1, 1, 1)  # learnable
    x = x.clamp(0, 255).to(torch.uint8)
    return TensorDataset("toy", x, y, x[:24].clone(), y[:24].clone(), classes, (0.4, 0.4, 0.4), (0.25, 0.25, 0.25))


class Toy(nn.Module):
    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 16, 3)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return self.fc(nn.functional.max_pool2d(x, 2).flatten(1))


def toy_masks(model, density=0.3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {n: (torch.rand(p.shape, generator=g) < density).float()
            for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1}


SCHED = Schedule(epochs=3, batch_size=16, milestones=(2,))


def test_schedule_paper_and_scaling():
    s = Schedule.paper("cifar10")
    assert (s.epochs, s.batch_size, s.milestones, s.weight_decay, s.momentum) == (160, 128, (80, 120), 1e-4, 0.9)
    assert [s.lr_at(e) for e in (0, 79, 80, 119, 120)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])
    i = Schedule.paper("imagenet")
    assert (i.epochs, i.batch_size, i.milestones) == (90, 100, (30, 60, 80))
    assert Schedule.paper("fashion-mnist", epochs=40).milestones == (20, 30)
    with pytest.raises(ValueError, match="epochs"):
        Schedule.paper("cifar10", epochs=0)
    with pytest.raises(ValueError, match="milestones"):
        Schedule(milestones=(5, 3))


def test_masked_sgd_step_matches_torch_sgd_without_mask():
    torch.manual_seed(0)
    ps = [torch.randn(5, 3), torch.randn(7)]
    ref = [p.clone().requires_grad_(True) for p in ps]
    opt = torch.optim.SGD(ref, lr=0.05, momentum=0.9, weight_decay=1e-3)
    bufs = [torch.zeros_like(p) for p in ps]
    lr = torch.tensor(0.05)
    for step in range(4):
        grads = [torch.randn_like(p) for p in ps]
        for r, g in zip(ref, grads):
            r.grad = g.clone()
        opt.step()
        masked_sgd_step(ps, [g.clone() for g in grads], bufs, lr, 0.9, 1e-3)
        for p, r in zip(ps, ref):
            torch.testing.assert_close(p, r.detach(), rtol=1e-6, atol=1e-7)


def test_masked_weights_stay_exactly_zero_and_others_train():
    data = toy_data()
    model = Toy(0)
    w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    masks = toy_masks(model)
    res = train(model, data, SCHED, masks=masks, seed=0, progress=False)
    assert res.finished and res.epochs_done == 3 and res.test_accuracy is not None
    params = dict(model.named_parameters())
    for n, m in masks.items():
        assert torch.equal(params[n].detach() == 0, m == 0)  # exact zeros, exactly where the mask is 0
        assert not torch.equal(params[n].detach()[m == 1], w0[n][m == 1])  # kept weights were trained
    assert not torch.equal(params["conv.bias"].detach(), w0["conv.bias"])


def test_weighted_mask_scales_init_once_then_keeps_support():
    data = toy_data()
    model = Toy(0)
    w0 = model.conv.weight.detach().clone()
    g = torch.Generator().manual_seed(5)
    m = (torch.rand(w0.shape, generator=g) < 0.5) * (1 + 3 * torch.rand(w0.shape, generator=g))
    tr = ConcurrentTrainer([TrainJob(model, {"conv.weight": m}, seed=0)], data, SCHED, progress=False)
    torch.testing.assert_close(model.conv.weight.detach(), w0 * m)  # w0 ← w0 ⊙ m before the first step
    assert torch.equal(tr.states[0].masks[0], (m != 0).float())  # training keeps the support
    tr.run()
    assert torch.equal(model.conv.weight.detach() == 0, m == 0)
    model2 = Toy(0)
    ConcurrentTrainer([TrainJob(model2, {"conv": m}, seed=0, mask_values="support")], data, SCHED, progress=False)
    torch.testing.assert_close(model2.conv.weight.detach(), w0 * (m != 0))  # module-name key accepted
    with pytest.raises(ValueError, match="mask_values"):
        TrainJob(Toy(0), None, mask_values="bogus") and ConcurrentTrainer(
            [TrainJob(Toy(0), None, mask_values="bogus")], data, SCHED, progress=False)
    with pytest.raises(ValueError, match="shape"):
        resolve_masks(Toy(0), {"conv.weight": torch.ones(2)})
    with pytest.raises(ValueError, match="names no parameter"):
        resolve_masks(Toy(0), {"nope.weight": torch.ones(2)})


def _final_state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_resume_after_kill_gives_bit_identical_weights(tmp_path):
    data = toy_data()
    ref_model = Toy(0)
    ref = train(ref_model, data, SCHED, masks=toy_masks(ref_model), seed=7, checkpoint=tmp_path / "ref.pt", progress=False)

    # kill 1: right after the checkpoint of epoch 1
    m1 = Toy(0)
    part = train(m1, data, SCHED, masks=toy_masks(m1), seed=7, checkpoint=tmp_path / "a.pt", progress=False,
                 stop_after_epochs=1)
    assert not part.finished and part.epochs_done == 1
    m1b = Toy(123)  # a fresh process builds a different model; the checkpoint restores everything
    res = train(m1b, data, SCHED, masks=toy_masks(Toy(0)), seed=7, checkpoint=tmp_path / "a.pt", progress=False)
    assert res.finished and res.resumed_from_epoch == 1

    # kill 2: a crash in the middle of epoch 2 (the partial epoch is redone)
    class Crash(Exception):
        pass

    def boom(step):
        if step == 6:  # 4 steps per epoch: step 6 is inside epoch 2
            raise Crash

    m2 = Toy(0)
    with pytest.raises(Crash):
        train(m2, data, SCHED, masks=toy_masks(m2), seed=7, checkpoint=tmp_path / "b.pt", progress=False, on_step=boom)
    m2b = Toy(0)
    res2 = train(m2b, data, SCHED, masks=toy_masks(Toy(0)), seed=7, checkpoint=tmp_path / "b.pt", progress=False)
    assert res2.resumed_from_epoch == 1

    want = _final_state(ref_model)
    for got in (_final_state(m1b), _final_state(m2b)):
        assert want.keys() == got.keys()
        for k in want:
            assert torch.equal(want[k], got[k]), k
    assert [h["train_loss"] for h in res.history] == [h["train_loss"] for h in ref.history]
    assert res.test_accuracy == ref.test_accuracy
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # atomic writes leave no temp files
    # a finished checkpoint: nothing left to do, same result
    again = train(Toy(5), data, SCHED, masks=toy_masks(Toy(0)), seed=7, checkpoint=tmp_path / "ref.pt", progress=False)
    assert again.finished and again.test_accuracy == ref.test_accuracy


def test_seed_controls_data_order():
    data = toy_data()
    a, b, c = Toy(0), Toy(0), Toy(0)
    train(a, data, SCHED, seed=1, progress=False)
    train(b, data, SCHED, seed=1, progress=False)
    train(c, data, SCHED, seed=2, progress=False)
    assert torch.equal(a.fc.weight, b.fc.weight) and not torch.equal(a.fc.weight, c.fc.weight)


def test_concurrent_jobs_equal_separate_runs_and_max_steps_continues():
    data = toy_data()
    models = [Toy(0), Toy(1)]
    masks = [toy_masks(models[0], 0.3, 1), toy_masks(models[1], 0.5, 2)]
    tr = ConcurrentTrainer([TrainJob(m, k, seed=s, name=f"j{s}") for m, k, s in zip(models, masks, (3, 4))],
                           data, SCHED, progress=False)
    part = tr.run(max_steps=5)  # stop mid-epoch 2 ...
    assert [r.steps for r in part] == [5, 5] and not part[0].finished
    results = tr.run()  # ... and continue
    assert all(r.finished and r.steps == 12 for r in results)
    for i, s in enumerate((3, 4)):
        alone = Toy(i)
        r = train(alone, data, SCHED, masks=masks[i], seed=s, progress=False)
        for k, v in alone.state_dict().items():
            assert torch.equal(v, models[i].state_dict()[k]), (i, k)
        assert r.test_accuracy == results[i].test_accuracy


def test_start_step_starts_mid_schedule():
    data = toy_data()
    m = Toy(0)
    r = train(m, data, SCHED, seed=0, start_step=9, progress=False)  # 4 steps/epoch: epoch 2, step 1
    assert r.finished and r.steps == 12 and len(r.history) == 1 and r.history[0]["lr"] == pytest.approx(0.01)


def test_imp_prunes_20_percent_per_level_and_rewinds():
    pytest.importorskip("sketchbound.dnn.pruning.scores")
    from sketchbound.dnn.experiments.imp import imp, imp_densities
    from sketchbound.dnn.models.prunable import prunable_parameters

    assert imp_densities(0.6) == pytest.approx([0.8, 0.64, 0.6])
    data = toy_data()
    model = Toy(0)
    sched = Schedule(epochs=1, batch_size=16, milestones=())
    res = imp(model, data, sched, density=0.6, rewind_step=2, seed=0, progress=False)
    assert [lv["density"] for lv in res.levels] == pytest.approx([1.0, 0.8, 0.64, 0.6])
    assert all(lv["mask_info"]["min_per_layer"] == 1 and lv["mask_info"]["kept"] == lv["kept"] for lv in res.levels[1:])
    assert res.levels[-1]["test_accuracy"] is None and res.levels[-1]["kept"] == int(0.6 * sum(p.numel() for _, p in prunable_parameters(model)) + 0.5)
    total = sum(p.numel() for _, p in prunable_parameters(model))
    kept = sum(int(m.sum()) for m in res.masks.values())
    assert kept == int(0.6 * total + 0.5)
    assert all(set(m.unique().tolist()) <= {0.0, 1.0} for m in res.masks.values())
    params = dict(prunable_parameters(model))
    for n, m in res.masks.items():  # model ends at θ_k ⊙ m
        assert torch.equal(params[n].detach(), res.rewind_state[n] * m)
    # θ_k is the state after k steps of dense training from θ₀
    ref = Toy(0)
    train(ref, data, sched, seed=0, max_steps=2, progress=False)
    for k, v in ref.state_dict().items():
        assert torch.equal(v, res.rewind_state[k]), k
    # random data mode runs and gives a mask of the same size
    r2 = imp(Toy(0), data, sched, density=0.8, rewind_step=1, seed=0, data_mode="random", progress=False)
    assert sum(int(m.sum()) for m in r2.masks.values()) == int(0.8 * total + 0.5)
    with pytest.raises(ValueError, match="data_mode"):
        imp(Toy(0), data, sched, density=0.5, rewind_step=1, data_mode="fake")


def test_checkpoint_every_s_writes_fewer_checkpoints_and_resumes_identically(tmp_path, monkeypatch):
    """checkpoint_every_s > 0 skips the checkpoints of epochs ending within that many seconds of the last one
    (always writing the last epoch's): the weights are those of every-epoch checkpoints, a kill after an
    unsaved epoch resumes from the last saved one, and the result is still bit-identical."""
    import sketchbound.dnn.training.trainer as T

    data = toy_data()
    ref_model = Toy(0)
    train(ref_model, data, SCHED, masks=toy_masks(ref_model), seed=7, checkpoint=tmp_path / "ref.pt", progress=False)
    saves = []
    real_save = T.JobState.save
    monkeypatch.setattr(T.JobState, "save", lambda self: (saves.append(self.epoch), real_save(self))[1])
    m = Toy(0)
    part = train(m, data, SCHED, masks=toy_masks(m), seed=7, checkpoint=tmp_path / "a.pt", progress=False,
                 stop_after_epochs=2, checkpoint_every_s=1e9)
    assert part.epochs_done == 2 and saves == [] and not (tmp_path / "a.pt").exists()  # nothing saved: restart
    m = Toy(0)
    res = train(m, data, SCHED, masks=toy_masks(m), seed=7, checkpoint=tmp_path / "a.pt", progress=False,
                checkpoint_every_s=1e9)
    assert res.finished and res.resumed_from_epoch == 0 and saves == [3]  # only the last epoch's
    for k, v in _final_state(ref_model).items():
        assert torch.equal(v, _final_state(m)[k]), k
    saves.clear()
    train(Toy(0), data, SCHED, masks=toy_masks(Toy(0)), seed=7, checkpoint=tmp_path / "b.pt", progress=False)
    assert saves == [1, 2, 3]  # default 0: every epoch
    for bad in (-1.0, float("nan"), float("inf"), "60"):
        with pytest.raises(ValueError, match="checkpoint_every_s"):
            ConcurrentTrainer([TrainJob(Toy(0), None, 0)], data, SCHED, checkpoint_every_s=bad, progress=False)


@pytest.mark.parametrize("field,bad", [("epochs", 0), ("epochs", True), ("epochs", 2.0), ("batch_size", -3),
                                       ("batch_size", False)])
def test_schedule_refuses_non_positive_int_counts_with_the_shared_message(field, bad):
    """Schedule's counts go through the project's one positive-integer check: bools and floats are refused."""
    with pytest.raises(ValueError, match=rf"{field} must be a positive integer, got {bad!r}"):
        Schedule(**{field: bad})
