"""Result objects of a compliance run and of the presets x standards matrix (see :mod:`acquire.results`).

``ComplianceResult`` wraps one :class:`acquire.studies.compliance.procedures.ComplianceReport`
(``.metrics`` is its JSON document, ``.plot()`` its figures, ``.save()`` writes
the files ``ecgfe comply --out`` writes); ``ComplianceMatrix`` holds the cells
of :func:`acquire.studies.compliance.report.preset_compliance_matrix` (the
verdict, deciding test and margin in dB of each preset x standard) and writes
the JSON, CSV, heat map and HTML page of ``ecgfe comply --matrix``. Each
``save`` is one output transaction, as in :mod:`acquire.results`.
"""

from __future__ import annotations

from pathlib import Path

from acquire.output.provenance import write_provenance


class ComplianceResult:
    """A standard's bench tests on one device.

    Attributes
    ----------
    report : acquire.studies.compliance.procedures.ComplianceReport
    """

    def __init__(self, report):
        self.report = report

    @property
    def passed(self) -> bool:
        """True when every condition passed."""
        return self.report.passed

    @property
    def exit_code(self) -> int:
        """0 when everything passed, 3 when a test failed."""
        return self.report.exit_code

    @property
    def rows(self) -> list:
        """Every condition's :class:`~acquire.studies.compliance.procedures.ComplianceRow`."""
        return self.report.rows

    @property
    def metrics(self) -> dict:
        """The ``compliance.json`` document."""
        from acquire.studies.compliance.report import report_dict

        return report_dict(self.report)

    def plot(self) -> dict:
        """One figure per test (matplotlib Figures), by test name."""
        from acquire.studies.compliance.report import compliance_figures

        return compliance_figures(self.report)

    def save(self, out_dir, *, overwrite: bool = False, run=None, inputs: dict | None = None) -> Path:
        """Write ``compliance.json``, the figures, ``compliance.html`` and ``provenance.json``, as one transaction."""
        from acquire.output.files import output_transaction
        from acquire.studies.compliance.report import write_compliance

        with output_transaction(out_dir, overwrite=overwrite) as tmp:
            write_compliance(self.report, tmp)
            write_provenance(tmp, run, {**(inputs or {}), "standard": self.report.standard.path}, None,
                        standard=self.report.standard.name, preset=self.report.device["preset"], passed=self.passed)
        return Path(out_dir)


class ComplianceMatrix:
    """Which presets pass which standard profile, and the deciding margin of each pair.

    Attributes
    ----------
    cells : list of dict
        One per (preset, standard), from
        :func:`acquire.studies.compliance.report.matrix_cell`: ``verdict``,
        ``margin_db`` (the deciding row's margin in dB; None when saturated,
        with ``null_reason``), ``deciding_test``, ``deciding_condition``,
        ``failed`` and ``saturated`` tests.
    """

    def __init__(self, cells: list[dict]):
        self.cells = cells

    @property
    def standards(self) -> list[str]:
        """The standard profiles, in order."""
        return list(dict.fromkeys(c["standard"] for c in self.cells))

    @property
    def rows(self) -> list[dict]:
        """One per preset: ``preset`` and, per profile, ``pass`` or the failed and saturated tests."""
        from acquire.studies.compliance.report import verdict_text

        rows: dict[str, dict] = {}
        for c in self.cells:
            rows.setdefault(c["preset"], {"preset": c["preset"]})[c["standard"]] = verdict_text(c)
        return list(rows.values())

    @property
    def table(self) -> list[dict]:
        """:attr:`cells` as flat rows (test lists joined by spaces; no scenario), as in ``compliance_matrix.csv``."""
        return [{k: " ".join(v) if isinstance(v, list) else v for k, v in c.items()
                 if k not in ("null_reason", "scenario")} for c in self.cells]

    @property
    def scenario(self) -> str:
        """The device apart from the presets (every cell's ``scenario``, joined when they differ)."""
        return " / ".join(dict.fromkeys(c.get("scenario", "") for c in self.cells if c.get("scenario")))

    @property
    def metrics(self) -> dict:
        """The ``compliance_matrix.json`` document (non-finite margins as null)."""
        from acquire.studies.compliance.report import json_safe

        return {"schema": "ecgfe.compliance-matrix/2", "rows": self.rows, "cells": json_safe(self.cells)}

    def plot(self):
        """The heat map of presets x standards (matplotlib Figure): deciding margins in dB, saturated cells marked."""
        from acquire.output.figures import plot_compliance_matrix

        return plot_compliance_matrix(self.cells, subtitle=self.scenario)

    def save(self, out_dir, *, overwrite: bool = False, run=None, inputs: dict | None = None) -> Path:
        """Write ``compliance_matrix.json``, ``.csv``, the heat map, ``compliance_matrix.html`` and ``provenance.json``."""
        from acquire.output.figures import save_figure
        from acquire.output.files import atomic_write, output_transaction, write_json
        from acquire.output.report import Section, write_html_report
        from acquire.studies.sweep import csv_bytes

        with output_transaction(out_dir, overwrite=overwrite) as tmp:
            write_json(tmp / "compliance_matrix.json", self.metrics)
            figs = []
            if self.cells:
                atomic_write(tmp / "compliance_matrix.csv", csv_bytes(self.table))
                figs.append(self.plot())
                save_figure(figs[0], tmp / "compliance_matrix")
            write_html_report(tmp / "compliance_matrix.html", title="ecgfe: presets x standards", sections=[
                Section("Which presets pass which standard", tables={"matrix": self.rows}, figures=figs,
                        paragraphs=[f"Device apart from the amplifier: {self.scenario}."] if self.scenario else []),
                Section("Deciding margins", paragraphs=[
                    "Each cell's deciding row: a saturated one, else the smallest margin in dB over the "
                    "standard's tests (20 log10(limit/measured) for magnitudes, measured - limit for "
                    "responses in dB; negative fails)."], tables={"cells": self.table})])
            write_provenance(tmp, run, inputs, None, presets=list(dict.fromkeys(c["preset"] for c in self.cells)))
        return Path(out_dir)
