import pytest

torch = pytest.importorskip("torch")
from torch.nn.utils import prune

from sketchbound.dnn.pruning.masks import keep_counts
from sketchbound.dnn.models import get_model
from sketchbound.dnn.pruning.plugin import RandomizedSketch, global_randomized_sketch, randomized_sketch
from sketchbound.dnn.models.prunable import prunable_modules


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    yield


def _params(net):
    return [(m, "weight") for _, m in prunable_modules(net)]


def test_global_unstructured_with_randomized_sketch():
    net = get_model("resnet20", 1, 10, 8, width=0.25, seed=0)
    params = _params(net)
    n = sum(m.weight.numel() for m, _ in params)
    scores = {(m, nm): m.weight.detach().abs() for m, nm in params}
    prune.global_unstructured(params, pruning_method=RandomizedSketch, amount=0.95, importance_scores=scores, seed=0)
    kept = sum(int(m.weight_mask.sum()) for m, _ in params)
    assert kept == n - round(0.95 * n)
    for m, _ in params:  # the pruned weight is weight_orig * mask
        assert torch.equal(m.weight, m.weight_orig * m.weight_mask)


def test_paper_version_has_global_threshold_counts():
    net = get_model("resnet20", 1, 10, 8, width=0.25, seed=1)
    params = _params(net)
    named = {f"{n}.weight": m.weight.detach().abs().clone() for n, m in prunable_modules(net)}
    global_randomized_sketch(params, amount=0.9, seed=3)
    n = sum(v.numel() for v in named.values())
    expected = keep_counts(named, (n - round(0.9 * n)) / n, min_per_layer=0)
    got = {f"{nm}.weight": int(m.weight_mask.sum()) for nm, m in prunable_modules(net)}
    assert got == expected


def test_single_module_layerwise_and_reproducible():
    a, b = torch.nn.Linear(20, 10), torch.nn.Linear(20, 10)
    b.load_state_dict(a.state_dict())
    randomized_sketch(a, "weight", amount=0.7, seed=4)
    randomized_sketch(b, "weight", amount=0.7, seed=4)
    assert int(a.weight_mask.sum()) == 60 and torch.equal(a.weight_mask, b.weight_mask)
    # iterative pruning keeps earlier zeros (torch's PruningContainer)
    randomized_sketch(a, "weight", amount=0.5, seed=5)
    assert int(a.weight_mask.sum()) == 30 and bool((a.weight_mask <= b.weight_mask).all())


def test_prefers_high_scores():
    lin = torch.nn.Linear(100, 1, bias=False)
    scores = torch.ones(1, 100)
    scores[0, :10] = 1e6
    RandomizedSketch.apply(lin, "weight", amount=0.9, importance_scores=scores, seed=0)
    assert int(lin.weight_mask[0, :10].sum()) == 10
