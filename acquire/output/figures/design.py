"""Figures and display labels of differential-pair designs (``ecgfe design diffpair``).

The figure is :func:`plot_design_sweep`: gain and bandwidth against one
design input. The labels, units and engineering-unit formatting
(:func:`format_si`: ``"159.2 MHz"``) are shared by the figure and the
command line's text tables (:func:`design_table`), so both show the same
names and numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from acquire.output.figures.style import display_unit, format_si, given_axes, new_axes, styled, trace, wrap_parts

#: Design inputs: key -> (description, symbol, unit, mathtext symbol for figures).
#: "%" marks a fraction shown in percent.
INPUTS: dict[str, tuple[str, str, str, str]] = {
    "gm_s": ("Transconductance", "g_m", "S", r"$g_m$"),
    "ro_n_ohm": ("NMOS output resistance", "r_o,n", "Ω", r"$r_{o,n}$"),
    "ro_p_ohm": ("PMOS output resistance", "r_o,p", "Ω", r"$r_{o,p}$"),
    "r_d_ohm": ("Drain resistance", "R_D", "Ω", r"$R_D$"),
    "c_load_f": ("Load capacitance", "C_L", "F", r"$C_L$"),
    "r_tail_ohm": ("Tail resistance", "R_SS", "Ω", r"$R_{SS}$"),
    "gm_mismatch_fraction": ("Transconductance mismatch", "Δg_m/g_m", "%", r"$\Delta g_m/g_m$"),
    "r_d_mismatch_fraction": ("Drain-resistance mismatch", "ΔR_D/R_D", "%", r"$\Delta R_D/R_D$"),
    "mirror_mismatch_fraction": ("Mirror mismatch", "ε_mirror", "%", r"$\varepsilon_\mathrm{mirror}$"),
    "id_a": ("Drain current", "I_D", "A", r"$I_D$"),
    "w_over_l": ("Aspect ratio", "W/L", "", r"$W/L$"),
    "l_m": ("Channel length", "L", "m", r"$L$"),
    "mu_cox_a_per_v2": ("Process transconductance", "µC_ox", "A/V²", r"$\mu C_{ox}$"),
    "lambda0_per_v": ("Channel-length modulation", "λ₀", "V⁻¹", r"$\lambda_0$"),
    "l0_m": ("Reference length", "L₀", "m", r"$L_0$"),
    "v_ov_v": ("Overdrive", "V_ov", "V", r"$V_{ov}$"),
    "n_slope": ("Subthreshold slope factor", "n", "", r"$n$"),
}
#: Design results in display order: key -> (symbol, unit).
RESULTS: dict[str, tuple[str, str]] = {
    "a_d_v_per_v": ("A_d", "V/V"), "r_out_ohm": ("R_out", "Ω"), "a_cm_v_per_v": ("A_cm", "V/V"),
    "cmrr_db": ("CMRR", "dB"), "f_3db_hz": ("f_−3dB", "Hz"), "f_t_hz": ("f_T", "Hz"), "gbw_hz": ("GBW", "Hz"),
}
MISMATCHES = ("gm_mismatch_fraction", "r_d_mismatch_fraction", "mirror_mismatch_fraction")
#: Largest max/min ratio of a positive range still drawn on a linear axis.
WIDE_RATIO = 10.0


def _input(key: str) -> tuple[str, str, str, str]:
    return INPUTS.get(key, (key, key, "", key))


def format_input(key: str, value, *, tex: bool = False) -> str:
    """``"C_L = 1 pF"``; an infinite tail resistance is ``"R_SS = ∞ (ideal tail)"``; ``tex``: mathtext symbols."""
    _, symbol, unit, tex_symbol = _input(key)
    symbol = tex_symbol if tex else symbol
    if key == "r_tail_ohm" and value in (math.inf, "inf"):
        return f"{symbol} = ∞ (ideal tail)"
    return f"{symbol} = {format_si(value, unit) if not isinstance(value, str) else value}"


def scenario(inputs: Mapping, *, exclude: Sequence[str] = (), polarity: str = "worst", tex: bool = False) -> str:
    """The fixed inputs of a design in one line (``tex``: mathtext symbols, for a figure title)."""
    order = [*INPUTS][:3] + [*INPUTS][9:] + [*INPUTS][3:9]  # devices, then circuit, then mismatches
    keys = sorted((k for k in inputs if k not in exclude and k != "load"),
                  key=lambda k: order.index(k) if k in order else len(order))
    parts = [format_input(k, inputs[k], tex=tex) for k in keys]
    if any(inputs.get(k) for k in MISMATCHES if k not in exclude) or any(k in MISMATCHES for k in exclude):
        parts.append({"worst": "worst-case", "best": "best-case", "given": "given"}[polarity] + " mismatch signs")
    return ", ".join(parts)


def _gain(row) -> str:
    a = row["a_d_v_per_v"]
    return f"{format_si(a, 'V/V')} ({20 * math.log10(a):.4g} dB)"


def _signs(row) -> str:
    used = [f"{INPUTS[k][1]} {float(row[k]) * 100:+.3g} %" for k in MISMATCHES if row.get(k)]
    return ", ".join(used) or "none"


def design_table(rows: Sequence[Mapping], sweep_key: str | None = None,
                 sweep_values: Sequence[float] = ()) -> tuple[list[str], list[dict]]:
    """``(columns, rows)`` of display strings for a text table of :func:`~frontend_models.diffpair.summarize` rows.

    Without ``sweep_key``: one column per design (its load), one row per
    quantity (the resolved g_m and r_o, the mismatch signs used, then
    :data:`RESULTS`). With it: one row per design, the swept value first
    (from ``sweep_values``, repeated for each load), and a load column when
    the rows hold more than one load.
    """
    loads = list(dict.fromkeys(r["load"] for r in rows))
    if sweep_key is None:
        lines = [("g_m", lambda r: format_si(r["gm_s"], "S")),
                 ("r_o,n", lambda r: format_si(r["ro_n_ohm"], "Ω")),
                 ("r_o,p", lambda r: "-" if r["load"] == "resistive" else format_si(r["ro_p_ohm"], "Ω")),
                 ("mismatch signs used", _signs), ("A_d", _gain)]
        lines += [(sym, lambda r, k=k, u=u: format_si(r[k], u)) for k, (sym, u) in RESULTS.items()
                  if k != "a_d_v_per_v"]
        return ["quantity", *loads], [{"quantity": name, **{r["load"]: show(r) for r in rows}}
                                      for name, show in lines]
    _, symbol, unit, _ = _input(sweep_key)
    head = f"{symbol}" + (f" ({unit})" if unit else "")
    columns = [head, *(["load"] if len(loads) > 1 else []), *(sym for sym, _ in RESULTS.values())]
    values = list(sweep_values) * len(loads)
    out = []
    for v, r in zip(values, rows):
        cells = {head: format_si(v, unit), "load": r["load"], "A_d": _gain(r)}
        cells.update({sym: format_si(r[k], u) for k, (sym, u) in RESULTS.items() if k != "a_d_v_per_v"})
        out.append(cells)
    return columns, out


def _display(values: np.ndarray, unit: str) -> tuple[float, str]:
    """(factor, unit with prefix) for an axis showing ``values`` (SI) in readable numbers."""
    return (100.0, "%") if unit == "%" else display_unit(values, unit)


def _wide(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return bool(v.size and np.all(v > 0) and v.max() >= WIDE_RATIO * v.min())


def _log_ticks(axis, values: np.ndarray, formatter) -> None:
    """Log axis labels with ``formatter``; at 1, 2, 5 x 10^k when ``values`` span less than three decades."""
    from matplotlib.ticker import LogLocator, NullFormatter

    if values.max() < 1e3 * values.min():
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(formatter)
    axis.set_minor_formatter(NullFormatter())


def _x_axis(ax, xs: np.ndarray) -> None:
    """Log x when the range is wide; ticks at the swept values when they are few, as plain numbers."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    if _wide(xs):
        ax.set_xscale("log")
    if xs.size <= 8:
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.4g}"))


def _series(x, named: dict) -> tuple[np.ndarray, dict]:
    """The checked x and ``{label: (gain, f_3db, gbw)}`` arrays."""
    xs = trace("x", x)
    first = named["gain_v_per_v"]
    if not first or any(set(d) != set(first) for d in named.values()):
        raise ValueError(f"gain_v_per_v, f_3db_hz and gbw_hz must name the same, non-empty designs; got "
                         f"{', '.join(str(sorted(d)) for d in named.values())}.")
    return xs, {label: tuple(trace(f"{name}[{label!r}]", d[label], xs.size) for name, d in named.items())
                for label in first}


@styled
def plot_design_sweep(x, gain_v_per_v: Mapping[str, np.ndarray], f_3db_hz: Mapping[str, np.ndarray],
                      gbw_hz: Mapping[str, np.ndarray], *, key: str, scenario: str = "", title=None, axes=None,
                      subtitle: str = ""):
    """Differential gain and bandwidth of designs against one swept input, with their GBW.

    Parameters
    ----------
    x : array, shape (n,)
        Values of the swept input, SI units (metres for ``l_m``, a fraction
        for a mismatch).
    gain_v_per_v, f_3db_hz, gbw_hz : dict of str to array, shape (n,)
        Per design (label, e.g. its load): the differential gain A_d (V/V),
        the -3 dB bandwidth and the gain-bandwidth product A_d f_-3dB (Hz).
    key : str
        The swept input's name (``"l_m"``, ``"r_tail_ohm"``, ...): sets the
        x label and its unit (:data:`INPUTS`).
    scenario : str
        The fixed inputs (:func:`scenario` with ``tex=True``), shown under the title.
    title : str or None
        None: ``"Differential pair: gain and bandwidth against <input>"``.
    axes : sequence of 2 Axes or None
        Gain panel and frequency panel.
    subtitle : str
        A further caption line under the scenario (e.g. the process or the source of the numbers).

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    A quantity is drawn on a log axis when its positive values span a factor
    of :data:`WIDE_RATIO` or more. The gain panel has a second axis in dB;
    frequencies carry SI prefixes on their ticks. For a single-pole stage
    GBW = A_d f_-3dB (facts.md section 4), so a flat GBW line shows gain
    traded for bandwidth; overlapping GBW lines are dashed out of phase so
    each stays visible.
    """
    import matplotlib as mpl
    from matplotlib.lines import Line2D
    from matplotlib.ticker import EngFormatter, FuncFormatter, MaxNLocator, NullLocator

    xs, series = _series(x, {"gain_v_per_v": gain_v_per_v, "f_3db_hz": f_3db_hz, "gbw_hz": gbw_hz})
    if axes is None:
        fig, axes = new_axes(2, 1, sharex=True, figsize=(7.0, 6.6))
    else:
        axes = given_axes("axes", axes, 2)
        fig = axes[0].figure
    gain_ax, freq_ax = axes
    description, _, unit, symbol = _input(key)
    kx, ux = _display(xs, unit)
    colors = [c["color"] for c, _ in zip(mpl.rcParams["axes.prop_cycle"](), series)]
    for i, (color, (label, (gain, f3, gbw))) in enumerate(zip(colors, series.items())):
        gain_ax.plot(xs * kx, gain, marker="o", color=color, label=label)
        freq_ax.plot(xs * kx, f3, marker="o", color=color)
        freq_ax.plot(xs * kx, gbw, color=color, gid="gbw", lw=1.6,
                     ls=(5.0 * i, (5.0, max(3.0, 5.0 * (len(series) - 1)))))
    gains = np.concatenate([s[0] for s in series.values()])
    freqs = np.concatenate([np.concatenate(s[1:]) for s in series.values()])
    for ax, values, formatter in ((gain_ax, gains, FuncFormatter(lambda v, _: f"{v:g}")),
                                  (freq_ax, freqs, EngFormatter(unit="Hz"))):
        if _wide(values):
            ax.set_yscale("log")
            _log_ticks(ax.yaxis, values[np.isfinite(values)], formatter)
    if not _wide(freqs):
        freq_ax.yaxis.set_major_formatter(EngFormatter(unit="Hz"))
    _x_axis(freq_ax, xs * kx)
    gain_db = gain_ax.secondary_yaxis("right", functions=(lambda v: 20 * np.log10(np.maximum(v, 1e-300)),
                                                          lambda d: 10 ** (d / 20)))
    db_lo, db_hi = 20 * np.log10(np.maximum(gain_ax.get_ylim(), 1e-300))
    gain_db.set_yticks([d for d in MaxNLocator(6).tick_values(db_lo, db_hi) if db_lo <= d <= db_hi])
    gain_db.yaxis.set_major_formatter(FuncFormatter(lambda d, _: f"{d:g}"))
    gain_db.yaxis.set_minor_locator(NullLocator())
    gain_db.set_ylabel("$A_d$ (dB)")
    gain_ax.set_ylabel("Differential gain $A_d$ (V/V)")
    gain_ax.set_title("Low-frequency differential gain")
    gain_ax.legend(title="load" if set(series) <= {"resistive", "active", "cascode"} else None, loc="best")
    freq_ax.set_ylabel("Frequency (Hz)")
    freq_ax.set_xlabel(f"{description} {symbol}" + (f" ({ux})" if ux else ""))
    freq_ax.set_title("−3 dB bandwidth (solid) and gain-bandwidth product (dashed)")
    freq_ax.legend(handles=[Line2D([], [], color="0.3", marker="o", label="$f_{-3\\,\\mathrm{dB}}$"),
                            Line2D([], [], color="0.3", ls="--", label="GBW = $A_d\\,f_{-3\\,\\mathrm{dB}}$")],
                   loc="best")
    head = f"Differential pair: gain and bandwidth against {description.lower()} {symbol}" if title is None else title
    fig.suptitle("\n".join([head, *wrap_parts(scenario.split(", ") if scenario else []),
                             *([subtitle] if subtitle else [])]))
    return fig
