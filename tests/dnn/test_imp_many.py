"""IMP of several runs searched together (§7, Table II): :func:`imp_many` and the table runner's IMP groups.

Claim checked throughout: training the levels of N IMP runs as the N jobs of one ``ConcurrentTrainer``
changes nothing but wall time. Each job owns its model, mask, data-order generator and (for "IMP + rand.
data") its random dataset, and every per-run random stream is seeded from the run's own seed exactly
as in :func:`imp` (``stream_seed(seed, "imp-random-data")``, ``stream_seed(seed, "imp-data-order")``), so on
CPU the masks, the rewind states θ_k and the level records (density, kept count, test accuracy,
mask_info) are bit-identical to N separate :func:`imp` calls.
"""
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sketchbound.dnn.pruning.scores")

from sketchbound.dnn.data import TensorDataset  # noqa: E402
from sketchbound.dnn.experiments import run as R  # noqa: E402
from sketchbound.dnn.experiments.config import RunConfig  # noqa: E402
from sketchbound.dnn.experiments.imp import imp, imp_densities, imp_many  # noqa: E402
from sketchbound.dnn.models import get_model  # noqa: E402
from test_runner import _write_cifar10  # noqa: E402  (tests/dnn is on sys.path; one toy-data writer)
from sketchbound.dnn.models.prunable import prunable_parameters  # noqa: E402
from sketchbound.dnn.training import ConcurrentTrainer, Schedule, TrainJob  # noqa: E402
from sketchbound.dnn.training.checkpoint import load_verified  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# three runs of the Table II rows: supervised, + rand. data, + rand. data + rand. mask; two targets
# (0.6: 3 levels, 0.5: 4 levels), so the 0.6 run leaves the lockstep one level early
RUNS = [dict(seed=0, data_mode="real", mask_mode="global", density=0.5),
        dict(seed=1, data_mode="random", mask_mode="global", density=0.6),
        dict(seed=2, data_mode="random", mask_mode="randomized", density=0.5)]


def _data(n=128, seed=0) -> TensorDataset:
    """MNIST-shaped synthetic data whose mean intensity depends on the label (learnable, tiny)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n + 64,), generator=g)
    x = (torch.randint(0, 120, (n + 64, 1, 28, 28), generator=g) + 12 * y.view(-1, 1, 1, 1)).to(torch.uint8)
    return TensorDataset("toy", x[:n], y[:n], x[n:], y[n:], 10, (0.33,), (0.2,))


def _model(seed):
    return get_model("lenet300100", 1, 10, 28, "kaiming", width=0.1, seed=seed)


def _strip(levels):
    return [{k: v for k, v in rec.items() if k != "seconds"} for rec in levels]


def _same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_imp_many_equals_imp_per_run_bit_for_bit():
    """imp_many([m_1, m_2, m_3])[i] == imp(m_i) for every run i: masks, θ_k, every level's mask, density,
    kept count, test accuracy and mask_info, and the final model θ_k ⊙ m; the level densities are
    imp_densities(target) = 0.8, 0.64, ..., target, and a run's record stops at its own last level."""
    data = _data()
    sched = Schedule(epochs=2, batch_size=32, milestones=(1,))
    alone = [imp(_model(r["seed"]), data, sched, rewind_step=3, keep_masks=True, progress=False, **r) for r in RUNS]
    models = [_model(r["seed"]) for r in RUNS]
    together = imp_many(models, data, sched, rewind_step=3, seeds=[r["seed"] for r in RUNS],
                        density_list=[r["density"] for r in RUNS], data_modes=[r["data_mode"] for r in RUNS],
                        mask_modes=[r["mask_mode"] for r in RUNS], keep_masks=True, progress=False)
    for r, a, b, m in zip(RUNS, alone, together, models):
        assert _same_state(a.masks, b.masks)
        assert _same_state(a.rewind_state, b.rewind_state) and a.rewind_step == b.rewind_step == 3
        assert _strip(a.levels) == _strip(b.levels)
        assert a.densities == b.densities == imp_densities(r["density"])
        assert [lv["density"] for lv in b.levels] == [1.0] + b.densities
        assert [lv["kept"] for lv in b.levels[1:]] == [int(sum(x.sum() for x in lm.values())) for lm in b.level_masks]
        assert len(a.level_masks) == len(b.level_masks) and all(map(_same_state, a.level_masks, b.level_masks))
        assert b.levels[-1]["test_accuracy"] is None and all(lv["test_accuracy"] is not None for lv in b.levels[:-1])
        params = dict(prunable_parameters(m))  # each model ends at θ_k ⊙ m, as with imp
        assert all(torch.equal(params[k].detach(), b.rewind_state[k] * b.masks[k]) for k in b.masks)
    # the random-data runs really trained on other data than the supervised one (same init would not matter:
    # the seeds differ too), and the two random runs on different random sets: their dense accuracies differ
    assert len({b.levels[0]["test_accuracy"] for b in together}) > 1


def test_imp_many_rejects_inconsistent_arguments():
    """One value per run, exactly one of density_list/densities_list, known data modes: clear ValueErrors."""
    data, sched = _data(64), Schedule(epochs=1, batch_size=32, milestones=())
    ms = [_model(0), _model(1)]
    with pytest.raises(ValueError, match="seeds has 1 entries for 2 run"):
        imp_many(ms, data, sched, rewind_step=1, seeds=[0], density_list=[0.5, 0.5])
    with pytest.raises(ValueError, match="exactly one of density_list and densities_list"):
        imp_many(ms, data, sched, rewind_step=1, seeds=[0, 1], density_list=[0.5, 0.5], densities_list=[[0.5]] * 2)
    with pytest.raises(ValueError, match="data_mode must be one of"):
        imp_many(ms, data, sched, rewind_step=1, seeds=[0, 1], density_list=[0.5, 0.5], data_modes=["real", "fake"])
    with pytest.raises(ValueError, match="densities must be decreasing"):
        imp_many(ms, data, sched, rewind_step=1, seeds=[0, 1], densities_list=[[0.5], [0.5, 0.6]])
    with pytest.raises(ValueError, match="non-empty"):
        imp_many([], data, sched, rewind_step=1, seeds=[], density_list=[])


def test_job_with_its_own_data_must_match_the_trainers():
    """A job's own dataset (TrainJob.data) shares the lockstep loop only with the same training-set
    size (steps per epoch), image shape, classes and normalisation."""
    data, sched = _data(64), Schedule(epochs=1, batch_size=32, milestones=())
    with pytest.raises(ValueError, match="training-set size 96"):
        ConcurrentTrainer([TrainJob(_model(0), data=_data(96))], data, sched, progress=False)


# ----------------------------------------------------------------------------------- the table runner
def _imp_configs(root) -> list[RunConfig]:
    base = dict(dataset="cifar10", model="lenet300100", width=0.05, epochs=1, imp_epochs=1, imp_rewind=2,
                batch_size=32, data_root=str(root), train_subset=96, method="imp")
    return [RunConfig(**base, seed=0, density=0.6, imp_data="real", mask="global"),  # levels 0.8, 0.64, 0.6
            RunConfig(**base, seed=1, density=0.7, imp_data="random", mask="global"),  # levels 0.8, 0.7
            RunConfig(**base, seed=1, density=0.6, imp_data="random", mask="randomized"),
            RunConfig(**{**base, "method": "random"}, seed=0, density=0.5, mask="global")]


def test_table_runner_imp_group_equals_per_run_path(tmp_path, monkeypatch):
    """run_configs with the chunk's 3 IMP runs searched together (one imp_many) writes the same
    result.json accuracies, imp_levels (but seconds), masks and rewind states θ_k as the per-run path
    (``IMP_MANY_MIN`` raised), and a non-IMP run in the same chunk is unaffected; run hashes do not
    depend on the path (it is not part of RunConfig)."""
    pytest.importorskip("sketchbound.dnn.models")
    root = tmp_path / "data"
    _write_cifar10(root, 48)
    cfgs = _imp_configs(root)
    kw = dict(device="cpu", concurrent=4, progress=False, fusion="off")
    together = R.run_configs(cfgs, tmp_path / "together", **kw)
    from sketchbound.dnn.experiments import prepare as P
    monkeypatch.setattr(P, "IMP_MANY_MIN", 10**9)
    alone = R.run_configs(cfgs, tmp_path / "alone", **kw)
    for c, a, b in zip(cfgs, alone, together):
        assert a is not None and b is not None
        assert a["hash"] == b["hash"] == c.config_hash()
        assert a["accuracy"] == b["accuracy"] and a["kept_per_layer"] == b["kept_per_layer"]
        assert a["history"][-1]["train_loss"] == b["history"][-1]["train_loss"]
        ma, _ = load_verified(c.run_dir(tmp_path / "alone") / "mask.pt", identity=R.mask_identity(c))
        mb, _ = load_verified(c.run_dir(tmp_path / "together") / "mask.pt", identity=R.mask_identity(c))
        assert _same_state(ma["masks"], mb["masks"]) and ma["start_step"] == mb["start_step"]
        if c.method == "imp":
            assert _same_state(ma["init_state"], mb["init_state"]) and mb["start_step"] == 2
            assert _strip(a["imp_levels"]) == _strip(b["imp_levels"])
            assert len(b["imp_levels"]) == 1 + len(imp_densities(c.density)) and "mask_seconds" in b
            log = (c.run_dir(tmp_path / "together") / "log.txt").read_text()
            assert "searched together with 2 other run(s)" in log and "IMP level 1 " in log
            assert "searched together" not in (c.run_dir(tmp_path / "alone") / "log.txt").read_text()
    done = json.loads((cfgs[0].run_dir(tmp_path / "together") / "result.json").read_text())
    assert done["accuracy"] == together[0]["accuracy"]


def test_compute_imp_masks_refuses_runs_that_cannot_share_levels(tmp_path):
    """Runs with different rewind steps (or level schedules, or data) are not in lockstep: ValueError."""
    root = tmp_path / "data"
    _write_cifar10(root, 48)
    a, b = _imp_configs(root)[:2]
    b = RunConfig.from_dict({**b.to_dict(), "imp_rewind": 3})
    with pytest.raises(ValueError, match="imp_rewind"):
        R.compute_imp_masks([a, b], [None, None], None, torch.device("cpu"), [print, print])
    with pytest.raises(ValueError, match="IMP runs only"):
        R.compute_imp_masks([a, _imp_configs(root)[3]], [None, None], None, torch.device("cpu"), [print, print])


def test_compute_imp_masks_follows_augment_and_refuses_a_rewind_past_the_end(tmp_path):
    """The IMP levels train with the run's own ``augment`` (a config with augment = false gets exactly
    ``imp_many(..., augment=False)``, and differs from augment = true), and a rewind step k at or past
    the final training's last step, or at or past a level's last step, is a ValueError naming imp_rewind."""
    root = tmp_path / "data"
    _write_cifar10(root, 48)
    c = _imp_configs(root)[0]
    data = R.data_for(c)
    dev = torch.device("cpu")

    def masks_of(cfg):
        model = R.build_model(cfg, data, dev)
        return R.compute_imp_masks([cfg], [model], data, dev, [lambda m: None])[0].masks

    off = RunConfig.from_dict({**c.to_dict(), "augment": False})
    m_off, m_on = masks_of(off), masks_of(c)
    r = off.resolved()
    ref = imp_many([R.build_model(off, data, dev)], data, r.schedule(), rewind_step=r.imp_rewind, seeds=[r.seed],
                   densities_list=[imp_densities(r.density, r.prune_fraction)], data_modes=[r.imp_data],
                   mask_modes=[r.mask], level_schedule=r.imp_schedule(), device=dev, progress=False,
                   min_per_layer=[r.min_per_layer], keep_rule=[r.keep_rule], augment=False)[0].masks
    assert _same_state(m_off, ref)
    assert not _same_state(m_off, m_on)
    late = RunConfig.from_dict({**c.to_dict(), "imp_rewind": 3})  # 96 images / batch 32 x 1 epoch = 3 steps
    with pytest.raises(ValueError, match="imp_rewind=3 must be smaller than the final training's 3 steps"):
        R.compute_imp_masks([late], [R.build_model(late, data, dev)], data, dev, [print])
    # k inside the final training but at or past a level's end: θ_k would be level 0's end, no level would
    # train (imp_many only warns, for smoke tests of the library); the runner refuses it by name
    short = RunConfig.from_dict({**c.to_dict(), "epochs": 2, "imp_epochs": 1, "imp_rewind": 4})
    with pytest.raises(ValueError, match="imp_rewind=4 must be smaller than an IMP level's 3 steps"):
        R.compute_imp_masks([short], [R.build_model(short, data, dev)], data, dev, [print])
