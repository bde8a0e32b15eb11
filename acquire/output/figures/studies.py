"""Figures of studies: sweeps, QRS-detection sweeps, grouped bars of categorical sweeps, preset comparisons."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from acquire._check import check_option
from acquire.output.figures.style import (COLORS, ONE_MV_PP_LABEL, given_axes, legend_outside, limit_line, new_axes,
                                          one_axes, plain_log_axis, role_color, set_titles, styled, trace)

#: Characters of tick labels that fit side by side under a 3 inch panel; more are slanted.
LABEL_CHARS = 40
#: Dash patterns of successive limit lines in one panel.
LIMIT_STYLES = ("--", "-.", ":", (0, (5, 2, 1, 2)))


def _finite(*arrays) -> np.ndarray:
    v = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays])
    return v[np.isfinite(v)]


@styled
def plot_sweep(x, series: Mapping[str, np.ndarray], *, xlabel, ylabel, limit=None,
               limit_label=ONE_MV_PP_LABEL, logx=False, logy=False, title=None, ax=None, limits=None,
               subtitle=""):
    """Sweep curves, one per label, with optional limit lines.

    Parameters
    ----------
    x : array, shape (n,)
        Swept variable, in the unit named by ``xlabel``.
    series : dict of str to array, shape (n,)
        Label -> y values, already in the display unit named by ``ylabel``
        (e.g. residual mains in µV rms RTI per electrode imbalance).
    xlabel, ylabel : str
        Axis labels with units, e.g. ``"CMRR (dB)"``, ``"Residual mains (µV rms RTI)"``.
    limit : float or None
        y value of a horizontal limit line, in the y display unit, drawn only
        when given. For the standards' 1 mV p-p on a µV rms axis use
        :data:`ONE_MV_PP_IN_UV_RMS` (a sine of 1 mV p-p has an rms of
        ``1e3 / (2 sqrt 2) = 353.6 µV``), scaled to the scenario's common
        mode (:func:`~acquire.output.figures.style.cmr_limit_uv_rms`).
    limit_label : str
        Legend text of that line.
    logx, logy : bool
        Logarithmic axes, labelled with plain numbers.
    title : str or None
        Axes title; None uses ``"<ylabel> against <xlabel>"``.
    ax : Axes or None
    limits : dict of str to float or array, shape (n,), or None
        More limit lines: legend text -> a constant or one value per x
        (e.g. a standard's lower and upper response bounds).
    subtitle : str
        The scenario, shown under the title.

    Returns
    -------
    matplotlib.figure.Figure
        Limit lines carry ``gid="limit"``; the legend is outside the axes.
    """
    xs = trace("x", x)
    if not series:
        raise ValueError("series must hold at least one label -> array; got an empty dict.")
    fig, ax = one_axes(ax)
    for label, y in series.items():
        ax.plot(xs, trace(f"series[{label!r}]", y, xs.size), marker="o", label=label, color=role_color(label))
    lines = ({limit_label: float(limit)} if limit is not None else {}) | dict(limits or {})
    for style, (label, y) in zip(LIMIT_STYLES * len(lines), lines.items()):
        if np.ndim(y) == 0:
            limit_line(ax, float(y), label).set_linestyle(style)
        else:
            ax.plot(xs, trace(f"limits[{label!r}]", y, xs.size), color=COLORS["limit"], ls=style, lw=1.2,
                    label=label, gid="limit")
    for axis, log, values in ((ax.xaxis, logx, xs), (ax.yaxis, logy, _finite(*series.values()))):
        (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log" if log else "linear")
        if log:
            plain_log_axis(axis, values)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    set_titles(ax, title if title is not None else f"{ylabel} against {xlabel}", subtitle)
    legend_outside(ax)
    return fig


@styled
def plot_qrs_sweep(x, se, ppv, *, xlabel, logx=False, title="QRS detection", ax=None, subtitle=""):
    """QRS sensitivity Se and positive predictivity +P, in %, against a swept variable.

    Parameters
    ----------
    x : array, shape (n,)
        Swept variable, in the unit named by ``xlabel``.
    se, ppv : array, shape (n,)
        Sensitivity ``TP/(TP+FN)`` and positive predictivity ``TP/(TP+FP)``
        in percent (0 to 100), as defined by ANSI/AAMI EC57.
    xlabel : str
        Label of the swept variable with its unit.
    logx : bool
    title : str
    ax : Axes or None
    subtitle : str
        The scenario, shown under the title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    xs = trace("x", x)
    fig, ax = one_axes(ax)
    for name, y, color, marker in (("Se", se, COLORS["recovered"], "o"),
                                   ("+P", ppv, COLORS["detected"], "s")):
        y = trace(name, y, xs.size)
        if np.any((y < 0) | (y > 100)):
            raise ValueError(f"{name} must be in percent (0 to 100); got range "
                             f"{np.nanmin(y):g} to {np.nanmax(y):g}.")
        ax.plot(xs, y, marker=marker, color=color, label=f"{name} (%)")
    ax.set_xscale("log" if logx else "linear")
    if logx:
        plain_log_axis(ax.xaxis, xs)
    ax.set_ylim(0.0, 102.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Se, +P (%)")
    set_titles(ax, title, subtitle)
    legend_outside(ax)
    return fig


def _colors(n: int) -> list[str]:
    import matplotlib as mpl

    cycle = [c["color"] for c in mpl.rcParams["axes.prop_cycle"]]
    return [cycle[i % len(cycle)] for i in range(n)]


def _value_labels(ax, bars, values, bottom: float = 0.0) -> None:
    """Each bar's value printed above it (``n/a`` for a missing value)."""
    labels = ["n/a" if not math.isfinite(v) else f"{v:.3g}" for v in values]
    for bar, text, v in zip(bars, labels, values):
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, v if math.isfinite(v) else bottom),
                    xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=7,
                    gid="bar-value")


def _value_range(ax, values: np.ndarray, *, log: bool, db: bool) -> float:
    """Set the y range to show the bars' differences with room for their labels; return the bars' base."""
    v = values[np.isfinite(values)]
    if not v.size:
        return 0.0
    lo, hi = float(v.min()), float(v.max())
    if log and lo > 0 and hi >= 10 * lo:  # within a decade a log axis would show one tick or none
        ax.set_yscale("log")
        plain_log_axis(ax.yaxis, v)
        base = 10.0 ** math.floor(math.log10(lo))
        ax.set_ylim(base, hi * 10 ** (0.15 * max(math.log10(hi / base), 1.0)))
        return base
    span = max(hi - lo, abs(hi) * 0.05, 1.0)
    base = 5.0 * math.floor((lo - 0.6 * span) / 5.0) if db else min(0.0, lo - 0.1 * span)
    ax.set_ylim(base, hi + 0.15 * (hi - base))
    return base


def _bar_panel(ax, pos, values, colors, *, label, log: bool, panel_limits: Mapping[str, float]) -> None:
    """One metric's bars from a base that shows their differences, their values and its limit lines."""
    lines = {k: float(v) for k, v in panel_limits.items()}
    base = _value_range(ax, np.concatenate([values, list(lines.values())]), log=log, db="(dB)" in label)
    heights = np.where(np.isfinite(values), values - base, 0.0)
    bars = ax.bar(pos, heights, bottom=base, color=colors, gid="bars")
    _value_labels(ax, bars, values, base)
    for style, (text, value) in zip(LIMIT_STYLES * len(lines), lines.items()):
        limit_line(ax, value, text).set_linestyle(style)


@styled
def plot_preset_comparison(names: Sequence[str], metrics: Mapping[str, Sequence[float]], *,
                           log_metrics: Sequence[str] = (), title="Preset comparison", axes=None, limits=None,
                           subtitle="", xlabel="Preset"):
    """Bar charts comparing presets: one panel per metric, one bar per preset, its value printed on it.

    Parameters
    ----------
    names : sequence of str
        Preset names (bar labels); each preset keeps its colour in every panel.
    metrics : dict of str to sequence of float
        Metric label with unit (e.g. ``"Residual mains (µV rms)"``,
        ``"SNR out (dB)"``, ``"QRS F1"``) -> one value per preset (NaN: not
        measured, shown as ``n/a``).
    log_metrics : sequence of str
        Metric labels drawn on a log y axis (e.g. residual mains) when their
        values span a decade or more.
    title : str
    axes : sequence of Axes (one per metric) or None
    limits : dict of str to dict of str to float, or None
        Metric label -> {legend text: value}: the limits that apply to that
        metric, drawn as dashed lines (``gid="limit"``) only when given.
    subtitle : str
        The scenario, shown under the title.
    xlabel : str
        What the bars are (``"Record"`` for a batch over records).

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Bars of a metric in dB start from a round value below the smallest bar
    (the zero of a decibel scale is arbitrary), so that differences of a few
    dB are visible; the axis shows where they start. Other linear metrics
    start from 0, log metrics from the decade below the smallest value.
    """
    names = [str(n) for n in names]
    if not names or not metrics:
        raise ValueError(f"names and metrics must be non-empty; got {len(names)} name(s) and "
                         f"{len(metrics)} metric(s).")
    for label in log_metrics:
        check_option("log_metrics item", label, metrics)
    for label in limits or {}:
        check_option("limits key", label, metrics)
    if axes is None:
        panel_in = max(3.0, 0.5 * len(names))  # a wider panel for many bars
        fig, axes = new_axes(1, len(metrics), figsize=(panel_in * len(metrics) + 1.0, 3.9))
    else:
        axes = given_axes("axes", axes, len(metrics))
        fig = axes[0].figure
    colors, pos = _colors(len(names)), np.arange(len(names))
    long_names = len(names) * (max(len(n) for n in names) + 2) > LABEL_CHARS * max(1.0, len(names) / 6)
    for ax, (label, values) in zip(axes, metrics.items()):
        v = trace(f"metrics[{label!r}]", values, len(names))
        _bar_panel(ax, pos, v, colors, label=label, log=label in log_metrics,
                   panel_limits=(limits or {}).get(label, {}))
        ax.set_xticks(pos, names, rotation=25 if long_names else 0, ha="right" if long_names else "center")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(False, axis="x")
    handles = [h for ax in axes for h in ax.get_lines() if h.get_gid() == "limit"]
    legend_outside(axes[-1], handles)  # one legend of every panel's limits, right of the last panel
    set_titles(fig, title, subtitle)
    return fig


@styled
def plot_grouped_bars(groups: Sequence[str], series: Mapping[str, Sequence[float]], *, ylabel, xlabel="",
                      log=False, limit=None, limit_label="limit", title="", subtitle="", ax=None):
    """Grouped bars: one group per category (e.g. a preset), one bar per series, values printed on the bars.

    Parameters
    ----------
    groups : sequence of str
        Category labels on the x axis.
    series : dict of str to sequence of float
        Legend label -> one value per group, in the display unit of ``ylabel``
        (NaN: not measured, shown as ``n/a``).
    ylabel, xlabel : str
        Axis labels (``ylabel`` with its unit).
    log : bool
        Log y axis (from the decade below the smallest bar) when the values span a decade or more.
    limit : float or None
        A horizontal limit line (``gid="limit"``), drawn only when given.
    limit_label : str
    title, subtitle : str
    ax : Axes or None

    Returns
    -------
    matplotlib.figure.Figure
    """
    groups = [str(g) for g in groups]
    if not groups or not series:
        raise ValueError(f"groups and series must be non-empty; got {len(groups)} group(s) and "
                         f"{len(series)} series.")
    values = {label: trace(f"series[{label!r}]", v, len(groups)) for label, v in series.items()}
    fig, ax = one_axes(ax)
    width = 0.8 / len(values)
    extra = [] if limit is None else [float(limit)]
    base = _value_range(ax, np.concatenate([*values.values(), extra]), log=log, db="(dB)" in ylabel)
    for i, (color, (label, v)) in enumerate(zip(_colors(len(values)), values.items())):
        pos = np.arange(len(groups)) + (i - (len(values) - 1) / 2) * width
        bars = ax.bar(pos, np.where(np.isfinite(v), v - base, 0.0), width, bottom=base, color=color, label=label,
                      gid="bars")
        _value_labels(ax, bars, v, base)
    if limit is not None:
        limit_line(ax, limit, limit_label)
    long_names = len(groups) * (max(len(g) for g in groups) + 2) > 2 * LABEL_CHARS
    ax.set_xticks(np.arange(len(groups)), groups, rotation=25 if long_names else 0,
                  ha="right" if long_names else "center")
    ax.grid(False, axis="x")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    set_titles(ax, title, subtitle)
    legend_outside(ax)
    return fig
