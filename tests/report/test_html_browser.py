"""report.html in a real browser: it renders, and the page logs no console error.

Headless Chromium opens the report offline, takes a screenshot (kept as
``test-artifacts/report.png`` for a person to look at) and logs console messages to stderr.
Chromium prints them as ``INFO:CONSOLE:<line>] "<message>", source: <url> (<line>)`` (older
builds: ``CONSOLE(<line>)``). The report has no JavaScript, so *any* console line for the page
is a failure: a script error, or a Content-Security-Policy violation meaning markup reached the
page that tried to run. Two negative controls prove the detector sees both kinds, so these tests
cannot pass just because Chromium stopped logging.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from pipeshield.report import write_reports
from pipeshield.report.model import Report

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
_CONSOLE = re.compile(r"CONSOLE[:(]")


def _install_on_ci() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
    ):
        try:
            subprocess.run(args, check=True, env=env, timeout=900, capture_output=True, text=True)
        except (OSError, subprocess.SubprocessError) as err:
            detail = getattr(err, "stderr", "") or ""
            pytest.fail(
                f"CI: `{' '.join(args)}` failed while installing Chromium: {err}\n{detail[-2000:]}"
            )


@pytest.fixture(scope="session")
def chromium() -> str:
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        if os.environ.get("CI", "").lower() != "true":
            pytest.skip(
                "headless Chromium not found at /usr/bin/chromium: install Debian's `chromium` "
                "package to run the browser tests (CI installs it)"
            )
        _install_on_ci()
    found = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    if not found:
        pytest.fail("Chromium is still missing after `apt-get install chromium`")
    return found


def _run(chromium: str, page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [chromium, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()]
    return subprocess.run(
        args, capture_output=True, text=True, errors="replace", timeout=120, check=False
    )


def page_errors(stderr: str, page: Path) -> list[str]:
    """Console messages logged for ``page``, and uncaught errors from anywhere."""
    url = page.as_uri()
    return [
        line
        for line in stderr.splitlines()
        if "Uncaught" in line or (_CONSOLE.search(line) and url in line)
    ]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _screenshot(chromium: str, page: Path, shot: Path, profile: Path) -> list[str]:
    proc = _run(chromium, page, profile, f"--screenshot={shot}", "--window-size=1280,2000")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert shot.exists(), f"no screenshot; Chromium said:\n{proc.stderr[-3000:]}"
    return page_errors(proc.stderr, page)


def test_detector_catches_script_errors(chromium: str, tmp_path: Path) -> None:
    control = tmp_path / "control.html"
    control.write_text(
        "<!doctype html><html><head><title>control</title></head><body><p>x</p>"
        '<script>console.error("logged"); throw new Error("x")</script></body></html>',
        encoding="utf-8",
    )
    errors = _screenshot(chromium, control, tmp_path / "control.png", tmp_path / "profile")
    assert any("Uncaught" in e for e in errors), errors
    assert any("logged" in e for e in errors), errors


def test_detector_catches_markup_that_tries_to_run(
    chromium: str, report: Report, tmp_path: Path
) -> None:
    """If escaping ever failed, the CSP blocks the script, and the block itself is logged."""
    html = write_reports(report, tmp_path, ["html"])["html"].read_text("utf-8")
    injected = tmp_path / "injected.html"
    injected.write_text(
        html.replace("</body>", "<script>document.title = 'pwned'</script></body>"),
        encoding="utf-8",
    )
    errors = _screenshot(chromium, injected, tmp_path / "injected.png", tmp_path / "profile")
    assert any("Content Security Policy" in e for e in errors), errors
    dom = _run(chromium, injected, tmp_path / "profile-dom", "--dump-dom").stdout
    assert "<title>pwned</title>" not in dom


def test_report_renders_without_console_errors(
    chromium: str, report: Report, tmp_path: Path, artifacts_dir: Path
) -> None:
    page = write_reports(report, tmp_path, ["html"])["html"]
    shot = artifacts_dir / "report.png"
    shot.unlink(missing_ok=True)
    errors = _screenshot(chromium, page, shot, tmp_path / "profile")
    assert errors == []
    assert _png_size(shot) == (1280, 2000)
    # A near-blank page screenshots to ~12 kB; the report (text, tables, charts) to far more.
    blank = tmp_path / "blank.html"
    blank.write_text("<!doctype html><title>blank</title><p>x</p>", encoding="utf-8")
    _screenshot(chromium, blank, tmp_path / "blank.png", tmp_path / "profile-blank")
    assert shot.stat().st_size > 4 * (tmp_path / "blank.png").stat().st_size


def test_dom_has_the_report(chromium: str, report: Report, tmp_path: Path) -> None:
    page = write_reports(report, tmp_path, ["html"])["html"]
    proc = _run(chromium, page, tmp_path / "profile", "--dump-dom")
    dom = proc.stdout
    assert "<title>pipeshield report: demo &lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "<script" not in dom
    assert dom.count('<article class="finding') == sum(f.status.is_problem for f in report.findings)
    assert dom.count("<svg") >= 5
    assert page_errors(proc.stderr, page) == []
