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


EXPERIMENTS = sorted(m.name for m in pkgutil.iter_modules(importlib.import_module("sketchbound.dnn.experiments").__path__,
                                                          "sketchbound.dnn.experiments.")
                     if not m.name.rsplit(".", 1)[-1].startswith("_"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_public_names_have_numpydoc(name):
    """Every public module of dnn.experiments has ``__all__``; each function or class in it documents its
    parameters (a class: ``Parameters`` or ``Attributes``), what it returns (functions) and an example."""
    import inspect
    mod = importlib.import_module(name)
    assert hasattr(mod, "__all__"), f"{name} has no __all__"
    missing = []
    for n in mod.__all__:
        obj = getattr(mod, n)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        doc = inspect.getdoc(obj) or ""
        try:
            params = [p for p in inspect.signature(obj).parameters.values() if p.name != "self"]
        except ValueError:  # an exception class inherits a builtin's constructor
            params = []
        if params and "Parameters\n---" not in doc and not (inspect.isclass(obj) and "Attributes\n---" in doc):
            missing.append(f"{n}: Parameters")
        if inspect.isfunction(obj) and "Returns\n---" not in doc and "Yields\n---" not in doc:
            missing.append(f"{n}: Returns")
        if "Examples\n---" not in doc:
            missing.append(f"{n}: Examples")
    assert not missing, missing
