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


def json_safe(v):
    """Non-finite floats become None (JSON has no inf); containers recursively."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    return v


#: ``null_reason`` of a saturated row in ``compliance.json``: why its measured value and margins are null.
SATURATED_REASON = "saturated: a stage clipped (see note), so the output is not the device's linear response"


def row_dict(row) -> dict:
    """One row as a JSON-ready dict; a saturated row says why ``measured`` and the margins are null."""
    return {**dataclasses.asdict(row), **({"null_reason": SATURATED_REASON} if row.verdict == "saturated" else {})}


def report_dict(report: ComplianceReport) -> dict:
    """The report as a JSON-ready dict (``margin_db`` null: unbounded, or saturated with ``null_reason``)."""
    return json_safe({
        "standard": report.standard.name, "title": report.standard.title,
        "standard_file": str(report.standard.path), "passed": report.passed,
        "device": report.device, "duration_scale": report.duration_scale, "settle_s": report.settle_s,
        "rows": [row_dict(r) for r in report.rows],
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


def matrix_scenario(cfg: dict, duration_scale: float) -> str:
    """The device apart from its amplifier, as the matrix figure's caption: digital stages, reference, CMR window."""
    from acquire.frontend import body_params

    def stage(d):
        hz = next((v for k, v in d.items() if k.endswith("_hz")), None)
        return d["kind"] + (f" {hz:g} Hz" if isinstance(hz, (int, float)) else "")

    return " · ".join([", ".join(stage(d) for d in cfg["digital"]) or "no digital stages",
                       "reference electrode" if body_params(cfg).grounded else "no reference electrode",
                       f"CMR window scaled by {duration_scale:g}"])


def matrix_cell(preset: str, report: ComplianceReport, scenario: str = "") -> dict:
    """One preset x standard cell of the matrix: the verdict, the failed and saturated tests, the deciding margin.

    The deciding row is the worst of all the standard's rows: a saturated
    one, else the one of smallest ``margin_db`` (negative when it fails;
    every unsaturated row has one, see
    :class:`~acquire.studies.compliance.procedures.ComplianceRow`).
    ``margin_db`` is that row's margin in dB: None when it saturated (with
    ``null_reason``), inf when nothing was measured. ``scenario``: the
    device apart from the preset (:func:`matrix_scenario`).
    """
    failed = list(dict.fromkeys(r.test for r in report.rows if r.verdict == "fail"))
    saturated = list(dict.fromkeys(r.test for r in report.rows if r.verdict == "saturated"))
    deciding = min(report.rows, key=lambda r: (r.verdict != "saturated", -math.inf if r.margin_db is None
                                               else r.margin_db))
    cell = {"preset": preset, "standard": report.standard.name,
            "verdict": "saturated" if saturated else "fail" if failed else "pass",
            "margin_db": deciding.margin_db, "deciding_test": deciding.test,
            "deciding_condition": deciding.condition, "failed": failed, "saturated": saturated,
            "scenario": scenario}
    return {**cell, "null_reason": SATURATED_REASON} if saturated else cell


def verdict_text(cell: dict) -> str:
    """A cell as one line: ``"pass"``, or ``"fail: cmr, impulse; saturated: offset"``."""
    parts = [f"{kind}: {', '.join(cell[key])}" for kind, key in (("fail", "failed"), ("saturated", "saturated"))
             if cell[key]]
    return "; ".join(parts) or "pass"


def preset_compliance_matrix(presets: Sequence[str] | None = None, standards: Sequence[str] | None = None, *,
                             cfg: dict | None = None, duration_scale: float = MATRIX_DURATION_SCALE,
                             progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Which presets pass which standard, and by how much: one cell per preset and standard.

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
        :func:`matrix_cell` of each pair, presets outer, standards inner.
    """
    from acquire.config import default_config
    from frontend_models.presets import preset_names

    presets = list(preset_names() if presets is None else presets)
    loaded = [load_standard(s) for s in (standard_names() if standards is None else standards)]
    base = default_config() if cfg is None else cfg
    scenario, cells = matrix_scenario(base, duration_scale), []
    for p in presets:
        c = copy.deepcopy(base)
        c["amplifier"] = {"preset": p}
        for std in loaded:
            cells.append(matrix_cell(p, run_compliance(c, std, duration_scale=duration_scale), scenario))
            if progress is not None:
                progress(len(cells), len(presets) * len(loaded))
    return cells
