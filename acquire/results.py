"""Result objects of the Python API: ``.metrics``, ``.plot()`` and ``.save(out_dir)`` on each.

They wrap what the library computes (:class:`acquire.evaluation.evaluate.Simulation`,
the comparison, sweep, batch and Monte Carlo runs; compliance results are in
:mod:`acquire.compliance_results`) with the configuration that produced it, and
write exactly the files the CLI writes.

Every ``save`` writes its directory as one transaction
(:func:`acquire.output.files.output_transaction`): built in a hidden
temporary sibling, renamed into place when complete; an existing non-empty
directory is refused unless ``overwrite=True``, and replaced only once the
new one is complete. Sweeps (and Monte Carlo runs with a time-domain subset)
resume in their own directory, so they are written in place under a
:class:`~acquire.output.files.DirectoryLock`. ``run`` (an
:class:`acquire.output.provenance.RunInfo`) gives ``provenance.json`` the
command line and start time (default: ``"python API"``, starting at the
save); ``inputs`` (role -> path) names input files the result cannot know,
such as the configuration file, to hash them into it.
"""

from __future__ import annotations

from pathlib import Path

from acquire.output.provenance import write_provenance


class SimulationResult:
    """One simulation: the metrics document, the outputs, and the configuration used.

    Attributes
    ----------
    simulation : acquire.evaluation.evaluate.Simulation
        Outputs of the chain and its ideal twin, references, detections.
    config : dict
        The resolved configuration.
    saved_dir : Path or None
        The output directory a streamed run was written to (its outputs'
        samples are there, not in memory); None for a run kept in memory.
    """

    def __init__(self, simulation, config: dict, *, saved_dir=None):
        self.simulation = simulation
        self.config = config
        self.saved_dir = None if saved_dir is None else Path(saved_dir)

    @property
    def metrics(self) -> dict:
        """The ``ecgfe.metrics/1`` document (strict-JSON-ready)."""
        return self.simulation.metrics

    def plot(self) -> dict:
        """The run's figures by name: ``time_panel``, ``psd``, ``bode`` (matplotlib Figures)."""
        from acquire.output.writers import simulation_figures

        return simulation_figures(self.simulation)

    def save(self, out_dir, *, overwrite: bool = False, run=None, inputs: dict | None = None) -> Path:
        """Write the output directory (config, provenance, metrics, WFDB records and detections, figures, report).

        See :func:`acquire.output.writers.write_simulation` (``overwrite``,
        ``run``, ``inputs``, errors). A streamed run is already saved in
        :attr:`saved_dir`: saving there returns it, elsewhere copies it.
        """
        from acquire.output.writers import write_simulation

        if self.saved_dir is not None:
            import shutil

            from acquire.output.files import output_transaction

            if Path(out_dir).resolve() == self.saved_dir.resolve():
                return self.saved_dir
            with output_transaction(out_dir, overwrite=overwrite) as tmp:
                shutil.copytree(self.saved_dir, tmp, dirs_exist_ok=True)
            return Path(out_dir)
        return write_simulation(self.simulation, self.config, out_dir, overwrite=overwrite, run=run, inputs=inputs)


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
        from acquire.output.writers import comparison_figure, comparison_scenario

        return comparison_figure(self.rows, **comparison_scenario({n: r.simulation for n, r in self.results.items()}))

    def save(self, out_dir, *, overwrite: bool = False, run=None, inputs: dict | None = None) -> Path:
        """Write ``comparison.json``, the chart, one complete run directory per preset, and a report linking them."""
        from acquire.output.writers import write_comparison

        return write_comparison({n: r.simulation for n, r in self.results.items()},
                                {n: r.config for n, r in self.results.items()}, self.config, out_dir,
                                overwrite=overwrite, run=run, inputs=inputs)


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
        from acquire.output.figures.sweep import figure_options
        from acquire.studies.sweep import sweep_figures

        return sweep_figures(self.run.rows, self.run.keys,
                             **figure_options(self.run.documents, self.run.keys, self.run.channel))

    def save(self, out_dir=None, *, overwrite: bool = False, run=None, inputs: dict | None = None) -> Path:
        """Write ``provenance.json`` and the HTML report into the sweep's directory, or copy the sweep.

        Into the sweep's own directory (``out_dir`` None or the same): in
        place, under its :class:`~acquire.output.files.DirectoryLock`.
        Elsewhere: the sweep's files copied into a new directory, as one
        transaction (``overwrite`` as for the other results).
        """
        import shutil

        from acquire.output.files import LOCK_NAME, DirectoryLock, output_transaction

        own = Path(self.run.out_dir)
        if out_dir is None or Path(out_dir).resolve() == own.resolve():
            with DirectoryLock(own):
                self._write(own, run, inputs)
            return own
        with output_transaction(out_dir, overwrite=overwrite) as tmp:
            shutil.copytree(own, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(LOCK_NAME, ".*.part"))
            self._write(tmp, run, inputs)
        return Path(out_dir)

    def _write(self, out: Path, run, inputs) -> None:
        from acquire.output.report import report_from_dir

        docs = self.run.documents
        write_provenance(out, run, inputs, self.config, configs=[d["provenance"]["config"] for d in docs],
                    sources=list({str(d["provenance"]["source"]): d["provenance"]["source"] for d in docs}.values()),
                    varied=self.run.keys, points=len(self.run.rows))
        report_from_dir(out, title="ecgfe sweep: " + ", ".join(self.run.keys))


class MonteCarloResult:
    """A Monte Carlo tolerance analysis over one or more presets on the same draws.

    Attributes
    ----------
    run : acquire.studies.montecarlo.MonteCarloRun
    config : dict
        The base configuration.
    distributions : list
        The varied keys with their distributions (defaults included).
    """

    def __init__(self, run, config: dict, distributions: list):
        self.run = run
        self.config = config
        self.distributions = distributions

    @property
    def yields(self) -> dict:
        """Preset -> fraction of draws within the limit."""
        return {name: p["yield"] for name, p in self.run.presets.items()}

    @property
    def rows(self) -> list[dict]:
        """One summary row per preset: yield and p50/p90/p99 of residual (µV rms and p-p) and CMRR_eff."""
        rows = []
        for name, p in self.run.presets.items():
            s = p["stats"]
            rows.append({"preset": name, "yield": p["yield"], "limit_uv_pp": self.run.limit_uv_pp,
                         **{f"residual_uv_pp_{q}": s["uv_pp"][q] for q in ("p50", "p90", "p99")},
                         **{f"residual_uv_rms_{q}": s["total_uv_rms"][q] for q in ("p50", "p90", "p99")},
                         # effective CMRR: the low tail is the bad one (p10, p1)
                         **{f"cmrr_effective_db_{q}": s["cmrr_effective_db"][q] for q in ("p50", "p10", "p1")},
                         "simulated_max_relative_difference": max(
                             (abs(r["relative_difference"]) for r in p["simulated"] if not r["saturated"]),
                             default=None),
                         "simulated_saturated": sum(r["saturated"] for r in p["simulated"])})
        return rows

    @property
    def metrics(self) -> dict:
        """The ``montecarlo.json`` document."""
        return {"schema": "ecgfe.montecarlo/1", "draws": self.run.n_draws, "seed": self.run.seed,
                "records": self.run.records,
                "distributions": [f"{d.key}={d.kind}{d.args}" for d in self.distributions],
                "limit_uv_pp": self.run.limit_uv_pp, "limit_source": self.run.limit_source,
                "presets": {name: {"yield": p["yield"], "stats": p["stats"], "simulated": p["simulated"]}
                            for name, p in self.run.presets.items()},
                "summary": self.rows, "config": self.config}

    def plot(self) -> dict:
        """One CDF figure per preset (matplotlib Figures), by preset name."""
        from acquire.output.figures.montecarlo import plot_residual_cdf

        mains = self.config["mains"]["frequency_hz"]
        keys = ", ".join(d.key.split(".")[-1] for d in self.distributions)
        return {name: plot_residual_cdf(
            p["analytic"]["uv_pp"], limit_uv_pp=self.run.limit_uv_pp,
            limit_label=f"limit {self.run.limit_uv_pp:.4g} µV p-p\n({self.run.limit_source})",
            title=f"Residual mains, {name}: {mains:g} Hz, {p['analytic']['v_cm_rms']:.3g} V rms common mode",
            subtitle=f"{self.run.n_draws} draws (seed {self.run.seed}) of {keys}")
            for name, p in self.run.presets.items()}

    def save(self, out_dir, *, overwrite: bool = False, run=None, inputs: dict | None = None) -> Path:
        """Write ``montecarlo.json``, ``montecarlo.csv`` (every draw), the CDF figures, provenance and ``report.html``.

        When ``out_dir`` holds this run's time-domain points
        (``<preset>/simulated/points``, resumable), the files go in place
        beside them under the directory's
        :class:`~acquire.output.files.DirectoryLock`; otherwise the directory
        is one transaction (``overwrite``, ``run``, ``inputs`` as for the
        other results).
        """
        from acquire.output.files import DirectoryLock, output_transaction

        out = Path(out_dir)
        if any(p["simulated"] and (out / name / "simulated" / "points").is_dir()
               for name, p in self.run.presets.items()):
            with DirectoryLock(out):
                self._write(out, run, inputs)
            return out
        with output_transaction(out, overwrite=overwrite) as tmp:
            self._write(tmp, run, inputs)
        return out

    def _write(self, out: Path, run, inputs) -> None:
        import csv
        import io

        from acquire.output.figures import save_figure
        from acquire.output.files import atomic_write, write_json
        from acquire.output.provenance import configured_record
        from acquire.output.report import report_from_dir

        write_json(out / "montecarlo.json", self.metrics)
        buf = io.StringIO()
        keys = [d.key for d in self.distributions]
        quantities = ("fundamental_uv_rms", "total_uv_rms", "uv_pp", "cmrr_effective_db")
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["preset", "draw", *keys, *quantities])
        for name, p in self.run.presets.items():
            for i, d in enumerate(p["draws"]):
                writer.writerow([name, i, *(d[k] for k in keys), *(float(p["analytic"][q][i]) for q in quantities)])
        atomic_write(out / "montecarlo.csv", buf.getvalue().encode())
        stems = {f"montecarlo_cdf_{name}" for name in self.run.presets}
        for name, fig in self.plot().items():
            save_figure(fig, out / f"montecarlo_cdf_{name}")
        for stale in out.glob("montecarlo_cdf_*"):  # of presets an earlier run in this directory had
            if stale.stem not in stems:
                stale.unlink()
        simulated = any(p["simulated"] for p in self.run.presets.values())
        write_provenance(out, run, inputs, self.config, configs=[{"amplifier": {"preset": n}} for n in self.run.presets],
                    sources=[configured_record({**self.config["source"], "name": r})
                             for r in self.run.records or [self.config["source"]["name"]]] if simulated else [],
                    montecarlo_seed=self.run.seed, draws=self.run.n_draws)
        report_from_dir(out, title="ecgfe Monte Carlo: " + ", ".join(self.run.presets))


class BatchResult:
    """Design points run on every record of a set (:func:`acquire.studies.batch.run_batch`).

    Attributes
    ----------
    run : acquire.studies.batch.BatchRun
        ``summary`` (one row per point, aggregated like ``sumstats``) and ``units`` (one row per point and record).
    config : dict
        The base configuration.
    """

    def __init__(self, run, config: dict):
        self.run = run
        self.config = config

    @property
    def rows(self) -> list[dict]:
        """One aggregate row per design point."""
        return self.run.summary

    @property
    def metrics(self) -> dict:
        """The ``batch.json`` document: the aggregates and every (point, record) row."""
        return {"schema": "ecgfe.batch/1", "records": self.run.records, "points": self.run.points,
                "summary": self.run.summary, "units": self.run.units}

    def plot(self) -> dict:
        """Per-record residual mains, effective CMRR and SNR of each point (bar charts), by point id."""
        from acquire.output.figures import plot_preset_comparison, scenario_line

        figs = {}
        cfg = self.config
        for row, point in zip(self.run.summary, self.run.points):
            units = [u for u in self.run.units if u["point"] == row["point"]]
            design = ", ".join(f"{k} = {v}" for k, v in point.items()) or "the configured design"
            values = {label: [float("nan") if u[key] is None else u[key] for u in units] for label, key in (
                ("Residual mains at ADC (µV rms RTI)", "acquired.residual_mains_uv_rms"),
                ("Effective CMRR (dB)", "acquired.cmrr_effective_db"), ("Recovered SNR (dB)", "recovered.snr_out_db"))}
            figs[f"batch_{row['point']}"] = plot_preset_comparison(
                [u["record"] for u in units], values, log_metrics=("Residual mains at ADC (µV rms RTI)",),
                title=f"Per record, {design}: gross Se {_pct(row['gross_se'])}, +P {_pct(row['gross_ppv'])}",
                xlabel="Record", subtitle=scenario_line(
                    preset=None if "amplifier.preset" in point else cfg["amplifier"].get("preset"),
                    mains_hz=None if "mains.frequency_hz" in point else cfg["mains"].get("frequency_hz"),
                    imbalance=None if "electrodes.imbalance" in point else cfg["electrodes"].get("imbalance", "iec")))
        return figs

    def save(self, out_dir, *, overwrite: bool = False, run=None, inputs: dict | None = None) -> Path:
        """Write ``batch.json``, ``batch.csv`` (every unit), the figures, provenance and the report, in place under the lock."""
        from acquire.output.figures import save_figure
        from acquire.output.files import DirectoryLock, atomic_write, write_json
        from acquire.output.report import report_from_dir
        from acquire.studies.sweep import csv_bytes

        out = Path(out_dir)
        with DirectoryLock(out):
            write_json(out / "batch.json", self.metrics)
            atomic_write(out / "batch.csv", csv_bytes(self.run.units))
            for stem, fig in self.plot().items():
                save_figure(fig, out / stem)
            write_provenance(out, run, inputs, self.config, records=self.run.records, points=len(self.run.points))
            report_from_dir(out, title=f"ecgfe batch: {len(self.run.records)} records")
        return out


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"
