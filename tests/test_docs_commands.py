"""The READMEs' commands do what the text says.

Fast (default run): every shell command of README.md, dnn/README.md, figures/README.md and
validation/README.md has an expectation — exit status + key line, or the reason CI cannot run it —
and the extractor/runner work. Slow (``-m slow``, CI): every runnable command is run in-process in a
scratch folder and its exit status and key line are compared with the text
(:mod:`sketchbound._docs_check`). Commands reading Fashion-MNIST skip, with the reason, without it.
"""
from __future__ import annotations

import os

import pytest

from sketchbound import _docs_check as D
from sketchbound.data import find_dataset

ALL = D.commands()


def test_every_documented_command_has_an_expectation():
    missing = [f"{c.file}:{c.line}: {c.text}" for c in ALL if c.expect is None]
    assert not missing, ("commands without an expectation (annotate them with <!-- check: ... --> or add them "
                         "to sketchbound._docs_check.EXPECT):\n" + "\n".join(missing))


def test_no_stale_expectations():
    """A runnable entry of EXPECT whose command left the docs is stale: the text changed, so must the check."""
    texts = {c.text for c in ALL}
    stale = [k for k, e in D.EXPECT.items() if e.skip is None and k not in texts]
    assert not stale, f"EXPECT entries no README contains any more: {stale}"


def test_the_four_readmes_are_covered_and_ci_runs_most():
    files = {c.file for c in ALL}
    assert set(D.DOCS) <= files | {"validation/README.md"}  # validation/README may hold only table cells
    runnable = [c for c in ALL if c.expect is not None and not c.expect.skip]
    assert len(runnable) >= 20
    for c in ALL:
        if c.expect is not None and c.expect.skip:
            assert len(c.expect.skip) > 10, c  # a reason, not a shrug


def test_extractor(tmp_path):
    md = tmp_path / "x.md"
    md.write_text(
        "Intro `python -m a.b --x 1` and `not a command`.\n\n"
        "<!-- check: exit=1 contains=\"bad thing\" contains=\"x\" timeout=5 -->\n"
        "```bash\n"
        "pip install . && python -m m1 --y   # comment\n"
        "python -m m2 \"#notacomment\"\n"
        "```\n\n"
        "<!-- check: skip=\"too big for CI\" -->\n"
        "    python -m big --all\n\n"
        "    python -m after\n"
        "| table | `python -m in.cell` |\n")
    cs = D.extract(md, "x.md")
    got = [(c.text, c.expect.exit if c.expect else None, c.expect.skip if c.expect else None) for c in cs]
    assert got == [("python -m a.b --x 1", None, None), ("pip install .", 1, None), ("python -m m1 --y", 1, None),
                   ('python -m m2 "#notacomment"', 1, None), ("python -m big --all", None, "too big for CI"),
                   ("python -m after", None, None), ("python -m in.cell", None, None)]
    assert cs[1].expect.contains == ("bad thing", "x") and cs[1].expect.timeout == 5


def test_run_command_in_process(tmp_path, monkeypatch):
    r = D.run_command(f"SKETCHBOUND_DATA={tmp_path} python -m sketchbound.data --json", cwd=tmp_path)
    assert r["exit"] in (0, 2) and str(tmp_path) in r["output"]
    assert os.environ.get("SKETCHBOUND_DATA") != str(tmp_path)  # restored
    r = D.run_command("python -m sketchbound.data --no-such-flag")
    assert r["exit"] == 2 and "unrecognized arguments" in r["output"]
    with pytest.raises(ValueError):
        D.run_command("ls -l")


def test_docs_check_cli_lists_everything(capsys):
    assert D.main([]) == 0
    out = capsys.readouterr().out
    assert "README.md" in out and "skip:" in out and "exit 1" in out


# --------------------------------------------------------------------------------------------- slow: run them
RUNNABLE = [c for c in ALL if c.expect is not None and not c.expect.skip]


@pytest.fixture(scope="module")
def scratch():
    import shutil

    d = D.scratch_dir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("cmd", RUNNABLE, ids=[f"{c.file}:{c.line}:{c.text[:60]}" for c in RUNNABLE])
def test_documented_command_does_what_the_text_says(cmd, scratch):
    if cmd.expect.needs and find_dataset(cmd.expect.needs) is None:
        pytest.skip(f"needs {cmd.expect.needs}: apt-get install dataset-fashion-mnist, or set SKETCHBOUND_DATA "
                    "(python -m sketchbound.data shows what is installed)")
    problems = D.check(cmd, scratch)
    assert not problems, f"{cmd.file}:{cmd.line}: `{cmd.text}`: " + "; ".join(problems)
