"""Move the recorded runs' logs into one compressed archive per runs folder, so that the repository
stays small enough to travel to a GPU machine with its data (the device tool carries at most 64 MiB).

For every run folder ``RUNS/<run>/`` the human-readable files ``log.txt`` and ``config.toml`` go into
``RUNS/logs.tar.xz`` as ``<run>/log.txt`` and ``<run>/config.toml``; ``result.json`` and
``config.json`` (what the table aggregation and the run-identity test read) stay where they are.
Members already in the archive are kept; a loose file whose member exists with other content is an
error (nothing is overwritten). The archive is written atomically, then the loose files are removed.

    python dnn/scripts/archive_run_logs.py dnn/results/table1_fmnist5k_runs [more runs folders]
    tar xJf dnn/results/table1_fmnist5k_runs/logs.tar.xz -C /tmp/logs     # read them back
"""
from __future__ import annotations

import argparse
import io
import lzma
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sketchbound._io import atomic_write  # noqa: E402

ARCHIVE = "logs.tar.xz"
FILES = ("log.txt", "config.toml")


def archive(runs: Path) -> tuple[int, int]:
    """Archive the loose logs of one runs folder; returns (members added, members in the archive)."""
    dest = runs / ARCHIVE
    members: dict[str, bytes] = {}
    if dest.exists():
        with tarfile.open(dest, "r:xz") as tf:
            for m in tf.getmembers():
                if m.isfile():
                    members[m.name] = tf.extractfile(m).read()
    loose = sorted(p for p in runs.glob("*/*") if p.name in FILES and p.is_file())
    added = 0
    for p in loose:
        name = f"{p.parent.name}/{p.name}"
        data = p.read_bytes()
        if name in members and members[name] != data:
            raise ValueError(f"{p}: {dest} already holds {name} with other content; nothing changed")
        added += name not in members
        members[name] = data
    if not loose:
        return 0, len(members)

    def write(f):
        with lzma.open(f, "wb", preset=9) as xz, tarfile.open(fileobj=xz, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for name in sorted(members):
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(members[name]), 0o644, 0
                tf.addfile(info, io.BytesIO(members[name]))

    atomic_write(dest, write)
    with tarfile.open(dest, "r:xz") as tf:  # read back before deleting anything
        back = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}
    if back != members:
        raise RuntimeError(f"{dest}: the archive read back differs from what was written; loose files kept")
    for p in loose:
        p.unlink()
    return added, len(members)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="runs folders (each holding one folder per run)")
    a = ap.parse_args(argv)
    for r in a.runs:
        if not r.is_dir():
            ap.error(f"runs folder {str(r)!r} does not exist")
    for r in a.runs:
        try:
            added, total = archive(r)
        except ValueError as e:
            ap.error(str(e))
        print(f"{r}: {added} file(s) added, {total} in {r / ARCHIVE}" if total else f"{r}: no {' or '.join(FILES)} to archive")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
