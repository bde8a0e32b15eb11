"""Tests for acquire.output.report: one self-contained, escaped, parseable HTML file."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from acquire.output import figures as viz, report
from acquire.output.files import OutputError
from acquire.output.report import Section


class _Collector(HTMLParser):
    """Records tags with their attributes, the text, and checks tag nesting."""

    VOID = {"meta", "img", "br", "hr", "link", "input", "wbr"}

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path) -> _Collector:
    p = _Collector()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    assert p.stack == [], f"unclosed tags {p.stack}"
    return p


def _figure():
    fig = Figure()
    fig.subplots().plot([0, 1, 2], [0, 1, 0])
    fig.suptitle("a <b> figure")
    return fig


def _no_external_resources(text: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", text, re.I)
    assert "<link" not in text and "<script" not in text and "@import" not in text


def test_write_html_report_is_self_contained_and_escaped(tmp_path):
    png = viz.save_figure(_figure(), tmp_path / "saved", formats=("png", "svg"))
    config = '[source]\nname = "</pre><script>alert(1)</script>"\n'
    sections = [
        Section("Results & <summary>", paragraphs=["SNR < 3 dB & rising"],
                tables={"Metrics": [{"snr_db": 23.456789, "n_beats": 12, "ok": True},
                                    {"snr_db": None, "note": "<i>x</i>"}]},
                figures=[_figure(), *png]),
        Section("Configuration", preformatted={"config.toml": config}),
    ]
    out = report.write_html_report(tmp_path / "r.html", title="Run <1>", sections=sections)
    assert out == tmp_path / "r.html"
    text = out.read_text(encoding="utf-8")
    p = _parse(out)
    _no_external_resources(text)
    # escaping: the config's script tag is text, not a tag
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert not any(tag == "script" for tag, _ in p.tags)
    assert "Results &amp; &lt;summary&gt;" in text and "<title>Run &lt;1&gt;</title>" in text
    assert "&lt;i&gt;x&lt;/i&gt;" in text
    joined = "".join(p.text)
    assert config in joined  # the parser un-escapes back to the original block exactly
    # three embedded images, all data URIs whose payload decodes to PNG or SVG
    imgs = [a["src"] for tag, a in p.tags if tag == "img"]
    assert len(imgs) == 3
    kinds = []
    for src in imgs:
        head, payload = src.split(",", 1)
        kinds.append(head)
        data = base64.b64decode(payload)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" or b"<svg" in data
    assert kinds == ["data:image/png;base64"] * 2 + ["data:image/svg+xml;base64"]
    # numbers formatted to 4 significant digits, None as a dash, bool as yes/no
    assert "<td class=\"num\">23.46</td>" in text and "\u2014" in joined and ">yes<" in text
    # the table has the union of columns in first-seen order
    ths = [h.replace("<wbr>", "") for h in re.findall(r"<th>(.*?)</th>", text)]  # breaks after _ and .
    assert ths == ["snr_db", "n_beats", "ok", "note"]
    # internal links only
    assert [a["href"] for tag, a in p.tags if tag == "a"] == ["#s1", "#s2"]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["r.html", "saved.png", "saved.svg"]


def test_format_value():
    assert report.format_value(0.000123456) == "0.0001235"
    assert report.format_value(1234567.0) == "1.235e+06"
    assert report.format_value(float("nan")) == "nan"
    assert report.format_value(7) == "7"
    assert report.format_value([1.0, 2.5]) == "1, 2.5"


def test_section_validation():
    with pytest.raises(TypeError, match="Section.paragraphs must be a list or tuple"):
        Section("h", paragraphs="one string")
    with pytest.raises(TypeError, match=r"Section.tables\['t'\] must be a list of dicts"):
        Section("h", tables={"t": {"a": 1}})
    with pytest.raises(ValueError, match="figure files must be .png or .svg; got 'x.pdf'"):
        Section("h", figures=["x.pdf"])
    with pytest.raises(TypeError, match="Section.figures items must be matplotlib Figures"):
        Section("h", figures=[42])
    with pytest.raises(TypeError, match="sections must be a list of Section"):
        report.write_html_report("unused.html", title="t", sections=[{"heading": "h"}])
    for href in ("https://example.org/x", "/etc/passwd", "//host/x", "file:x"):
        with pytest.raises(ValueError, match="links must be relative to the report"):
            Section("h", links={"run": {"x": href}})
    with pytest.raises(TypeError, match=r"Section.links\['run'\] must be a dict"):
        Section("h", links={"run": "a/report.html"})


def test_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(OutputError, match=r"cannot write .*nope/r.html: No such file or directory \(ENOENT\)"):
        report.write_html_report(tmp_path / "nope" / "r.html", title="t", sections=[Section("h")])
    with pytest.raises(FileNotFoundError):  # a missing figure file fails before writing
        report.write_html_report(tmp_path / "r.html", title="t",
                                 sections=[Section("h", figures=[tmp_path / "missing.png"])])
    assert list(tmp_path.iterdir()) == []


def test_report_from_dir_with_metrics(tmp_path):
    metrics = {
        "acquired": {"snr_db": [3.5, 4.25], "residual_mains_uv_rms": [120.0, 98.0]},
        "recovered": {"snr_db": [25.0, 26.5], "residual_mains_uv_rms": [0.8, 0.75]},
        "fs_hz": 500.0,
        "qrs": {"se_percent": 99.5, "ppv_percent": 98.25},
    }
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "config.toml").write_text('[amplifier]\npreset = "ina128"\n')
    (tmp_path / "provenance.json").write_text(json.dumps({"commit": "abc", "note": "<b>"}))
    viz.save_figure(_figure(), tmp_path / "time_panel", formats=("png", "svg"))
    out = report.report_from_dir(tmp_path)
    assert out == tmp_path / "report.html"
    text = out.read_text(encoding="utf-8")
    p = _parse(out)
    _no_external_resources(text)
    rows = re.findall(r"<tr>(.*?)</tr>", text)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows]
    cells = [c for c in cells if c]
    # per-channel metrics: 2 stages x 2 channels, then the summary key/values
    assert cells[:4] == [["acquired", "0", "3.5", "120"], ["acquired", "1", "4.25", "98"],
                         ["recovered", "0", "25", "0.8"], ["recovered", "1", "26.5", "0.75"]]
    assert ["qrs.ppv_percent", "98.25"] in cells and ["fs_hz", "500"] in cells
    # one figure: the PNG is preferred when a name exists as both PNG and SVG
    imgs = [a["src"] for tag, a in p.tags if tag == "img"]
    assert len(imgs) == 1 and imgs[0].startswith("data:image/png;base64,")
    assert 'preset = "ina128"' in "".join(p.text) and "&lt;b&gt;" in text
    assert [h for h in re.findall(r"<h2>(.*?)</h2>", text)] == [
        "Metrics", "Figures", "Files", "Configuration and provenance"]
    # the directory's documents are linked, relative to the report (not the report itself)
    assert re.findall(r'<a href="([^"#]+)"', text) == ["metrics.json", "config.toml", "provenance.json"]


def test_report_from_dir_sweep_points_and_comparison(tmp_path):
    sweep = {"variable": "cmrr_db", "points": [{"cmrr_db": 80.0, "snr_db": 10.0},
                                               {"cmrr_db": 100.0, "snr_db": 30.0}]}
    comparison = {"ina128": {"snr_db": 20.0}, "ad8232": {"snr_db": 15.0}}
    (tmp_path / "sweep.json").write_text(json.dumps(sweep))
    (tmp_path / "comparison.json").write_text(json.dumps(comparison))
    text = report.report_from_dir(tmp_path, title="sweep").read_text(encoding="utf-8")
    assert re.findall(r"<caption>(.*?)</caption>", text) == ["comparison.json", "points", "Summary"]
    assert "<td>ina128</td><td class=\"num\">20</td>" in text
    assert "<td class=\"num\">100</td><td class=\"num\">30</td>" in text
    assert "<td>variable</td><td>cmrr_db</td>" in text


def test_report_from_dir_errors(tmp_path):
    msg = (f"no ecgfe results in {tmp_path}; run ecgfe simulate/compare/sweep "
           f"--out {tmp_path} first.")
    (tmp_path / "config.toml").write_text("[run]\n")  # a config alone is not a result
    with pytest.raises(ValueError, match=re.escape(msg)):
        report.report_from_dir(tmp_path)
    assert not (tmp_path / "report.html").exists()
    with pytest.raises(ValueError, match="out_dir must be an existing directory"):
        report.report_from_dir(tmp_path / "missing")
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="metrics.json is not valid JSON"):
        report.report_from_dir(tmp_path)


def test_report_links_the_runs_of_sub_directories_and_their_data_files(tmp_path):
    (tmp_path / "comparison.json").write_text(json.dumps({"presets": [{"preset": "ad8232"}]}))
    run = tmp_path / "ad8232"
    run.mkdir()
    metrics = {"channels": {"ECG": {"acquired": {"snr_out_db": 3.0}, "recovered": {"snr_out_db": 9.0}}},
               "files": {"records": {"acquired": {"header": "acquired.hea", "signals": "acquired.dat",
                                                  "clipped_samples": 2}}}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    for name in ("acquired.hea", "acquired.dat", "acquired.qrs", "acquired.qrsb", ".acquired.dat.partial"):
        (run / name).write_text("x")
    report.report_from_dir(run, title="one run")
    (tmp_path / "points").mkdir()  # a sub-directory without a run is not linked
    text = report.report_from_dir(tmp_path).read_text(encoding="utf-8")
    hrefs = re.findall(r'<a href="([^"#]+)"', text)
    assert hrefs == ["comparison.json", "ad8232/report.html", "ad8232/metrics.json", "ad8232/acquired.dat",
                     "ad8232/acquired.hea", "ad8232/acquired.qrs", "ad8232/acquired.qrsb"]
    assert all((tmp_path / h).is_file() for h in hrefs)
    assert re.findall(r"<h2>(.*?)</h2>", text) == ["Preset comparison", "Files", "Runs"]
    own = (run / "report.html").read_text(encoding="utf-8")
    assert "Samples clipped to the WFDB format&#x27;s range: acquired 2." in own
    # the files document is linked, not tabulated with the metrics
    assert "clipped_samples" not in own


def test_comparison_metrics_documents_are_one_narrow_table_without_their_provenance():
    def doc(acquired, recovered):
        return {"channels": {"ECG": {"acquired": {"snr_db": acquired}, "recovered": {"snr_db": recovered}}},
                "provenance": {"config": {"run": {"fs_sim_hz": 8000.0}}}}

    comparison = {"presets": [{"preset": "a", "snr_db": 2.0}], "metrics": {"a": doc(1.0, 2.0), "b": doc(3.0, 4.0)}}
    tables = report.json_tables("comparison.json", comparison)
    assert tables == {"presets": [{"preset": "a", "snr_db": 2.0}], "metrics per channel and tap point": [
        {"metric": "snr_db", "a ECG acquired": 1.0, "a ECG recovered": 2.0, "b ECG acquired": 3.0,
         "b ECG recovered": 4.0}]}


def test_tables_wrap_long_names_and_text_and_scroll_in_their_own_box():
    text = report.render_html(title="t", sections=[Section("s", tables={"c": [
        {"residual_mains.uv_rms": 1.5, "note": "x" * (report.LONG_CELL_CHARS + 1), "name": "ina128"}]})])
    assert '<div class="table"><table><caption>c</caption>' in text and "</table></div>" in text
    assert "<th>residual_<wbr>mains.<wbr>uv_<wbr>rms</th>" in text  # breaks after _ and . only
    assert f'<td class="long">{"x" * (report.LONG_CELL_CHARS + 1)}</td><td>ina128</td>' in text
    assert "div.table { overflow-x: auto;" in text and "td.long { overflow-wrap: anywhere; }" in text
