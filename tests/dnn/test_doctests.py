"""Every docstring example of the dnn package and the shared core helpers runs as written."""
import doctest
import importlib
import pkgutil

import pytest

torch = pytest.importorskip("torch")

import sketchbound.dnn  # noqa: E402

MODULES = sorted({m.name for m in pkgutil.walk_packages(sketchbound.dnn.__path__, "sketchbound.dnn.")}
                 | {"sketchbound._io", "sketchbound.seeds", "sketchbound.dnn"})


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0
