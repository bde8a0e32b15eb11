"""Figures for reports: the only place in ecgfe that plots.

Every function takes plain numpy arrays in SI units (volts, seconds, hertz)
and dicts, draws into ``ax=`` (or ``axes=`` for multi-panel figures) when
given, else into a new figure, and returns the :class:`~matplotlib.figure.Figure`.
Amplitudes are converted to mV or µV for display only. All drawing happens
inside one report style (:mod:`.style`) with one colour per role.
matplotlib is imported inside the functions, so importing ``acquire`` never
initialises it (MNE-Python and python-control do the same).
"""

from acquire.output.figures.design import plot_design_sweep
from acquire.output.figures.signals import plot_bode, plot_psd, plot_time_panel
from acquire.output.figures.studies import plot_compliance, plot_preset_comparison, plot_qrs_sweep, plot_sweep
from acquire.output.figures.style import (COLORS, ONE_MV_PP_IN_UV_RMS, ONE_MV_PP_LABEL, STYLE, figure_bytes,
                                          save_figure)

__all__ = ["COLORS", "ONE_MV_PP_IN_UV_RMS", "ONE_MV_PP_LABEL", "STYLE", "figure_bytes", "plot_bode",
           "plot_compliance", "plot_design_sweep", "plot_preset_comparison", "plot_psd", "plot_qrs_sweep",
           "plot_sweep", "plot_time_panel", "save_figure"]
