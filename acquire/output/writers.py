"""Write the results of a simulation or a comparison to an output directory.

A run directory holds the resolved ``config.toml``, ``provenance.json``
(:mod:`acquire.output.provenance`), ``metrics.json``, the outputs as WFDB
records in physical units (``acquired`` and ``recovered``, input-referred
mV, readable by wfdb and PhysioNet's tools), the detected beats beside them
as WFDB annotation files (``acquired.qrs``, ``recovered.qrs``), the figures
(PNG, SVG and PDF) and ``report.html``. The directory is one transaction: it is
built in a hidden temporary sibling and renamed into place when complete
(:func:`acquire.output.files.output_transaction`), so an interrupted or
failed run leaves the old directory, if any, as it was.

A long record is written by :func:`stream_simulation` instead: the records
grow in the directory being built as the chains run, and the figures come
from data accumulated on the way (:class:`FigureViews`), so memory is
bounded by the chunk whatever the record's length.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from acquire._version import __version__
from acquire.config import to_toml
from acquire.output.files import atomic_write, output_transaction, write_json
from acquire.output.provenance import RunInfo, collect_inputs, provenance_document, seeds_of

#: Frequency grid of the Bode plot, Hz.
BODE_F_HZ = np.logspace(-1, 4, 400)


def bode_curves(frontend, f_hz=BODE_F_HZ) -> dict:
    """Differential gain, common-mode gain and CMRR_eff of the analog front end vs frequency.

    ``diff`` and ``cm`` are the amplifier's analog gains times the
    post-amplifier response; ``cmrr_eff_db`` adds the electrode divider's
    conversion: |A_d| / |A_cm + D A_d| (facts.md 2.2).
    """
    from acquire.frontend import analytic_cmrr_effective_db, chain_response

    amp = frontend.analog["amplifier"]
    post = chain_response(frontend, f_hz) * float(frontend.info["post"]["gain2_v_per_v"])
    a_d, a_cm = amp.diff_gain(f_hz) * post, amp.cm_gain(f_hz) * post
    return {"f_hz": f_hz, "diff": a_d, "cm": a_cm, "cmrr_eff_db": analytic_cmrr_effective_db(frontend, f_hz)}


def scenario(sim, *, preset: bool = True) -> str:
    """The run's scenario line for figure subtitles: preset, mains and common mode, imbalance, record."""
    from acquire.output.figures import record_label, scenario_line

    return scenario_line(preset=sim.metrics["provenance"]["preset"] if preset else None,
                         mains_hz=sim.metrics["mains_hz"], cm_v_rms=sim.metrics["body_cm_v_rms"],
                         imbalance=sim.frontend.info["electrodes"].imbalance,
                         record=record_label(sim.metrics["provenance"]["source"]))


def mains_harmonics(sim) -> list[int]:
    """Harmonic numbers to mark: every one below the output's Nyquist frequency and every modelled one."""
    mains_hz, fs = sim.metrics["mains_hz"], sim.metrics["rates_hz"]["recovered"]
    return sorted({1, *range(2, int((fs / 2) // mains_hz) + 1), *sim.frontend.info["mains"].harmonic_ratios})


def bode_ylims(sims) -> dict:
    """``ylim_db`` and ``gain_ylim_db`` covering every run's Bode curves, for one comparison's shared ranges."""
    from acquire.output.figures import common_ylim_db

    curves = [bode_curves(s.frontend) for s in sims]
    with np.errstate(divide="ignore"):
        cmrr = [20 * np.log10(np.abs(b["diff"]) / np.abs(b["cm"])) for b in curves]
        gains = [20 * np.log10(np.abs(b[k])) for b in curves for k in ("diff", "cm")]
    return {"ylim_db": common_ylim_db(*cmrr, *(b["cmrr_eff_db"] for b in curves)),
            "gain_ylim_db": common_ylim_db(*gains)}


def bode_figure(sim, *, ylim_db=None, gain_ylim_db=None):
    """The front end's Bode plot with the mains marked; ``ylim_db``, ``gain_ylim_db`` as from :func:`bode_ylims`."""
    from acquire.output import figures as viz

    b = bode_curves(sim.frontend)
    return viz.plot_bode(b["f_hz"], b["diff"], b["cm"], cmrr_eff_db=b["cmrr_eff_db"],
                         title=f"Front end: {sim.metrics['provenance']['preset']}", mains_hz=sim.metrics["mains_hz"],
                         harmonics=[1, *sim.frontend.info["mains"].harmonic_ratios], subtitle=scenario(sim),
                         ylim_db=ylim_db, gain_ylim_db=gain_ylim_db)


class FigureViews:
    """The run's figure data, accumulated as it runs (an observer of :func:`acquire.evaluation.evaluate.simulate`).

    A :class:`~acquire.output.figures.signals.TimeView` (overview envelope
    and zooms of the source reference, acquired and recovered traces of
    every channel) and :class:`~acquire.output.figures.spectra.WelchPsd`
    estimates of channel 0 (acquired, when at the recovered tap's rate;
    recovered; the ideal chain's recovered output): memory bounded whatever
    the record's length.
    """

    def __init__(self, rates_hz: dict, n_channels: int, duration_s: float, settle_s: float):
        from acquire.output import figures as viz
        from acquire.output.figures.signals import TimeView
        from acquire.output.figures.spectra import WelchPsd

        fs = rates_hz["recovered"]
        t_last = (int(duration_s * fs) - 1) / fs
        windows = viz.zoom_windows(0.0, t_last, first_s=min(float(settle_s), t_last / 2))
        self.time = TimeView({"source": fs, "acquired": rates_hz["acquired"], "recovered": fs}, n_channels,
                             duration_s, windows)
        nperseg = min(round(4.0 * fs), int(duration_s * fs))
        self.same_rate = rates_hz["acquired"] == fs
        self.psd = {label: WelchPsd(fs, nperseg) for label in
                    ((["acquired"] if self.same_rate else []) + ["recovered", "source reference (ideal chain)"])}

    def update(self, tap: str, y, x_ideal, x_source) -> None:
        """Add a chunk of each trace at ``tap``."""
        self.time.update(tap, y)
        if tap == "recovered":
            self.time.update("source", x_source)
            self.psd["recovered"].update(y[0])
            self.psd["source reference (ideal chain)"].update(x_ideal[0])
        elif self.same_rate:
            self.psd["acquired"].update(y[0])

    @classmethod
    def of(cls, sim) -> "FigureViews":
        """The views of a simulation: its own, or made from its kept outputs."""
        found = [o for o in sim.observers if isinstance(o, cls)]
        if found:
            return found[0]
        views = cls.attach(sim.metrics["rates_hz"], len(sim.recording.channel_names),
                           sim.result.recovered_v.shape[1] / sim.result.fs_recovered_hz, sim.metrics["settle_s"])
        for tap, y, x in (("acquired", sim.result.acquired_v, sim.ideal.acquired_v),
                          ("recovered", sim.result.recovered_v, sim.ideal.recovered_v)):
            views.update(tap, y, x, sim.source_ref_v[tap])
        return views

    @classmethod
    def attach(cls, rates_hz, n_channels, duration_s, settle_s) -> "FigureViews":
        """The views for a run (the ``attach`` signature of :func:`~acquire.evaluation.evaluate.simulate`)."""
        return cls({tap: rates_hz[tap] for tap in ("acquired", "recovered")}, n_channels, duration_s, settle_s)


def simulation_figures(sim) -> dict:
    """The run's figures by file stem: time panel, PSD before/after, Bode plot (from :class:`FigureViews`)."""
    from acquire.output import figures as viz

    views = FigureViews.of(sim)
    fs = sim.metrics["rates_hz"]["recovered"]
    t, traces, windows = views.time.traces()
    subtitle = scenario(sim)
    name = sim.recording.channel_names[0]
    return {
        "time_panel": viz.plot_time_panel(
            t, traces["source"], traces["acquired"], traces["recovered"],
            ref_beats_s=sim.ref_beats["recovered"] / fs,
            detected_beats_s=[np.asarray(d) / fs for d in sim.detections["recovered"]],
            zoom_s=windows, title="ECG acquisition", channel_names=sim.recording.channel_names, subtitle=subtitle),
        "psd": viz.plot_psd(fs, views.psd, mains_hz=sim.metrics["mains_hz"], harmonics=mains_harmonics(sim),
                            fs_adc_hz=sim.frontend.info["adc"].fs_adc_hz, title=f"Power spectral density: {name}",
                            subtitle=subtitle),
        "bode": bode_figure(sim),
    }


def write_simulation(sim, cfg: dict, out_dir, *, overwrite: bool = False, run: RunInfo | None = None,
                     inputs: dict | None = None) -> Path:
    """Write a simulation's output directory as one transaction; return the directory.

    Parameters
    ----------
    sim : acquire.evaluation.evaluate.Simulation
    cfg : dict
        The resolved configuration.
    out_dir : path
        Built in a hidden sibling and renamed into place when complete
        (:func:`acquire.output.files.output_transaction`).
    overwrite : bool
        Replace an existing non-empty ecgfe output directory.
    run : RunInfo, optional
        Command line and start time for ``provenance.json`` (default: the
        Python API, starting now).
    inputs : dict, optional
        Role -> path of input files the simulation cannot know (the
        configuration file), hashed into ``provenance.json`` with the
        record's files and the user model files.

    Raises
    ------
    ValueError
        A refused ``out_dir`` (not empty without ``overwrite``, holds an input).
    OutputError
        A file-system failure; nothing is left behind.
    """
    run = run or RunInfo.begin()
    files = collect_inputs(given=inputs, sources=[sim.recording.provenance], configs=[cfg])
    with output_transaction(out_dir, overwrite=overwrite, inputs=[p for _, p in files]) as tmp:
        write_run_files(sim, cfg, tmp, run, files)
    return Path(out_dir)


def stream_simulation(cfg: dict, out_dir, *, overwrite: bool = False, run: RunInfo | None = None,
                      inputs: dict | None = None, progress=None, recording=None):
    """Simulate straight into an output directory, in memory bounded by the chunk; return the Simulation.

    The WFDB records are written chunk by chunk into the directory being
    built (:class:`~acquire.output.wfdb_writer.WfdbSink`), the metrics and
    the figures accumulated as the chains run (:class:`FigureViews`); then
    the rest of :func:`write_run_files`. ``recording``: a loaded recording
    (default: the configured source, streamed: synthetic or WFDB). The other
    arguments and the errors as in :func:`write_simulation`.
    """
    from acquire.evaluation.evaluate import open_source, simulate
    from acquire.output.wfdb_writer import WfdbSink

    run = run or RunInfo.begin()
    _, source = open_source(cfg, recording, stream=True)
    files = collect_inputs(given=inputs, sources=[source.provenance], configs=[cfg])
    with output_transaction(out_dir, overwrite=overwrite, inputs=[p for _, p in files]) as tmp:
        def attach(rates, n_channels, duration_s, settle_s):
            sink = WfdbSink(tmp, rates, source.channel_names)
            return [sink, FigureViews.attach(rates, n_channels, duration_s, settle_s)]

        sim = simulate(cfg, source, progress=progress, keep=False, attach=attach, scratch_dir=tmp)
        next(o for o in sim.observers if isinstance(o, WfdbSink)).close()
        write_run_files(sim, cfg, tmp, run, files)
    return sim


def write_run_files(sim, cfg: dict, directory: Path, run: RunInfo, inputs: list) -> dict:
    """Write one run's files into the existing, empty ``directory``; return its figures by stem.

    ``config.toml``, the WFDB records ``acquired``/``recovered``
    (:func:`write_records`), the detected beats (:func:`write_detections`),
    ``metrics.json`` (the metrics document with a ``files`` key naming the
    records and detection files, and the samples clipped to the WFDB range),
    the figures, ``provenance.json`` and ``report.html``.
    """
    from acquire.output import figures as viz
    from acquire.output.report import report_from_dir

    atomic_write(directory / "config.toml", to_toml(cfg).encode())
    files = {"records": write_records(sim, directory), "detections": write_detections(sim, directory)}
    write_json(directory / "metrics.json", {**sim.metrics, "files": files})
    figs = simulation_figures(sim)
    for stem, fig in figs.items():
        viz.save_figure(fig, directory / stem)
    source = sim.metrics["provenance"]["source"]
    write_json(directory / "provenance.json", provenance_document(
        run, inputs, seeds_of(cfg), source=source, preset=sim.metrics["provenance"]["preset"]))
    report_from_dir(directory, title=f"ecgfe simulation: {source.get('record', 'synthetic')}")
    return figs


def write_records(sim, directory: Path) -> dict:
    """The outputs as WFDB records ``acquired`` and ``recovered``; tap -> what was written.

    Each entry names the ``header`` and ``signals`` files and counts the
    ``clipped_samples`` (beyond the format's range; the WFDB invalid-sample
    value is never written, :mod:`acquire.output.wfdb_writer`).
    """
    from acquire.output.wfdb_writer import WfdbSink, WfdbWriter

    sinks = [o for o in sim.observers if isinstance(o, WfdbSink)]
    if sinks:  # streamed into the directory as the run went
        return {tap: {"header": f"{tap}.hea", "signals": f"{tap}.dat", "clipped_samples": w.n_clipped}
                for tap, w in sinks[0].writers.items()}
    written = {}
    for tap, x, fs in (("acquired", sim.result.acquired_v, sim.result.fs_acquired_hz),
                       ("recovered", sim.result.recovered_v, sim.result.fs_recovered_hz)):
        writer = WfdbWriter(directory, tap, fs, sim.recording.channel_names)
        writer.write(x)
        writer.close()
        written[tap] = {"header": f"{tap}.hea", "signals": f"{tap}.dat", "clipped_samples": writer.n_clipped}
    return written


def detection_annotator(channel: int) -> str:
    """WFDB annotator (file extension) of the beats detected on signal ``channel``.

    ``qrs`` for signal 0, then ``qrsb``, ``qrsc``, ... (the letter counts
    signals from ``a`` = 0; wfdb accepts letters only).
    """
    if channel == 0:
        return "qrs"
    letters, n = "", channel
    while n >= 0:
        letters = chr(ord("a") + n % 26) + letters
        n = n // 26 - 1
    return "qrs" + letters


def write_detections(sim, directory: Path) -> dict:
    """Detected beats as WFDB annotation files beside the records; tap -> channel -> file name.

    ``<tap>.qrs`` (signal 0), ``<tap>.qrsb`` (signal 1), ...: one ``N``
    annotation per detected beat at its sample index at that record's rate,
    with the signal number as ``chan`` and the rate as the file's time
    resolution, readable by ``wfdb.rdann`` and by WFDB's ``rdann`` and
    ``bxb``. No beat gives a file holding only the end mark.
    """
    import wfdb

    files = {}
    for tap, fs in (("acquired", sim.result.fs_acquired_hz), ("recovered", sim.result.fs_recovered_hz)):
        files[tap] = {}
        for c, name in enumerate(sim.recording.channel_names):
            ext = detection_annotator(c)
            beats = np.asarray(sim.detections[tap][c], dtype=np.int64)
            if beats.size:
                wfdb.wrann(tap, ext, beats, symbol=["N"] * beats.size, chan=np.full(beats.size, c), fs=fs,
                           write_dir=str(directory))
            else:  # wfdb.wrann refuses no annotations: the WFDB end mark alone is an empty annotation file
                atomic_write(directory / f"{tap}.{ext}", b"\0\0")
            files[tap][name] = f"{tap}.{ext}"
    return files


def comparison_rows(sims: dict) -> list[dict]:
    """One row per preset with the headline numbers (first channel)."""
    from frontend_models.presets import z_cm_basis

    rows = []
    for preset, sim in sims.items():
        amp = sim.frontend.info["amp"]
        ch = next(iter(sim.metrics["channels"].values()))
        acq, rec = ch["acquired"], ch["recovered"]
        rows.append({
            "preset": preset,
            "cmrr_effective_db": acq["cmrr_effective_db"],
            "z_cm": f"{amp.z_cm.r_ohm:.3g} Ω ∥ {amp.z_cm.c_f * 1e12:.3g} pF",
            "z_cm_basis": z_cm_basis(sim.frontend.info["model"]),
            "acquired_residual_mains_uv_rms": acq["residual_mains_uv_rms"],
            "recovered_residual_mains_uv_rms": rec["residual_mains_uv_rms"],
            "recovered_snr_out_db": rec["snr_out_db"],
            "recovered_prdn_percent": rec["prdn_percent"],
            "qrs_f1": rec["qrs_f1"],
            "saturated_fraction": rec["saturated_fraction"],
        })
    return rows


def comparison_limits(cm_v_rms: float) -> dict:
    """The standards' CMR limit on the comparison's panels: residual mains scaled to ``cm_v_rms``, and CMRR_eff.

    1 mV p-p with 10 V rms common mode (IEC 60601-2-27) is a residual of
    353.6 µV rms at 10 V rms, scaled in proportion to the scenario's common
    mode, and a CMRR_eff of 20 log10(10 V / 353.6 µV) = 89.0 dB.
    """
    from acquire.output.figures import ONE_MV_PP_IN_UV_RMS, cmr_limit_uv_rms

    value, label = cmr_limit_uv_rms(cm_v_rms)
    cmrr_db = 20 * np.log10(10.0 / (ONE_MV_PP_IN_UV_RMS * 1e-6))
    return {"Residual mains at ADC (µV rms RTI)": {label: value},
            "Effective CMRR (dB)": {f"{cmrr_db:.1f} dB: 1 mV p-p at 10 V rms (IEC 60601-2-27 CMR)": cmrr_db}}


def comparison_figure(rows: list[dict], *, subtitle: str = "", cm_v_rms: float | None = None):
    """The comparison chart: effective CMRR, residual mains and SNR per preset.

    ``subtitle``: the shared scenario (:func:`scenario` without the preset);
    ``cm_v_rms``: its common mode, which draws the standards' limits
    (:func:`comparison_limits`); None draws none.
    """
    from acquire.output import figures as viz

    def col(key):
        return [np.nan if isinstance(r[key], str) or r[key] is None else r[key] for r in rows]

    return viz.plot_preset_comparison([r["preset"] for r in rows], {
        "Residual mains at ADC (µV rms RTI)": col("acquired_residual_mains_uv_rms"),
        "Effective CMRR (dB)": col("cmrr_effective_db"),
        "Recovered SNR (dB)": col("recovered_snr_out_db"),
    }, log_metrics=("Residual mains at ADC (µV rms RTI)",), title="Front-end comparison", subtitle=subtitle,
        limits=None if cm_v_rms is None else comparison_limits(cm_v_rms))


def comparison_scenario(sims: dict) -> dict:
    """``subtitle`` and ``cm_v_rms`` of :func:`comparison_figure` from the runs.

    The presets load the body differently, so their common modes can
    differ: the subtitle then gives their range, and the limit is scaled to
    the lowest (the strictest).
    """
    from acquire.output.figures import format_si

    first = next(iter(sims.values()))
    cms = [s.metrics["body_cm_v_rms"] for s in sims.values()]
    subtitle = scenario(first, preset=False)
    if max(cms) > 1.01 * min(cms):
        common = f"{format_si(first.metrics['body_cm_v_rms'], 'V', 3)} rms common mode"
        subtitle = subtitle.replace(common, f"{min(cms):.3g} to {max(cms):.3g} V rms common mode (per preset)")
    return {"subtitle": subtitle, "cm_v_rms": min(cms)}


def run_dir_names(presets) -> dict:
    """Preset -> the name of its sub-directory and figure suffix in a comparison.

    A preset name as it is (``ad8232``); in others (``design:parts/pair.toml``)
    every run of characters outside ``A-Za-z0-9._-`` becomes ``_``; repeats get
    ``-2``, ``-3``, ...
    """
    names = {}
    for preset in presets:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", preset).strip("._-") or "preset"
        name, k = base, 2
        while name in names.values():
            name, k = f"{base}-{k}", k + 1
        names[preset] = name
    return names


def write_comparison(sims: dict, configs: dict, cfg: dict, out_dir, *, overwrite: bool = False,
                     run: RunInfo | None = None, inputs: dict | None = None) -> Path:
    """Write ``comparison.json``, the chart, one run directory per preset and a report, as one transaction.

    Each preset's sub-directory (:func:`run_dir_names`) is a complete run
    directory (:func:`write_run_files`: metrics, WFDB records, detections,
    figures, its own ``config.toml``, provenance and report); the top-level
    report links them. ``overwrite``, ``run`` and ``inputs`` as in
    :func:`write_simulation`.
    """
    from acquire.output import figures as viz
    from acquire.output.report import report_from_dir

    run = run or RunInfo.begin()
    names = run_dir_names(sims)
    sources = [s.recording.provenance for s in sims.values()]
    every = collect_inputs(given=inputs, sources=sources, configs=[cfg, *configs.values()])
    with output_transaction(out_dir, overwrite=overwrite, inputs=[p for _, p in every]) as tmp:
        rows = comparison_rows(sims)
        atomic_write(tmp / "config.toml", to_toml(cfg).encode())
        write_json(tmp / "comparison.json", {"schema": "ecgfe.comparison/1", "tool_version": __version__,
                                             "presets": rows, "runs": names,
                                             "metrics": {p: s.metrics for p, s in sims.items()}})
        viz.save_figure(comparison_figure(rows, **comparison_scenario(sims)), tmp / "comparison")
        shared = bode_ylims(sims.values())  # one y range for every preset's Bode plot
        for preset, sim in sims.items():
            (tmp / names[preset]).mkdir()
            own = collect_inputs(given=inputs, sources=[sim.recording.provenance], configs=[configs[preset]])
            figs = write_run_files(sim, configs[preset], tmp / names[preset], run, own)
            viz.save_figure(figs["time_panel"], tmp / f"time_panel_{names[preset]}")
            viz.save_figure(bode_figure(sim, **shared), tmp / f"bode_{names[preset]}")
        write_json(tmp / "provenance.json", provenance_document(
            run, every, seeds_of(cfg), source=sources[0], presets=list(sims), runs=names))
        report_from_dir(tmp, title="ecgfe comparison: " + ", ".join(sims))
    return Path(out_dir)
