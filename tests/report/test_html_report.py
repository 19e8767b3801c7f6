"""report.html: escaped, self-contained, complete; checked by parsing the markup, not by eye."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from pipeshield.core.frameworks import framework_sources
from pipeshield.report.html_format import reference_url, render_html
from pipeshield.report.model import Report

XSS = "<script>alert(1)</script>"
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
# Tags whose URL attributes make a browser fetch something (or run it).
FETCHING = {
    "link",
    "script",
    "img",
    "iframe",
    "frame",
    "source",
    "video",
    "audio",
    "object",
    "embed",
    "image",
    "use",
    "track",
    "input",
}
URL_ATTRS = {"src", "href", "xlink:href", "srcset", "data", "poster", "background"}


class _Page(HTMLParser):
    """Collects tags, attributes and nesting errors."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.in_svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))  # <rect .../> inside SVG

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
            return
        self.stack.pop()


def _parse(markup: str) -> _Page:
    page = _Page()
    page.feed(markup)
    page.close()
    return page


@pytest.fixture
def page(report: Report) -> str:
    return render_html(report)


def test_well_formed_and_titled(page: str, report: Report) -> None:
    parsed = _parse(page)
    assert parsed.errors == [] and parsed.stack == []
    assert page.startswith("<!doctype html>")
    title = re.search(r"<title>(.*?)</title>", page, re.DOTALL)
    assert (
        title and html.unescape(title.group(1)) == f"pipeshield report: {report.pipeline['name']}"
    )


def test_nothing_hostile_survives_escaping(page: str) -> None:
    assert "<script" not in page.lower()
    assert "<b>bold" not in page
    assert html.escape(XSS) in page  # shown as text, not dropped
    assert "javascript:" not in "".join(
        str(v) for _, attrs in _parse(page).tags for v in attrs.values()
    )


def test_scripts_are_forbidden_by_csp(page: str) -> None:
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp and "default-src 'none'" in csp.group(1)
    assert "script-src" not in csp.group(1)  # nothing re-allows scripts


def test_self_contained(page: str) -> None:
    for tag, attrs in _parse(page).tags:
        if tag in FETCHING:
            for name in URL_ATTRS & set(attrs):
                value = (attrs[name] or "").strip().lower()
                assert not re.match(r"^([a-z][a-z0-9+.-]*:|//)", value) or value.startswith(
                    "data:"
                ), (tag, name, value)
        assert tag not in ("link", "script", "iframe", "object", "embed")
    styles = "".join(re.findall(r"<style>(.*?)</style>", page, re.DOTALL)) + "".join(
        re.findall(r'style="([^"]*)"', page)
    )
    assert "@import" not in styles and not re.search(r"url\(\s*['\"]?(?!data:)", styles)
    assert "@font-face" not in styles


def test_every_problem_is_shown_with_an_anchor(page: str, report: Report) -> None:
    parsed = _parse(page)
    ids = {attrs.get("id") for _, attrs in parsed.tags}
    articles = [attrs for tag, attrs in parsed.tags if tag == "article"]
    problems = [f for f in report.findings if f.status.is_problem]
    assert len(articles) == len(problems)
    for f in problems:
        assert html.escape(f.id) in page
    hrefs = [attrs.get("href") or "" for tag, attrs in parsed.tags if tag == "a"]
    for href in (h for h in hrefs if h.startswith("#")):
        assert href[1:] in ids  # every in-page link lands somewhere


def test_passes_and_skips_are_compact(page: str, report: Report) -> None:
    compact = re.findall(r'<details class="compact" id="[^"]+">', page)
    assert len(compact) == sum(not f.status.is_problem for f in report.findings)
    assert "Clean accuracy" in page and "skipped: the model is not white-box" in page


def test_sections_of_a_finding(page: str) -> None:
    for needle in (
        "Remediation.",
        "What this does not prove.",
        "Settings used",
        "Metrics",
        "sha256 " + "a" * 64,
        "data/train set &lt;script&gt;alert(1)&lt;/script&gt;.csv",
        "line 1\n&lt;/pre&gt;&lt;script&gt;",  # text evidence inside <pre>, escaped
        "<th>row</th><th>score</th>",
        "Gate failed",
    ):
        assert needle in page, needle


def test_plots_are_inline_svg(page: str) -> None:
    svgs = re.findall(r"<svg .*?</svg>", page, re.DOTALL)
    assert len(svgs) >= 5  # two summary charts, heatmap, bar, line
    for svg in svgs:
        ET.fromstring(svg)
    assert (
        "no drawing for plot type &#x27;radar&#x27;" in page
        or "no drawing for plot type &#39;radar&#39;" in page
    )


def test_framework_references_link_where_they_can(page: str) -> None:
    assert 'href="https://atlas.mitre.org/techniques/AML.T0024.002"' in page  # sub-technique
    assert 'href="https://atlas.mitre.org/techniques/AML.T0020"' in page
    assert 'href="https://atlas.mitre.org/mitigations/AML.M0004"' in page
    assert 'href="https://owasp.org/www-project-machine-learning-security-top-10/"' in page
    assert (
        "MEASURE 2.7" in page
        and "AI system security and resilience are evaluated and documented" in page
    )
    assert "Annex B" in page and "AI-related risk sources" in page
    for source in framework_sources().values():
        assert html.escape(source["name"]) in page and source["version"] in page


@pytest.mark.parametrize(
    ("framework", "ref_id", "url"),
    [
        ("atlas", "AML.T0020", "https://atlas.mitre.org/techniques/AML.T0020"),
        ("atlas", "AML.T0024.002", "https://atlas.mitre.org/techniques/AML.T0024.002"),
        ("atlas_mitigations", "AML.M0004", "https://atlas.mitre.org/mitigations/AML.M0004"),
        ("owasp_ml", "ML05", "https://owasp.org/www-project-machine-learning-security-top-10/"),
        ("nist_ai_rmf", "MEASURE 2.7", None),
        ("iso_23894", "6.4", None),
        ("atlas", "AML.T0020/../../evil", None),  # from an untrusted report.json: no link
        ("atlas", "javascript:alert(1)", None),
    ],
)
def test_reference_url(framework: str, ref_id: str, url: str | None) -> None:
    assert reference_url(framework, ref_id) == url


def test_a_clean_report(clean_report: Report) -> None:
    page = render_html(clean_report)
    assert "Gate passed" in page and "<article" not in page
    assert "No check ran at this stage" in page  # stages without findings say they were not tested
    assert _parse(page).errors == []
