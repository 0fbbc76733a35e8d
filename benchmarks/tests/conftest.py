"""Benchmark-only code is outside the package: this folder's tests import ``benchmarks/*.py`` by name and
load ``benchmarks/scripts/*.py`` as modules."""
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))


@pytest.fixture(scope="session")
def bench_script():
    """``bench_script("name")``: ``benchmarks/scripts/name.py`` loaded as a module."""
    def load(name: str):
        path = BENCH / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"bench_script_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return load
