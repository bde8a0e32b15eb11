"""Tests for acquire.output.figures: each figure renders, is labelled with units, draws the right numbers."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from acquire.output import figures as viz

FS_HZ = 250.0


def _ecg(t_s, beats_s, amp_v=1e-3):
    """Gaussian 'R waves' of ``amp_v`` at the beat times: a synthetic ECG with known peaks."""
    return amp_v * np.exp(-0.5 * ((t_s[:, None] - beats_s[None, :]) / 0.01) ** 2).sum(axis=1)


@pytest.fixture
def traces():
    t = np.arange(int(10 * FS_HZ)) / FS_HZ
    beats = np.arange(0.5, 10.0, 0.8)  # 0.5, 1.3, 2.1, ... 9.3: 12 beats
    src = _ecg(t, beats)
    acq = src + 2e-3 * np.sin(2 * np.pi * 50.0 * t)
    return t, beats, src, acq, src.copy()


def _gid_lines(ax, gid):
    return [ln for ln in ax.get_lines() if ln.get_gid() == gid]


def test_import_does_not_initialise_matplotlib():
    code = "import sys, acquire.output.figures, acquire.output.report; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_time_panel_titles_units_and_mv_conversion(traces):
    t, beats, src, acq, rec = traces
    fig = viz.plot_time_panel(t, src, acq, rec, ref_beats_s=beats, detected_beats_s=beats[:-1],
                              zoom_s=(1.0, 3.0), title="record 100")
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [
        "Clean source (reference)", "Acquired input with interference", "Recovered output",
        "Zoom 1 to 3 s"]
    assert fig.get_suptitle() == "record 100"
    for ax in axes:
        assert ax.get_xlabel() == "Time (s)"
        assert ax.get_ylabel() == "Amplitude (mV)"
    # display is in mV: the 1 mV Gaussian peak (sampled on its centre at 0.5 s) shows as 1.0
    src_line = axes[0].get_lines()[0]
    np.testing.assert_allclose(src_line.get_ydata(), src * 1e3, rtol=0, atol=0)
    assert src_line.get_ydata()[int(0.5 * FS_HZ)] == pytest.approx(1.0, abs=1e-12)
    # markers: 12 reference beats on the source, 11 detected on the output; the zoom
    # window 1..3 s holds the beats at 1.3, 2.1 and 2.9 s only
    assert len(_gid_lines(axes[0], "beats-source")[0].get_xdata()) == 12
    assert len(_gid_lines(axes[2], "beats-detected")[0].get_xdata()) == 11
    for gid in ("beats-source", "beats-detected"):
        np.testing.assert_allclose(_gid_lines(axes[3], gid)[0].get_xdata(), [1.3, 2.1, 2.9])
    # markers sit on the trace: at a beat the Gaussian's value is ~1 mV
    np.testing.assert_allclose(_gid_lines(axes[3], "beats-source")[0].get_ydata(), 1.0, atol=0.05)


def test_time_panel_draws_into_given_axes(traces):
    t, _, src, acq, rec = traces
    own = Figure()
    axes = own.subplots(4, 1)
    assert viz.plot_time_panel(t, src, acq, rec, axes=axes) is own
    assert axes[3].get_title() == "Zoom 0 to 3 s"  # default zoom: the first 3 s
    with pytest.raises(ValueError, match="sequence of 4 matplotlib Axes"):
        viz.plot_time_panel(t, src, acq, rec, axes=axes[:2])


@pytest.mark.parametrize("zoom", [(5.0, 4.0), (-1.0, 2.0), (1.0, 20.0), (1.0,)])
def test_time_panel_rejects_bad_zoom(traces, zoom):
    t, _, src, acq, rec = traces
    with pytest.raises(ValueError, match="zoom_s must be"):
        viz.plot_time_panel(t, src, acq, rec, zoom_s=zoom)


def test_time_panel_rejects_length_mismatch(traces):
    t, _, src, acq, rec = traces
    with pytest.raises(ValueError, match=r"recovered_v must be .*length 2500.*\(2499,\)"):
        viz.plot_time_panel(t, src, acq, rec[:-1])


def test_psd_parseval_units_and_mains_markers():
    fs, amp_v = 500.0, 1e-3
    t = np.arange(int(8 * fs)) / fs
    x = amp_v * np.sin(2 * np.pi * 10.0 * t)
    fig = viz.plot_psd(fs, {"acquired": x, "recovered": 0.5 * x}, mains_hz=50.0, n_harmonics=6)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "Frequency (Hz)"
    assert ax.get_ylabel() == "PSD (dB re 1 µV²/Hz)"
    assert ax.get_title() == "Power spectral density"
    acq, rec = ax.get_lines()[:2]
    assert acq.get_color() == viz.COLORS["acquired"] and rec.get_color() == viz.COLORS["recovered"]
    # Parseval: a Hann/density Welch PSD integrates to the variance A^2/2 = 5e-7 V^2.
    # 10 Hz has whole periods in each 4 s segment, so the sum matches to ~1e-6; 1% is ample.
    f = acq.get_xdata()
    power_v2 = np.sum(10 ** (acq.get_ydata() / 10) * 1e-12) * (f[1] - f[0])
    assert power_v2 == pytest.approx(amp_v**2 / 2, rel=0.01)
    assert f[np.argmax(acq.get_ydata())] == pytest.approx(10.0)
    # halving the amplitude lowers the PSD by 20 log10(2) = 6.02 dB at the peak
    assert acq.get_ydata().max() - rec.get_ydata().max() == pytest.approx(6.0206, abs=1e-3)
    # mains at k*50 Hz below Nyquist (250 Hz): k = 1..4; k = 5 (250 Hz) and 6 are past it
    mains = _gid_lines(ax, "mains")
    assert [ln.get_xdata()[0] for ln in mains] == [50.0, 100.0, 150.0, 200.0]


def test_psd_given_ax_and_errors():
    own = Figure()
    ax = own.subplots()
    x = np.sin(np.arange(1000) * 0.3)
    assert viz.plot_psd(500.0, {"x": x}, mains_hz=60.0, ax=ax) is own
    assert len(_gid_lines(ax, "mains")) == 3  # default n_harmonics = 3
    with pytest.raises(ValueError, match="mains_hz must be finite and > 0"):
        viz.plot_psd(500.0, {"x": x}, mains_hz=0.0)
    with pytest.raises(ValueError, match="signals must hold at least one"):
        viz.plot_psd(500.0, {}, mains_hz=50.0)


def test_bode_cmrr_equals_gain_ratio():
    f = np.logspace(0, 4, 41)  # index 30 is exactly 1 kHz
    ad = 100.0 / (1 + 1j * f / 1e4)
    acm = 1e-3 * (1 + 1j * f / 100.0)
    eff = np.full(f.size, 80.0)
    fig = viz.plot_bode(f, ad, acm, cmrr_eff_db=eff)
    gain_ax, cmrr_ax = fig.axes
    assert gain_ax.get_xscale() == "log" and cmrr_ax.get_xscale() == "log"
    assert gain_ax.get_ylabel() == "Gain (dB re 1 V/V)"
    assert cmrr_ax.get_ylabel() == "CMRR (dB)"
    assert cmrr_ax.get_xlabel() == "Frequency (Hz)"
    assert f[30] == pytest.approx(1e3)
    # hand value at 1 kHz: |Ad| = 100/sqrt(1.01), |Acm| = 1e-3*sqrt(101)
    # CMRR = 20 log10(1e5 / sqrt(1.01 * 101)) = 100 - 10 log10(102.01) = 79.9136 dB
    cmrr = _gid_lines(cmrr_ax, "cmrr")[0].get_ydata()
    assert cmrr[30] == pytest.approx(100 - 10 * math.log10(102.01), abs=1e-9)
    assert cmrr[30] == pytest.approx(79.9136, abs=1e-4)
    assert gain_ax.get_lines()[0].get_ydata()[0] == pytest.approx(40.0, abs=1e-3)  # |Ad| ~ 100
    np.testing.assert_array_equal(_gid_lines(cmrr_ax, "cmrr_eff")[0].get_ydata(), eff)


def test_bode_ideal_cm_gain_and_errors():
    f = np.array([10.0, 100.0])
    with np.errstate(all="raise"):  # an ideal A_cm = 0 must not warn
        viz.plot_bode(f, np.array([10.0, 10.0]), np.zeros(2))
    with pytest.raises(ValueError, match="f_hz must be > 0"):
        viz.plot_bode(np.array([0.0, 1.0]), np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="cm_gain must have the length of f_hz"):
        viz.plot_bode(f, np.ones(2), np.ones(3))


def test_sweep_limit_line_is_one_mv_pp_in_uv_rms():
    # 1 mV p-p sine: peak 0.5 mV, rms 0.5/sqrt(2) mV = 353.5534 µV (hand value)
    assert viz.ONE_MV_PP_IN_UV_RMS == pytest.approx(353.5533906, rel=1e-9)
    cmrr = np.array([60.0, 80.0, 100.0, 120.0])
    series = {"0 Ω imbalance": 1e4 * 10 ** (-cmrr / 20), "51 kΩ imbalance": np.full(4, 40.0)}
    fig = viz.plot_sweep(cmrr, series, xlabel="CMRR (dB)", ylabel="Residual mains (µV rms RTI)",
                         limit=viz.ONE_MV_PP_IN_UV_RMS, logy=True)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and ax.get_xscale() == "linear"
    assert ax.get_xlabel() == "CMRR (dB)" and ax.get_ylabel() == "Residual mains (µV rms RTI)"
    assert ax.get_title() == "Residual mains (µV rms RTI) against CMRR (dB)"
    assert len(ax.get_lines()) == 3
    (limit,) = _gid_lines(ax, "limit")
    np.testing.assert_allclose(limit.get_ydata(), [353.5533906] * 2, rtol=1e-9)
    assert "353.6 µV rms" in limit.get_label()
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [10.0, 1.0, 0.1, 0.01])


def test_sweep_errors():
    with pytest.raises(ValueError, match=r"series\['a'\] must be .*length 3"):
        viz.plot_sweep([1, 2, 3], {"a": [1, 2]}, xlabel="x (dB)", ylabel="y (dB)")


def test_qrs_sweep():
    x = np.array([0.0, 10.0, 20.0])
    own = Figure()
    ax = own.subplots()
    fig = viz.plot_qrs_sweep(x, [80.0, 95.0, 99.5], [70.0, 90.0, 100.0],
                             xlabel="Mains amplitude (mV)", ax=ax)
    assert fig is own
    assert ax.get_ylabel() == "Se, +P (%)" and ax.get_xlabel() == "Mains amplitude (mV)"
    assert ax.get_title() == "QRS detection"
    se, ppv = ax.get_lines()
    assert se.get_label() == "Se (%)" and ppv.get_label() == "+P (%)"
    np.testing.assert_array_equal(ppv.get_ydata(), [70.0, 90.0, 100.0])
    with pytest.raises(ValueError, match=r"\+P must be in percent .*got range 0 to 150"):
        viz.plot_qrs_sweep(x, [1, 2, 3], [0, 50, 150], xlabel="x")


def test_preset_comparison_bars():
    names = ["ina128", "ad8232", "ads1298"]
    metrics = {"Residual mains (µV rms)": [3.0, 30.0, 0.3], "SNR out (dB)": [30.0, 20.0, 40.0],
               "QRS F1": [0.99, 0.95, 1.0]}
    fig = viz.plot_preset_comparison(names, metrics, log_metrics=["Residual mains (µV rms)"])
    assert len(fig.axes) == 3
    for ax, (label, values) in zip(fig.axes, metrics.items()):
        assert ax.get_title() == label and ax.get_ylabel() == label
        assert [p.get_height() for p in ax.patches] == values
        assert [tl.get_text() for tl in ax.get_xticklabels()] == names
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "linear", "linear"]
    # each preset keeps its colour in every panel
    colours = [[p.get_facecolor() for p in ax.patches] for ax in fig.axes]
    assert colours[0] == colours[1] == colours[2] and len(set(colours[0])) == 3
    with pytest.raises(ValueError, match="Did you mean 'SNR out \\(dB\\)'"):
        viz.plot_preset_comparison(names, metrics, log_metrics=["SNR out (db)"])


def test_compliance_pp_band_and_peak_lines():
    t = np.arange(0, 1, 1e-3)
    vin = 10.0 * math.sqrt(2) * np.sin(2 * np.pi * 50 * t)    # 10 V rms common mode
    vout = 0.2e-3 + 0.3e-3 * np.sin(2 * np.pi * 50 * t)       # 0.6 mV p-p, centred on 0.2 mV
    fig = viz.plot_compliance(t, vin, vout, 1e-3, title="IEC 60601-2-27 CMRR")
    in_ax, out_ax = fig.axes
    assert in_ax.get_ylabel() == "Input (V)" and out_ax.get_ylabel() == "Output RTI (mV)"
    assert in_ax.get_xlabel() == out_ax.get_xlabel() == "Time (s)"
    assert fig.get_suptitle() == "IEC 60601-2-27 CMRR"
    # band of 1 mV centred on the output mid-range 0.2 mV: 0.7 and -0.3 mV
    ys = sorted(ln.get_ydata()[0] for ln in _gid_lines(out_ax, "limit"))
    np.testing.assert_allclose(ys, [-0.3, 0.7], atol=1e-6)  # sampled sine peaks: |err| < 1e-9
    fig = viz.plot_compliance(t, vin * 1e-3, vout, 0.5e-3, title="x", limit_kind="peak")
    in_ax, out_ax = fig.axes
    assert in_ax.get_ylabel() == "Input (mV)"
    ys = sorted(ln.get_ydata()[0] for ln in _gid_lines(out_ax, "limit"))
    np.testing.assert_allclose(ys, [-0.5, 0.5])
    with pytest.raises(ValueError, match="limit_kind must be one of 'peak', 'pp'; got 'p-p'"):
        viz.plot_compliance(t, vin, vout, 1e-3, title="x", limit_kind="p-p")


def _small_figure():
    fig = Figure()
    fig.subplots().plot([0, 1], [0, 1])
    return fig


def test_save_figure_writes_png_and_svg_and_no_temp_files(tmp_path):
    paths = viz.save_figure(_small_figure(), tmp_path / "fig1")
    assert paths == [tmp_path / "fig1.png", tmp_path / "fig1.svg"]
    assert (tmp_path / "fig1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "fig1.svg").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig1.png", "fig1.svg"]


def test_save_figure_failure_leaves_no_file(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError):
        viz.save_figure(_small_figure(), tmp_path / "missing_dir" / "fig")
    # an unknown format fails before anything is written, png included
    with pytest.raises(ValueError, match="format must be one of .*got 'pgn'.*Did you mean 'png'"):
        viz.save_figure(_small_figure(), tmp_path / "fig", formats=("svg", "pgn"))
    assert list(tmp_path.iterdir()) == []

    def broken_replace(src, dst):
        raise OSError("disk full")

    from acquire.output import files

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        viz.save_figure(_small_figure(), tmp_path / "fig")
    assert list(tmp_path.iterdir()) == []  # the temporary file was removed too


def test_save_figure_rejects_a_string_of_formats(tmp_path):
    with pytest.raises(TypeError, match="formats must be a sequence"):
        viz.save_figure(_small_figure(), tmp_path / "fig", formats="png")


_X = np.array([1.0, 10.0, 100.0])
_DRAWERS = {  # function call on given axes -> number of axes it needs
    "bode": (2, lambda axes: viz.plot_bode(_X, _X + 0j, 1e-3 * _X + 0j, axes=axes)),
    "sweep": (1, lambda axes: viz.plot_sweep(_X, {"a": _X}, xlabel="x (Hz)", ylabel="y (dB)",
                                             ax=axes[0])),
    "presets": (2, lambda axes: viz.plot_preset_comparison(
        ["p", "q"], {"SNR (dB)": [1.0, 2.0], "QRS F1": [0.9, 1.0]}, axes=axes)),
    "compliance": (2, lambda axes: viz.plot_compliance(_X, _X, 1e-4 * _X, 1e-3, title="t",
                                                       axes=axes)),
}


@pytest.mark.parametrize("name", sorted(_DRAWERS))
def test_given_axes_are_drawn_into(name):
    n_axes, draw = _DRAWERS[name]
    own = Figure()
    axes = own.subplots(1, n_axes, squeeze=False)[0]
    assert draw(axes) is own
    assert len(own.axes) == n_axes  # no extra axes created
    for ax in axes:
        assert ax.get_lines() or ax.patches
        assert "(" in ax.get_ylabel() or ax.get_ylabel() == "QRS F1"  # a unit, or dimensionless
