"""Compliance figures: a test's waveform against its limit, a frequency response against its bounds, the matrix."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np

from acquire._check import check_option, check_positive
from acquire.output.figures.style import (COLORS, MARGIN_CMAP, SATURATED_COLOR, axes_or_new, display_scale,
                                          legend_outside, limit_line, new_axes, one_axes, plain_log_axis, result_text,
                                          set_titles, styled, trace, unit_text)

#: Longest line of a matrix cell's text, characters (longer lists of tests are wrapped).
CELL_WIDTH = 24
#: Smallest and largest half-range of the matrix's colour scale, dB (|margins| beyond the largest share its colour).
MIN_SCALE_DB, MAX_SCALE_DB = 10.0, 40.0
#: Response values at or below this are the procedures' stand-in for "no bound" (20 log10 1e-12), dB.
NO_BOUND_DB = -200.0


def _window(ax, window_s, label: str) -> None:
    """The measurement window shaded (``gid="window"``) and named in the legend."""
    if window_s is not None:
        a, b = (float(w) for w in window_s)
        ax.axvspan(a, b, color=COLORS["window"], alpha=0.12, lw=0, gid="window", label=label)


def _verdict(result) -> str | None:
    """The ``verdict`` of a result row (mapping or object), None without one."""
    if result is None:
        return None
    return result.get("verdict") if isinstance(result, Mapping) else getattr(result, "verdict", None)


@styled
def plot_compliance(t_s, input_v, output_v, limit_v, *, title, limit_kind="pp", axes=None, subtitle="",
                    window_s=None, window_label="measurement window", result=None):
    """A standards test waveform: the applied input and the output against its limit.

    Parameters
    ----------
    t_s : array, shape (n,)
        Time, s.
    input_v : array, shape (n,)
        Test input (e.g. the common-mode generator voltage), V; shown in V,
        mV or µV according to its peak. All zeros (no stimulus, e.g. the
        noise test) draws no input panel, which the output panel's title says.
    output_v : array, shape (n,)
        Output referred to the input, V; shown in V, mV or µV according to
        the larger of its peak and the limit.
    limit_v : float
        The limit, V. ``limit_kind="pp"``: a peak-to-peak limit, drawn as a
        band of that height centred on the output's mid-range, so the trace
        fits inside the band exactly when its p-p is within the limit.
        ``limit_kind="peak"``: lines at ``±limit_v``.
    title : str
    limit_kind : {"pp", "peak"}
    axes : sequence of 2 Axes (1 without a stimulus) or None
        Input panel and output panel.
    subtitle : str
        The scenario (device, standard), shown under the title.
    window_s : (float, float) or None
        The part of ``t_s`` the measurement uses, shaded on both panels.
    window_label : str
        Its legend text (e.g. ``"measurement window (last 6 s; 10 periods shown)"``).
    result : ComplianceRow, mapping or None
        The table row this waveform shows (``measured``, ``limit``, ``unit``,
        ``relation``, ``margin``, ``margin_db``, ``verdict``): stated under
        the title with the table's 4 significant digits. A saturated row has
        no measured value: the title says so and the (clipped) output trace
        is drawn grey, labelled as not the linear response.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_option("limit_kind", limit_kind, ("pp", "peak"))
    limit_v = check_positive("limit_v", limit_v)
    t = trace("t_s", t_s)
    vin = trace("input_v", input_v, t.size)
    vout = trace("output_v", output_v, t.size)
    stimulus = bool(np.any(vin != 0))
    fig, axes = axes_or_new(axes, 2 if stimulus else 1, sharex=True, figsize=(7.5, 5.5 if stimulus else 3.4))
    out_ax = axes[-1]
    if stimulus:
        in_ax = axes[0]
        k, unit = display_scale(float(np.max(np.abs(vin))))
        in_ax.plot(t, vin * k, color=COLORS["acquired"], label="test input")
        in_ax.set_ylabel(f"Input ({unit})")
        in_ax.set_title("Applied test signal")
        _window(in_ax, window_s, window_label)
    k, unit = display_scale(max(float(np.max(np.abs(vout))), limit_v))
    # with a result row, the figure's only number for the output is the row's (the table's) measured value;
    # a saturated row has none: its trace is the clipped output, drawn grey and labelled so
    saturated = _verdict(result) == "saturated"
    label = ("output RTI: clipped, not the linear response" if saturated else "output RTI" if result is not None
             else f"output RTI (p-p {np.ptp(vout) * k:.4g} {unit})")
    out_ax.plot(t, vout * k, color=COLORS["limit"] if saturated else COLORS["recovered"], label=label,
                gid="output")
    centre_v = 0.5 * (vout.max() + vout.min()) if limit_kind == "pp" else 0.0
    half_v = limit_v / 2 if limit_kind == "pp" else limit_v
    text = f"limit {limit_v * k:.4g} {unit} {'p-p' if limit_kind == 'pp' else 'peak'}"
    for sign in (1, -1):
        limit_line(out_ax, (centre_v + sign * half_v) * k, text if sign == 1 else "_nolegend_")
    _window(out_ax, window_s, window_label)
    out_ax.set_ylabel(f"Output RTI ({unit})")
    out_ax.set_title("Output against the limit" + ("" if stimulus else " (no test input: inputs tied)")
                     + (": saturated, a stage clipped" if saturated else ""))
    out_ax.set_xlabel("Time (s)")
    for ax in axes:
        legend_outside(ax)
    set_titles(fig, unit_text(title) + (f"\n{result_text(result)}" if result is not None else ""), subtitle)
    return fig


@styled
def plot_compliance_response(f_hz, measured_db, lower_db, upper_db, *, title, subtitle="", window_label="",
                             result=None, ax=None):
    """A frequency-response test: the measured response re the reference frequency between its bounds.

    Parameters
    ----------
    f_hz : array, shape (n,)
        Test frequencies, Hz (log axis).
    measured_db : array, shape (n,)
        Measured response re the reference frequency, dB.
    lower_db, upper_db : array, shape (n,)
        The standard's bounds at each frequency, dB (lines with ``gid="limit"``);
        a lower bound at or below :data:`NO_BOUND_DB` means none and is not drawn.
    title : str
    subtitle : str
        The scenario, shown under the title.
    window_label : str
        How the response was measured (e.g. ``"tones measured over 2 s after 6 s of settling"``),
        added to the subtitle.
    result : ComplianceRow, mapping or None
        The worst row of the test, stated in the axes title as in the table.
    ax : Axes or None

    Returns
    -------
    matplotlib.figure.Figure
    """
    f = trace("f_hz", f_hz)
    if np.any(f <= 0):
        raise ValueError(f"f_hz must be > 0 for a log axis; got min {f.min():g} Hz.")
    fig, ax = one_axes(ax)
    measured = trace("measured_db", measured_db, f.size)
    ax.plot(f, measured, marker="o", color=COLORS["recovered"], label="measured")
    for label, y, style in (("lower limit", lower_db, "--"), ("upper limit", upper_db, "-.")):
        y = trace(label.replace(" ", "_"), y, f.size)
        y = np.where(y > NO_BOUND_DB, y, np.nan)
        if np.any(np.isfinite(y)):
            ax.plot(f, y, color=COLORS["limit"], ls=style, marker="_", lw=1.2, label=label, gid="limit")
    ax.set_xscale("log")
    plain_log_axis(ax.xaxis, f)
    ax.set_xlabel("Frequency (Hz)")
    ax.set_ylabel("Response (dB)")
    lines = [title] + ([result_text(result)] if result is not None else [])
    set_titles(ax, unit_text("\n".join(lines)), " · ".join(p for p in (subtitle, window_label) if p))
    legend_outside(ax)
    return fig


def format_margin_db(margin_db) -> str:
    """A margin as the matrix cell prints it: the table's 4 significant digits, signed, in dB."""
    return "+inf dB" if margin_db == math.inf else f"{float(margin_db):+.4g} dB"


def _cell_text(cell: Mapping) -> str:
    """A matrix cell's text: the deciding margin and test, then the verdict with its tests (or "saturated")."""
    if cell["verdict"] == "saturated":
        lines = ["saturated", ", ".join(cell["saturated"])]
    else:
        lines = [format_margin_db(cell["margin_db"]), f"({cell['deciding_test']})"]
    if cell["failed"]:
        lines.append(f"fail: {', '.join(cell['failed'])}")
    elif cell["verdict"] == "pass":
        lines.append("pass")
    return "\n".join(textwrap.fill(line, CELL_WIDTH, break_on_hyphens=False) for line in lines)


def _matrix_grid(cells: Sequence[Mapping]):
    """Presets, standards (first-seen order) and the cells as a grid ``[preset][standard]``."""
    presets = list(dict.fromkeys(str(c["preset"]) for c in cells))
    standards = list(dict.fromkeys(str(c["standard"]) for c in cells))
    grid = {(str(c["preset"]), str(c["standard"])): c for c in cells}
    missing = [f"{p} x {s}" for p in presets for s in standards if (p, s) not in grid]
    if missing:
        raise ValueError(f"cells must hold every preset x standard pair; missing {', '.join(missing)}.")
    return presets, standards, [[grid[p, s] for s in standards] for p in presets]


@styled
def plot_compliance_matrix(cells: Sequence[Mapping], *, title="Presets × standards: deciding margin",
                           subtitle="", ax=None):
    """A heat map of presets × standards coloured by each pair's deciding margin in dB.

    Parameters
    ----------
    cells : sequence of dict
        One per (preset, standard) pair, as from
        :func:`acquire.studies.compliance.report.matrix_cell`: ``preset``,
        ``standard``, ``verdict`` ("pass", "fail", "saturated"),
        ``margin_db``, ``deciding_test``, ``failed``, ``saturated``.
    title, subtitle : str
    ax : Axes or None

    Returns
    -------
    matplotlib.figure.Figure
        The image (``gid="matrix"``) uses a diverging colormap centred at
        0 dB, symmetric to the largest finite |margin| (at least
        :data:`MIN_SCALE_DB`, at most :data:`MAX_SCALE_DB`, beyond which the
        colour saturates); each cell's text (``gid="cell"``) gives its margin
        with the table's 4 significant digits and the deciding test.
        Saturated cells have no margin: hatched grey (``gid="saturated"``)
        with the word.
    """
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.transforms import offset_copy

    if not cells:
        raise ValueError("cells must be non-empty; got no (preset, standard) pair.")
    presets, standards, grid = _matrix_grid(cells)
    margins = np.array([[np.nan if c["margin_db"] is None else float(c["margin_db"]) for c in row] for row in grid])
    finite = margins[np.isfinite(margins)]
    scale_db = float(np.clip(np.abs(finite).max() if finite.size else MIN_SCALE_DB, MIN_SCALE_DB, MAX_SCALE_DB))
    beyond = {side for side, out in (("min", np.any(finite < -scale_db)), ("max", np.any(finite > scale_db))) if out}
    texts = [[_cell_text(c) for c in row] for row in grid]
    if ax is None:
        n_lines = max(t.count("\n") + 1 for row in texts for t in row)
        fig, (ax,) = new_axes(figsize=(3.4 + 1.6 * len(standards), 1.5 + (0.15 * n_lines + 0.25) * len(presets)))
    else:
        fig, ax = one_axes(ax)
    image = ax.imshow(np.clip(margins, -scale_db, scale_db), cmap=MARGIN_CMAP, aspect="auto", gid="matrix",
                      norm=TwoSlopeNorm(vcenter=0.0, vmin=-scale_db, vmax=scale_db))
    for i, row in enumerate(grid):
        for j, cell in enumerate(row):
            if cell["verdict"] == "saturated":
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=SATURATED_COLOR, hatch="//",
                                       edgecolor="white", lw=0, gid="saturated"))
            dark = np.isfinite(margins[i, j]) and abs(margins[i, j]) > 0.6 * scale_db
            ax.text(j, i, texts[i][j], ha="center", va="center", fontsize=7, gid="cell",
                    color="white" if dark else "black")
    crowded = max(map(len, standards)) > 14 and len(standards) > 3
    ax.set_xticks(range(len(standards)), standards, rotation=20 if crowded else 0, ha="right" if crowded else "center")
    ax.set_yticks(range(len(presets)), presets)
    ax.set_xticks(np.arange(len(standards) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(presets) + 1) - 0.5, minor=True)
    ax.tick_params(which="both", length=0)
    ax.grid(False)
    ax.grid(True, which="minor", color="white", lw=2, alpha=1.0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("Standard")
    ax.set_ylabel("Preset")
    bar = fig.colorbar(image, cax=ax.inset_axes((1.02, 0.0, 0.025, 1.0)),  # a child: given axes stay the only ones
                       extend="both" if len(beyond) == 2 else beyond.pop() if beyond else "neither")
    bar.set_label("Deciding margin (dB); < 0 fails")
    if any(c["verdict"] == "saturated" for c in cells):
        below = offset_copy(ax.transAxes, fig=fig, y=-(64 if crowded else 40), units="points")  # under the xlabel
        ax.legend(handles=[Patch(facecolor=SATURATED_COLOR, hatch="//", edgecolor="white",
                                 label="saturated: a stage clipped, no margin")],
                  loc="upper left", bbox_to_anchor=(0.0, 0.0), bbox_transform=below, borderaxespad=0.0)
    set_titles(ax, title, subtitle)
    return fig
