"""The HTML reports of simulate, compare and comply opened in a real headless browser (Debian's chromium).

A comparison's directory holds one ``simulate --out`` directory per preset
(the same writer), so one ``compare`` run tests both reports.

The report is copied with a small script appended that, on ``load``, writes
what the browser laid out into the DOM (each image's ``naturalWidth``, each
table's and its container's right edge, the page's scroll width); chromium
``--dump-dom`` prints that DOM, which the test parses. The copy is the only
file with a script: the report itself stays script-free. CI installs
chromium (``.ci/run``) and fails this test without it; elsewhere it is
skipped with the reason.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app

#: Browsers tried, in order.
BROWSERS = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
#: The report's width in the browser, px: the smallest common laptop screen.
WIDTH_PX = 1280
#: Longest a browser run may take, s (a report of a dozen figures loads in about 2 s).
TIMEOUT_S = 90

#: Appended before ``</body>``: the layout as JSON in ``<pre id="ecgfe-layout">`` once everything has loaded.
_PROBE = """<script>
window.addEventListener("load", () => {
  const doc = document.documentElement;
  const right = (el) => el.getBoundingClientRect().right;
  const layout = {
    client_width: doc.clientWidth, scroll_width: doc.scrollWidth,
    images: [...document.images].map((im) => ({alt: im.alt, complete: im.complete, natural_width: im.naturalWidth})),
    tables: [...document.querySelectorAll("table")].map((t) => ({
      caption: t.caption ? t.caption.textContent : "", right: right(t),
      section_right: right(t.closest("section") || document.body),
      box_scroll: t.parentElement.scrollWidth, box_client: t.parentElement.clientWidth})),
  };
  const out = document.createElement("pre");
  out.id = "ecgfe-layout";
  out.textContent = JSON.stringify(layout);
  document.body.appendChild(out);
});
</script>"""


def find_browser() -> str | None:
    """The first of :data:`BROWSERS` on ``PATH``, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def browser_layout(report: Path, work: Path) -> dict:
    """Open a copy of ``report`` (with :data:`_PROBE`) in headless chromium at :data:`WIDTH_PX`; its layout.

    The browser runs in its own process group with a fresh profile in
    ``work`` and is killed (the whole group) on timeout or when done.
    """
    browser = find_browser()
    page = work / "page.html"
    page.write_text(report.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={work / 'profile'}", f"--window-size={WIDTH_PX},900",
           "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        dom, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        dom, err = b"", b"timed out"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the browser's helpers too
        except ProcessLookupError:
            pass
        proc.wait()
    match = re.search(r'<pre id="ecgfe-layout">(.*?)</pre>', dom.decode("utf-8", "replace"), re.S)
    assert match, f"{browser} wrote no layout for {report}: {err.decode('utf-8', 'replace')[-600:]}"
    return json.loads(html.unescape(match.group(1)))


def assert_reads_well(report: Path, work: Path, n_figures: int) -> dict:
    """Every figure loaded, the page does not scroll sideways, and every table fits its section.

    Fits: the table's right edge is within its section's, so no table needs
    its scroll box (``div.table``, the safety net for a user's wider data).
    """
    layout = browser_layout(report, work)
    images = layout["images"]
    assert len(images) == n_figures
    assert [im["alt"] for im in images if not (im["complete"] and im["natural_width"] > 0)] == []
    assert layout["scroll_width"] <= layout["client_width"], "the page scrolls sideways"
    # 1 px: layout rounds sub-pixel edges
    wide = [(t["caption"], t["right"], t["section_right"]) for t in layout["tables"]
            if t["right"] > t["section_right"] + 1 or t["box_scroll"] > t["box_client"]]
    assert wide == [], f"tables past their section's edge: {wide}"
    return layout


@pytest.fixture
def browser():
    if find_browser() is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"no browser ({', '.join(BROWSERS)}) on PATH in CI; .ci/run installs Debian's chromium.")
        pytest.skip(f"no headless browser on PATH (tried {', '.join(BROWSERS)}); apt-get install chromium")


def _run(*args) -> None:
    r = CliRunner().invoke(app, list(args))
    assert r.exit_code in (0, 3), r.output  # comply exits 3 when a test fails


def test_compare_report_and_its_runs_reports_in_a_browser(browser, tmp_path):
    _run("compare", "ina128", "ads1298", "--duration-s", "2", "--out", str(tmp_path / "cmp"))
    n = len(list((tmp_path / "cmp").glob("*.png")))
    assert n == 5  # the comparison, a Bode plot and a time panel per preset
    layout = assert_reads_well(tmp_path / "cmp" / "report.html", tmp_path, n)
    assert [t["caption"] for t in layout["tables"]] == ["presets", "metrics per channel and tap point", "Summary"]
    # each preset's directory is what `simulate --out` writes (acquire.output.writers.write_run_files)
    for preset in ("ina128", "ads1298"):
        run = tmp_path / "cmp" / preset
        layout = assert_reads_well(run / "report.html", tmp_path, len(list(run.glob("*.png"))))
        assert len(layout["images"]) == 3 and layout["tables"]  # time panel, PSD, Bode


def test_comply_report_in_a_browser(browser, tmp_path):
    from tests.test_compliance import only

    _run("comply", "--preset", "ads1298", "--standard", str(only("cmr", tmp_path)), "--duration-scale", "0.02",
         "--out", str(tmp_path / "cpl"))
    assert_reads_well(tmp_path / "cpl" / "compliance.html", tmp_path, 1)


def test_compliance_matrix_page_in_a_browser(browser, tmp_path):
    import itertools

    from acquire.compliance_results import ComplianceMatrix
    from frontend_models.presets import preset_names
    from acquire.studies.compliance.standards import standard_names

    # every standard (the tables' widths depend on their columns, not on how many presets) with the longest
    # texts a cell can have; the values do not matter here
    cells = [{"preset": p, "standard": s, "verdict": "saturated", "margin_db": None, "deciding_test": "cmr",
              "deciding_condition": "10 V rms 50 Hz, +300 mV, network on reference electrode",
              "failed": ["cmr", "frequency_response", "impulse"], "saturated": ["cmr", "input_impedance", "offset"],
              "scenario": "highpass 0.05 Hz, notch 60 Hz, lowpass 150 Hz · no reference electrode"}
             for p, s in itertools.product(preset_names()[:2], standard_names())]
    out = ComplianceMatrix(cells).save(tmp_path / "m")
    assert_reads_well(out / "compliance_matrix.html", tmp_path, 1)
