"""``python -m sketchbound.bench``: Algorithm 1 at scale against numpy, side by side in one run.

Times the counts form of Algorithm 1 (``algorithm1_counts``) against ``Generator.multinomial(s, p)``
and ``Generator.choice(d, s, p=p)`` + ``bincount`` (both exact samplers of the same distribution)
at ``d = s = 10⁷``, then Algorithm 1 alone at ``d = 10⁸, s = 10⁶`` (dense counts and the sparse
form), reporting medians, ratios measured in the same run, and the peak resident memory.
"""
from __future__ import annotations

import json
import platform
import resource
import statistics
import sys
import time

import numpy as np

from . import __version__
from ._cli import MAX_REPEATS, OneLineParser, check_budget, cli_errors, interruptible, pos_int
from ._io import atomic_write, check_output_path
from .sampling import algorithm1_counts, algorithm1_sparse

__all__ = ["run", "to_markdown", "run_bytes", "main", "BEGIN", "END"]

PROG = "python -m sketchbound.bench"


def _median_time(fn, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(d: int = 10**7, s: int = 10**7, big_d: int = 10**8, big_s: int = 10**6, repeats: int = 7,
        choice_repeats: int = 1, seed: int = 0) -> dict:
    """Time Algorithm 1's counts against numpy's exact samplers of the same law, then Algorithm 1 alone at a larger ``d``.

    Parameters
    ----------
    d, s : int, optional
        The size and the number of draws of the first part (``algorithm1_counts`` vs
        ``Generator.multinomial`` and ``Generator.choice`` + ``bincount``).
    big_d, big_s : int, optional
        The same for the second part (dense counts and the sparse form); ``big_d=0`` skips it.
    repeats : int, optional
        Timed repetitions of Algorithm 1 (the median is reported).
    choice_repeats : int, optional
        Timed repetitions of the (slow) ``choice`` + ``bincount`` baseline.
    seed : int, optional
        The seed of ``p`` and of the draws.

    Returns
    -------
    dict
        The versions, the thread count and CPU, the median times (seconds), the speed-ups measured in this
        run and, for the second part, the peak resident memory (MiB).

    Examples
    --------
    >>> r = run(d=1000, s=1000, big_d=0, repeats=1)
    >>> sorted(k for k in r if k.startswith("speedup"))
    ['speedup_vs_choice', 'speedup_vs_multinomial']
    """
    import numba

    rng = np.random.default_rng(seed)
    p = rng.random(d)
    p /= p.sum()
    algorithm1_counts(p[:1000] / p[:1000].sum(), 10, rng=0)  # compile / load the cache outside the timing
    algorithm1_counts(p, s, rng=0)
    res = {"version": __version__, "numpy": np.__version__, "numba": numba.__version__,
           "threads": numba.get_num_threads(), "cpu": platform.processor() or platform.machine(), "d": d, "s": s}
    res["algorithm1_s"] = _median_time(lambda: algorithm1_counts(p, s, rng=rng), repeats)
    res["multinomial_s"] = _median_time(lambda: rng.multinomial(s, p), max(1, repeats // 2))
    res["choice_bincount_s"] = _median_time(lambda: np.bincount(rng.choice(d, s, p=p), minlength=d), choice_repeats)
    res["speedup_vs_multinomial"] = res["multinomial_s"] / res["algorithm1_s"]
    res["speedup_vs_choice"] = res["choice_bincount_s"] / res["algorithm1_s"]
    p = None  # free the 10⁷-vector before the 10⁸ part
    if big_d:
        q = rng.random(big_d)
        q /= q.sum()
        before = _rss_mib()
        res.update(big_d=big_d, big_s=big_s)
        res["big_algorithm1_counts_s"] = _median_time(lambda: algorithm1_counts(q, big_s, rng=rng), 3)
        res["big_algorithm1_sparse_s"] = _median_time(lambda: algorithm1_sparse(q, big_s, rng=rng), 3)
        res["big_p_mib"] = q.nbytes / 2**20
        res["big_peak_rss_mib"] = _rss_mib()
        res["big_rss_growth_mib"] = res["big_peak_rss_mib"] - before
    return res


def to_markdown(r: dict, command: str) -> str:
    """The Markdown tables of a :func:`run` result, headed by the command that made it.

    Parameters
    ----------
    r : dict
        A result of :func:`run`.
    command : str
        The command shown above the tables.

    Returns
    -------
    str
        The Markdown.

    Examples
    --------
    >>> md = to_markdown(run(d=1000, s=1000, big_d=0, repeats=1), "python -m sketchbound.bench --quick")
    >>> md.splitlines()[0]
    'Command: `python -m sketchbound.bench --quick`  '
    """
    lines = [f"Command: `{command}`  ", f"sketchbound {r['version']}, numpy {r['numpy']}, numba {r['numba']}, "
             f"{r['threads']} threads, CPU {r['cpu']}", "",
             f"| d = s = {r['d']:.0e} | median time (s) | Algorithm 1 is faster by |", "|---|---|---|",
             f"| sketchbound.algorithm1_counts | {r['algorithm1_s']:.4f} | – |",
             f"| numpy Generator.multinomial(s, p) | {r['multinomial_s']:.4f} | {r['speedup_vs_multinomial']:.1f}× |",
             f"| numpy Generator.choice(d, s, p=p) + bincount | {r['choice_bincount_s']:.3f} | {r['speedup_vs_choice']:.0f}× |"]
    if "big_d" in r:
        lines += ["", f"| d = {r['big_d']:.0e}, s = {r['big_s']:.0e} | median time (s) |", "|---|---|",
                  f"| algorithm1_counts (dense int32 counts) | {r['big_algorithm1_counts_s']:.4f} |",
                  f"| algorithm1_sparse (indices, values) | {r['big_algorithm1_sparse_s']:.4f} |",
                  "", f"p itself is {r['big_p_mib']:.0f} MiB; peak RSS of the whole process {r['big_peak_rss_mib']:.0f} MiB "
                  f"(growth during this part {r['big_rss_growth_mib']:.0f} MiB): memory stays O(d)."]
    return "\n".join(lines) + "\n"


def run_bytes(d: int, s: int, big_d: int = 0, big_s: int = 0) -> int:
    """Peak memory of :func:`run`, in bytes.

    The first part holds ``p`` (float64), the multinomial counts (int64) and ``choice``'s ``s`` indices
    (int64) plus their ``bincount`` (``8·(3d + s)``); the second ``q`` (float64), its dense int32 counts
    and the sparse form's indices and values (``12·big_d + 12·big_s``).

    Parameters
    ----------
    d, s : int
        The sizes of the first part.
    big_d, big_s : int, optional
        The sizes of the second part (0: skipped).

    Returns
    -------
    int
        The larger of the two parts' needs.

    Examples
    --------
    >>> run_bytes(10**7, 10**7, 10**8, 10**6)
    1212000000
    """
    return max(8 * (3 * int(d) + int(s)), 12 * int(big_d) + 12 * int(big_s))


@interruptible(PROG)
def main(argv=None) -> int:
    """``python -m sketchbound.bench``: parse, check the output path *before* the benchmark, run, print (and
    write ``--out``).

    Usage errors and an unwritable ``--out`` are one line on stderr and exit status 2. ``--d``, ``--s``,
    ``--big-d``, ``--big-s`` override the sizes (``--big-d 0`` skips the second part).

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status, 0 (errors exit 2 through ``SystemExit``).

    Examples
    --------
    >>> main(["--d", "1000", "--s", "1000", "--big-d", "0", "--repeats", "1"])  # doctest: +ELLIPSIS
    Command: `python -m sketchbound.bench --d 1000 --s 1000 --big-d 0 --repeats 1`
    ...
    0
    """
    ap = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="d = s = 10^6 and d = 10^7 (a smoke run)")
    ap.add_argument("--repeats", type=pos_int("repeats", hi=MAX_REPEATS), default=7,
                    help=f"timed repetitions of Algorithm 1 (median; at most {MAX_REPEATS})")
    ap.add_argument("--d", type=pos_int("d"), help="entries of the first part (default 10^7; --quick 10^6)")
    ap.add_argument("--s", type=pos_int("s"), help="draws of the first part (default 10^7; --quick 10^6)")
    ap.add_argument("--big-d", type=pos_int("big-d", lo=0), help="entries of the second part (0 skips it)")
    ap.add_argument("--big-s", type=pos_int("big-s"), help="draws of the second part")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--force", action="store_true", help="run sizes larger than half of this machine's memory "
                                                         "(refused otherwise, before any allocation)")
    ap.add_argument("--out", help="also write the Markdown table to this file (atomically; in a file with this "
                                  "benchmark's begin/end markers only the block between them is replaced)")
    a = ap.parse_args(argv)
    with cli_errors(PROG):
        if a.out is not None:
            check_output_path(a.out, flag="--out")
        kw = dict(d=10**6, s=10**6, big_d=10**7, big_s=10**5) if a.quick else {}
        for k in ("d", "s", "big_d", "big_s"):
            if getattr(a, k) is not None:
                kw[k] = getattr(a, k)
        sizes = {"d": 10**7, "s": 10**7, "big_d": 10**8, "big_s": 10**6, **kw}
        flags = " ".join(f"--{k.replace('_', '-')} {getattr(a, k)}" for k in ("d", "s", "big_d", "big_s")
                         if getattr(a, k) is not None) or ("--quick" if a.quick else "the default sizes")
        check_budget(PROG, flags, run_bytes(**sizes), "p, the counts and the draws", force=a.force)
        r = run(repeats=a.repeats, **kw)
        command = PROG + " " + " ".join(argv if argv is not None else sys.argv[1:])
        md = to_markdown(r, command.strip())
        print(json.dumps(r, indent=2) if a.json else md)
        if a.out:
            atomic_write(a.out, _merge_into(a.out, md))
    return 0


BEGIN, END = "<!-- sketchbound.bench: begin -->\n", "<!-- sketchbound.bench: end -->\n"


def _merge_into(path, md: str) -> str:
    """The new content of ``--out``: the table between :data:`BEGIN`/:data:`END` markers. A file that
    already has the markers keeps everything outside them (other benchmarks, prose), so writing into a
    shared results file replaces only this benchmark's own block."""
    block = BEGIN + md + END
    try:
        old = open(path, encoding="utf-8").read()
    except OSError:
        return block
    i, j = old.find(BEGIN), old.find(END)
    if i < 0 or j < i:
        return block
    return old[:i] + block + old[j + len(END):]


if __name__ == "__main__":
    raise SystemExit(main())
