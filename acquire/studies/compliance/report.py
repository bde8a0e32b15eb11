"""Compliance outputs: the JSON document, one figure per test, the HTML page, and the presets x standards matrix."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path


from acquire.output.files import atomic_write
from acquire.studies.compliance.procedures import ComplianceReport, run_compliance
from acquire.studies.compliance.standards import load_standard, standard_names

#: ``duration_scale`` used by :func:`preset_compliance_matrix`: the 60 s CMR window becomes 6 s.
MATRIX_DURATION_SCALE = 0.1


def _json_safe(v):
    """Non-finite floats become None (JSON has no inf); containers recursively."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def report_dict(report: ComplianceReport) -> dict:
    """The report as a JSON-ready dict (``margin_db`` null = unbounded)."""
    return _json_safe({
        "standard": report.standard.name, "title": report.standard.title,
        "standard_file": str(report.standard.path), "passed": report.passed,
        "device": report.device, "duration_scale": report.duration_scale, "settle_s": report.settle_s,
        "rows": [dataclasses.asdict(r) for r in report.rows],
    })


def compliance_figure(spec: dict, rows: Sequence = (), *, subtitle: str = ""):
    """The figure of one test from its waveform spec (``ComplianceReport.figures``).

    ``rows``: the table rows the figure shows; the first is stated in it
    with the table's numbers. ``subtitle``: the device and the standard.
    """
    from acquire.output import figures as viz

    result = rows[0] if rows else None
    if spec["kind"] == "sweep":
        return viz.plot_compliance_response(spec["f_hz"], spec["measured_db"], spec["lower_db"], spec["upper_db"],
                                            title=spec["title"], subtitle=subtitle,
                                            window_label=spec.get("window_label", ""), result=result)
    return viz.plot_compliance(spec["t_s"], spec["input_v"], spec["output_v"], spec["limit_v"],
                               title=spec["title"], limit_kind=spec["limit_kind"], subtitle=subtitle,
                               window_s=spec.get("window_s"),
                               window_label=spec.get("window_label", "measurement window"), result=result)


def compliance_figures(report: ComplianceReport) -> dict:
    """One figure per test, by test name: its waveform with the row of the condition it shows (else its worst)."""
    from acquire.output.figures import scenario_line

    worst = {r.test: r for r in report.worst()}
    scale = f"CMR window scaled by {report.duration_scale:g}" if report.duration_scale != 1 else ""
    subtitle = scenario_line(preset=report.device["preset"], extra=[report.standard.title, scale])
    return {test: compliance_figure(spec, [r for r in report.rows if r.test == test
                                           and r.condition == spec.get("condition")] or [worst[test]],
                                    subtitle=subtitle)
            for test, spec in report.figures.items()}


def write_compliance(report: ComplianceReport, out_dir: str | Path) -> dict[str, Path]:
    """Write ``compliance.json``, one figure per test and ``compliance.html`` into ``out_dir``.

    Every file is written to a temporary name and renamed when complete.
    Figures are ``compliance_<test>.png``, ``.svg`` and ``.pdf``: the test
    waveform and the output (worst condition) with the limit, the
    measurement window and that condition's row drawn. Returns the paths
    by kind (``json``, ``html``, ``figure:<test>``).
    """
    import matplotlib.pyplot as plt

    from acquire.output import figures as viz
    from acquire.output.report import Section, write_html_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": atomic_write(out / "compliance.json",
                                      json.dumps(report_dict(report), indent=2).encode("utf-8"))}
    figs = []
    for test, fig in compliance_figures(report).items():
        paths[f"figure:{test}"] = viz.save_figure(fig, out / f"compliance_{test}")[0]
        figs.append(fig)
    verdict = "PASS" if report.passed else "FAIL"
    columns = ("test", "condition", "measured", "relation", "limit", "unit", "margin", "margin_db",
               "verdict", "assumption", "source", "note")

    def table(rows):
        return [{c: getattr(r, c) for c in columns} for r in rows]

    sections = [
        Section("Verdict", paragraphs=[
            f"{verdict}: {sum(r.passed for r in report.rows)} of {len(report.rows)} conditions pass "
            f"{report.standard.title} (profile {report.standard.path.name}).",
            "Rows marked assumption rest on a limit or set-up that the reference facts mark unconfirmed "
            "or that was inferred; see the note and source of each row.",
            (f"Device: preset {report.device['preset']}, nominal gain {report.device['gain_v_per_v']:g} V/V; the "
             "configured post-amplifier, ADC and digital stages are part of the device. Outputs are referred "
             "to the input by dividing by the nominal gain; each run has the reference run without the "
             f"stimulus subtracted; measurements start after the settling time ({report.settle_s:.3g} s)."),
            f"CMR window scaled by duration_scale = {report.duration_scale:g}."],
            tables={"Worst case of each test": table(report.worst())}),
        Section("All conditions", tables={"Results": table(report.rows)}),
        Section("Figures", figures=figs),
    ]
    paths["html"] = write_html_report(out / "compliance.html", title=f"ecgfe compliance: {report.standard.title}",
                                      sections=sections)
    for fig in figs:
        plt.close(fig)
    return paths


def preset_compliance_matrix(presets: Sequence[str] | None = None, standards: Sequence[str] | None = None, *,
                             cfg: dict | None = None, duration_scale: float = MATRIX_DURATION_SCALE,
                             progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Which presets pass which standard: one row per preset.

    Parameters
    ----------
    presets : names, optional
        Built-in presets (default: all).
    standards : names or paths, optional
        Standard profiles (default: all built-in).
    cfg : dict, optional
        Base configuration (default :func:`acquire.config.default_config`);
        its ``[amplifier]`` is replaced by each preset.
    duration_scale : float
        Passed to :func:`run_compliance`; the default shortens the CMR window
        to 6 s, which gives the same p-v (see there).
    progress : callable(done, total), optional
        Called after each (preset, standard) pair.

    Returns
    -------
    list of dict
        ``{"preset": name, <standard>: "pass" or "fail: test, test", ...}``.
    """
    from acquire.config import default_config
    from frontend_models.presets import preset_names

    presets = list(preset_names() if presets is None else presets)
    standards = list(standard_names() if standards is None else standards)
    loaded = [load_standard(s) for s in standards]
    base = default_config() if cfg is None else cfg
    rows, done = [], 0
    for p in presets:
        c = copy.deepcopy(base)
        c["amplifier"] = {"preset": p}
        row = {"preset": p}
        for std in loaded:
            rep = run_compliance(c, std, duration_scale=duration_scale)
            failed = list(dict.fromkeys(r.test for r in rep.rows if r.verdict == "fail"))
            saturated = list(dict.fromkeys(r.test for r in rep.rows if r.verdict == "saturated"))
            parts = [f"fail: {', '.join(failed)}" if failed else "", f"saturated: {', '.join(saturated)}" if saturated else ""]
            row[std.name] = "; ".join(p for p in parts if p) or "pass"
            done += 1
            if progress is not None:
                progress(done, len(presets) * len(loaded))
        rows.append(row)
    return rows
