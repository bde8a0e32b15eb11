"""The report style: colours per role, rc parameters, axes helpers, rendering and saving."""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Sequence
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
}

#: The report style, applied with ``matplotlib.rc_context`` around all drawing and saving.
STYLE: dict[str, object] = {
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "legend.fontsize": 8.0,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "lines.markersize": 5.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": "cycler('color', ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', "
                       "'#9467bd', '#8c564b', '#e377c2', '#17becf'])",
    "figure.constrained_layout.use": True,
    "savefig.dpi": 150.0,
    "svg.fonttype": "none",    # text stays text: smaller, searchable SVG
    "svg.hashsalt": "ecgfe",   # deterministic ids in SVG output
}

#: 1 mV peak-to-peak of a sine expressed in µV rms: 1e3 / (2 sqrt 2) = 353.55 µV.
ONE_MV_PP_IN_UV_RMS: float = 1e3 / (2.0 * math.sqrt(2.0))
#: Label for that limit line in sweep plots.
ONE_MV_PP_LABEL: str = "1 mV p-p limit (= 353.6 µV rms for a sine)"

MV_PER_V = 1e3
UV2_PER_V2 = 1e12


def styled(func):
    """Run ``func`` inside the report style."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper


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
    """Beat markers on the trace at the beat times that fall inside ``t_s``."""
    b = np.asarray(beats_s, dtype=float).ravel()
    b = b[(b >= t_s[0]) & (b <= t_s[-1])]
    style = {"source": dict(marker="o", mfc="none"), "detected": dict(marker="x")}[role]
    ax.plot(b, np.interp(b, t_s, v_mv), ls="none", color=COLORS[role], label=label,
            gid=f"beats-{role}", **style)


def display_scale(peak_v: float) -> tuple[float, str]:
    """(factor, unit) showing a peak of ``peak_v`` volts in V, mV or µV."""
    if peak_v >= 1.0:
        return 1.0, "V"
    return (1e3, "mV") if peak_v >= 1e-3 else (1e6, "µV")


def figure_bytes(fig, fmt: str) -> bytes:
    """Render ``fig`` in the report style as ``fmt`` (e.g. ``"png"``, ``"svg"``) bytes."""
    import matplotlib

    supported = fig.canvas.get_supported_filetypes()
    check_option("format", fmt, supported)
    buf = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format=fmt)
    return buf.getvalue()


def save_figure(fig, path_stem: str | Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Save ``fig`` as ``<path_stem>.<fmt>`` for each format; return the paths written.

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
