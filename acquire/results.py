"""Result objects of the Python API: ``.metrics``, ``.plot()`` and ``.save(out_dir)`` on each.

They wrap what the library computes (:class:`acquire.evaluation.evaluate.Simulation`,
the sweep and compliance runs) with the configuration that produced it, and
write exactly the files the CLI writes.
"""

from __future__ import annotations

from pathlib import Path


class SimulationResult:
    """One simulation: the metrics document, the outputs, and the configuration used.

    Attributes
    ----------
    simulation : acquire.evaluation.evaluate.Simulation
        Outputs of the chain and its ideal twin, references, detections.
    config : dict
        The resolved configuration.
    """

    def __init__(self, simulation, config: dict):
        self.simulation = simulation
        self.config = config

    @property
    def metrics(self) -> dict:
        """The ``ecgfe.metrics/1`` document (strict-JSON-ready)."""
        return self.simulation.metrics

    def plot(self) -> dict:
        """The run's figures by name: ``time_panel``, ``psd``, ``bode`` (matplotlib Figures)."""
        from acquire.output.writers import simulation_figures

        return simulation_figures(self.simulation)

    def save(self, out_dir) -> Path:
        """Write the output directory (config, provenance, metrics, WFDB records, figures, report)."""
        from acquire.output.writers import write_simulation

        return write_simulation(self.simulation, self.config, out_dir)


class ComparisonResult:
    """Several presets run on one scenario.

    Attributes
    ----------
    results : dict
        Preset name -> :class:`SimulationResult`.
    config : dict
        The shared scenario (its ``[amplifier]`` is replaced per preset).
    """

    def __init__(self, simulations: dict, configs: dict, config: dict):
        self.results = {name: SimulationResult(sim, configs[name]) for name, sim in simulations.items()}
        self.config = config

    @property
    def rows(self) -> list[dict]:
        """One row per preset with the headline numbers (first channel)."""
        from acquire.output.writers import comparison_rows

        return comparison_rows({n: r.simulation for n, r in self.results.items()})

    @property
    def metrics(self) -> dict:
        """Preset name -> its metrics document."""
        return {name: r.metrics for name, r in self.results.items()}

    def plot(self):
        """The comparison chart (matplotlib Figure)."""
        from acquire.output.writers import comparison_figure

        return comparison_figure(self.rows)

    def save(self, out_dir) -> Path:
        """Write ``comparison.json``, the chart, one sub-directory per preset, and the report."""
        from acquire.output.writers import write_comparison

        return write_comparison({n: r.simulation for n, r in self.results.items()},
                                {n: r.config for n, r in self.results.items()}, self.config, out_dir)


class SweepResult:
    """A parameter sweep; its points are files in ``out_dir`` (``points/<id>.json``).

    Attributes
    ----------
    run : acquire.studies.sweep.SweepRun
        Varied keys, rows, computed and skipped point ids, files written.
    config : dict
        The base configuration.
    """

    def __init__(self, run, config: dict):
        self.run = run
        self.config = config

    @property
    def rows(self) -> list[dict]:
        """One row per point: ``id``, the varied keys, ``tap.metric`` values."""
        return self.run.rows

    @property
    def metrics(self) -> list[dict]:
        """The rows (as in ``sweep.json``)."""
        return self.run.rows

    def plot(self) -> dict:
        """The sweep's figures by name (matplotlib Figures)."""
        from acquire.studies.sweep import sweep_figures

        return sweep_figures(self.run.rows, self.run.keys)

    def save(self, out_dir=None) -> Path:
        """Write the HTML report into the sweep's directory (or copy the sweep into ``out_dir``)."""
        import shutil

        from acquire.output.report import report_from_dir

        out = Path(out_dir) if out_dir is not None else Path(self.run.out_dir)
        if out.resolve() != Path(self.run.out_dir).resolve():
            shutil.copytree(self.run.out_dir, out, dirs_exist_ok=True)
        report_from_dir(out, title="ecgfe sweep: " + ", ".join(self.run.keys))
        return out


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
        from acquire.studies.compliance.report import compliance_figure

        return {test: compliance_figure(spec) for test, spec in self.report.figures.items()}

    def save(self, out_dir) -> Path:
        """Write ``compliance.json``, the figures and ``compliance.html``."""
        from acquire.studies.compliance.report import write_compliance

        write_compliance(self.report, out_dir)
        return Path(out_dir)


class ComplianceMatrix:
    """Which presets pass which standard profile.

    Attributes
    ----------
    rows : list of dict
        One per preset: ``preset`` and, per profile, ``pass`` or the failed tests.
    """

    def __init__(self, rows: list[dict]):
        self.rows = rows

    @property
    def metrics(self) -> dict:
        """The ``compliance_matrix.json`` document."""
        return {"schema": "ecgfe.compliance-matrix/1", "rows": self.rows}

    def save(self, out_dir) -> Path:
        """Write ``compliance_matrix.json`` and ``compliance_matrix.html``."""
        from acquire.output.files import ensure_writable_dir, write_json
        from acquire.output.report import Section, write_html_report

        out = ensure_writable_dir(out_dir)
        write_json(out / "compliance_matrix.json", self.metrics)
        write_html_report(out / "compliance_matrix.html", title="ecgfe: presets x standards",
                          sections=[Section("Which presets pass which standard", tables={"matrix": self.rows})])
        return out
