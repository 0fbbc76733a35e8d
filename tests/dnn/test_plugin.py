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


# ---------------------------------------------------------------- composition with earlier pruning
def _net(seed=2):
    return get_model("resnet20", 1, 10, 8, width=0.25, seed=seed)


def _counts(net):
    return [int(m.weight_mask.sum()) for _, m in prunable_modules(net)]


def _current(m):
    return (m.weight_orig * m.weight_mask if hasattr(m, "weight_mask") else m.weight).detach()


def _l1_step(net, amount):
    params = _params(net)
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount,
                              importance_scores={(m, n): _current(m).abs() for m, n in params})


def _twin(net):
    """A copy of a (partly) pruned net (deepcopy refuses pruned modules): same reparametrisation, same state."""
    twin = _net(seed=99)
    for (_, m), (_, t) in zip(prunable_modules(net), prunable_modules(twin)):
        if hasattr(m, "weight_mask"):
            prune.identity(t, "weight")
    twin.load_state_dict(net.state_dict())
    return twin


def _sketch_step_like_l1(net, amount, seed):
    """One global_randomized_sketch step; its per-layer counts must be those of the L1 step from the same state."""
    twin = _twin(net)
    before = [m.weight_mask.clone() if hasattr(m, "weight_mask") else None for _, m in prunable_modules(net)]
    global_randomized_sketch(_params(net), amount=amount, seed=seed)
    _l1_step(twin, amount)
    assert _counts(net) == _counts(twin)
    for b, (_, m) in zip(before, prunable_modules(net)):
        if b is not None:  # earlier zeros stay zero
            assert bool((m.weight_mask <= b).all())
        assert torch.equal(m.weight, m.weight_orig * m.weight_mask)


def test_global_sketch_twice_in_a_row_has_l1_counts_at_every_step():
    net = _net()
    n = sum(m.weight.numel() for m, _ in _params(net))
    left = n
    for step, amount in enumerate([0.5, 0.5, 0.3]):
        _sketch_step_like_l1(net, amount, seed=step)
        left -= round(amount * left)
        assert sum(_counts(net)) == left


def test_global_sketch_after_l1_unstructured_on_one_layer():
    net = _net()
    layer = [m for _, m in prunable_modules(net)][3]
    prune.l1_unstructured(layer, "weight", amount=0.5)
    # the scores follow the pruned layer's remaining weights, not its original size
    _sketch_step_like_l1(net, 0.8, seed=1)
    _sketch_step_like_l1(net, 0.5, seed=2)


def test_global_sketch_with_prune_remove_in_between():
    net = _net()
    _sketch_step_like_l1(net, 0.3, seed=0)
    for m, n in _params(net):
        prune.remove(m, n)
    # the second amount (50 % of all) exceeds the zeros left by remove (30 %): no ties decide the counts
    _sketch_step_like_l1(net, 0.5, seed=1)
    for _, m in prunable_modules(net):
        assert bool((m.weight_orig[m.weight_mask == 1] != 0).all())  # the removed step's zeros stay pruned


def test_randomized_sketch_composes_on_one_layer_like_l1():
    a, b = torch.nn.Linear(30, 20), torch.nn.Linear(30, 20)
    b.load_state_dict(a.state_dict())
    prune.l1_unstructured(a, "weight", amount=0.25)
    prune.l1_unstructured(b, "weight", amount=0.25)
    for step, amount in enumerate([0.5, 0.4, 7]):
        prev = a.weight_mask.clone()
        randomized_sketch(a, "weight", amount=amount, seed=step)
        prune.l1_unstructured(b, "weight", amount=amount)
        assert int(a.weight_mask.sum()) == int(b.weight_mask.sum())
        assert bool((a.weight_mask <= prev).all())


def test_state_dict_round_trip_and_continue():
    a, b = _net(), _net(seed=7)
    global_randomized_sketch(_params(a), amount=0.6, seed=0)
    for m, n in _params(b):  # give b the same reparametrisation, then load a's state
        prune.identity(m, n)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 1, 8, 8)
    a.eval(), b.eval()
    assert torch.equal(a(x), b(x))  # the forward pre-hook recomputes weight = weight_orig * weight_mask
    for (_, ma), (_, mb) in zip(prunable_modules(a), prunable_modules(b)):
        assert torch.equal(ma.weight_mask, mb.weight_mask) and torch.equal(ma.weight, mb.weight)
    global_randomized_sketch(_params(a), amount=0.5, seed=9)
    global_randomized_sketch(_params(b), amount=0.5, seed=9)  # same seed, same state → same masks
    for (_, ma), (_, mb) in zip(prunable_modules(a), prunable_modules(b)):
        assert torch.equal(ma.weight_mask, mb.weight_mask)
    assert torch.equal(a(x), b(x))


def test_global_sketch_with_a_layer_pruned_entirely_before():
    net = _net()
    prune.l1_unstructured([m for _, m in prunable_modules(net)][1], "weight", amount=1.0)
    _sketch_step_like_l1(net, 0.5, seed=0)
    assert _counts(net)[1] == 0


def test_layer_sizes_must_count_unpruned_entries():
    lin = torch.nn.Linear(10, 10)
    prune.l1_unstructured(lin, "weight", amount=0.5)
    with pytest.raises(ValueError, match="unpruned entries"):
        prune.global_unstructured([(lin, "weight")], pruning_method=RandomizedSketch, amount=0.5, seed=0,
                                  importance_scores={(lin, "weight"): lin.weight.detach().abs()}, layer_sizes=[100])


def test_global_sketch_takes_scores_from_compute_scores_and_defaults_to_magnitude():
    from sketchbound.dnn.pruning.scores import compute_scores
    net = get_model("resnet20", 1, 10, 8, width=0.25, seed=4)
    scores = compute_scores("synflow", net, torch.ones(1, 1, 8, 8), density=0.1, rounds=2)
    n = sum(v.numel() for v in scores.values())
    global_randomized_sketch(net, amount=0.9, seed=0, scores=scores)  # amount = 1 - density (torch's convention)
    got = {f"{nm}.weight": int(m.weight_mask.sum()) for nm, m in prunable_modules(net)}
    assert got == keep_counts(scores, (n - round(0.9 * n)) / n, min_per_layer=0)
    # without scores it is |w|: the per-layer counts of magnitude pruning, not SynFlow's
    net2 = get_model("resnet20", 1, 10, 8, width=0.25, seed=4)
    mags = {f"{nm}.weight": m.weight.detach().abs().clone() for nm, m in prunable_modules(net2)}
    global_randomized_sketch(net2, amount=0.9, seed=0)
    got2 = {f"{nm}.weight": int(m.weight_mask.sum()) for nm, m in prunable_modules(net2)}
    assert got2 == keep_counts(mags, (n - round(0.9 * n)) / n, min_per_layer=0) and got2 != got


def test_global_sketch_scores_need_the_model_and_matching_names():
    from sketchbound.dnn.pruning.scores import compute_scores
    net = get_model("resnet20", 1, 10, 8, width=0.25, seed=0)
    scores = compute_scores("magnitude", net)
    with pytest.raises(ValueError, match="needs parameters to be the model"):
        global_randomized_sketch(_params(net), amount=0.5, scores=scores)
    with pytest.raises(ValueError, match="not both"):
        global_randomized_sketch(net, amount=0.5, scores=scores, importance_scores={})
    with pytest.raises(ValueError, match="one entry per prunable weight"):
        global_randomized_sketch(net, amount=0.5, scores=dict(list(scores.items())[1:]))
