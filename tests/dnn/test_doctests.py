"""The docstring examples of the private modules run as written (``tests/test_api_docs.py`` runs the public
modules' examples and checks their sections)."""
import doctest
import importlib
import pkgutil

import pytest

torch = pytest.importorskip("torch")

import sketchbound  # noqa: E402

PRIVATE = sorted(m.name for m in pkgutil.walk_packages(sketchbound.__path__, "sketchbound.")
                 if any(p.startswith("_") for p in m.name.split(".")[1:]))


@pytest.mark.parametrize("name", PRIVATE)
def test_private_module_examples(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0


def test_the_walk_finds_private_modules():
    assert "sketchbound._io" in PRIVATE and not [m for m in PRIVATE if m == "sketchbound.theory"]
