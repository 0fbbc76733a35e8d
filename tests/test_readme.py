"""README.md is a guide: at most 150 lines, the two set-up commands first, three quick starts of at most
10 lines each that the README checker runs (:mod:`sketchbound._docs_check`; the slow suite runs them in
``tests/test_docs_commands.py``), and links that resolve to files of the repository.
"""
from __future__ import annotations

import re

from sketchbound import _docs_check as D

README = D.ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
LINES = TEXT.splitlines()
SETUP = ['pip install . && python -m sketchbound.validate --all',
         'pip install "torch==2.13.0" ".[dnn,test]" && python -m pytest']


def _sections() -> dict[str, list[tuple[int, str]]]:
    """``## title`` → its (line number, line) pairs, line numbers counted from 1."""
    out, cur = {}, None
    for i, line in enumerate(LINES, 1):
        if line.startswith("## "):
            cur = line[3:].strip()
            out[cur] = []
        elif cur is not None:
            out[cur].append((i, line))
    return out


def _code_lines(body: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The lines inside fenced code blocks of a section."""
    out, inside = [], False
    for i, line in body:
        if line.lstrip().startswith("```"):
            inside = not inside
        elif inside:
            out.append((i, line))
    return out


def test_readme_is_at_most_150_lines():
    assert len(LINES) <= 150, f"README.md has {len(LINES)} lines; move detail to the document that owns it"


def test_readme_opens_with_the_two_setup_commands():
    first = _code_lines([(i, line) for i, line in enumerate(LINES[:10], 1)])
    assert [line for _, line in first] == SETUP


def test_three_quick_starts_of_at_most_ten_lines_that_the_checker_runs():
    quick = {t: b for t, b in _sections().items() if t.lower().startswith("quick start")}
    assert len(quick) == 3, list(quick)
    cmds = D.commands(["README.md"])
    for title, body in quick.items():
        code = _code_lines(body)
        assert 0 < len(code) <= 10, (title, len(code))
        lines = {i for i, _ in code}
        mine = [c for c in cmds if c.line in lines]
        assert mine, f"{title}: the checker extracts no command from it"
        for c in mine:
            assert c.expect is not None and c.expect.skip is None, f"{title}: `{c.text[:60]}` is not run by the checker"
            assert c.expect.exit == 0, (title, c.text[:60])


def test_findings_table_has_one_report_link_per_row_and_a_bridge_row():
    rows = [line for line in LINES if line.startswith("| ") and "](" in line and line.count("|") == 5]
    assert len(rows) >= 8, "findings table: one row per finding"
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert all(cells), row
        assert "](" in cells[3], f"no report linked: {row}"
    bridge = [r for r in rows if "bridge" in r.lower()]
    assert bridge and "validation/bridge.md" in bridge[0]


def test_every_relative_link_resolves():
    links = re.findall(r"\]\(([^)\s]+)\)", TEXT)
    local = [lk.split("#")[0] for lk in links if "://" not in lk and not lk.startswith("#")]
    assert local
    missing = [lk for lk in local if not (D.ROOT / lk).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_bridge_paragraph_matches_bridge_md_number_for_number():
    """Every number of the README's bridge paragraph is stated in validation/bridge.md (or, for the
    confirmatory cells, in the deep report's section on them), where tests recompute it from the files."""
    para = TEXT.split("**The bridge, in one paragraph.**", 1)[1].split("\n\n", 1)[0]
    sources = " ".join((D.ROOT / f).read_text(encoding="utf-8") for f in ("validation/bridge.md", "dnn/results/README.md"))
    norm = " ".join(sources.replace("−", "-").split())
    numbers = re.findall(r"(?<![\w.-])[+−]?\d+\.\d+(?:e-\d+)?%?", " ".join(para.split()))  # not in names
    assert len(numbers) >= 12
    for n in numbers:
        assert n.replace("−", "-") in norm, n
