"""Parity with the published pruning code.

``tests/fixtures/parity/*.npz`` hold outputs of Synaptic-Flow, the original GraSP code and ProsPr, run once
on two tiny seeded models (a VGG-like net and a ResNet block with a 1×1 shortcut) and fixed batches;
``PROVENANCE.md`` there says which repository, commit, function and driver command produced each file.
Here our score functions run on the same weights and inputs and must give the same scores (to float
rounding of the precision the reference computed in) and the same kept sets wherever the keep rules are
the same. Scores are compared after scaling both to unit ℓ2 norm: the references divide their scores by
a positive constant (SNIP: the sum; GraSP: |sum| + 1e-10), which changes no ranking.
"""
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from sketchbound.dnn.pruning.masks import make_mask  # noqa: E402
from sketchbound.dnn.pruning.scores import compute_scores  # noqa: E402

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "parity"
F32_TOL = 1e-6    # max |difference| of unit-norm score vectors computed in float32 (observed ≤ 1.3e-8)
F64_TOL = 1e-12   # the same for SynFlow's float64 scores (observed 0: bit for bit)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    yield


# ------------------------------------------------------------------------------------ the tiny models
class TinyVGG(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.classifier = nn.Linear(16, 10)

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv_a, self.bn_a = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16)
        self.conv_b, self.bn_b = nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)
        self.shortcut = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn_a(self.conv_a(out)))
        y = self.bn_b(self.conv_b(y))
        return self.fc(F.relu(y + self.shortcut(out)).mean((2, 3)))


MODELS = {"vgg": TinyVGG, "resnet": TinyResNet}
DENSITY = 0.1


@pytest.fixture(scope="module")
def fx():
    if not (FIX / "PROVENANCE.md").is_file():
        pytest.fail(f"parity fixtures missing in {FIX}")
    out = {}
    for f in ("weights", "inputs", "synflow_repo", "grasp_repo", "prospr_repo"):
        z = np.load(FIX / f"{f}.npz")
        out.update({k: z[k] for k in z.files})
    return out


def model(fx, name, which="init"):
    m = MODELS[name]()
    pre = f"{name}_{which}::"
    m.load_state_dict({k[len(pre):]: torch.from_numpy(v) for k, v in fx.items() if k.startswith(pre)}, strict=True)
    return m


def batches(fx, k):
    return [(torch.from_numpy(fx["x"][i]), torch.from_numpy(fx["y"][i])) for i in range(k)]


def ref(fx, run, name, what):
    names = [k.split("::")[-1] for k in fx if k.startswith(f"{run}::{name}::{what}::")]
    assert names, f"no fixture {run}::{name}::{what}"
    return {n: fx[f"{run}::{name}::{what}::{n}"] for n in names}


def flat(d, names):
    return np.concatenate([np.asarray(d[n].detach().cpu() if torch.is_tensor(d[n]) else d[n]).ravel() for n in names])


def assert_scores(ours, refs, tol, sign=1.0):
    names = list(refs)
    assert sorted(ours) == sorted(names)
    o = sign * flat(ours, names).astype(np.float64)
    r = flat(refs, names).astype(np.float64)
    o, r = o / np.linalg.norm(o), r / np.linalg.norm(r)
    err = np.abs(o - r).max()
    assert err <= tol, f"max |difference| of unit-norm scores {err:.3g} > {tol:g}"


def assert_masks(ours, refs):
    names = list(refs)
    for n in names:
        got = ours[n].detach().cpu().numpy() != 0
        assert got.shape == refs[n].shape
        assert np.array_equal(got, refs[n]), f"{n}: {int((got != refs[n]).sum())} entries differ"


def kept(refs):
    return int(sum(int(v.sum()) for v in refs.values()))


def n_total(refs):
    return int(sum(v.size for v in refs.values()))


# ------------------------------------------------------------------------------------ Synaptic-Flow
@pytest.mark.parametrize("name", MODELS)
def test_magnitude(fx, name):
    sc = compute_scores("magnitude", model(fx, name))
    for n, r in ref(fx, "magnitude", name, "score").items():
        assert np.array_equal(sc[n].numpy(), r)  # |θ| exactly
    assert_masks(make_mask(sc, DENSITY, "global", min_per_layer=0, keep_rule="synflow"),
                 ref(fx, "magnitude", name, "mask"))


@pytest.mark.parametrize("name", MODELS)
def test_exact_rule_keeps_the_reference_set_minus_its_extra_weight(fx, name):
    """Our default count ⌊d·N + 1/2⌋ vs Synaptic-Flow's N - int((1-d)·N): the same ranking, a smaller set."""
    sc = compute_scores("magnitude", model(fx, name))
    refm = ref(fx, "magnitude", name, "mask")
    N = n_total(refm)
    ours = make_mask(sc, DENSITY, "global", min_per_layer=0)
    o, r = flat(ours, list(refm)) != 0, flat(refm, list(refm))
    assert int(r.sum()) == N - int((1 - DENSITY) * N) and int(o.sum()) == int(np.floor(DENSITY * N + 0.5))
    assert not (o & ~r).any()


@pytest.mark.parametrize("name", MODELS)
def test_snip(fx, name):
    sc = compute_scores("snip", model(fx, name), batches(fx, 2), num_batches=2)
    assert_scores(sc, ref(fx, "snip", name, "score"), F32_TOL)
    assert_masks(make_mask(sc, DENSITY, "global", min_per_layer=0, keep_rule="synflow"), ref(fx, "snip", name, "mask"))


@pytest.mark.parametrize("name", MODELS)
def test_grasp_synflow_variant(fx, name):
    sc = compute_scores("grasp", model(fx, name), batches(fx, 2), num_batches=2, variant="synflow")
    assert_scores(sc, ref(fx, "grasp_synflow", name, "score"), F32_TOL)
    assert_masks(make_mask(sc, DENSITY, "global", min_per_layer=0, keep_rule="synflow"),
                 ref(fx, "grasp_synflow", name, "mask"))


@pytest.mark.parametrize("name", MODELS)
def test_imp_step(fx, name):
    sc = compute_scores("imp", model(fx, name, "trained"))
    for n, r in ref(fx, "imp", name, "score").items():
        assert np.array_equal(sc[n].numpy(), r)
    assert_masks(make_mask(sc, 0.8, "global", min_per_layer=0, keep_rule="synflow"), ref(fx, "imp", name, "mask"))


def _synflow(fx, name, keep_rule, dtype=torch.float64):
    rounds = []
    x = torch.ones(1, 3, 8, 8)
    sc = compute_scores("synflow", model(fx, name), (x, None), density=DENSITY, rounds=100, min_per_layer=0,
                        keep_rule=keep_rule, on_round=lambda r, m: rounds.append(m), dtype=dtype)
    final = make_mask(sc, DENSITY, "global", min_per_layer=0, keep_rule=keep_rule)
    return sc, rounds + [final]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("keep_rule, run", [("synflow", "synflow_f64"), ("exact", "synflow_f64_ourcount")])
def test_synflow_100_rounds_every_round(fx, name, keep_rule, run):
    """keep_rule='synflow' = Synaptic-Flow as published (float64); 'exact' = its loop with our count rule."""
    sc, masks = _synflow(fx, name, keep_rule)
    assert_scores(sc, ref(fx, run, name, "score"), F64_TOL)
    refm = ref(fx, run, name, "mask")
    assert_masks(masks[-1], refm)
    names = list(refm)
    assert [int(sum(int(m[n].sum()) for n in names)) for m in masks] == fx[f"{run}::{name}::round_kept"].tolist()
    key = f"{run}::{name}::round_masks_packed"
    if key in fx:
        N = n_total(refm)
        per_round = np.unpackbits(fx[key], axis=1, count=N).astype(bool)
        for r, m in enumerate(masks):
            assert np.array_equal(flat(m, names) != 0, per_round[r]), f"round {r + 1} differs"


@pytest.mark.parametrize("name", MODELS)
def test_synflow_float64_reproduces_published_float32_masks_here(fx, name):
    """Synaptic-Flow as published runs SynFlow in float32; on these models its masks equal our float64 ones."""
    _, masks = _synflow(fx, name, "synflow")
    assert_masks(masks[-1], ref(fx, "synflow_f32", name, "mask"))
    names = list(ref(fx, "synflow_f32", name, "mask"))
    assert [int(sum(int(m[n].sum()) for n in names)) for m in masks] == fx[f"synflow_f32::{name}::round_kept"].tolist()


@pytest.mark.parametrize("name", MODELS)
def test_synflow_float32_reproduces_the_published_float32_run(fx, name):
    """``dtype=torch.float32`` is Synaptic-Flow as published: every round's count and the final mask."""
    sc, masks = _synflow(fx, name, "synflow", dtype=torch.float32)
    assert all(v.dtype == torch.float32 for v in sc.values())
    refm = ref(fx, "synflow_f32", name, "mask")
    assert_masks(masks[-1], refm)
    names = list(refm)
    assert [int(sum(int(m[n].sum()) for n in names)) for m in masks] == fx[f"synflow_f32::{name}::round_kept"].tolist()


def test_score_dtype_is_checked():
    net = TinyVGG()
    for method, kw in (("synflow", dict(density=0.5, rounds=1)), ("prospr", {})):
        with pytest.raises(ValueError, match=r"dtype must be torch.float64 or torch.float32, got torch.float16"):
            compute_scores(method, net, (torch.ones(2, 3, 8, 8), torch.tensor([0, 1])), dtype=torch.float16, **kw)


def test_synflow_rules_differ_on_these_models(fx):
    """The two keep rules are different masks (the fixture would not test keep_rule otherwise)."""
    a = fx["synflow_f64::vgg::round_kept"]
    b = fx["synflow_f64_ourcount::vgg::round_kept"]
    assert (a != b).any()


# ------------------------------------------------------------------------------------ original GraSP
@pytest.mark.parametrize("name", MODELS)
def test_grasp_original_variant(fx, name):
    spc, seed, ratio = int(fx["meta::samples_per_class"]), int(fx["meta::seed"]), float(fx["meta::ratio"])
    sc = compute_scores("grasp", model(fx, name), batches(fx, 8), variant="original", samples_per_class=spc,
                        generator=seed)
    refs = ref(fx, "grasp_original", name, "score")
    assert_scores(sc, refs, F32_TOL, sign=-1.0)  # GraSP stores S = -θ⊙Hg; we return θ⊙Hg
    refm = ref(fx, "grasp_original", name, "mask")
    N, K = n_total(refm), kept(refm)
    # its rule keeps S <= the int(ratio·N)-th largest S: one weight more than N - int(ratio·N)
    assert K == N - int(N * (1 - (1 - ratio))) + 1
    assert_masks(make_mask(sc, K / N, "global", min_per_layer=0), refm)  # the same set at its count


@pytest.mark.parametrize("name", MODELS)
def test_grasp_variants_keep_different_weights(fx, name):
    a = ref(fx, "grasp_original", name, "mask")
    b = ref(fx, "grasp_synflow", name, "mask")
    fa, fb = flat(a, list(a)), flat(b, list(a))
    assert (fa & fb).sum() / (fa | fb).sum() < 0.5


# ------------------------------------------------------------------------------------ ProsPr
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("run", ["prospr", "prospr_newdata"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_prospr(fx, name, run, dtype):
    """ProsPr scores in float64 by default; the published code runs in float32. On these tiny models
    both precisions give its masks (on BatchNorm networks at scale only float64 is reproducible)."""
    # its CLI default (new_data_in_inner=False) uses one batch throughout = a fixed (x, y) source here;
    # new_data_in_inner=True takes batches 0, 1, 2 for the inner steps and 3 for the meta-loss
    source = batches(fx, 1)[0] if run == "prospr" else batches(fx, 4)
    sc = compute_scores("prospr", model(fx, name), source, inner_steps=3, inner_lr=0.1, dtype=dtype)
    assert all(v.dtype == dtype for v in sc.values())
    if dtype == torch.float64:  # the default
        default = compute_scores("prospr", model(fx, name), source, inner_steps=3, inner_lr=0.1)
        assert all(torch.equal(default[n], sc[n]) for n in sc)
    assert_scores(sc, ref(fx, run, name, "score"), F32_TOL)
    refm = ref(fx, run, name, "mask")
    N, K = n_total(refm), kept(refm)
    assert K == int(np.ceil(N * (1 - 0.9)))  # its rule: ceil(N · keep ratio), top-k
    assert_masks(make_mask(sc, K / N, "global", min_per_layer=0), refm)
