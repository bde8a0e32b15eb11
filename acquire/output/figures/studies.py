"""Figures of studies: sweeps, QRS-detection sweeps, preset comparisons, compliance tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from acquire._check import check_option, check_positive

from acquire.output.figures.style import (COLORS, MV_PER_V, ONE_MV_PP_LABEL, display_scale, given_axes,
    new_axes, one_axes, role_color, styled, trace)


@styled
def plot_sweep(x, series: Mapping[str, np.ndarray], *, xlabel, ylabel, limit=None,
               limit_label=ONE_MV_PP_LABEL, logx=False, logy=False, title=None, ax=None):
    """Sweep curves, one per label, with an optional horizontal limit line.

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
        y value of a limit line, in the y display unit. For the standards'
        1 mV p-p on a µV rms axis use :data:`ONE_MV_PP_IN_UV_RMS`: a sine of
        1 mV p-p has an rms of ``1e3 / (2 sqrt 2) = 353.6 µV``.
    limit_label : str
        Legend text of the limit line (default states that conversion).
    logx, logy : bool
        Logarithmic axes.
    title : str or None
        Axes title; None uses ``"<ylabel> against <xlabel>"``.
    ax : Axes or None

    Returns
    -------
    matplotlib.figure.Figure
    """
    xs = trace("x", x)
    if not series:
        raise ValueError("series must hold at least one label -> array; got an empty dict.")
    fig, ax = one_axes(ax)
    for label, y in series.items():
        ax.plot(xs, trace(f"series[{label!r}]", y, xs.size), marker="o", label=label,
                color=role_color(label))
    if limit is not None:
        ax.axhline(float(limit), color=COLORS["limit"], ls="--", label=limit_label, gid="limit")
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title if title is not None else f"{ylabel} against {xlabel}")
    ax.legend(loc="best")
    return fig


@styled
def plot_qrs_sweep(x, se, ppv, *, xlabel, logx=False, title="QRS detection", ax=None):
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
    ax.set_ylim(0.0, 102.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Se, +P (%)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return fig


@styled
def plot_preset_comparison(names: Sequence[str], metrics: Mapping[str, Sequence[float]], *,
                           log_metrics: Sequence[str] = (), title="Preset comparison",
                           axes=None):
    """Bar charts comparing presets: one panel per metric, one bar per preset.

    Parameters
    ----------
    names : sequence of str
        Preset names (bar labels); each preset keeps its colour in every panel.
    metrics : dict of str to sequence of float
        Metric label with unit (e.g. ``"Residual mains (µV rms)"``,
        ``"SNR out (dB)"``, ``"QRS F1"``) -> one value per preset.
    log_metrics : sequence of str
        Metric labels drawn on a log y axis (e.g. residual mains).
    title : str
    axes : sequence of Axes (one per metric) or None

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = [str(n) for n in names]
    if not names or not metrics:
        raise ValueError(f"names and metrics must be non-empty; got {len(names)} name(s) and "
                         f"{len(metrics)} metric(s).")
    for label in log_metrics:
        check_option("log_metrics item", label, metrics)
    if axes is None:
        fig, axes = new_axes(1, len(metrics), figsize=(3.0 * len(metrics) + 1.0, 3.6))
    else:
        axes = given_axes("axes", axes, len(metrics))
        fig = axes[0].figure
    import matplotlib as mpl

    colors = [c["color"] for c, _ in zip(mpl.rcParams["axes.prop_cycle"](), names)]
    pos = np.arange(len(names))
    for ax, (label, values) in zip(axes, metrics.items()):
        v = trace(f"metrics[{label!r}]", values, len(names))
        ax.bar(pos, v, color=colors)
        ax.set_xticks(pos, names, rotation=30, ha="right")
        if label in log_metrics:
            ax.set_yscale("log")
        ax.set_xlabel("Preset")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(False, axis="x")
    fig.suptitle(title)
    return fig


@styled
def plot_compliance(t_s, input_v, output_v, limit_v, *, title, limit_kind="pp", axes=None):
    """A standards test waveform: the applied input and the output against its limit.

    Parameters
    ----------
    t_s : array, shape (n,)
        Time, s.
    input_v : array, shape (n,)
        Test input (e.g. the common-mode generator voltage), V; shown in V,
        mV or µV according to its peak.
    output_v : array, shape (n,)
        Output referred to the input, V; shown in mV.
    limit_v : float
        The limit, V. ``limit_kind="pp"``: a peak-to-peak limit, drawn as a
        band of that height centred on the output's mid-range, so the trace
        fits inside the band exactly when its p-p is within the limit.
        ``limit_kind="peak"``: lines at ``±limit_v``.
    title : str
    limit_kind : {"pp", "peak"}
    axes : sequence of 2 Axes or None
        Input panel and output panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_option("limit_kind", limit_kind, ("pp", "peak"))
    limit_v = check_positive("limit_v", limit_v)
    t = trace("t_s", t_s)
    vin = trace("input_v", input_v, t.size)
    vout = trace("output_v", output_v, t.size)
    if axes is None:
        fig, axes = new_axes(2, 1, sharex=True, figsize=(7.0, 5.5))
    else:
        axes = given_axes("axes", axes, 2)
        fig = axes[0].figure
    in_ax, out_ax = axes
    k, unit = display_scale(float(np.max(np.abs(vin))))
    in_ax.plot(t, vin * k, color=COLORS["acquired"], label="test input")
    in_ax.set_ylabel(f"Input ({unit})")
    in_ax.set_title("Applied test signal")
    pp_v = float(np.ptp(vout))
    out_ax.plot(t, vout * MV_PER_V, color=COLORS["recovered"],
                label=f"output RTI (p-p {pp_v * MV_PER_V:.4g} mV)")
    centre_v = 0.5 * (vout.max() + vout.min()) if limit_kind == "pp" else 0.0
    half_v = limit_v / 2 if limit_kind == "pp" else limit_v
    text = f"limit {limit_v * MV_PER_V:.4g} mV {'p-p' if limit_kind == 'pp' else 'peak'}"
    for sign in (1, -1):
        out_ax.axhline((centre_v + sign * half_v) * MV_PER_V, color=COLORS["limit"], ls="--",
                       gid="limit", label=text if sign == 1 else "_nolegend_")
    out_ax.set_ylabel("Output RTI (mV)")
    out_ax.set_title("Output against the limit")
    for ax in axes:
        ax.set_xlabel("Time (s)")
        ax.legend(loc="upper right")
    fig.suptitle(title)
    return fig
