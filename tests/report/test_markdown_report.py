"""summary.md: tables that hostile cell text cannot break, capped so a PR comment stays short."""

from __future__ import annotations

import re

import pytest

from pipeshield.report.markdown_format import MAX_ROWS, cell, render_markdown
from pipeshield.report.model import Report

XSS = "<script>alert(1)</script>"
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _tables(text: str) -> list[list[str]]:
    """Each Markdown table as its list of lines."""
    tables: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a|b", "a\\|b"),
        ("line1\nline2", "line1<br>line2"),
        ("crlf\r\nx", "crlf<br>x"),
        (XSS, "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("[x](javascript:alert(1))", "\\[x\\](javascript:alert(1))"),
        ("snake_case *x* `y`", "snake\\_case \\*x\\* \\`y\\`"),
        ("back\\slash", "back\\\\slash"),
        ("Ünïcødé ✓ 数据", "Ünïcødé ✓ 数据"),
    ],
)
def test_cell_escaping(raw: str, expected: str) -> None:
    assert cell(raw) == expected


def test_cell_is_capped() -> None:
    assert len(cell("x" * 1000)) <= 300


def test_every_table_row_has_its_columns(report: Report) -> None:
    text = render_markdown(report)
    tables = _tables(text)
    assert len(tables) >= 3  # stages, problems, and the collapsible ones
    for table in tables:
        widths = {len(UNESCAPED_PIPE.findall(line)) for line in table}
        assert len(widths) == 1, table  # a hostile '|' or newline would change a row's width
    assert "<script" not in text
    assert not re.search(r"(?<!\\)\]\(javascript:", text)  # the bracket is escaped: no link


def test_verdict_and_problems(report: Report, clean_report: Report) -> None:
    text = render_markdown(report)
    first = text.splitlines()[0]
    assert "gate failed" in first and "&lt;script&gt;" in first
    assert "**3 problems at or above high**" in text
    problems = _tables(text)[1]
    assert problems[0] == "| severity | status | finding | message |"
    assert len(problems) == 2 + sum(f.status.is_problem for f in report.findings)
    assert problems[2].startswith("| **critical** | fail |")  # worst first
    assert "gate passed" in render_markdown(clean_report).splitlines()[0]


def test_rows_are_capped_with_a_count_of_the_rest(many_problems: Report) -> None:
    text = render_markdown(many_problems)
    problems = _tables(text)[1]
    assert len(problems) == 2 + MAX_ROWS
    assert f"and {45 - MAX_ROWS} more problems" in text
    assert "problem 44 \\| with pipe" not in "\n".join(problems)


def test_details_blocks_are_balanced_and_render_markdown(report: Report) -> None:
    text = render_markdown(report)
    assert text.count("<details>") == text.count("</details>") == 2
    # GitHub renders Markdown inside <details> only after a blank line.
    for match in re.finditer(r"<summary>.*?</summary>\n(.*)\n", text):
        assert match.group(1) == ""
