import doctest
import importlib

import pytest

torch = pytest.importorskip("torch")

MODULES = ["prunable", "inputs", "masks", "scores", "plugin", "idx", "models", "models.vgg", "models.fc",
           "models.resnet", "models.wide_resnet", "models.init"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(f"sketchbound.dnn.{name}")
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0
