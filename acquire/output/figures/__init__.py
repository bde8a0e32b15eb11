"""Figures for reports: the only place in ecgfe that plots.

Every function takes plain numpy arrays in SI units (volts, seconds, hertz)
and dicts, draws into ``ax=`` (or ``axes=`` for multi-panel figures) when
given, else into a new figure, and returns the :class:`~matplotlib.figure.Figure`.
Amplitudes are converted to mV or µV for display only. All drawing happens
inside one report style (:mod:`.style`) with one colour per role; every
figure takes a ``subtitle=`` stating its scenario (:func:`scenario_line`)
and is saved as PNG (300 dpi), SVG and PDF (:func:`save_figure`).
matplotlib is imported inside the functions, so importing ``acquire`` never
initialises it (MNE-Python and python-control do the same).
"""

from acquire.output.figures.compliance import plot_compliance, plot_compliance_matrix, plot_compliance_response
from acquire.output.figures.design import plot_design_sweep
from acquire.output.figures.signals import plot_time_panel, zoom_windows
from acquire.output.figures.spectra import common_ylim_db, mains_lines, plot_bode, plot_psd
from acquire.output.figures.studies import plot_grouped_bars, plot_preset_comparison, plot_qrs_sweep, plot_sweep
from acquire.output.figures.style import (COLORS, FORMATS, ONE_MV_PP_IN_UV_RMS, ONE_MV_PP_LABEL, STYLE,
                                          cmr_limit_uv_rms, figure_bytes, format_imbalance, format_si, record_label,
                                          save_figure, scenario_line)

__all__ = ["COLORS", "FORMATS", "ONE_MV_PP_IN_UV_RMS", "ONE_MV_PP_LABEL", "STYLE", "cmr_limit_uv_rms",
           "common_ylim_db", "figure_bytes", "format_imbalance", "format_si", "mains_lines", "plot_bode",
           "plot_compliance", "plot_compliance_matrix", "plot_compliance_response", "plot_design_sweep",
           "plot_grouped_bars", "plot_preset_comparison", "plot_psd", "plot_qrs_sweep", "plot_sweep",
           "plot_time_panel", "record_label", "save_figure", "scenario_line", "zoom_windows"]
