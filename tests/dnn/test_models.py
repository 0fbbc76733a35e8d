import pytest

torch = pytest.importorskip("torch")

from sketchbound.dnn.models import MODEL_NAMES, canonical_name, get_model
from sketchbound.dnn.models.prunable import count_prunable, prunable_parameters


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("init", ["kaiming", "normal", "xavier"])
def test_every_model_builds_runs_and_is_reproducible(name, init):
    a = get_model(name, in_channels=2, num_classes=7, image_size=8, init=init, width=0.125, seed=3)
    b = get_model(name, in_channels=2, num_classes=7, image_size=8, init=init, width=0.125, seed=3)
    a.eval()
    out = a(torch.randn(3, 2, 8, 8))
    assert out.shape == (3, 7)
    for (na, pa), (nb, pb) in zip(prunable_parameters(a), prunable_parameters(b)):
        assert na == nb and torch.equal(pa, pb)
    names = [n for n, _ in prunable_parameters(a)]
    assert names and all(n.endswith(".weight") for n in names)
    assert not any("bn" in n or "bias" in n for n in names)


def test_prunable_excludes_biases_and_batchnorm():
    net = get_model("vgg11", 3, 10, 8, width=0.125, seed=0)
    bn_or_bias = sum(p.numel() for n, p in net.named_parameters() if p.dim() == 1)
    assert count_prunable(net) + bn_or_bias == sum(p.numel() for p in net.parameters())


def test_paper_sizes():
    assert count_prunable(get_model("resnet20", 3, 10, 32)) == 270896
    assert count_prunable(get_model("lenet300100", 1, 10, 28)) == 784 * 300 + 300 * 100 + 100 * 10
    wrn = get_model("wideresnet20_32", 3, 10, 32)
    assert wrn.conv1.out_channels == 32 and wrn.fc.in_features == 128


def test_init_schemes_have_their_scale():
    torch.manual_seed(0)
    stds = {}
    for init in ["kaiming", "normal", "xavier"]:
        net = get_model("lenet300100", 1, 10, 28, init=init, seed=0)
        stds[init] = float(net.fc1.weight.detach().std())
    assert abs(stds["kaiming"] - (2 / 784) ** 0.5) < 0.002
    assert abs(stds["normal"] - 0.01) < 0.001
    assert abs(stds["xavier"] - (2 / (784 + 300)) ** 0.5) < 0.002


def test_names_and_bad_arguments():
    assert canonical_name("VGG-19") == "vgg19" and canonical_name("fc") == "lenet300100"
    with pytest.raises(ValueError, match="unknown model 'vgg13'"):
        get_model("vgg13")
    with pytest.raises(ValueError, match="init must be one of"):
        get_model("vgg11", init="orthogonal")
    with pytest.raises(ValueError, match="in_channels must be a positive integer, got 0"):
        get_model("resnet20", in_channels=0)
    with pytest.raises(ValueError, match="width"):
        get_model("resnet20", width=-1)
