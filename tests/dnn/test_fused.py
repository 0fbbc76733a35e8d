"""Horizontal fusion (HFTA, Wang et al. MLSys 2021): N models as one network train exactly like N models.

The math checked here (module docstring of ``sketchbound.dnn.training.fused``): with inputs stacked
model-major along channels, a grouped convolution (groups = N·g) over ``cat_n W_n``, BatchNorm over N·C
channels and a batched matmul over ``[N, out, in]`` compute each model's own forward; the loss
``Σ_n L_n`` gives ``∂L/∂θ_n = ∂L_n/∂θ_n``; masked SGD with a per-model learning-rate vector is
elementwise, so one fused step equals N separate :func:`masked_sgd_step` s.
"""
import copy
import json
import warnings

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from sketchbound.dnn.models import get_model  # noqa: E402
from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: E402
from sketchbound.dnn.training import ConcurrentTrainer, Schedule, TrainJob, masked_sgd_step  # noqa: E402
from sketchbound.dnn.training.fused import (  # noqa: E402
    FusedModel, FusedTrainer, architecture_key, choose_fusion, fused_cross_entropy, per_parameter_lr, plan_fusion,
    stack_inputs,
)

from test_train import toy_data  # noqa: E402


def _models(name, n, size, width=0.25, classes=10, dtype=torch.float32):
    return [get_model(name, 3, classes, size, "kaiming", width=width, seed=i).to(dtype) for i in range(n)]


def _masks(model, density=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.rand(p.shape, generator=g) < density).to(p.dtype) for k, p in prunable_parameters(model)}


def _max_diff(a: nn.Module, b: nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max((sa[k].double() - sb[k].double()).abs().max().item() for k in sa)


def _one_step(name, size, dtype, lrs, batch=16):
    """One fused masked-SGD step vs N separate ones from the same state; returns (max |Δ| over all
    parameters and buffers, per-model losses fused, separate)."""
    n = len(lrs)
    models = _models(name, n, size, dtype=dtype)
    masks = [_masks(m, seed=i) for i, m in enumerate(models)]
    with torch.no_grad():
        for m, mk in zip(models, masks):
            for k, p in prunable_parameters(m):
                p.mul_(mk[k])
    ref = [copy.deepcopy(m) for m in models]
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(batch, 3, size, size, generator=g, dtype=dtype) for _ in range(n)]
    ys = [torch.randint(0, 10, (batch,), generator=g) for _ in range(n)]
    lr = torch.tensor(lrs, dtype=dtype)

    fm = FusedModel(models)
    fm.tie(models)
    per = fused_cross_entropy(fm(stack_inputs(xs)), torch.stack(ys, 1), n)
    per.sum().backward()
    params = list(fm.parameters())
    names = {id(p): k for k, p in fm.net.named_parameters()}
    fmask = [fm.fuse_like(names[id(p)], p, [mk.get(names[id(p)]) for mk in masks], 1.0) for p in params]
    masked_sgd_step(params, [p.grad for p in params], [torch.zeros_like(p) for p in params],
                    per_parameter_lr(fm, params, lr), 0.9, 1e-4, params, [p.grad for p in params], fmask)

    sep = []
    for i, (r, x, y) in enumerate(zip(ref, xs, ys)):
        loss = F.cross_entropy(r(x), y)
        loss.backward()
        sep.append(loss.item())
        ps = list(r.parameters())
        mp = [p for k, p in r.named_parameters() if k in masks[i]]
        masked_sgd_step(ps, [p.grad for p in ps], [torch.zeros_like(p) for p in ps], lr[i], 0.9, 1e-4,
                        mp, [p.grad for p in mp], [masks[i][k] for k, p in r.named_parameters() if k in masks[i]])
    return max(_max_diff(m, r) for m, r in zip(models, ref)), per.tolist(), sep, models, masks


@pytest.mark.parametrize("name,size", [("resnet20", 8), ("vgg19", 16), ("lenet300100", 8)])
def test_one_fused_step_equals_separate_steps_float32(name, size):
    """Tied models after one fused step == the same models after one separate masked SGD step each."""
    diff, per, sep, _, _ = _one_step(name, size, torch.float32, [0.1, 0.05, 0.2])
    assert diff < 1e-5, diff
    assert per == pytest.approx(sep, rel=1e-5)


@pytest.mark.parametrize("name", ["resnet20", "vgg11"])
def test_one_fused_step_is_exact_in_float64(name):
    """In float64 the only difference is summation order: agreement to ~1e-12 shows the layout is right
    (a wrong group/slice assignment would give O(1) differences)."""
    diff, per, sep, _, _ = _one_step(name, 16, torch.float64, [0.1, 0.05])
    assert diff < 1e-11, diff
    assert per == pytest.approx(sep, rel=1e-12)


def test_per_model_learning_rates_are_independent():
    """lr = 0 for model 1: its weights and buffers other than BN statistics (which the forward updates)
    do not move, while model 0 trains with its own rate (= the separate step, checked above)."""
    models = _models("resnet20", 2, 8)
    before = [copy.deepcopy(m) for m in models]
    diff, _, _, after, masks = _one_step("resnet20", 8, torch.float32, [0.1, 0.0])
    assert diff < 1e-5
    p1 = dict(after[1].named_parameters())
    for k, p in before[1].named_parameters():  # the masked step of model 1 with lr 0: w ← w ⊙ m only
        expect = p.detach() * masks[1][k] if k in masks[1] else p.detach()
        assert torch.equal(p1[k].detach(), expect), k
    assert any(not torch.equal(a.detach(), b.detach()) for a, b in zip(before[0].parameters(), after[0].parameters()))


def _jobs(name, n, ckpt_dir=None, tag="", model_seed=0, size=8, classes=3):
    out = []
    for i in range(n):
        m = get_model(name, 3, classes, size, "kaiming", width=0.25, seed=i + model_seed)
        mk = _masks(get_model(name, 3, classes, size, "kaiming", width=0.25, seed=i), 0.3, i)
        out.append(TrainJob(m, mk, seed=10 + i, name=f"{tag}j{i}",
                            checkpoint=None if ckpt_dir is None else ckpt_dir / f"{tag}{i}.pt"))
    return out


SCHED = Schedule(epochs=3, batch_size=16, milestones=(2,))


@pytest.mark.parametrize("name", ["resnet20", "vgg11"])
def test_fused_trainer_matches_concurrent_trainer_and_keeps_masks_exact(name):
    """Three epochs (12 steps, lr drop at epoch 2) with augmentation: FusedTrainer == ConcurrentTrainer per
    model up to float order; pruned weights exactly 0 after every step's re-masking."""
    data = toy_data(n=64, size=8)
    a = ConcurrentTrainer(_jobs(name, 3), data, SCHED, progress=False)
    ra = a.run()
    b = FusedTrainer(_jobs(name, 3), data, SCHED, progress=False)
    assert [c.n for c in b.cohorts] == [3]
    rb = b.run()
    for x, y, ma, mb in zip(ra, rb, a.models, b.models):
        assert y.finished and y.epochs_done == 3 and y.steps == 12
        assert _max_diff(ma, mb) < 2e-3
        assert [h["train_loss"] for h in y.history] == pytest.approx([h["train_loss"] for h in x.history], rel=1e-3)
    for st, job in zip(b.states, _jobs(name, 3)):
        params = dict(st.model.named_parameters())
        for k, m in job.masks.items():
            assert torch.equal(params[k].detach() == 0, m == 0), k  # zero exactly where the mask is
        for p, m in zip(st.masked_params, st.masks):  # the job's views of the fused masks
            assert int(((p.detach() != 0) & (m == 0)).sum()) == 0


def test_max_fused_splits_into_cohorts_with_the_same_arithmetic():
    """max_fused=2 on 3 jobs: cohorts of 2 and 1 (hybrid fusion + streams); each model's training is the
    same map as unfused training, so parameters equal ConcurrentTrainer's up to float order."""
    data = toy_data(n=64, size=8)
    a = ConcurrentTrainer(_jobs("resnet20", 3), data, SCHED, progress=False)
    a.run()
    b = FusedTrainer(_jobs("resnet20", 3), data, SCHED, progress=False, max_fused=2)
    assert [c.n for c in b.cohorts] == [2, 1]
    rb = b.run()
    assert all(r.finished and r.steps == 12 for r in rb)
    for ma, mb in zip(a.models, b.models):
        assert _max_diff(ma, mb) < 2e-3


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_max_fused_rejects_non_positive_ints(bad):
    with pytest.raises(ValueError, match="max_fused"):
        FusedTrainer(_jobs("resnet20", 2), toy_data(n=32, size=8), SCHED, progress=False, max_fused=bad)


def test_masks_exact_after_many_steps():
    """40 steps at lr 0.1 with momentum and weight decay: no pruned weight ever leaves 0."""
    data = toy_data(n=160, size=8)
    sched = Schedule(epochs=4, batch_size=16, milestones=())
    jobs = _jobs("resnet20", 2)
    tr = FusedTrainer(jobs, data, sched, progress=False)
    seen = []

    def check(step):
        c = tr.cohorts[0]
        seen.append(all(int(((p.detach() != 0) & (m == 0)).sum()) == 0 for p, m in zip(c.masked_params, c.masks)))

    tr.run(on_step=check)
    assert len(seen) == 40 and all(seen)
    for st, job in zip(tr.states, _jobs("resnet20", 2)):
        params = dict(st.model.named_parameters())
        for k, m in job.masks.items():
            assert torch.equal(params[k].detach() == 0, m == 0)


def test_resume_after_kill_is_bit_identical_with_fusion(tmp_path):
    """A fused run killed after epoch 1 (and another crashed mid-epoch 2), resumed from its checkpoints
    with freshly built (different) models, ends with bit-identical weights, buffers and history."""
    data = toy_data(n=64, size=8)
    ref = FusedTrainer(_jobs("vgg11", 2, tmp_path, "ref"), data, SCHED, progress=False)
    rr = ref.run()
    part = FusedTrainer(_jobs("vgg11", 2, tmp_path, "a"), data, SCHED, progress=False).run(stop_after_epochs=1)
    assert [r.epochs_done for r in part] == [1, 1] and not any(r.finished for r in part)
    res = FusedTrainer(_jobs("vgg11", 2, tmp_path, "a", model_seed=100), data, SCHED, progress=False)
    rq = res.run()
    assert [r.resumed_from_epoch for r in rq] == [1, 1] and all(r.resume_note is None for r in rq)

    class Crash(Exception):
        pass

    def boom(step):
        if step == 6:
            raise Crash

    with pytest.raises(Crash):
        FusedTrainer(_jobs("vgg11", 2, tmp_path, "b"), data, SCHED, progress=False).run(on_step=boom)
    res2 = FusedTrainer(_jobs("vgg11", 2, tmp_path, "b", model_seed=100), data, SCHED, progress=False)
    rq2 = res2.run()
    for resumed, results in ((res, rq), (res2, rq2)):
        for m_ref, m in zip(ref.models, resumed.models):
            sa, sb = m_ref.state_dict(), m.state_dict()
            assert all(torch.equal(sa[k], sb[k]) for k in sa)
        for a, b in zip(rr, results):
            assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
            assert a.test_accuracy == b.test_accuracy


def test_checkpoint_resumes_across_trainers_and_flags_the_change(tmp_path):
    """Same checkpoint files: a fused run resumes unfused (and back); the changed ``fusion`` condition is
    recorded in resume_note, and the result stays within float order of the uninterrupted run."""
    data = toy_data(n=64, size=8)
    FusedTrainer(_jobs("resnet20", 2, tmp_path, "x"), data, SCHED, progress=False).run(stop_after_epochs=1)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        c = ConcurrentTrainer(_jobs("resnet20", 2, tmp_path, "x", model_seed=50), data, SCHED, progress=False)
        rc = c.run(stop_after_epochs=1)
    assert all(r.resume_note == {"resumed_under_changed_conditions": {"fusion": ("horizontal", None)}} for r in rc)
    assert any("changed conditions" in str(x.message) for x in w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = FusedTrainer(_jobs("resnet20", 2, tmp_path, "x", model_seed=60), data, SCHED, progress=False)
        rf = f.run()
    assert all(r.finished and r.resumed_from_epoch == 2 for r in rf)
    assert all(r.resume_note == {"resumed_under_changed_conditions": {"fusion": (None, "horizontal")}} for r in rf)
    ref = ConcurrentTrainer(_jobs("resnet20", 2), data, SCHED, progress=False)
    ref.run()
    assert max(_max_diff(a, b) for a, b in zip(ref.models, f.models)) < 2e-3


def test_cohorts_split_by_architecture_and_step():
    """Jobs of different architectures, or at different steps, train in separate fused groups."""
    data = toy_data(n=64, size=8)
    jobs = _jobs("resnet20", 2) + _jobs("vgg11", 1)
    jobs[1].start_step = 4  # one epoch ahead (IMP-style rewind start)
    tr = FusedTrainer(jobs, data, SCHED, progress=False)
    assert sorted(c.n for c in tr.cohorts) == [1, 1, 1]
    res = tr.run()
    assert [r.steps for r in res] == [12, 12, 12] and all(r.finished for r in res)


def test_unsupported_modules_raise_value_error():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.ln = nn.LayerNorm(4)

        def forward(self, x):
            return self.conv(x)

    with pytest.raises(ValueError, match="Odd.*cannot be horizontally fused"):
        architecture_key(Odd())
    with pytest.raises(ValueError, match="module '1' of type .*LayerNorm cannot be horizontally fused"):
        FusedModel([nn.Sequential(nn.Conv2d(3, 4, 3), nn.LayerNorm(4))] * 2)
    with pytest.raises(ValueError, match="padding_mode"):
        FusedModel([nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")] * 2)
    with pytest.raises(ValueError, match="momentum=None"):
        FusedModel([nn.BatchNorm2d(4, momentum=None)] * 2)
    with pytest.raises(ValueError, match=r"models\[1\] has another architecture"):
        FusedModel(_models("resnet20", 1, 8) + [get_model("resnet20", 3, 10, 8, width=0.5)])
    with pytest.raises(ValueError, match="fusion must be one of"):
        plan_fusion(_models("resnet20", 1, 8), batch_size=8, device="cpu", image_shape=(3, 8, 8), num_classes=10,
                    fusion="yes")
    with pytest.raises(ValueError, match="cannot be horizontally fused"):
        FusedTrainer([TrainJob(nn.Sequential(nn.Flatten(), nn.Linear(192, 3), nn.Dropout()))], toy_data(), SCHED,
                     progress=False)


def test_choice_on_cpu_is_deterministic_streams():
    m = _models("resnet20", 1, 8)[0]
    for _ in range(2):
        assert choose_fusion(m, batch_size=16, n=4, device="cpu", image_shape=(3, 8, 8), num_classes=10)["trainer"] == "streams"
    assert plan_fusion([m, m], batch_size=16, device="cpu", image_shape=(3, 8, 8), num_classes=10) == ["streams"] * 2
    assert plan_fusion([m, m], batch_size=16, device="cpu", image_shape=(3, 8, 8), num_classes=10, fusion="on") == ["fused"] * 2
    odd = nn.Sequential(nn.Flatten(), nn.Linear(192, 3), nn.Dropout())
    assert choose_fusion(odd, batch_size=16, n=4, device="cpu", image_shape=(3, 8, 8), num_classes=3)["trainer"] == "streams"


def test_toy_table_fused_equals_unfused(tmp_path):
    """Four runs of one table (two methods × two seeds, lr 0.01) through run_configs with fusion on and off: the
    same run directories (fusion is not in the hash), results equal up to float order, and result.json
    says which trainer ran."""
    from sketchbound.dnn.experiments.config import RunConfig
    from sketchbound.dnn.experiments.run import run_configs
    from test_runner import _write_cifar10

    root = tmp_path / "data"
    _write_cifar10(root, n=40)
    cfgs = [RunConfig(model="resnet20", dataset="cifar10", method=m, mask="global", density=0.3, seed=s, width=0.25,
                      epochs=2, batch_size=16, lr=0.01, data_root=str(root), train_subset=64, prune_batch_size=8)
            for m in ("random", "magnitude") for s in (0, 1)]
    on = run_configs(cfgs, tmp_path / "on", concurrent=4, progress=False, fusion="on")
    off = run_configs(cfgs, tmp_path / "off", concurrent=4, progress=False, fusion="off")
    assert [r["run"] for r in on] == [r["run"] for r in off] == [c.run_name() for c in cfgs]
    for a, b in zip(on, off):
        assert a["trainer"] == "fused" and b["trainer"] == "streams"
        assert a["kept_per_layer"] == b["kept_per_layer"] and a["density"] == b["density"]
        # tolerance: these 8-step toy runs amplify float-order noise to ~1e-3 (the unfused trainer on 1 vs 2
        # threads differs as much); a wrong layout would be off by O(1) from the first epoch
        assert [h["train_loss"] for h in a["history"]] == pytest.approx([h["train_loss"] for h in b["history"]], rel=5e-3)
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=2e-3)
        assert abs(a["accuracy"] - b["accuracy"]) <= 100.0 / 40 + 1e-9  # at most one of the 40 test images flips
    auto = run_configs(cfgs, tmp_path / "on", concurrent=4, progress=False)  # finished: nothing retrained
    assert [json.dumps(x, sort_keys=True) for x in auto] == [json.dumps(x, sort_keys=True) for x in on]
