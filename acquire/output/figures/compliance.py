"""Compliance figures: a test's waveform against its limit, a frequency response against its bounds, the matrix."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np

from acquire._check import check_option, check_positive
from acquire.output.figures.style import (COLORS, VERDICT_COLORS, axes_or_new, display_scale, legend_outside,
                                          limit_line, new_axes, one_axes, plain_log_axis, result_text, set_titles,
                                          styled, trace, unit_text)

#: Longest line of a matrix cell's text, characters (longer lists of tests are wrapped).
CELL_WIDTH = 24
#: Response values at or below this are the procedures' stand-in for "no bound" (20 log10 1e-12), dB.
NO_BOUND_DB = -200.0


def _window(ax, window_s, label: str) -> None:
    """The measurement window shaded (``gid="window"``) and named in the legend."""
    if window_s is not None:
        a, b = (float(w) for w in window_s)
        ax.axvspan(a, b, color=COLORS["window"], alpha=0.12, lw=0, gid="window", label=label)


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
        the title with the table's 4 significant digits.

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
    # with a result row, the figure's only number for the output is the row's (the table's) measured value
    out_ax.plot(t, vout * k, color=COLORS["recovered"],
                label="output RTI" if result is not None else f"output RTI (p-p {np.ptp(vout) * k:.4g} {unit})")
    centre_v = 0.5 * (vout.max() + vout.min()) if limit_kind == "pp" else 0.0
    half_v = limit_v / 2 if limit_kind == "pp" else limit_v
    text = f"limit {limit_v * k:.4g} {unit} {'p-p' if limit_kind == 'pp' else 'peak'}"
    for sign in (1, -1):
        limit_line(out_ax, (centre_v + sign * half_v) * k, text if sign == 1 else "_nolegend_")
    _window(out_ax, window_s, window_label)
    out_ax.set_ylabel(f"Output RTI ({unit})")
    out_ax.set_title("Output against the limit" + ("" if stimulus else " (no test input: inputs tied)"))
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


def verdict_of(cell) -> str:
    """``"pass"``, ``"fail"``, ``"saturated"`` or ``"n/a"`` from a matrix cell (``"fail: cmr; saturated: gain"``)."""
    text = str(cell or "").strip().lower()
    if "saturated" in text:
        return "saturated"
    if text.startswith("fail"):
        return "fail"
    return "pass" if text == "pass" else "n/a"


def _cell_text(cell, margin) -> str:
    """A matrix cell's text: the verdict, the tests that failed or saturated, the margin in dB."""
    parts = [p.strip() for p in str(cell or "n/a").split(";") if ":" in p]
    lines = [verdict_of(cell)] + ([parts[0].split(":", 1)[1].strip()] if len(parts) == 1 else parts)
    if margin is not None and math.isfinite(float(margin)):
        lines.append(f"{float(margin):+.1f} dB")
    return "\n".join(textwrap.fill(line, CELL_WIDTH, break_on_hyphens=False) for line in lines)


@styled
def plot_compliance_matrix(rows: Sequence[Mapping], standards: Sequence[str], margins=None, *,
                           title="Presets × standards", subtitle="", ax=None):
    """A heat map of presets × standards: each cell coloured pass, fail or saturated, with its margin.

    Parameters
    ----------
    rows : sequence of dict
        One per preset: ``{"preset": name, <standard>: "pass" | "fail: tests" |
        "saturated: tests" | both joined by ";"}`` (the rows of
        :func:`acquire.studies.compliance.report.preset_compliance_matrix`).
    standards : sequence of str
        The standard columns, in order.
    margins : dict of str to dict of str to float, or None
        Preset -> standard -> smallest margin in dB, printed in the cell when
        given (None or a missing entry: not printed).
    title, subtitle : str
    ax : Axes or None

    Returns
    -------
    matplotlib.figure.Figure
        The image carries ``gid="matrix"``; each cell's text ``gid="cell"``.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    standards = [str(s) for s in standards]
    if not rows or not standards:
        raise ValueError(f"rows and standards must be non-empty; got {len(rows)} row(s) and "
                         f"{len(standards)} standard(s).")
    missing = [s for s in standards if not all(s in r for r in rows)]
    if missing or not all("preset" in r for r in rows):
        raise ValueError(f"every row needs 'preset' and a cell per standard; missing {missing or ['preset']}.")
    kinds = list(VERDICT_COLORS)
    codes = np.array([[kinds.index(verdict_of(r[s])) for s in standards] for r in rows])
    texts = [[_cell_text(r[s], (margins or {}).get(r["preset"], {}).get(s)) for s in standards] for r in rows]
    if ax is None:
        n_lines = max(t.count("\n") + 1 for row in texts for t in row)
        fig, (ax,) = new_axes(figsize=(2.4 + 1.6 * len(standards), 1.4 + (0.15 * n_lines + 0.2) * len(rows)))
    else:
        fig, ax = one_axes(ax)
    ax.imshow(codes, cmap=ListedColormap(list(VERDICT_COLORS.values())), vmin=-0.5, vmax=len(kinds) - 0.5,
              aspect="auto", gid="matrix")
    for i, row in enumerate(texts):
        for j, text in enumerate(row):
            ax.text(j, i, text, ha="center", va="center", fontsize=7, gid="cell")
    crowded = max(map(len, standards)) > 14 and len(standards) > 3
    ax.set_xticks(range(len(standards)), standards, rotation=20 if crowded else 0, ha="right" if crowded else "center")
    ax.set_yticks(range(len(rows)), [str(r["preset"]) for r in rows])
    ax.set_xticks(np.arange(len(standards) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(rows) + 1) - 0.5, minor=True)
    ax.tick_params(which="both", length=0)
    ax.grid(False)
    ax.grid(True, which="minor", color="white", lw=2, alpha=1.0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("Standard")
    ax.set_ylabel("Preset")
    present = {kinds[c] for c in codes.ravel()}
    ax.legend(handles=[Patch(color=VERDICT_COLORS[k], label=k) for k in kinds if k in present],
              loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    set_titles(ax, title, subtitle)
    return fig

