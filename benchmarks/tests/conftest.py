"""Benchmark-only code is outside the package: this folder's tests import ``benchmarks/*.py`` by name and
load ``dnn/scripts/*.py`` as modules."""
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))


@pytest.fixture(scope="session")
def dnn_script():
    """``dnn_script("name")``: ``dnn/scripts/name.py`` loaded as a module."""
    def load(name: str):
        path = BENCH.parent / "dnn" / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"dnn_script_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return load
