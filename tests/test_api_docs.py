"""The public API docs: every non-private module of ``sketchbound`` defines ``__all__``; every function and
class it exports carries the numpydoc sections (``Parameters`` when it takes arguments, ``Returns`` or
``Yields`` for functions, ``Examples`` with a doctest); and the module's doctests pass.

A module is private when a component of its dotted path starts with ``_`` (``__init__`` excepted). Each
test is parametrised by the module's dotted name, so ``-k sketchbound.theory`` selects one module.
The doctests run in a scratch working directory, each docstring in a fresh copy of the module's globals.
"""
from __future__ import annotations

import doctest
import importlib
import inspect
import io
import time
from pathlib import Path

import pytest

import sketchbound
from sketchbound import claims

# modules whose docs are still being written: emptied as each module is documented
PENDING = frozenset()

_PACKAGE_ROOT = Path(sketchbound.__file__).resolve().parent
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# a docstring's examples must be tiny (< 0.5 s on an idle core, the first import of what they use aside); the
# bound asserted leaves room for a loaded shared machine and catches examples that compute for real
_DOCSTRING_SECONDS = 10.0


def public_modules() -> list[str]:
    """The dotted names of the package's non-private modules, found on disk (nothing is imported)."""
    names = []
    for path in sorted(_PACKAGE_ROOT.rglob("*.py")):
        parts = path.relative_to(_PACKAGE_ROOT.parent).with_suffix("").parts
        if any(p.startswith("_") and p != "__init__" for p in parts):
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = public_modules()


def _load(name: str):
    if name in PENDING:
        pytest.skip("documentation still being written (tests/test_api_docs.py PENDING)")
    return importlib.import_module(name)


def sections(doc: str) -> dict[str, str]:
    """A numpydoc docstring's sections: header (a line underlined by at least as many dashes) → body."""
    lines = inspect.cleandoc(doc).splitlines()
    found: dict[str, list[str]] = {}
    current = None
    i = 0
    while i < len(lines):
        head, under = lines[i].strip(), lines[i + 1].strip() if i + 1 < len(lines) else ""
        if head and under and set(under) == {"-"} and len(under) >= len(head):
            current = head
            found[current] = []
            i += 2
            continue
        if current is not None:
            found[current].append(lines[i])
        i += 1
    return {k: "\n".join(v).strip() for k, v in found.items()}


def _takes_arguments(obj) -> bool:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check against
        return False
    if inspect.isclass(obj):
        own = any(k in vars(c) for c in obj.__mro__ if c.__module__ != "builtins" for k in ("__init__", "__new__"))
        if not own:  # the constructor is object's or a builtin exception's
            return False
    return bool(sig.parameters)


def missing_sections(obj) -> list[str]:
    """What the convention asks of ``obj``'s docstring and it lacks (empty = complete)."""
    doc = obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)
    if not doc:
        return ["a docstring"]
    have = sections(doc)
    want = []
    if _takes_arguments(obj):
        want.append("Parameters")
    if not inspect.isclass(obj):
        func = getattr(obj, "py_func", obj)  # a numba dispatcher documents its Python function
        want.append("Yields" if inspect.isgeneratorfunction(func) else "Returns")
    missing = [s for s in want if not have.get(s)]
    if ">>>" not in have.get("Examples", ""):
        missing.append("Examples (with a >>> doctest)")
    return missing


@pytest.mark.parametrize("name", MODULES)
def test_module_defines_all(name):
    module = _load(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} defines no __all__"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    absent = [n for n in exported if not hasattr(module, n)]
    assert not absent, f"{name}.__all__ names what the module does not define: {absent}"


@pytest.mark.parametrize("name", MODULES)
def test_public_names_have_numpydoc_sections(name):
    module = _load(name)
    problems = []
    for attr in getattr(module, "__all__", ()):
        obj = getattr(module, attr, None)
        if not (inspect.isfunction(obj) or inspect.isclass(obj) or hasattr(obj, "py_func")):
            continue  # constants and instances (a callable instance is documented by its class)
        if getattr(obj, "__module__", name) != name:
            continue  # names re-exported from the module that documents them
        missing = missing_sections(obj)
        if missing:
            problems.append(f"{name}.{attr}: no {', '.join(missing)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name, tmp_path, monkeypatch, request):
    module = _load(name)
    monkeypatch.chdir(tmp_path)  # a stray relative write lands in a scratch folder, not the checkout
    runner = doctest.DocTestRunner(optionflags=_FLAGS)
    out = io.StringIO()
    slow = []
    registered = {c.id for c in claims.CLAIMS}  # an example may register claims: the next module sees none of them
    request.addfinalizer(lambda: [claims.unregister(c.id) for c in list(claims.CLAIMS) if c.id not in registered])
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name):
        test.globs = dict(vars(module))
        start = time.perf_counter()
        runner.run(test, out=out.write, clear_globs=True)
        took = time.perf_counter() - start
        if took > _DOCSTRING_SECONDS:
            slow.append(f"{test.name}: {took:.1f} s")
    assert runner.failures == 0, f"{runner.failures} doctest failure(s) in {name}:\n{out.getvalue()}"
    assert not slow, f"doctests longer than {_DOCSTRING_SECONDS} s (keep examples tiny): {slow}"


def test_the_walk_finds_the_package_and_skips_private_modules():
    assert "sketchbound" in MODULES and "sketchbound.theory" in MODULES and "sketchbound.dnn.pruning" in MODULES
    assert PENDING <= set(MODULES), f"PENDING names no module: {sorted(PENDING - set(MODULES))}"
    assert not [m for m in MODULES if any(p.startswith("_") for p in m.split("."))]


def test_the_section_check_catches_what_is_missing():
    def documented(a, b=1):
        """One line.

        Parameters
        ----------
        a, b : int

        Returns
        -------
        int

        Examples
        --------
        >>> documented(1)
        2
        """
        return a + b

    def bare(a):
        """One line, with no sections."""

    def gen():
        """Counts.

        Returns
        -------
        int

        Examples
        --------
        >>> next(gen())
        0
        """
        yield 0

    assert missing_sections(documented) == []
    assert missing_sections(bare) == ["Parameters", "Returns", "Examples (with a >>> doctest)"]
    assert missing_sections(gen) == ["Yields"]
    assert sections("A.\n\nNotes\n---\nx\n") == {}  # an underline shorter than its header is no section
