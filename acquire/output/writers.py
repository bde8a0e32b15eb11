"""Write the results of a simulation or a comparison to an output directory.

A run directory holds the resolved ``config.toml``, ``provenance.json``
(seed, tool version, input provenance), ``metrics.json``, the outputs as
WFDB records in physical units (``acquired`` and ``recovered``, input-referred
mV, readable by wfdb and PhysioNet's tools), the figures (PNG and SVG) and
``report.html``. Every file is written under a temporary name and renamed
when complete, so an interrupted run never leaves a file that looks valid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acquire._version import __version__
from acquire.config import to_toml
from acquire.output.files import atomic_write, ensure_writable_dir, write_json

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


def simulation_figures(sim) -> dict:
    """The run's figures by file stem: time panel, PSD before/after, Bode plot."""
    from acquire.output import figures as viz

    fs = sim.result.fs_recovered_hz
    n = sim.result.recovered_v.shape[1]
    t = np.arange(n) / fs
    mains_hz = sim.metrics["mains_hz"]
    ref_s = sim.ref_beats["recovered"] / fs
    det_s = np.asarray(sim.detections["recovered"][0]) / fs
    start = min(float(sim.metrics["settle_s"]), t[-1] / 2)
    zoom = (start, min(start + 3.0, t[-1]))
    name = sim.recording.channel_names[0]
    acquired = sim.result.acquired_v[0]
    if sim.result.fs_acquired_hz != fs:  # decimated recovered tap: show acquired on its time base
        acquired = np.interp(t, np.arange(acquired.size) / sim.result.fs_acquired_hz, acquired)
    figs = {
        "time_panel": viz.plot_time_panel(
            t, sim.source_ref_v["recovered"][0], acquired, sim.result.recovered_v[0],
            ref_beats_s=ref_s, detected_beats_s=det_s, zoom_s=zoom, title=f"ECG acquisition: {name}"),
        "psd": viz.plot_psd(fs, {"acquired": sim.result.acquired_v[0], "recovered": sim.result.recovered_v[0],
                                 "source reference (ideal chain)": sim.ideal.recovered_v[0]},
                            mains_hz=mains_hz, n_harmonics=int((fs / 2) // mains_hz),
                            title=f"Power spectral density: {name}"),
    }
    b = bode_curves(sim.frontend)
    figs["bode"] = viz.plot_bode(b["f_hz"], b["diff"], b["cm"], cmrr_eff_db=b["cmrr_eff_db"],
                                 title=f"Front end: {sim.metrics['provenance']['preset']}")
    return figs


def write_simulation(sim, cfg: dict, out_dir) -> Path:
    """Write a simulation's full output directory and its HTML report; return the directory."""
    from acquire.output import figures as viz
    from acquire.output.report import report_from_dir
    from acquire.output.wfdb_writer import WfdbWriter

    out = ensure_writable_dir(out_dir)
    atomic_write(out / "config.toml", to_toml(cfg).encode())
    write_json(out / "provenance.json", {"tool_version": __version__,
                                         "seed": int(cfg["run"]["seed"]),
                                         "source": sim.metrics["provenance"]["source"],
                                         "preset": sim.metrics["provenance"]["preset"]})
    write_json(out / "metrics.json", sim.metrics)
    for tap, x, fs in (("acquired", sim.result.acquired_v, sim.result.fs_acquired_hz),
                       ("recovered", sim.result.recovered_v, sim.result.fs_recovered_hz)):
        writer = WfdbWriter(out, tap, fs, sim.recording.channel_names)
        writer.write(x)
        writer.close()
    for stem, fig in simulation_figures(sim).items():
        viz.save_figure(fig, out / stem)
    report_from_dir(out, title=f"ecgfe simulation: {sim.metrics['provenance']['source'].get('record', 'synthetic')}")
    return out


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


def comparison_figure(rows: list[dict]):
    """The comparison chart: effective CMRR, residual mains and SNR per preset."""
    from acquire.output import figures as viz

    def col(key):
        return [np.nan if isinstance(r[key], str) or r[key] is None else r[key] for r in rows]

    return viz.plot_preset_comparison([r["preset"] for r in rows], {
        "Residual mains at ADC (µV rms RTI)": col("acquired_residual_mains_uv_rms"),
        "Effective CMRR (dB)": col("cmrr_effective_db"),
        "Recovered SNR (dB)": col("recovered_snr_out_db"),
    }, log_metrics=("Residual mains at ADC (µV rms RTI)",), title="Front-end comparison")


def write_comparison(sims: dict, configs: dict, cfg: dict, out_dir) -> Path:
    """Write ``comparison.json``, the chart, one run directory per preset and a report; return the directory.

    Each preset's sub-directory (``<out_dir>/<preset>/``) is a complete run
    directory (:func:`write_simulation`) with that preset's own ``config.toml``.
    """
    from acquire.output import figures as viz
    from acquire.output.report import report_from_dir

    out = ensure_writable_dir(out_dir)
    rows = comparison_rows(sims)
    atomic_write(out / "config.toml", to_toml(cfg).encode())
    write_json(out / "comparison.json", {"schema": "ecgfe.comparison/1", "tool_version": __version__,
                                         "presets": rows,
                                         "metrics": {p: s.metrics for p, s in sims.items()}})
    viz.save_figure(comparison_figure(rows), out / "comparison")
    for preset, sim in sims.items():
        write_simulation(sim, configs[preset], out / preset)
        figs = simulation_figures(sim)
        viz.save_figure(figs["time_panel"], out / f"time_panel_{preset}")
        viz.save_figure(figs["bode"], out / f"bode_{preset}")
    report_from_dir(out, title="ecgfe comparison: " + ", ".join(sims))
    return out
