"""The report style: colours per role, rc parameters, display formatting, axes helpers, rendering and saving.

Every figure of ecgfe is drawn and saved inside :data:`STYLE`: PNG at
300 dpi, SVG with text kept as text, PDF with TrueType (Type 42) fonts
embedded, no offset notation on ticks. Numbers shown to a reader go through
:func:`format_si` (``"20 kΩ"``, ``"47 nF"``, ``"353.6 µV"``), scenario
lines through :func:`scenario_line`, and every figure puts its title and
that scenario line (the subtitle) in one place with :func:`set_titles`.
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from acquire._check import check_option
from acquire.output.files import atomic_write

#: One colour per role, the same in every figure.
COLORS: dict[str, str] = {
    "source": "#222222",     # clean source / reference
    "acquired": "#d62728",   # amplifier input with interference
    "recovered": "#1f77b4",  # output of the digital stages
    "detected": "#2ca02c",   # detected beats
    "limit": "#7f7f7f",      # standards' limit lines
    "mains": "#ff7f0e",      # mains frequency and harmonics
    "window": "#9467bd",     # measurement windows
}
#: Diverging colormap of the compliance matrix's margins in dB, centred at 0 dB (red fails, blue passes).
MARGIN_CMAP = "RdBu"
#: Fill of a saturated matrix cell (no margin: hatched grey, with the word).
SATURATED_COLOR = "#bdbdbd"

#: The report style, applied with ``matplotlib.rc_context`` around all drawing and saving.
STYLE: dict[str, object] = {
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "legend.fontsize": 8.0,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "figure.titlesize": 10.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "lines.markersize": 5.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": "cycler('color', ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', "
                       "'#9467bd', '#8c564b', '#e377c2', '#17becf'])",
    "axes.formatter.useoffset": False,   # never "+1.234e3" offsets on ticks
    "figure.constrained_layout.use": True,
    "savefig.dpi": 300.0,
    "pdf.fonttype": 42,        # TrueType fonts embedded in PDF
    "ps.fonttype": 42,
    "svg.fonttype": "none",    # text stays text: smaller, searchable SVG
    "svg.hashsalt": "ecgfe",   # deterministic ids in SVG output
}
#: Longest line of a legend label, characters (longer labels are wrapped).
LEGEND_WIDTH = 36
#: Formats :func:`save_figure` writes by default.
FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
#: Metadata that would change every run, removed so that files are reproducible.
_METADATA = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}

#: 1 mV peak-to-peak of a sine expressed in µV rms: 1e3 / (2 sqrt 2) = 353.55 µV.
ONE_MV_PP_IN_UV_RMS: float = 1e3 / (2.0 * math.sqrt(2.0))
#: Label for that limit line in sweep plots.
ONE_MV_PP_LABEL: str = "1 mV p-p limit (= 353.6 µV rms for a sine)"
#: Common-mode voltage of the standards' CMR test (IEC 60601-2-27, AAMI EC13), V rms.
CMR_TEST_V_RMS: float = 10.0

MV_PER_V = 1e3
UV2_PER_V2 = 1e12
#: SI prefixes by exponent.
PREFIXES = {-15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T"}
#: Units shown without an SI prefix (a gain of 5000 V/V, not 5 kV/V).
PLAIN_UNITS = ("", "V/V", "dB", "%", "V⁻¹", "bpm")
#: The IEC 60601-2-25/-27 electrode imbalance, (R_s, R_d, C_d).
IEC_IMBALANCE = (0.0, 51e3, 47e-9)


def styled(func):
    """Run ``func`` (which returns a Figure) inside the report style; no tick of the figure uses offset notation.

    Axes created inside the style already have no offsets; axes the caller
    made outside it (``ax=``) get them switched off too.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import matplotlib
        from matplotlib.ticker import ScalarFormatter

        with matplotlib.rc_context(STYLE):
            fig = func(*args, **kwargs)
        for axis in (a for ax in fig.axes for a in (ax.xaxis, ax.yaxis)):
            if isinstance(axis.get_major_formatter(), ScalarFormatter):
                axis.get_major_formatter().set_useOffset(False)
        return fig

    return wrapper


# --- numbers and words for readers ---------------------------------------------------------------

def si_exponent(v: float) -> int:
    """The SI prefix exponent (a multiple of 3, -15 to 12) that shows ``v`` as 1 to 999."""
    return max(-15, min(12, 3 * math.floor(math.log10(abs(v)) / 3))) if v else 0


def format_si(value, unit: str = "", digits: int = 4) -> str:
    """A number with an SI prefix and its unit: ``format_si(1.592e8, "Hz") == "159.2 MHz"``.

    Fractions (``unit="%"``) are shown in percent; gains, dB, V⁻¹ and
    dimensionless numbers without a prefix. ``None`` is ``"-"``; a string
    (``"inf"`` from a strict-JSON document) and non-finite numbers are shown
    as they are, with the unit.
    """
    if value is None:
        return "-"
    if isinstance(value, str) or not math.isfinite(float(value)):
        return f"{value} {unit}".strip()
    v = float(value) * (100.0 if unit == "%" else 1.0)
    if unit in PLAIN_UNITS:
        return f"{v:.{digits}g} {unit}".strip()
    exp = si_exponent(v)
    if abs(float(f"{v / 10 ** exp:.{digits}g}")) >= 1000 and exp < 12:  # 999.97 rounds to 1000
        exp += 3
    return f"{v / 10 ** exp:.{digits}g} {PREFIXES[exp]}{unit}"


def display_unit(values, unit: str) -> tuple[float, str]:
    """``(factor, prefixed unit)`` showing SI ``values`` as readable numbers (the largest as 1 to 999)."""
    if unit in PLAIN_UNITS:
        return 1.0, unit
    v = np.abs(np.asarray(values, dtype=float))
    v = v[np.isfinite(v) & (v > 0)]
    exp = si_exponent(float(v.max())) if v.size else 0
    return 10.0 ** -exp, PREFIXES[exp] + unit


def display_scale(peak_v: float) -> tuple[float, str]:
    """(factor, unit) showing a peak of ``peak_v`` volts in V, mV or µV."""
    if peak_v >= 1.0:
        return 1.0, "V"
    return (1e3, "mV") if peak_v >= 1e-3 else (1e6, "µV")


def unit_text(text: str) -> str:
    """``text`` with the ASCII stand-in ``uV`` written as ``µV``."""
    return str(text).replace("uV", "µV")


def format_range(t0: float, t1: float, unit: str = "s") -> str:
    """``"9.0–12.0 s"``: a range rounded to the decimals its width needs (one at least)."""
    width = abs(t1 - t0)
    decimals = max(1, -math.floor(math.log10(width)) + 1) if width > 0 else 1
    return f"{t0:.{decimals}f}–{t1:.{decimals}f} {unit}"


def format_imbalance(value) -> str:
    """An electrode imbalance for a reader: ``"IEC 51 kΩ ∥ 47 nF"``, ``"20 kΩ"``, ``"0 Ω"``.

    ``value`` is what ``electrodes.imbalance`` accepts: ``"iec"``, ohms (a
    number or a numeric string), a mapping with ``r_s_ohm``, ``r_d_ohm``,
    ``c_d_f``, or an object with those attributes.
    """
    if isinstance(value, str):
        if value.lower() == "iec":
            return f"IEC {format_si(IEC_IMBALANCE[1], 'Ω')} ∥ {format_si(IEC_IMBALANCE[2], 'F')}"
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, (int, float)):
        return format_si(value, "Ω")
    get = value.get if isinstance(value, Mapping) else functools.partial(getattr, value)
    r_s, r_d, c_d = (float(get(k, 0.0) or 0.0) for k in ("r_s_ohm", "r_d_ohm", "c_d_f"))
    parts = ([format_si(r_s, "Ω")] if r_s else []) + ([f"{format_si(r_d, 'Ω')} ∥ {format_si(c_d, 'F')}" if c_d
                                                      else format_si(r_d, "Ω")] if r_d else [])
    text = " + ".join(parts) or "0 Ω"
    return f"IEC {text}" if (r_s, r_d, c_d) == IEC_IMBALANCE else text


def scenario_line(*, preset=None, mains_hz=None, cm_v_rms=None, imbalance=None, record=None, channel=None,
                  extra: Sequence[str] = ()) -> str:
    """The scenario of a figure in one line, for its subtitle.

    ``scenario_line(preset="ina128", mains_hz=60, cm_v_rms=1.12, imbalance="iec", record="mitdb/100",
    channel="MLII")`` is ``"ina128 · 60 Hz mains, 1.12 V rms common mode · imbalance IEC 51 kΩ ∥ 47 nF ·
    mitdb/100, channel MLII"``. Parts left None are omitted; ``extra`` parts are appended.
    """
    mains = ", ".join(p for p in (f"{mains_hz:g} Hz mains" if mains_hz is not None else "",
                                  f"{format_si(cm_v_rms, 'V', 3)} rms common mode" if cm_v_rms is not None else "")
                      if p)
    source = ", ".join(p for p in (str(record) if record is not None else "",
                                   f"channel {channel}" if channel is not None else "") if p)
    parts = [str(preset) if preset is not None else "", mains,
             f"imbalance {format_imbalance(imbalance)}" if imbalance is not None else "", source, *extra]
    return " · ".join(unit_text(p) for p in parts if p)


def cmr_limit_uv_rms(cm_v_rms: float = CMR_TEST_V_RMS) -> tuple[float, str]:
    """The standards' 1 mV p-p CMR limit scaled to a common mode of ``cm_v_rms``: ``(µV rms, label)``.

    The limit belongs to the 10 V rms test; for another common mode it is
    scaled in proportion (a residual proportional to v_cm), and the label
    says so.
    """
    value = ONE_MV_PP_IN_UV_RMS * float(cm_v_rms) / CMR_TEST_V_RMS
    if math.isclose(cm_v_rms, CMR_TEST_V_RMS):
        return value, f"{ONE_MV_PP_LABEL} at {CMR_TEST_V_RMS:g} V rms"
    return value, (f"limit {value:.4g} µV rms: 1 mV p-p at {CMR_TEST_V_RMS:g} V rms, scaled to "
                   f"{format_si(cm_v_rms, 'V', 3)} rms")


def record_label(source: Mapping) -> str:
    """A run's source for a reader: ``"mitdb/100"``, ``"synthetic (ECGSYN)"`` (from its provenance)."""
    if "record" in source:
        return f"{source['database']}/{source['record']}" if source.get("database") else str(source["record"])
    if "generator" in source:
        return f"synthetic ({str(source['generator']).upper()})"
    return Path(str(source.get("path", "source"))).name


def result_text(result) -> str:
    """One line stating a compliance result as the table does (4 significant digits).

    ``result`` is a row (mapping or object) with ``measured``, ``limit``,
    ``unit``, ``relation``, ``margin``, ``margin_db`` and ``verdict``; a
    saturated row has no measured value and says so.
    """
    get = result.get if isinstance(result, Mapping) else functools.partial(getattr, result)
    unit = unit_text(get("unit", ""))
    verdict = get("verdict", None) or ("pass" if get("passed", False) else "fail")
    limit = f"limit {get('relation', '<=')} {get('limit'):.4g} {unit}".replace("<=", "≤").replace(">=", "≥")
    if verdict == "saturated":  # a clipped device's output is not its response: no measured value
        return f"measured: saturated (a stage clipped), {limit}: no margin"
    text = f"measured {get('measured'):.4g} {unit}, {limit}"
    margin_db = get("margin_db", None)
    margin = (f"margin {margin_db:+.4g} dB" if margin_db is not None and math.isfinite(margin_db)
              else f"margin {get('margin'):+.4g} {unit}" if get("margin", None) is not None else "")
    return f"{text}; {margin}: {verdict}" if margin else f"{text}: {verdict}"


def wrap_parts(parts: Sequence[str], width: int = 95, sep: str = ", ") -> list[str]:
    """Lines of at most about ``width`` characters, joining ``parts`` with ``sep`` (never breaking one)."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + len(part) + len(sep) <= width:
            lines[-1] += sep + part
        else:
            lines.append(part)
    return lines


def set_titles(target, title: str, subtitle: str = "") -> None:
    """The title on ``target`` (a Figure: its suptitle; an Axes: its title) and the subtitle as the figure's caption.

    The subtitle (the scenario, :func:`scenario_line`) is the figure's
    caption under all its axes (``Figure.supxlabel``, in a smaller grey
    font), wrapped to the figure's width between its `` · `` parts, so that
    every figure states its scenario in the same place and a long line is
    never clipped.
    """
    fig = target if hasattr(target, "suptitle") else target.figure
    if title:
        (fig.suptitle if target is fig else target.set_title)(title)
    if subtitle:
        width = max(40, int(fig.get_figwidth() * 14))  # characters of 8 pt text per inch, about
        fig.supxlabel("\n".join(wrap_parts(subtitle.split(" · "), width=width, sep=" · ")), fontsize=8.0,
                      color="0.3")


# --- axes ------------------------------------------------------------------------------------------

def new_axes(nrows: int = 1, ncols: int = 1, **kwargs):
    """A new figure with an ``nrows`` x ``ncols`` grid of axes (flattened list)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", (7.0, 3.2 * nrows)))
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, list(axes.ravel())


def given_axes(param: str, axes, n: int) -> list:
    """Check that ``axes`` holds exactly ``n`` matplotlib Axes; return them as a list."""
    axes = list(np.ravel(np.asarray(axes, dtype=object)))
    if len(axes) != n or not all(hasattr(a, "plot") for a in axes):
        raise ValueError(f"{param} must be a sequence of {n} matplotlib Axes; got {len(axes)} "
                         f"item(s) of type {sorted({type(a).__name__ for a in axes})}.")
    return axes


def one_axes(ax):
    """``(figure, ax)``: the given axes' figure, or a new single-axes figure."""
    if ax is None:
        fig, (ax,) = new_axes()
        return fig, ax
    return given_axes("ax", [ax], 1)[0].figure, ax


def axes_or_new(axes, n: int, **kwargs):
    """``(figure, axes)``: the ``n`` given axes and their figure, or a new ``n`` x 1 figure (``kwargs``)."""
    if axes is None:
        return new_axes(n, 1, **kwargs)
    axes = given_axes("axes", axes, n)
    return axes[0].figure, axes


def legend_outside(ax, handles=None, **kwargs):
    """A legend right of ``ax``, where it cannot cover data, its labels wrapped to :data:`LEGEND_WIDTH` characters.

    ``handles``: the artists to name (default: every labelled artist of
    ``ax``). Returns the legend, or None when there is nothing to name.
    """
    import textwrap

    handles = ax.get_legend_handles_labels()[0] if handles is None else list(handles)
    if not handles:
        return None
    # a number keeps its unit on its line: the spaces in "10 V rms" are protected while wrapping
    labels = [textwrap.fill(re.sub(r"(?<=\d) | (?=rms\b|p-p\b)", "\u00a0", h.get_label()), LEGEND_WIDTH,
                            break_long_words=False).replace("\u00a0", " ") for h in handles]
    return ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


def plain_log_axis(axis, values=None) -> None:
    """A log axis labelled with plain numbers (``"100"``, not ``"10²"``), at 1-2-5 steps over a narrow range."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    v = np.asarray([] if values is None else values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size and v.max() < 1e3 * v.min():
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.6g}"))
    axis.set_minor_formatter(NullFormatter())


def limit_line(ax, value: float, label: str, *, vertical: bool = False):
    """A dashed limit line (``gid="limit"``), horizontal at y = ``value`` or vertical at x = ``value``."""
    draw = ax.axvline if vertical else ax.axhline
    return draw(float(value), color=COLORS["limit"], ls="--", lw=1.2, label=label, gid="limit")


def trace(param: str, v, n: int | None = None) -> np.ndarray:
    """A 1-D float trace (a single-channel ``(1, n)`` array is accepted) of length ``n``."""
    a = np.asarray(v, dtype=float)
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 1 or (n is not None and a.size != n):
        want = f"length {n}" if n is not None else "1-D"
        raise ValueError(f"{param} must be a 1-D array ({want}) or a (1, n) array; "
                         f"got shape {a.shape}.")
    return a


def role_color(label: str) -> str | None:
    """The colour of the signal role (source, acquired, recovered) named in ``label``, else None."""
    low = label.lower()
    return next((COLORS[r] for r in ("source", "acquired", "recovered") if r in low), None)


def mark_beats(ax, t_s, v_mv, beats_s, *, role: str, label: str) -> None:
    """Beat markers at the beat times that fall inside ``t_s``.

    Reference beats (``role="source"``) are circles on the trace; detected
    beats (``"detected"``) are triangles along the top of the axes at the
    detector's times, which need not lie on a peak (its fiducial point).
    """
    b = np.asarray(beats_s, dtype=float).ravel()
    b = b[(b >= t_s[0]) & (b <= t_s[-1])]
    if role == "detected":
        ax.plot(b, np.full(b.size, 0.97), ls="none", marker="v", color=COLORS[role], label=label,
                gid=f"beats-{role}", transform=ax.get_xaxis_transform())
        return
    ax.plot(b, np.interp(b, t_s, v_mv), ls="none", marker="o", mfc="none", color=COLORS[role], label=label,
            gid=f"beats-{role}")


# --- files -----------------------------------------------------------------------------------------

def figure_bytes(fig, fmt: str) -> bytes:
    """Render ``fig`` in the report style as ``fmt`` (``"png"`` at 300 dpi, ``"svg"``, ``"pdf"``) bytes."""
    import matplotlib

    supported = fig.canvas.get_supported_filetypes()
    check_option("format", fmt, supported)
    buf = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format=fmt, metadata=_METADATA.get(fmt))
    return buf.getvalue()


def save_figure(fig, path_stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Save ``fig`` as ``<path_stem>.<fmt>`` for each format (PNG, SVG and PDF by default); return the paths.

    Every format is rendered before any file is written, and each file is
    written to a temporary name in the same directory and renamed when
    complete (:func:`atomic_write`), so an error never leaves a truncated
    file that looks valid.
    """
    if isinstance(formats, str):
        raise TypeError(f"formats must be a sequence of format names such as ('png', 'svg'); "
                        f"got the string {formats!r}.")
    stem = Path(path_stem)
    rendered = {fmt: figure_bytes(fig, fmt) for fmt in formats}
    return [atomic_write(stem.with_name(f"{stem.name}.{fmt}"), data)
            for fmt, data in rendered.items()]
