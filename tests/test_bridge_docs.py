"""The bridge package's public API docs: every non-private module defines ``__all__``; every function or
class it lists has numpydoc Parameters / Returns / Examples sections; every docstring example runs."""
import doctest
import importlib
import inspect
import pkgutil

import pytest

import sketchbound.bridge

MODULES = ["sketchbound.bridge"] + sorted(f"sketchbound.bridge.{m.name}"
                                          for m in pkgutil.iter_modules(sketchbound.bridge.__path__)
                                          if not m.name.startswith("_"))


def _missing_sections(obj) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    has = lambda title: f"{title}\n{'-' * len(title)}" in doc  # noqa: E731
    out = []
    params = [p for p in inspect.signature(obj).parameters.values() if p.name not in ("self", "cls")]
    if params and not has("Parameters"):
        out.append("Parameters")
    if inspect.isfunction(obj):
        key = "Yields" if inspect.isgeneratorfunction(obj) else "Returns"
        if not has(key):
            out.append(key)
    if not has("Examples"):
        out.append("Examples")
    return out


@pytest.mark.parametrize("name", MODULES)
def test_public_names_are_documented(name):
    mod = importlib.import_module(name)
    assert isinstance(getattr(mod, "__all__", None), list), f"{name} has no __all__"
    bad = {}
    for n in mod.__all__:
        obj = getattr(mod, n)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == name:
            if missing := _missing_sections(obj):
                bad[n] = missing
    assert not bad, bad


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert res.failed == 0
