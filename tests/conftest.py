"""Shared fixtures: where the real datasets are, and a skip (with the reason) when they are absent.

The tests that read real Fashion-MNIST run wherever the Debian package ``dataset-fashion-mnist`` (or
``SKETCHBOUND_DATA``) provides the IDX files — CI installs it — and are skipped with the reason on a
fresh machine without it, so the README's test command passes there too.
"""
import os
from pathlib import Path

import pytest

FMNIST_CANDIDATES = [p for p in (os.environ.get("SKETCHBOUND_DATA"), "/usr/share/datasets/fashion-mnist",
                                 ".data/fashion-mnist") if p]


def find_fashion_mnist():
    for root in FMNIST_CANDIDATES:
        for d in (Path(root), Path(root) / "fashion-mnist"):
            if any((d / f).is_file() for f in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")):
                return d
    return None


@pytest.fixture(scope="session")
def fmnist_root():
    """The folder holding the Fashion-MNIST IDX files, or a skip saying how to get them."""
    d = find_fashion_mnist()
    if d is None:
        pytest.skip("needs Fashion-MNIST: apt-get install dataset-fashion-mnist, or put the four IDX files in "
                    "a folder and set SKETCHBOUND_DATA to it (looked in " + ", ".join(FMNIST_CANDIDATES) + ")")
    return d


@pytest.fixture(scope="session")
def dnn_script():
    """``dnn_script("name")``: ``dnn/scripts/name.py``, else ``benchmarks/scripts/name.py``, loaded as a
    module (the scripts are not part of the package), once per session."""
    import importlib.util
    loaded = {}

    def load(name: str):
        if name not in loaded:
            root = Path(__file__).resolve().parents[1]
            path = root / "dnn" / "scripts" / f"{name}.py"
            if not path.exists():
                path = root / "benchmarks" / "scripts" / f"{name}.py"
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            loaded[name] = mod
        return loaded[name]
    return load
