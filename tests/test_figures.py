"""Tests for acquire.output.figures: each figure renders, states its scenario, carries units, draws the right numbers,
keeps its legend off the data and is saved as PNG (300 dpi), SVG and PDF."""

from __future__ import annotations

import math
import re
import struct
import subprocess
import sys
import zlib

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from acquire.output import figures as viz
from acquire.output.figures.montecarlo import plot_residual_cdf
from acquire.output.figures.signals import OVERVIEW_POINTS
from acquire.output.figures.style import format_range, result_text
from acquire.output.figures.sweep import figure_options, sweep_figures

FS_HZ = 250.0
SCENARIO = viz.scenario_line(preset="ina128", mains_hz=60.0, cm_v_rms=1.12, imbalance="iec", record="mitdb/100",
                             channel="MLII")


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


def _drawn(fig):
    """Draw ``fig`` (layout and tick labels final) on an Agg canvas; return its renderer."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _texts(fig) -> list[str]:
    """Every text of the drawn figure: titles, labels, tick labels, legends, annotations, caption."""
    _drawn(fig)
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _caption(fig) -> str:
    """The figure's caption (its subtitle) with its wrapped lines joined again."""
    return fig._supxlabel.get_text().replace("\n", " · ") if fig._supxlabel is not None else ""


def _data_points(ax) -> np.ndarray:
    """Display coordinates of every vertex of the axes' lines and bar corners."""
    pts = [ln.get_transform().transform(np.column_stack([ln.get_xdata(), ln.get_ydata()]).astype(float))
           for ln in ax.get_lines() if len(ln.get_xdata())]
    pts += [p.get_transform().transform(p.get_path().vertices) for p in ax.patches]
    pts = [p[np.all(np.isfinite(p), axis=1)] for p in pts]
    return np.concatenate(pts) if pts else np.empty((0, 2))


def assert_legends_clear(fig) -> None:
    """No data point of any axes lies inside any legend's window extent."""
    renderer = _drawn(fig)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    for leg in legends:
        box = leg.get_window_extent(renderer)
        for ax in fig.axes:
            p = _data_points(ax)
            inside = (p[:, 0] > box.x0) & (p[:, 0] < box.x1) & (p[:, 1] > box.y0) & (p[:, 1] < box.y1)
            assert not inside.any(), f"{inside.sum()} data point(s) of {ax.get_title()!r} under the legend"


def test_import_does_not_initialise_matplotlib():
    code = "import sys, acquire.output.figures, acquire.output.report; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- display helpers --------------------------------------------------------------------------------

def test_readable_numbers_and_scenario_line():
    assert format_range(9.0, 12.0) == "9.0–12.0 s"
    assert format_range(14.6587, 17.6587) == "14.7–17.7 s"
    assert format_range(0.0, 0.2) == "0.00–0.20 s"
    assert viz.format_imbalance("iec") == "IEC 51 kΩ ∥ 47 nF"
    assert viz.format_imbalance(20e3) == viz.format_imbalance("20000.0") == "20 kΩ"
    assert viz.format_imbalance(0) == "0 Ω"
    assert viz.format_imbalance({"r_s_ohm": 0.0, "r_d_ohm": 51e3, "c_d_f": 47e-9}) == "IEC 51 kΩ ∥ 47 nF"
    assert viz.format_imbalance({"r_s_ohm": 1e3, "r_d_ohm": 0.0, "c_d_f": 0.0}) == "1 kΩ"
    assert SCENARIO == ("ina128 · 60 Hz mains, 1.12 V rms common mode · imbalance IEC 51 kΩ ∥ 47 nF · "
                        "mitdb/100, channel MLII")
    assert viz.scenario_line(mains_hz=50, extra=["noise uV"]) == "50 Hz mains · noise µV"
    assert viz.record_label({"database": "mitdb", "version": "1.0.0", "record": "100"}) == "mitdb/100"
    assert viz.record_label({"generator": "ecgsyn", "seed": 0}) == "synthetic (ECGSYN)"


def test_cmr_limit_belongs_to_the_10_v_test_and_scales_with_the_common_mode():
    value, label = viz.cmr_limit_uv_rms(10.0)
    assert value == pytest.approx(353.5533906, rel=1e-9) and "353.6 µV rms" in label and "10 V rms" in label
    value, label = viz.cmr_limit_uv_rms(1.0)
    assert value == pytest.approx(35.35533906, rel=1e-9)
    assert label == "limit 35.36 µV rms: 1 mV p-p at 10 V rms, scaled to 1 V rms"


def test_result_text_is_the_tables_numbers():
    row = {"measured": 0.41234, "limit": 1.0, "unit": "uV p-v", "relation": "<=", "margin": 0.58766,
           "margin_db": 7.6961, "verdict": "pass"}
    assert result_text(row) == "measured 0.4123 µV p-v, limit ≤ 1 µV p-v; margin +7.696 dB: pass"
    row.update(verdict="saturated", measured=None, margin=None, margin_db=None)  # a saturated row measures nothing
    assert result_text(row) == "measured: saturated (a stage clipped), limit ≤ 1 µV p-v: no margin"
    row.update(verdict="fail", measured=0.41234, margin=-2.0, relation=">=", unit="dB")
    assert result_text(row) == "measured 0.4123 dB, limit ≥ 1 dB; margin -2 dB: fail"


# --- time panels ------------------------------------------------------------------------------------

def test_time_panel_titles_units_offsets_and_beats(traces):
    t, beats, src, acq, rec = traces
    fig = viz.plot_time_panel(t, src + 0.3, acq, rec, ref_beats_s=beats, detected_beats_s=beats[:-1],
                              zoom_s=(1.0, 3.0), title="record 100", subtitle=SCENARIO)
    assert isinstance(fig, Figure)
    overview, zoom = fig.axes
    assert fig.get_suptitle() == "record 100" and _caption(fig) == SCENARIO
    assert overview.get_title().splitlines() == ["overview 0.0–10.0 s", "offsets removed: source 300 mV"]
    assert zoom.get_title() == "zoom 1.0–3.0 s"
    for ax in (overview, zoom):
        assert ax.get_xlabel() == "Time (s)" and ax.get_ylabel() == "Amplitude (mV)"
    # display in mV with the median (the 0.3 V offset) removed; the 1 mV peak at 0.5 s shows as 1.0
    (src_line,) = _gid_lines(overview, "trace-source")
    np.testing.assert_allclose(src_line.get_ydata(), (src - np.median(src)) * 1e3, rtol=0, atol=1e-9)
    assert src_line.get_ydata()[int(0.5 * FS_HZ)] == pytest.approx(1.0 - np.median(src) * 1e3, abs=1e-9)
    # 12 reference and 11 detected beats in the overview; the zoom 1..3 s holds those at 1.3, 2.1, 2.9 s
    assert len(_gid_lines(overview, "beats-source")[0].get_xdata()) == 12
    assert len(_gid_lines(overview, "beats-detected")[0].get_xdata()) == 11
    for gid in ("beats-source", "beats-detected"):
        np.testing.assert_allclose(_gid_lines(zoom, gid)[0].get_xdata(), [1.3, 2.1, 2.9])
    np.testing.assert_allclose(_gid_lines(zoom, "beats-source")[0].get_ydata(), 1.0, atol=0.05)
    # detected beats along the top of the view (axes fraction), where the detector fired
    np.testing.assert_array_equal(_gid_lines(zoom, "beats-detected")[0].get_ydata(), 0.97)
    assert [p.get_gid() for p in overview.patches] == ["zoom-window"]
    assert_legends_clear(fig)


def test_time_panel_one_panel_per_channel_with_names(traces):
    t, beats, src, acq, rec = traces
    two = np.vstack([src, 0.5 * src])
    acq2 = np.vstack([acq, 0.5 * src + 0.05 * np.sin(2 * np.pi * 50 * t)])  # 100 mV p-p of mains on V5
    fig = viz.plot_time_panel(t, two, acq2, two, channel_names=["MLII", "V5"], zoom_s=[(1.0, 3.0), (6.0, 9.0)],
                              ref_beats_s=beats, detected_beats_s=[beats, beats[:3]])
    assert len(fig.axes) == 6  # per channel: overview + 2 zooms
    # the reference beats on both channels, each channel's own detections on it
    assert [len(_gid_lines(fig.axes[i], "beats-source")[0].get_xdata()) for i in (0, 3)] == [12, 12]
    assert [len(_gid_lines(fig.axes[i], "beats-detected")[0].get_xdata()) for i in (0, 3)] == [12, 3]
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("MLII: overview") and titles[3].startswith("V5: overview")
    assert titles[3].endswith("mV) runs off the view") and "acquired input (p-p 9" in titles[3]
    assert titles[4] == "zoom 1.0–3.0 s\nacquired input off scale"
    # the V5 view covers its ECG, not the 100 mV of mains behind it
    assert fig.axes[3].get_ylim()[1] < 1.0
    with pytest.raises(ValueError, match="channel_names must name the 2 channel"):
        viz.plot_time_panel(t, two, acq2, two, channel_names=["MLII"])
    with pytest.raises(ValueError, match="same number of channels; got 2, 1, 2"):
        viz.plot_time_panel(t, two, acq, two)
    with pytest.raises(ValueError, match="detected_beats_s must be one array of beat times or one per channel"):
        viz.plot_time_panel(t, two, acq2, two, detected_beats_s=[beats, beats, beats])


def test_time_panel_long_record_overview_and_zooms():
    fs = 100.0
    t = np.arange(int(1800 * fs)) / fs  # 30 min
    x = 1e-3 * np.sin(2 * np.pi * 1.2 * t) + 1e-4 * np.sin(2 * np.pi * t / 600)
    fig = viz.plot_time_panel(t, x, x, x, ref_beats_s=np.arange(0.5, 1800.0, 1.0))
    overview, *zooms = fig.axes
    # 1800 beats would smear the overview: the zooms mark them, the legend still names them
    assert not _gid_lines(overview, "beats-source") and len(_gid_lines(zooms[1], "beats-source")[0].get_xdata()) == 3
    assert "reference beats" in [t.get_text() for t in overview.get_legend().get_texts()]
    assert [z.get_title() for z in zooms] == ["zoom 0.0–3.0 s", "zoom 898.5–901.5 s", "zoom 1797.0–1800.0 s"]
    (line,) = _gid_lines(overview, "trace-recovered")
    assert len(line.get_ydata()) <= OVERVIEW_POINTS  # the min/max envelope, with the trace's full extent
    y = (x - np.median(x)) * 1e3
    assert line.get_ydata().max() == pytest.approx(y.max()) and line.get_ydata().min() == pytest.approx(y.min())
    assert viz.zoom_windows(0.0, 30.0, first_s=6.0) == [(6.0, 9.0)]
    assert viz.zoom_windows(0.0, 2.0) == [(0.0, 2.0)]
    assert viz.zoom_windows(0.0, 10.0, first_s=9.0) == [(7.0, 10.0)]


def test_time_panel_draws_into_given_axes(traces):
    t, _, src, acq, rec = traces
    own = Figure()
    axes = own.subplots(2, 1)
    assert viz.plot_time_panel(t, src, acq, rec, axes=axes) is own
    assert axes[1].get_title() == "zoom 0.0–3.0 s"  # default zoom: the first 3 s
    with pytest.raises(ValueError, match="sequence of 2 matplotlib Axes"):
        viz.plot_time_panel(t, src, acq, rec, axes=own.subplots(4, 1))


@pytest.mark.parametrize("zoom", [(5.0, 4.0), (-1.0, 2.0), (1.0, 20.0), (1.0,), [(1.0, 2.0), (3.0, 30.0)]])
def test_time_panel_rejects_bad_zoom(traces, zoom):
    t, _, src, acq, rec = traces
    with pytest.raises(ValueError, match="zoom_s must be"):
        viz.plot_time_panel(t, src, acq, rec, zoom_s=zoom)


def test_time_panel_rejects_length_mismatch(traces):
    t, _, src, acq, rec = traces
    with pytest.raises(ValueError, match=r"recovered_v must be .*length 2500.*\(2499,\)"):
        viz.plot_time_panel(t, src, acq, rec[:-1])


# --- spectra ----------------------------------------------------------------------------------------

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
    f = acq.get_xdata()
    power_v2 = np.sum(10 ** (acq.get_ydata() / 10) * 1e-12) * (f[1] - f[0])
    assert power_v2 == pytest.approx(amp_v**2 / 2, rel=0.01)
    assert f[np.argmax(acq.get_ydata())] == pytest.approx(10.0)
    assert acq.get_ydata().max() - rec.get_ydata().max() == pytest.approx(6.0206, abs=1e-3)
    # mains at k*50 Hz below Nyquist (250 Hz): k = 1..4; 250 Hz (k = 5) folds onto Nyquist, k = 6 (300 Hz)
    # aliases to |300 - 500| = 200 Hz
    assert [ln.get_xdata()[0] for ln in _gid_lines(ax, "mains")] == [50.0, 100.0, 150.0, 200.0]
    assert [ln.get_xdata()[0] for ln in _gid_lines(ax, "mains-alias")] == [200.0]
    assert_legends_clear(fig)


def test_psd_marks_aliases_at_the_adc_rate():
    # 60 Hz at 500 SPS: the 5th (300 Hz) and 7th (420 Hz) harmonics alias to 200 and 80 Hz
    assert viz.mains_lines(60.0, [1, 3, 5, 7], 500.0) == ([(1, 60.0), (3, 180.0)], [(5, 200.0), (7, 80.0)])
    # a decimated output (250 SPS after a 500 SPS ADC): 180 Hz is past its Nyquist, 80 Hz still shows
    assert viz.mains_lines(60.0, [1, 3, 7], 250.0, fs_adc_hz=500.0) == ([(1, 60.0)], [(7, 80.0)])
    x = np.random.default_rng(1).standard_normal(4000) * 1e-5
    fig = viz.plot_psd(500.0, {"recovered": x}, mains_hz=60.0, harmonics=[1, 2, 3, 4, 5, 7], fs_adc_hz=500.0,
                       subtitle=SCENARIO)
    (ax,) = fig.axes
    assert sorted(ln.get_xdata()[0] for ln in _gid_lines(ax, "mains-alias")) == [80.0, 200.0]
    assert _caption(fig) == SCENARIO
    names = [t.get_text() for t in ax.child_axes[0].get_xticklabels()]
    assert names == ["f", "(7f)", "2f", "3f", "(5f)", "4f"]
    assert_legends_clear(fig)


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
    with pytest.raises(ValueError, match="harmonics a sequence of ints >= 1"):
        viz.plot_psd(500.0, {"x": x}, mains_hz=50.0, harmonics=[0, 1])


def _bode_gains():
    f = np.logspace(0, 4, 41)  # index 30 is exactly 1 kHz
    return f, 100.0 / (1 + 1j * f / 1e4), 1e-3 * (1 + 1j * f / 100.0)


def test_bode_cmrr_equals_gain_ratio():
    f, ad, acm = _bode_gains()
    eff = np.full(f.size, 80.0)
    fig = viz.plot_bode(f, ad, acm, cmrr_eff_db=eff)
    gain_ax, cmrr_ax = fig.axes
    assert gain_ax.get_xscale() == "log" and cmrr_ax.get_xscale() == "log"
    assert gain_ax.get_ylabel() == "Gain (dB re 1 V/V)"
    assert cmrr_ax.get_ylabel() == "CMRR (dB)"
    assert cmrr_ax.get_xlabel() == "Frequency (Hz)"
    # hand value at 1 kHz: CMRR = 20 log10(1e5 / sqrt(1.01 * 101)) = 100 - 10 log10(102.01) = 79.9136 dB
    cmrr = _gid_lines(cmrr_ax, "cmrr")[0].get_ydata()
    assert cmrr[30] == pytest.approx(100 - 10 * math.log10(102.01), abs=1e-9)
    assert gain_ax.get_lines()[0].get_ydata()[0] == pytest.approx(40.0, abs=1e-3)  # |Ad| ~ 100
    np.testing.assert_array_equal(_gid_lines(cmrr_ax, "cmrr_eff")[0].get_ydata(), eff)
    assert not _gid_lines(cmrr_ax, "mains")  # no mains given, none marked


def test_bode_marks_mains_annotates_cmrr_eff_and_takes_a_shared_range():
    f, ad, acm = _bode_gains()
    eff = np.linspace(90.0, 70.0, f.size)
    fig = viz.plot_bode(f, ad, acm, cmrr_eff_db=eff, mains_hz=50.0, harmonics=[1, 3, 5], ylim_db=(40.0, 140.0),
                        gain_ylim_db=(-100.0, 60.0), subtitle=SCENARIO)
    gain_ax, cmrr_ax = fig.axes
    for ax in fig.axes:
        assert [ln.get_xdata()[0] for ln in _gid_lines(ax, "mains")] == [50.0, 150.0, 250.0]
    (marker,) = _gid_lines(cmrr_ax, "cmrr-at-mains")
    expected = float(np.interp(math.log10(50.0), np.log10(f), eff))
    assert marker.get_ydata()[0] == pytest.approx(expected)
    assert marker.get_label() == f"CMRR_eff at 50 Hz: {expected:.1f} dB"
    assert cmrr_ax.get_ylim() == (40.0, 140.0) and gain_ax.get_ylim() == (-100.0, 60.0)
    assert _caption(fig) == SCENARIO
    assert_legends_clear(fig)
    assert viz.common_ylim_db([71.2, 95.0], [68.4, np.inf]) == (60.0, 100.0)
    with pytest.raises(ValueError, match="ylim_db must be \\(low, high\\) in dB with low < high"):
        viz.plot_bode(f, ad, acm, ylim_db=(100.0, 40.0))


def test_bode_shared_range_keeps_every_passband_and_states_its_floor():
    # A comparison's curves in dB: a G = 10 part's |A_d| rolling off to -230 dB through its filters, its
    # |A_cm| (-86 dB passband) and a G = 1100 part's |A_d| (+60 dB). The floor is the lowest
    # max(min, top - 40 dB) of the curves: max(-232, -86 - 40) = -126 -> -130 dB; the top 60 -> 70 dB.
    f = np.array([1.0, 10.0, 1e4])
    ad, acm, ad_hi = np.array([20.0, 20.0, -230.0]), np.array([-86.0, -86.0, -232.0]), np.array([60.0, 60.0, -80.0])
    assert viz.common_ylim_db(ad, acm, ad_hi) == (-130.0, 70.0)
    assert viz.common_ylim_db(ad, acm, ad_hi, rolloff_db=200.0) == (-240.0, 70.0)  # (the old, unfloored span)
    fig = viz.plot_bode(f, 10 ** (ad / 20), 10 ** (acm / 20), gain_ylim_db=(-130.0, 70.0), ylim_db=(100.0, 120.0))
    gain_ax, cmrr_ax = fig.axes
    assert gain_ax.get_ylim() == (-130.0, 70.0) and cmrr_ax.get_ylim() == (100.0, 120.0)
    (note,) = _gid_lines(gain_ax, "off-scale")
    assert note.get_label() == "off scale below -130 dB (lowest -232 dB)"
    legend = [t.get_text().replace("\n", " ") for t in gain_ax.get_legend().get_texts()]  # (wrapped to fit)
    assert note.get_label() in legend  # stated in the legend
    (cmrr_note,) = _gid_lines(cmrr_ax, "off-scale")  # CMRR 106, 106 and 2 dB
    assert cmrr_note.get_label() == "off scale below 100 dB (lowest 2 dB)"
    # without a shared range, each panel takes its own: gains -130..30 dB; CMRR max(2, 106 - 40) -> 60..110 dB
    own = viz.plot_bode(f, 10 ** (ad / 20), 10 ** (acm / 20))
    assert [ax.get_ylim() for ax in own.axes] == [(-130.0, 30.0), (60.0, 110.0)]
    with pytest.raises(ValueError, match="rolloff_db"):
        viz.common_ylim_db(ad, rolloff_db=0.0)
    assert_legends_clear(fig)


def test_bode_ideal_cm_gain_and_errors():
    f = np.array([10.0, 100.0])
    with np.errstate(all="raise"):  # an ideal A_cm = 0 must not warn
        viz.plot_bode(f, np.array([10.0, 10.0]), np.zeros(2), mains_hz=50.0)
    with pytest.raises(ValueError, match="f_hz must be > 0"):
        viz.plot_bode(np.array([0.0, 1.0]), np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="cm_gain must have the length of f_hz"):
        viz.plot_bode(f, np.ones(2), np.ones(3))


# --- sweeps -----------------------------------------------------------------------------------------

def test_sweep_limit_line_only_when_configured():
    cmrr = np.array([60.0, 80.0, 100.0, 120.0])
    series = {"imbalance 0 Ω": 1e4 * 10 ** (-cmrr / 20), "imbalance IEC 51 kΩ ∥ 47 nF": np.full(4, 40.0)}
    kwargs = dict(xlabel="CMRR (dB)", ylabel="Residual mains (µV rms RTI)", logy=True)
    (ax,) = viz.plot_sweep(cmrr, series, **kwargs).axes
    assert not _gid_lines(ax, "limit")
    fig = viz.plot_sweep(cmrr, series, limit=viz.ONE_MV_PP_IN_UV_RMS, subtitle=SCENARIO, **kwargs)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and ax.get_xscale() == "linear"
    assert ax.get_title() == "Residual mains (µV rms RTI) against CMRR (dB)"
    (limit,) = _gid_lines(ax, "limit")
    np.testing.assert_allclose(limit.get_ydata(), [353.5533906] * 2, rtol=1e-9)
    assert "353.6 µV rms" in limit.get_label()
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [10.0, 1.0, 0.1, 0.01])
    # log ticks are plain numbers, not 10^k
    texts = _texts(fig)
    assert "0.1" in texts and "100" in texts and not any("10^" in t or "$" in t for t in texts)
    assert_legends_clear(fig)
    fig = viz.plot_sweep([1.0, 2.0, 3.0], {"measured": [0.0, -1.0, -2.0]}, xlabel="f (Hz)", ylabel="dB (dB)",
                         limits={"lower": [-3.0, -3.0, -6.0], "upper": 3.0})
    assert len(_gid_lines(fig.axes[0], "limit")) == 2


def test_sweep_errors():
    with pytest.raises(ValueError, match=r"series\['a'\] must be .*length 3"):
        viz.plot_sweep([1, 2, 3], {"a": [1, 2]}, xlabel="x (dB)", ylabel="y (dB)")


def _row(**kw):
    res = kw.pop("res", 100.0)
    row = {"acquired.residual_mains_uv_rms": res, "recovered.residual_mains_uv_rms": res / 10,
           "acquired.snr_out_db": 20.0, "recovered.snr_out_db": 30.0, "recovered.qrs_sensitivity": 1.0,
           "recovered.qrs_ppv": 1.0}
    return row | kw


def test_sweep_figures_readable_legends_units_and_limits():
    rows = [_row(**{"amplifier.cmrr_db": c, "electrodes.imbalance": imb}, res=1e5 * 10 ** (-c / 20) + 10.0 * i)
            for i, imb in enumerate((0, 20e3, "iec")) for c in (60, 80, 100)]
    figs = sweep_figures(rows, ["amplifier.cmrr_db", "electrodes.imbalance"], subtitle=SCENARIO)
    assert sorted(figs) == ["qrs", "residual_mains_acquired", "residual_mains_recovered", "snr_acquired",
                            "snr_recovered"]  # equal QRS results: one figure, not one per imbalance
    (ax,) = figs["residual_mains_acquired"].axes
    assert [ln.get_label() for ln in ax.get_lines()] == ["imbalance 0 Ω", "imbalance 20 kΩ",
                                                         "imbalance IEC 51 kΩ ∥ 47 nF"]
    assert ax.get_xlabel() == "CMRR (dB) [amplifier.cmrr_db]"
    assert not any(_gid_lines(f.axes[0], "limit") for f in figs.values())  # no limit unless configured
    assert "the same for every imbalance" in figs["qrs"].axes[0].get_title()
    assert all(_caption(f) == SCENARIO for f in figs.values())
    value, label = viz.cmr_limit_uv_rms(1.12)
    figs = sweep_figures(rows, ["amplifier.cmrr_db", "electrodes.imbalance"], limit_uv_rms=value, limit_label=label)
    for stem, fig in figs.items():
        lines = _gid_lines(fig.axes[0], "limit")
        assert len(lines) == (1 if stem.startswith("residual") else 0), stem
    (limit,) = _gid_lines(figs["residual_mains_recovered"].axes[0], "limit")
    assert limit.get_ydata()[0] == pytest.approx(39.598, abs=1e-3) and limit.get_label() == label
    for fig in figs.values():
        assert_legends_clear(fig)


def _document(preset="ina128", cm=1.12, imbalance="iec"):
    return {"mains_hz": 60.0, "body_cm_v_rms": cm,
            "provenance": {"preset": preset, "source": {"generator": "ecgsyn"},
                           "config": {"electrodes": {"imbalance": imbalance}}}}


def test_sweep_figure_options_state_the_shared_scenario_and_scale_the_limit():
    docs = [_document(), _document()]
    options = figure_options(docs, ["amplifier.cmrr_db"], "ECG")
    assert options["subtitle"] == ("ina128 · 60 Hz mains, 1.12 V rms common mode · imbalance IEC 51 kΩ ∥ 47 nF · "
                                   "synthetic (ECGSYN), channel ECG")
    assert (options["limit_uv_rms"], options["limit_label"]) == viz.cmr_limit_uv_rms(1.12)
    # a varied preset, imbalance or common mode is not part of the scenario; a varied common mode has no limit
    options = figure_options([_document("ina128", 1.0, 0), _document("ad8232", 2.0, 20e3)],
                             ["amplifier.preset", "electrodes.imbalance"])
    assert options == {"subtitle": "60 Hz mains · synthetic (ECGSYN)"}
    assert figure_options([], ["x"]) == {}


def test_sweep_figures_capacitance_and_impedance_axes_in_pf_and_kohm():
    rows = [_row(**{"body.c_body_mains_f": c}, res=c * 1e13) for c in (1e-12, 3e-12, 10e-12, 30e-12)]
    (ax,) = sweep_figures(rows, ["body.c_body_mains_f"])["residual_mains_acquired"].axes
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "body-to-mains capacitance (pF) [body.c_body_mains_f]"
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [1.0, 3.0, 10.0, 30.0])
    rows = [_row(**{"electrodes.imbalance": r}) for r in (5e3, 20e3, 51e3)]
    (ax,) = sweep_figures(rows, ["electrodes.imbalance"])["snr_acquired"].axes
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "imbalance (kΩ) [electrodes.imbalance]"
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [5.0, 20.0, 51.0])


def test_sweep_figures_qrs_per_family_when_it_differs():
    rows = [_row(**{"amplifier.cmrr_db": c, "amplifier.preset": p,
                    "recovered.qrs_ppv": 0.9 if (p, c) == ("ad8232", 60) else 1.0})
            for p in ("ina128", "ad8232") for c in (60, 100)]
    figs = sweep_figures(rows, ["amplifier.cmrr_db", "amplifier.preset"])
    assert {"qrs_1", "qrs_2"} <= set(figs) and "qrs" not in figs
    assert figs["qrs_2"].axes[0].get_title() == "QRS detection at the recovered tap, ad8232"


def test_sweep_figures_categorical_keys_give_grouped_bars():
    rows = [_row(**{"amplifier.preset": p, "electrodes.imbalance": imb}, res=r * (1 if imb == "iec" else 0.02))
            for p, r in (("ina128", 150.0), ("ad8232", 812.0)) for imb in (0, "iec")]
    figs = sweep_figures(rows, ["amplifier.preset", "electrodes.imbalance"], subtitle=SCENARIO)
    (ax,) = figs["residual_mains_acquired"].axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ina128", "ad8232"]
    assert len(ax.patches) == 4 and ax.get_yscale() == "log"
    tops = sorted(p.get_y() + p.get_height() for p in ax.patches)
    np.testing.assert_allclose(tops, [3.0, 16.24, 150.0, 812.0])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["imbalance 0 Ω", "imbalance IEC 51 kΩ ∥ 47 nF"]
    assert len(figs["qrs"].axes[0].patches) == 8  # Se and +P per imbalance, per preset
    for fig in figs.values():
        assert_legends_clear(fig)


def test_qrs_sweep():
    x = np.array([0.0, 10.0, 20.0])
    own = Figure()
    ax = own.subplots()
    fig = viz.plot_qrs_sweep(x, [80.0, 95.0, 99.5], [70.0, 90.0, 100.0], xlabel="Mains amplitude (mV)", ax=ax)
    assert fig is own
    assert ax.get_ylabel() == "Se, +P (%)" and ax.get_xlabel() == "Mains amplitude (mV)"
    assert ax.get_title() == "QRS detection"
    se, ppv = ax.get_lines()
    assert se.get_label() == "Se (%)" and ppv.get_label() == "+P (%)"
    np.testing.assert_array_equal(ppv.get_ydata(), [70.0, 90.0, 100.0])
    with pytest.raises(ValueError, match=r"\+P must be in percent .*got range 0 to 150"):
        viz.plot_qrs_sweep(x, [1, 2, 3], [0, 50, 150], xlabel="x")


# --- comparisons --------------------------------------------------------------------------------------

NAMES = ["ina128", "ad8232", "ads1298"]
METRICS = {"Residual mains (µV rms)": [3.0, 30.0, 0.3], "Effective CMRR (dB)": [77.5, 62.8, 94.4],
           "QRS F1": [0.99, 0.95, 1.0]}


def test_preset_comparison_bars_values_and_ranges():
    fig = viz.plot_preset_comparison(NAMES, METRICS, log_metrics=["Residual mains (µV rms)"], subtitle=SCENARIO)
    assert len(fig.axes) == 3
    for ax, (label, values) in zip(fig.axes, METRICS.items()):
        assert ax.get_title() == label and ax.get_ylabel() == label
        np.testing.assert_allclose([p.get_y() + p.get_height() for p in ax.patches], values)
        assert [tl.get_text() for tl in ax.get_xticklabels()] == NAMES
        assert [t.get_text() for t in ax.texts] == [f"{v:.3g}" for v in values]  # values printed on the bars
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "linear", "linear"]
    lo, hi = fig.axes[1].get_ylim()
    assert 40.0 <= lo < 62.8 and hi > 94.4  # CMRR bars start near their values, not at 0 dB
    assert fig.axes[2].get_ylim()[0] == 0.0
    assert not any(_gid_lines(ax, "limit") for ax in fig.axes)
    colours = [[p.get_facecolor() for p in ax.patches] for ax in fig.axes]
    assert colours[0] == colours[1] == colours[2] and len(set(colours[0])) == 3
    assert _caption(fig) == SCENARIO
    with pytest.raises(ValueError, match="Did you mean 'QRS F1'"):
        viz.plot_preset_comparison(NAMES, METRICS, log_metrics=["QRS f1"])


def test_preset_comparison_limits_drawn_where_given():
    limits = {"Effective CMRR (dB)": {"IEC 60601-2-27 CMR (89 dB)": 89.0}, "QRS F1": {"target": 0.98}}
    fig = viz.plot_preset_comparison(NAMES, {**METRICS, "SNR (dB)": [10.0, float("nan"), 20.0]}, limits=limits)
    cmrr_ax, f1_ax, snr_ax = fig.axes[1:]
    assert [ln.get_ydata()[0] for ln in _gid_lines(cmrr_ax, "limit")] == [89.0]
    assert [ln.get_ydata()[0] for ln in _gid_lines(f1_ax, "limit")] == [0.98]
    assert not _gid_lines(fig.axes[0], "limit") and not _gid_lines(snr_ax, "limit")
    assert [t.get_text() for t in snr_ax.texts] == ["10", "n/a", "20"]
    narrow = viz.plot_preset_comparison(["mitdb/100", "mitdb/101"], {"Residual (µV rms)": [140.0, 160.0]},
                                        log_metrics=["Residual (µV rms)"], xlabel="Record")
    assert narrow.axes[0].get_yscale() == "linear" and narrow.axes[0].get_xlabel() == "Record"  # within a decade
    assert_legends_clear(fig)
    with pytest.raises(ValueError, match="limits key must be one of"):
        viz.plot_preset_comparison(NAMES, METRICS, limits={"CMRR": {"x": 1.0}})


def test_grouped_bars():
    fig = viz.plot_grouped_bars(["a", "b"], {"x": [1.0, 2.0], "y": [3.0, 4.0]}, ylabel="SNR (dB)", limit=2.5,
                                limit_label="limit 2.5 dB")
    (ax,) = fig.axes
    assert len(ax.patches) == 4 and len(_gid_lines(ax, "limit")) == 1
    assert_legends_clear(fig)
    with pytest.raises(ValueError, match="series\\['x'\\] must be .*length 2"):
        viz.plot_grouped_bars(["a", "b"], {"x": [1.0]}, ylabel="y")


# --- compliance ---------------------------------------------------------------------------------------

ROW = {"measured": 0.6, "limit": 1.0, "unit": "mV p-v", "relation": "<=", "margin": 0.4, "margin_db": 4.437,
       "verdict": "pass"}


def test_compliance_pp_band_peak_lines_window_and_result():
    t = np.arange(0, 1, 1e-3)
    vin = 10.0 * math.sqrt(2) * np.sin(2 * np.pi * 50 * t)    # 10 V rms common mode
    vout = 0.2e-3 + 0.3e-3 * np.sin(2 * np.pi * 50 * t)       # 0.6 mV p-p, centred on 0.2 mV
    fig = viz.plot_compliance(t, vin, vout, 1e-3, title="IEC 60601-2-27 CMRR", window_s=(0.5, 1.0),
                              result=ROW, subtitle=SCENARIO)
    in_ax, out_ax = fig.axes
    assert in_ax.get_ylabel() == "Input (V)" and out_ax.get_ylabel() == "Output RTI (mV)"
    assert out_ax.get_xlabel() == "Time (s)"
    assert fig.get_suptitle().splitlines() == ["IEC 60601-2-27 CMRR", result_text(ROW)]
    assert "measured 0.6 mV p-v" in fig.get_suptitle() and "margin +4.437 dB: pass" in fig.get_suptitle()
    ys = sorted(ln.get_ydata()[0] for ln in _gid_lines(out_ax, "limit"))
    np.testing.assert_allclose(ys, [-0.3, 0.7], atol=1e-6)  # the 1 mV band centred on 0.2 mV
    assert out_ax.get_lines()[0].get_label() == "output RTI"  # the row's number only, no second p-p
    for ax in fig.axes:
        (window,) = [p for p in ax.patches if p.get_gid() == "window"]
        assert window.get_x() == pytest.approx(0.5) and window.get_width() == pytest.approx(0.5)
    assert_legends_clear(fig)
    fig = viz.plot_compliance(t, vin * 1e-3, vout, 0.5e-3, title="x", limit_kind="peak")
    in_ax, out_ax = fig.axes
    assert in_ax.get_ylabel() == "Input (mV)" and out_ax.get_ylabel() == "Output RTI (µV)"  # peak 0.5 mV
    np.testing.assert_allclose(sorted(ln.get_ydata()[0] for ln in _gid_lines(out_ax, "limit")), [-500.0, 500.0])
    with pytest.raises(ValueError, match="limit_kind must be one of 'peak', 'pp'; got 'p-p'"):
        viz.plot_compliance(t, vin, vout, 1e-3, title="x", limit_kind="p-p")


def test_compliance_saturated_row_shows_no_measured_value():
    t = np.arange(0, 0.3, 2e-3)
    clipped = np.zeros_like(t)  # a clipped run minus its clipped reference: flat, and meaningless
    row = ROW | {"measured": None, "margin": None, "margin_db": None, "verdict": "saturated", "unit": "% change",
                 "limit": 5.0}
    fig = viz.plot_compliance(t, 1e-3 * np.sin(2 * np.pi * 10 * t), clipped, 2.1e-3, title="Offset", result=row)
    out_ax = fig.axes[-1]
    assert fig.get_suptitle().splitlines()[1] == "measured: saturated (a stage clipped), limit ≤ 5 % change: no margin"
    (trace,) = _gid_lines(out_ax, "output")
    assert trace.get_label() == "output RTI: clipped, not the linear response" and out_ax.get_title().endswith(
        ": saturated, a stage clipped")
    assert not any(re.search(r"measured [0-9]", text) for text in _texts(fig))  # no number stands for it
    assert_legends_clear(fig)


def test_compliance_without_stimulus_has_no_empty_panel():
    t = np.arange(0, 10, 2e-3)
    noise = 5e-6 * np.sin(2 * np.pi * 7 * t)
    row = ROW | {"measured": 9.5, "limit": 30.0, "unit": "uV p-v"}
    fig = viz.plot_compliance(t, np.zeros_like(t), noise, 30e-6, title="System noise", result=row)
    (out_ax,) = fig.axes
    assert out_ax.get_ylabel() == "Output RTI (µV)" and "inputs tied" in out_ax.get_title()
    assert not any("uV" in text for text in _texts(fig))


def test_compliance_response_bounds_on_a_log_axis():
    f = np.array([0.67, 20.0, 40.0])
    fig = viz.plot_compliance_response(f, [-0.1, 0.0, -0.2], [-3.0, -240.0, -3.0], [2.9, 2.9, 2.9],
                                       title="Frequency response re 5 Hz", subtitle=SCENARIO,
                                       window_label="tones over 2 s after settling", result=ROW | {"unit": "dB"})
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "Response (dB)"
    lower, upper = _gid_lines(ax, "limit")
    assert np.isnan(lower.get_ydata()[1])  # -240 dB stands for "no lower bound": not drawn
    assert _caption(fig) == f"{SCENARIO} · tones over 2 s after settling"
    assert_legends_clear(fig)


def _cell(preset, standard, verdict, margin_db, test="cmr", failed=(), saturated=()):
    return {"preset": preset, "standard": standard, "verdict": verdict, "margin_db": margin_db,
            "deciding_test": test, "failed": list(failed), "saturated": list(saturated)}


MATRIX = [_cell("ad8232", "iec60601-2-27", "fail", -9.8412, failed=["cmr", "noise"]),
          _cell("ad8232", "aami-ec13", "saturated", None, failed=["impulse"], saturated=["cmr"]),
          _cell("ina128", "iec60601-2-27", "pass", 3.21234, test="noise"),
          _cell("ina128", "aami-ec13", "pass", 55.0, test="gain")]


def test_compliance_matrix_heat_map_of_margins():
    fig = viz.plot_compliance_matrix(MATRIX, subtitle="duration scale 0.1")
    (ax,) = fig.axes
    (image,) = ax.get_images()
    assert image.get_gid() == "matrix"
    # diverging colormap centred at 0 dB, symmetric to the largest |margin| clipped to 40 dB
    norm = image.norm
    assert (norm.vmin, norm.vcenter, norm.vmax) == (-40.0, 0.0, 40.0)
    data = image.get_array()
    assert data[0, 0] == pytest.approx(-9.8412) and data[1, 0] == pytest.approx(3.21234) and data[1, 1] == 40.0
    assert np.ma.is_masked(data[0, 1]) or np.isnan(data[0, 1])  # saturated: no colour of its own
    assert image.cmap(norm(-9.8412))[0] > image.cmap(norm(-9.8412))[2]  # a fail is red, not blue
    assert image.cmap(norm(3.21))[2] > image.cmap(norm(3.21))[0]
    (hatched,) = [p for p in ax.patches if p.get_gid() == "saturated"]
    assert hatched.get_hatch() == "//" and hatched.get_xy() == (0.5, -0.5)  # row ad8232, column aami-ec13
    cells = [t.get_text() for t in ax.texts if t.get_gid() == "cell"]
    assert cells == ["-9.841 dB\n(cmr)\nfail: cmr, noise", "saturated\ncmr\nfail: impulse",
                     "+3.212 dB\n(noise)\npass", "+55 dB\n(gain)\npass"]
    (bar,) = ax.child_axes
    assert bar.get_ylabel() == "Deciding margin (dB); < 0 fails"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["iec60601-2-27", "aami-ec13"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ad8232", "ina128"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["saturated: a stage clipped, no margin"]
    long = viz.plot_compliance_matrix([_cell("p", "s", "saturated", None, saturated=[
        "cmr", "input_impedance", "offset", "gain"])])
    (cell,) = [t.get_text() for t in long.axes[0].texts]
    assert cell.startswith("saturated\n") and max(map(len, cell.splitlines())) <= 24  # wrapped to fit the cell
    with pytest.raises(ValueError, match="missing ina128 x aami-ec11"):
        viz.plot_compliance_matrix([*MATRIX, _cell("ad8232", "aami-ec11", "pass", 1.0)])


# --- every figure: scenario, units, legends ------------------------------------------------------------

def _every_figure():
    t = np.arange(int(4 * FS_HZ)) / FS_HZ
    src = _ecg(t, np.arange(0.5, 4.0, 0.8))
    f, ad, acm = _bode_gains()
    rng = np.random.default_rng(0)
    return {
        "time": viz.plot_time_panel(t, src, src + 1e-3 * np.sin(2 * np.pi * 50 * t), src, subtitle=SCENARIO),
        "psd": viz.plot_psd(FS_HZ, {"acquired": src}, mains_hz=60.0, subtitle=SCENARIO),
        "bode": viz.plot_bode(f, ad, acm, mains_hz=60.0, subtitle=SCENARIO),
        "sweep": viz.plot_sweep([1.0, 10.0, 100.0], {"a": [1.0, 2.0, 3.0]}, xlabel="C (pF)", ylabel="y (µV rms)",
                                logx=True, subtitle=SCENARIO),
        "qrs": viz.plot_qrs_sweep([1.0, 2.0], [99.0, 100.0], [98.0, 100.0], xlabel="x (dB)", subtitle=SCENARIO),
        "comparison": viz.plot_preset_comparison(NAMES, METRICS, subtitle=SCENARIO),
        "bars": viz.plot_grouped_bars(NAMES, {"x": [1.0, 2.0, 3.0]}, ylabel="y (dB)", subtitle=SCENARIO),
        "compliance": viz.plot_compliance(t, src, src, 1e-3, title="t", subtitle=SCENARIO,
                                          result=ROW | {"unit": "uV p-v"}),
        "response": viz.plot_compliance_response([1.0, 10.0], [0.0, 0.0], [-3.0, -3.0], [3.0, 3.0], title="r",
                                                 subtitle=SCENARIO),
        "matrix": viz.plot_compliance_matrix(MATRIX, subtitle=SCENARIO),
        "cdf": plot_residual_cdf(rng.lognormal(3, 1, 200), limit_uv_pp=50.0, limit_label="limit 50 µV p-p",
                                 title="Residual", subtitle=SCENARIO),
        "design": viz.plot_design_sweep([1e-6, 2e-6], {"a": [10.0, 20.0]}, {"a": [1e6, 5e5]}, {"a": [1e7, 1e7]},
                                        key="l_m", subtitle=SCENARIO),
    }


def test_every_figure_states_its_scenario_in_units_without_uv_and_keeps_legends_off_the_data():
    for name, fig in _every_figure().items():
        texts = _texts(fig)
        assert any(SCENARIO.split(" · ")[0] in t for t in texts), name
        assert not [t for t in texts if "uV" in t], name
        assert_legends_clear(fig)


# --- files ---------------------------------------------------------------------------------------------

def _png_size_and_dpi(data: bytes) -> tuple[tuple[int, int], float]:
    """(width, height) in pixels and dots per inch from a PNG's IHDR and pHYs chunks."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, size, dpi = 8, None, None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"pHYs":
            dpi = struct.unpack(">I", body[:4])[0] * 0.0254  # pixels per metre
        pos += 12 + length
    return size, dpi


def _small_figure():
    fig = Figure(figsize=(4.0, 3.0))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="µV")
    ax.legend()
    return fig


def test_save_figure_writes_png_at_300_dpi_svg_with_text_and_pdf_with_fonts(tmp_path):
    paths = viz.save_figure(_small_figure(), tmp_path / "fig1")
    assert paths == [tmp_path / "fig1.png", tmp_path / "fig1.svg", tmp_path / "fig1.pdf"]
    size, dpi = _png_size_and_dpi((tmp_path / "fig1.png").read_bytes())
    assert size == (1200, 900) and dpi == pytest.approx(300.0, abs=0.1)
    svg = (tmp_path / "fig1.svg").read_text()
    assert "<text" in svg and "µV" in svg  # text kept as text
    pdf = (tmp_path / "fig1.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf  # TrueType (Type 42) fonts embedded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig1.pdf", "fig1.png", "fig1.svg"]


def test_saved_files_are_reproducible(tmp_path):
    def figure():
        return viz.plot_sweep([1.0, 2.0], {"a": [1.0, 3.0]}, xlabel="x (Hz)", ylabel="y (µV)", subtitle=SCENARIO)

    first = [p.read_bytes() for p in viz.save_figure(figure(), tmp_path / "a")]
    second = [p.read_bytes() for p in viz.save_figure(figure(), tmp_path / "b")]
    assert first == second  # no dates in the SVG and PDF, fixed SVG ids


def test_no_offset_notation_on_ticks():
    with matplotlib.rc_context(viz.STYLE):
        fig = Figure()
        fig.subplots().plot([1000.0, 1000.001], [1e5, 1e5 + 1])
    assert not any(t.startswith(("+", "1e")) for t in _texts(fig))
    own = Figure()  # axes made outside the style: the figure function switches the offsets off
    viz.plot_sweep([1000.0, 1000.001], {"a": [1e5, 1e5 + 1]}, xlabel="x (Hz)", ylabel="y (µV)", ax=own.subplots())
    assert not any(t.startswith(("+", "1e")) for t in _texts(own))


def test_save_figure_failure_leaves_no_file(tmp_path, monkeypatch):
    with pytest.raises(OSError, match="cannot write .*missing_dir/fig.png"):
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
    "sweep": (1, lambda axes: viz.plot_sweep(_X, {"a": _X}, xlabel="x (Hz)", ylabel="y (dB)", ax=axes[0])),
    "presets": (2, lambda axes: viz.plot_preset_comparison(
        ["p", "q"], {"SNR (dB)": [1.0, 2.0], "QRS F1": [0.9, 1.0]}, axes=axes)),
    "compliance": (2, lambda axes: viz.plot_compliance(_X, _X, 1e-4 * _X, 1e-3, title="t", axes=axes)),
    "matrix": (1, lambda axes: viz.plot_compliance_matrix(MATRIX, ax=axes[0])),
}


@pytest.mark.parametrize("name", sorted(_DRAWERS))
def test_given_axes_are_drawn_into(name):
    n_axes, draw = _DRAWERS[name]
    own = Figure()
    axes = own.subplots(1, n_axes, squeeze=False)[0]
    assert draw(axes) is own
    assert len(own.axes) == n_axes  # no extra axes created
    for ax in axes:
        assert ax.get_lines() or ax.patches or ax.get_images()
        assert "(" in ax.get_ylabel() or ax.get_ylabel() in ("QRS F1", "Preset")  # a unit, or dimensionless
