"""The package's architecture walls, checked on the source with ``ast`` (no import needed).

* no import cycle between the package's modules (lazy imports inside functions count);
* no top-level module (``sketchbound/*.py``) imports torch; the computational core (``CORE``) never
  imports matplotlib or pandas at module level (``pip install sketchbound`` + ``validate`` work without them loaded), and never imports
  ``sketchbound.dnn`` or ``sketchbound.figures``;
* the dnn stages import only the stages before them: data → models → pruning → training → theory →
  experiments (and the core); nothing but the CLI shims and ``figures`` imports ``experiments`` from outside.
"""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "sketchbound"
STAGES = ["data", "models", "pruning", "training", "theory", "experiments"]


def _modname(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path):
    """(imported module, top_level?) for every import in ``path``, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = _modname(path)
    pkg = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    top = set(id(n) for n in tree.body)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield mod, id(node) in top
            for a in node.names:  # `from pkg import module`
                yield f"{mod}.{a.name}", id(node) in top


MODULES = {_modname(p): p for p in PKG.rglob("*.py")}


def _internal(name: str):
    """The package module that ``name`` refers to (longest known prefix), or None."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        cand = ".".join(parts[:k])
        if cand in MODULES:
            return cand
    return None


GRAPH = {m: {t for n, _ in _imports(p) if (t := _internal(n)) and t != m} for m, p in MODULES.items()}


def _is_package_init(m):
    return MODULES[m].name == "__init__.py"


def test_no_import_cycles():
    # edges into a package __init__ that only re-exports are followed as-is: a cycle through them is real too
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(GRAPH[m]):
            if t.startswith(m + ".") and _is_package_init(m):
                continue  # a package importing its own submodule to re-export it
            if m.startswith(t + ".") and _is_package_init(t):
                continue  # a submodule importing its parent package's namespace is resolved by the submodule
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)
    assert not cycles, f"import cycles: {cycles}"


#: the computational core: probabilities → sampler → theory → claims → Monte-Carlo (+ shared helpers)
CORE = {"sketchbound", "sketchbound.probabilities", "sketchbound.sampling", "sketchbound._kernels",
        "sketchbound.theory", "sketchbound.noisy_target", "sketchbound.exact", "sketchbound.scenarios", "sketchbound.claims",
        "sketchbound.montecarlo", "sketchbound.ntk", "sketchbound.seeds", "sketchbound._io", "sketchbound._cli"}


def _core_modules():
    return [m for m, p in MODULES.items() if p.parent == PKG]


def test_core_list_is_current():
    assert CORE <= set(MODULES), sorted(CORE - set(MODULES))


def test_core_imports_no_torch_and_no_plotting_or_pandas_at_import():
    bad = []
    for m in _core_modules():
        for name, top in _imports(MODULES[m]):
            root = name.split(".")[0]
            if root == "torch":
                bad.append((m, name))
            if top and root in ("matplotlib", "pandas") and m in CORE:
                bad.append((m, name + " (module level)"))
            if name.startswith(("sketchbound.dnn", "sketchbound.figures")):
                bad.append((m, name))
    assert not bad, bad


def _stage(m: str):
    parts = m.split(".")
    if len(parts) >= 3 and parts[1] == "dnn" and parts[2] in STAGES:
        return STAGES.index(parts[2])
    return None


def test_dnn_stages_import_only_earlier_stages():
    bad = []
    for m in MODULES:
        s = _stage(m)
        if s is None:
            continue
        for t in GRAPH[m]:
            st = _stage(t)
            if st is not None and st > s:
                bad.append(f"{m} ({STAGES[s]}) imports {t} ({STAGES[st]})")
            if t == "sketchbound.dnn":
                bad.append(f"{m} imports the dnn package namespace (import the stage module instead)")
    assert not bad, "\n".join(bad)


def test_nothing_imports_figures():
    bad = [(m, t) for m, ts in GRAPH.items() for t in ts
           if t.startswith("sketchbound.figures") and not m.startswith("sketchbound.figures")]
    assert not bad, bad


#: modules another change is reworking now; each leaves this list once it is split
SIZE_EXEMPT = {
}
MAX_LINES = 600


def test_no_module_over_600_lines():
    """One job per file: no module of the package is longer than MAX_LINES lines."""
    root = PKG.parent
    long = {str(p.relative_to(root)): n for p in PKG.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert set(long) - set(SIZE_EXEMPT) == set(), {k: v for k, v in long.items() if k not in SIZE_EXEMPT}


def _private_imports(path: Path):
    """``(module, name)`` for every ``from module import _name`` in ``path`` whose module is another one of
    the package (relative imports resolved); private *modules* (``sketchbound._cli``) are fine."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = _modname(path)
    pkg = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                mod = ".".join(base[: len(base) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if _internal(mod) is None or mod == me:
                continue
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__") and f"{mod}.{a.name}" not in MODULES:
                    yield mod, a.name


#: importers in files another change is reworking now (the same files as SIZE_EXEMPT); each leaves this list
#: when its helper becomes public there
PRIVATE_IMPORT_EXEMPT = {
}


def test_no_module_imports_a_private_name_of_another():
    """A helper two modules share is public (or lives in the module that uses it): no ``from m import _x``."""
    bad = sorted(f"{_modname(p)}: from {mod} import {name}" for p in PKG.rglob("*.py")
                 if _modname(p) not in PRIVATE_IMPORT_EXEMPT for mod, name in _private_imports(p))
    assert not bad, bad
