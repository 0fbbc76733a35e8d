import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from sketchbound import optimal_probabilities
from sketchbound.dnn.pruning.inputs import make_input_source, sparse_random
from sketchbound.dnn.pruning.masks import MASK_MODES, kept_count, make_mask, target_count
from sketchbound.dnn.models import MODEL_NAMES, get_model
from sketchbound.dnn.models.prunable import count_prunable, prunable_parameters
from sketchbound.dnn.pruning.scores import SCORE_METHODS, compute_scores, grasp_scores, snip_scores, synflow_scores


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    yield

SIZE, C, K = 8, 1, 3


def _source(method):
    kind = {"synflow": "chi"}.get(method, "normal")
    return make_input_source(kind, shape=(C, SIZE, SIZE), batch_size=1 if method == "synflow" else 4,
                             num_classes=K, mean=0.0, std=1.0)


def _kwargs(method):
    return {"synflow": {"density": 0.1, "rounds": 4}, "prospr": {"inner_steps": 2}}.get(method, {})


_DEFAULT_MODELS = ("lenet300100", "vgg11", "resnet20", "resnet18")  # the rest: -m slow (keeps the default run short)


@pytest.fixture(scope="module")
def all_scores():
    nets, cache = {}, {}

    def get(name, method):
        if (name, method) not in cache:
            if name not in nets:
                nets[name] = get_model(name, C, K, SIZE, width=0.125, seed=0)
            net = nets[name]
            before = {n: p.detach().clone() for n, p in net.state_dict().items()}
            sc = compute_scores(method, net, _source(method), generator=0, **_kwargs(method))
            after = net.state_dict()
            assert all(torch.equal(before[n], after[n]) for n in before), f"{method} modified the model"
            cache[name, method] = (net, sc)
        return cache[name, method]

    return get


@pytest.mark.parametrize("name", [n if n in _DEFAULT_MODELS else pytest.param(n, marks=pytest.mark.slow)
                                  for n in MODEL_NAMES])
@pytest.mark.parametrize("method", SCORE_METHODS)
def test_every_model_method_mode(all_scores, name, method):
    net, sc = all_scores(name, method)
    params = prunable_parameters(net)
    assert list(sc) == [n for n, _ in params]
    assert all(sc[n].shape == p.shape and torch.isfinite(sc[n]).all() for n, p in params)
    if method != "grasp":
        assert all(float(v.min()) >= 0 for v in sc.values())
    d = count_prunable(net)
    for mode in MASK_MODES:
        m = make_mask(sc, 0.1, mode, rng=0)
        if mode == "algorithm1":
            assert 0 < kept_count(m) <= target_count(0.1, d)
        else:
            assert kept_count(m) == target_count(0.1, d)
            assert all(int(v.sum()) >= 1 for v in m.values())


def test_same_seed_same_scores():
    net = get_model("resnet20", C, K, SIZE, width=0.25, seed=0)
    for method in ["random", "snip", "synflow", "prospr"]:
        a = compute_scores(method, net, _source(method), generator=5, **_kwargs(method))
        b = compute_scores(method, net, _source(method), generator=5, **_kwargs(method))
        assert all(torch.equal(a[n], b[n]) for n in a)


def test_synflow_linear_with_row_norm_input_is_eq2():
    # §5.1: a linear model fed ||X_(i)|| has SynFlow scores ||X_(i)|| |w_i| (eq. (2) after normalising)
    torch.manual_seed(0)
    d, n = 12, 30
    lin = torch.nn.Linear(d, 1, bias=False)
    X = np.random.default_rng(0).normal(size=(d, n))
    x = torch.from_numpy(np.linalg.norm(X, axis=1)).float().reshape(1, d)
    sc = synflow_scores(lin, (x, None), density=1.0, rounds=1)["weight"].double().flatten().numpy()
    np.testing.assert_allclose(sc / sc.sum(), optimal_probabilities(X, lin.weight.detach().double().flatten().numpy()),
                               rtol=1e-6)


def test_snip_l1_with_one_nonzero_per_row_is_eq2():
    # §5.2: ℓ1 loss and X with one non-zero per row X_(j) give p_j ∝ |w_j| ||X_(j)||
    torch.manual_seed(1)
    d, n = 15, 6
    lin = torch.nn.Linear(d, 1, bias=False).double()
    xb = sparse_random(n, (d,), generator=3, dtype=torch.float64)  # n × d: each feature non-zero in one example
    X = xb.numpy().T
    sc = snip_scores(lin, (xb, torch.zeros(n, dtype=torch.float64)), loss="l1")["weight"].flatten().numpy()
    np.testing.assert_allclose(sc / sc.sum(), optimal_probabilities(X, lin.weight.detach().flatten().numpy()), rtol=1e-9)


def test_grasp_sign_is_theta_times_hessian_gradient():
    torch.manual_seed(2)
    lin = torch.nn.Linear(3, 2, bias=False).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0, 1])
    w0 = lin.weight.detach().clone()

    def loss(w):
        return torch.nn.functional.cross_entropy((x @ w.reshape(2, 3).T) / 200.0, y)

    H = torch.autograd.functional.hessian(loss, w0.flatten())
    g = torch.autograd.functional.jacobian(loss, w0.flatten())
    expected = w0.flatten() * (H @ g)  # GraSP prunes the highest -θ⊙Hg ⇒ keep the highest θ⊙Hg
    got = grasp_scores(lin, (x, y))["weight"].flatten()
    torch.testing.assert_close(got, expected)


def test_imp_scores_respect_previous_mask():
    net = get_model("lenet300100", 1, 10, 8, width=0.1, seed=0)
    prev = {n: (torch.rand(p.shape) > 0.5).float() for n, p in prunable_parameters(net)}
    sc = compute_scores("imp", net, mask=prev)
    for n, p in prunable_parameters(net):
        assert torch.equal(sc[n], p.detach().abs() * prev[n])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet20", "vgg19"])
def test_synflow_no_layer_collapse_at_2_percent_real_size(name):
    torch.set_num_threads(max(1, min(2, __import__("os").cpu_count() or 1)))  # real size: use the cores
    # real CIFAR-size models; VGG-19 with 10 rounds (≈10 s on 2 idle CPU cores) instead of 100; the
    # randomized mode uses the global-threshold counts, so it checks the per-layer counts of both
    net = get_model(name, 3, 10, 32, seed=0)
    src = make_input_source("ones", shape=(3, 32, 32), batch_size=1)
    rounds = 100 if name == "resnet20" else 10
    for mode in (["global", "randomized"] if name == "resnet20" else ["randomized"]):
        sc = synflow_scores(net, src, density=0.02, rounds=rounds, mode=mode, generator=0)
        m = make_mask(sc, 0.02, mode, rng=0)
        assert kept_count(m) == target_count(0.02, count_prunable(net))
        assert min(int(v.sum()) for v in m.values()) > 0


@pytest.mark.slow
def test_unguarded_synflow_reproduces_shortcut_collapse():
    # Synaptic-Flow issue #7 with min_per_layer=0: a 1×1 shortcut of ResNet-20 loses every weight
    net = get_model("resnet20", 3, 10, 32, seed=0)
    src = make_input_source("ones", shape=(3, 32, 32), batch_size=1)
    sc = synflow_scores(net, src, density=0.02, rounds=20, min_per_layer=0, generator=0)
    m = make_mask(sc, 0.02, "global", min_per_layer=0)
    assert min(int(v.sum()) for n, v in m.items() if "shortcut" in n) == 0


def test_bad_arguments():
    net = get_model("resnet20", 1, 3, 8, width=0.25, seed=0)
    with pytest.raises(ValueError, match="method must be one of"):
        compute_scores("hessian", net)
    with pytest.raises(ValueError, match="density must be a number"):
        synflow_scores(net, _source("synflow"), density=0.0)
    with pytest.raises(ValueError, match="rounds must be a positive integer, got 0"):
        synflow_scores(net, _source("synflow"), density=0.1, rounds=0)
    with pytest.raises(ValueError, match="loss must be one of"):
        snip_scores(net, _source("snip"), loss="hinge")
    with pytest.raises(ValueError, match="batch_source is None"):
        snip_scores(net, None)


# ------------------------------------------------------------------ parity details of the published code
from sketchbound.dnn.pruning.masks import keep_counts  # noqa: E402
from sketchbound.dnn.pruning.scores import deterministic_algorithms, prospr_scores  # noqa: E402


def _labelled(n_classes=K, batch=12):
    return make_input_source("normal", shape=(C, SIZE, SIZE), batch_size=batch, num_classes=n_classes,
                             mean=0.0, std=1.0)


def test_grasp_variants_same_seed_same_scores_and_differ():
    net = get_model("resnet20", C, K, SIZE, width=0.125, seed=0)
    out = {}
    for variant in ("synflow", "original"):
        a = grasp_scores(net, _labelled(), variant=variant, samples_per_class=4, generator=3)
        b = grasp_scores(net, _labelled(), variant=variant, samples_per_class=4, generator=3)
        assert all(torch.equal(a[n], b[n]) for n in a)  # bit for bit on CPU
        out[variant] = a
    ma = make_mask(out["synflow"], 0.1, "global", min_per_layer=0)
    mb = make_mask(out["original"], 0.1, "global", min_per_layer=0)
    inter = sum(int((ma[n] * mb[n]).sum()) for n in ma)
    assert inter < 0.9 * kept_count(ma)  # BN train vs eval, re-init, halves: a different kept set


def test_grasp_original_is_reinit_plus_train_mode_plus_class_sorted_halves():
    """variant='original' = the synflow-variant computation in train mode on a copy whose Linear layers were
    Xavier-re-initialised from the generator, on the class-sorted halves of spc examples per class."""
    net = get_model("resnet20", C, K, SIZE, width=0.125, seed=0)
    before = {n: p.detach().clone() for n, p in net.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, C, SIZE, SIZE, generator=g)
    y = torch.tensor([2, 0, 2, 1, 0, 2, 1, 0, 1, 2, 0, 1])
    sc = grasp_scores(net, (x, y), variant="original", samples_per_class=2, generator=5)
    assert all(torch.equal(before[n], p) for n, p in net.state_dict().items())  # the model is untouched
    twin = get_model("resnet20", C, K, SIZE, width=0.125, seed=0)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for mod in twin.modules():
            if isinstance(mod, torch.nn.Linear):
                torch.nn.init.xavier_normal_(mod.weight, generator=gen)
    idx = torch.tensor([1, 4, 3, 6, 0, 2])  # first two of class 0, then 1, then 2
    halves = [(x[idx[:3]], y[idx[:3]]), (x[idx[3:]], y[idx[3:]])]
    ref = grasp_scores(twin, halves, variant="synflow", train_mode=True, num_batches=2)
    assert all(torch.equal(sc[n], ref[n]) for n in sc)
    plain = grasp_scores(net, halves, variant="synflow", train_mode=True, num_batches=2)
    assert not torch.equal(sc["fc.weight"], plain["fc.weight"])  # the re-init matters


def test_grasp_original_needs_labels_and_every_class():
    net = get_model("resnet20", C, K, SIZE, width=0.125, seed=0)
    x = torch.randn(6, C, SIZE, SIZE)
    with pytest.raises(ValueError, match="labelled batches"):
        grasp_scores(net, x, variant="original")
    with pytest.raises(ValueError, match="never gave 2 examples of every class"):
        grasp_scores(net, (x, torch.tensor([0, 0, 1, 1, 0, 1])), variant="original", samples_per_class=2)
    with pytest.raises(ValueError, match="variant must be one of"):
        grasp_scores(net, (x, torch.zeros(6, dtype=torch.long)), variant="authors")


def test_prospr_same_seed_same_scores_bitwise_and_does_not_touch_global_state():
    net = get_model("resnet20", C, K, SIZE, width=0.125, seed=0)
    a = prospr_scores(net, _labelled(), inner_steps=3, generator=7)
    torch.rand(5)  # the global RNG is not used
    flags = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    b = prospr_scores(net, _labelled(), inner_steps=3, generator=7)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == flags
    c = prospr_scores(net, _labelled(), inner_steps=3, generator=8)
    assert not all(torch.equal(a[n], c[n]) for n in a)


def test_deterministic_algorithms_restores_flags():
    prev = torch.are_deterministic_algorithms_enabled()
    with deterministic_algorithms():
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        assert not torch.backends.cuda.matmul.allow_tf32
    assert torch.are_deterministic_algorithms_enabled() == prev


def test_paired_runs_share_scores(tmp_path):
    """Threshold and randomized runs of one seed compute the same scores: same per-layer counts."""
    from sketchbound.dnn.data.datasets import TensorDataset
    from sketchbound.dnn.experiments.config import RunConfig
    from sketchbound.dnn.experiments.run import build_model, compute_mask
    g = torch.Generator().manual_seed(0)
    data = TensorDataset("fashion-mnist", torch.randint(0, 256, (64, 1, 8, 8), dtype=torch.uint8, generator=g),
                         torch.randint(0, 10, (64,), generator=g), torch.zeros(4, 1, 8, 8, dtype=torch.uint8),
                         torch.zeros(4, dtype=torch.long), 10, (0.5,), (0.25,))
    counts = {}
    for method in ("prospr",):  # the method whose GPU masks drifted by 150–11,630 weights before this check
        for mask in ("global", "randomized"):
            cfg = RunConfig(model="resnet20", dataset="fashion-mnist", method=method, inputs="real", mask=mask,
                            density=0.1, width=0.125, prune_batch_size=16, pad_to=8, seed=4, min_per_layer=0)
            out = compute_mask(cfg, build_model(cfg, data, torch.device("cpu")), data, torch.device("cpu"),
                               log=lambda msg: None)
            counts[method, mask] = {n: int(m.sum()) for n, m in out.masks.items()}
            assert out.extra["mask_info"]["guard_fired"] is False
        assert counts[method, "global"] == counts[method, "randomized"]


def test_mask_info_reports_the_guard():
    sc = {"big": torch.arange(100.0), "tiny": torch.zeros(5)}
    info = {}
    m = make_mask(sc, 0.1, "global", min_per_layer=1, info=info)
    assert info == {"keep_rule": "exact", "min_per_layer": 1, "guard_fired": True, "guard_kept": 1,
                    "guard_layers": {"tiny": 1}, "kept": 11}
    assert int(m["tiny"].sum()) == 1
    info = {}
    make_mask(sc, 0.1, "randomized", rng=0, min_per_layer=0, info=info)
    assert info["guard_fired"] is False and info["guard_kept"] == 0 and info["kept"] == 11
    info = {}
    make_mask({"a": torch.arange(10.0), "b": torch.arange(10.0)}, 0.5, "global", info=info)
    assert info["guard_fired"] is False  # both layers keep weights anyway


class _TwoPaths(torch.nn.Module):
    """A strong path a2∘a1 and a weak parallel path b (like a 1×1 shortcut): unguarded SynFlow cuts b."""

    def __init__(self):
        super().__init__()
        self.a1, self.a2 = torch.nn.Linear(10, 10, bias=False), torch.nn.Linear(10, 1, bias=False)
        self.b = torch.nn.Linear(10, 1, bias=False)
        with torch.no_grad():
            self.a1.weight.uniform_(0.5, 1.0, generator=torch.Generator().manual_seed(0))
            self.a2.weight.fill_(1.0)
            self.b.weight.fill_(1e-3)

    def forward(self, x):
        return self.a2(self.a1(x)) + self.b(x)


def test_synflow_info_counts_guarded_rounds():
    net, x = _TwoPaths(), torch.ones(1, 10)
    info, seen = {}, []
    sc = synflow_scores(net, (x, None), density=0.1, rounds=10, min_per_layer=1, info=info,
                        on_round=lambda r, m: seen.append(int(m["b.weight"].sum())))
    assert seen == [1] * 9  # b would be empty from round 1 (its 10 weights are the 25 lowest): guard in all 9
    assert info == {"synflow_rounds_guard_fired": 9, "synflow_guard_kept_max": 1}
    final = {}
    make_mask(sc, 0.1, "global", min_per_layer=1, info=final)
    assert final["guard_fired"] and final["guard_kept"] == 1 and final["guard_layers"] == {"b.weight": 1}
    again = {}
    sc = synflow_scores(net, (x, None), density=0.1, rounds=10, min_per_layer=0, info=again)
    assert again == {"synflow_rounds_guard_fired": 0, "synflow_guard_kept_max": 0}
    assert int(make_mask(sc, 0.1, "global", min_per_layer=0)["b.weight"].sum()) == 0


def test_keep_rule_synflow_is_the_kthvalue_threshold():
    sc = {"a": torch.tensor([1.0, 1.0, 1.0, 2.0, 3.0]), "b": torch.tensor([0.5, 4.0, 5.0])}
    # N = 8, density 0.5: prune int(0.5·8) = 4 → t = 4th smallest = 1.0, keep score > 1: ties over-prune
    m = make_mask(sc, 0.5, "global", min_per_layer=0, keep_rule="synflow")
    assert m["a"].tolist() == [0, 0, 0, 1, 1] and m["b"].tolist() == [0, 1, 1]
    assert keep_counts(sc, 0.5, min_per_layer=0, keep_rule="synflow") == {"a": 2, "b": 2}
    assert kept_count(make_mask(sc, 0.5, "global", min_per_layer=0)) == 4  # exact: round(0.5·8)
    # without ties it keeps N - int((1 - d)·N): one more than exact when (1 - d)·N is not an integer
    sc = {"w": torch.randperm(2104).double()}
    assert kept_count(make_mask(sc, 0.1, "global", min_per_layer=0, keep_rule="synflow")) == 2104 - int(0.9 * 2104)
    assert kept_count(make_mask(sc, 0.1, "global", min_per_layer=0)) == round(0.1 * 2104)
    with pytest.raises(ValueError, match="needs min_per_layer=0"):
        make_mask(sc, 0.1, "global", keep_rule="synflow")
    with pytest.raises(ValueError, match="global-count modes"):
        make_mask(sc, 0.1, "layerwise", min_per_layer=0, keep_rule="synflow")
    with pytest.raises(ValueError, match="keep_rule must be one of"):
        make_mask(sc, 0.1, "global", keep_rule="open_lth")


def test_target_count_is_exact_round_half_up():
    """⌊d·N + ½⌋ on the density as written: 0.145 × 100 = 14.5 keeps 15 (floating point gave 14)."""
    from fractions import Fraction
    assert target_count(0.145, 100) == 15
    assert target_count(np.float32(0.145), 100) == target_count(np.float64(0.145), 100) == 15
    assert target_count(Fraction(29, 200), 100) == 15
    assert target_count(0.05, 270896) == 13545 and target_count(1, 7) == 7 and target_count(1e-05, 10**6) == 10
    for k in range(1, 1000):  # every density with three decimals against integer arithmetic
        d = k / 1000
        for N in (1, 2, 100, 999, 1000, 4321, 270896):
            exact = (2 * k * N + 1000) // 2000
            if exact >= 1:
                assert target_count(d, N) == exact, (d, N)
    with pytest.raises(ValueError, match="density must be a number in"):
        target_count(0.0, 10)


def test_prospr_and_synflow_score_dtypes():
    """ProsPr scores in float64 by default (float32 on request); SynFlow likewise."""
    from sketchbound.dnn.pruning.scores import prospr_scores
    net = get_model("lenet300100", C, K, SIZE, width=0.125, seed=0)
    src = _source("prospr")
    a = prospr_scores(net, src, inner_steps=2, generator=3)
    b = prospr_scores(net, src, inner_steps=2, generator=3, dtype=torch.float32)
    assert all(v.dtype == torch.float64 for v in a.values()) and all(v.dtype == torch.float32 for v in b.values())
    for n in a:  # the same computation at two precisions
        np.testing.assert_allclose(b[n].double().numpy(), a[n].numpy(), rtol=1e-3, atol=1e-6 * float(a[n].abs().max()))
    s = synflow_scores(net, _source("synflow"), density=0.5, rounds=2, generator=0, dtype=torch.float32)
    assert all(v.dtype == torch.float32 for v in s.values())


def test_grasp_samples_per_class_reaches_the_score_from_a_run_config(monkeypatch):
    """``grasp_samples_per_class`` (default 25; the published GraSP configs use 10, 5 or 1) is a run
    option: validated, hashed only when not 25, and passed to ``grasp_scores``."""
    import sketchbound.dnn.pruning.scores as S
    from sketchbound.dnn.experiments import masking as M, run as R
    from sketchbound.dnn.experiments.config import RunConfig
    base = dict(model="lenet300100", dataset="mnist", method="grasp", density=0.1, seed=0)
    assert RunConfig(**base).grasp_samples_per_class == 25
    assert RunConfig(**base, grasp_samples_per_class=25).run_name() == RunConfig(**base).run_name()
    assert RunConfig(**base, grasp_samples_per_class=10).run_name() != RunConfig(**base).run_name()
    with pytest.raises(ValueError, match="grasp_samples_per_class must be >= 1; got 0"):
        RunConfig(**base, grasp_samples_per_class=0)
    seen = {}

    def fake(method, model, source, **kw):
        seen.update(kw)
        raise RuntimeError("stop")
    monkeypatch.setattr(S, "compute_scores", fake)
    monkeypatch.setattr(M, "_batch_source", lambda cfg, data, device: None)
    net = get_model("lenet300100", C, K, SIZE, width=0.125, seed=0)
    with pytest.raises(RuntimeError, match="stop"):
        R.compute_mask(RunConfig(**base, grasp_samples_per_class=5, grasp_variant="original"), net, None,
                       torch.device("cpu"), print)
    assert seen["samples_per_class"] == 5 and seen["variant"] == "original"
