"""Figures for reports: the only module of ecgfe that plots.

Every function takes plain numpy arrays in SI units (volts, seconds, hertz)
and dicts, draws into ``ax=`` (or ``axes=`` for multi-panel figures) when
given, else into a new figure, and returns the :class:`~matplotlib.figure.Figure`.
Amplitudes are converted to mV or µV for display only. All drawing happens
inside one report style (:data:`STYLE`) with one colour per role
(:data:`COLORS`). matplotlib is imported inside the functions, so importing
``acquire`` never initialises it (MNE-Python and python-control do the same).
"""

from __future__ import annotations

import functools
import io
import math
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from acquire._check import check_option, check_positive

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

_MV_PER_V = 1e3
_UV2_PER_V2 = 1e12


def _styled(func):
    """Run ``func`` inside the report style."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper


def _new_axes(nrows: int = 1, ncols: int = 1, **kwargs):
    """A new figure with an ``nrows`` x ``ncols`` grid of axes (flattened list)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", (7.0, 3.2 * nrows)))
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, list(axes.ravel())


def _given_axes(param: str, axes, n: int) -> list:
    """Check that ``axes`` holds exactly ``n`` matplotlib Axes; return them as a list."""
    axes = list(np.ravel(np.asarray(axes, dtype=object)))
    if len(axes) != n or not all(hasattr(a, "plot") for a in axes):
        raise ValueError(f"{param} must be a sequence of {n} matplotlib Axes; got {len(axes)} "
                         f"item(s) of type {sorted({type(a).__name__ for a in axes})}.")
    return axes


def _one_axes(ax):
    """``(figure, ax)``: the given axes' figure, or a new single-axes figure."""
    if ax is None:
        fig, (ax,) = _new_axes()
        return fig, ax
    return _given_axes("ax", [ax], 1)[0].figure, ax


def _trace(param: str, v, n: int | None = None) -> np.ndarray:
    """A 1-D float trace (a single-channel ``(1, n)`` array is accepted) of length ``n``."""
    a = np.asarray(v, dtype=float)
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 1 or (n is not None and a.size != n):
        want = f"length {n}" if n is not None else "1-D"
        raise ValueError(f"{param} must be a 1-D array ({want}) or a (1, n) array; "
                         f"got shape {a.shape}.")
    return a


def _role_color(label: str) -> str | None:
    """The colour of the signal role (source, acquired, recovered) named in ``label``, else None."""
    low = label.lower()
    return next((COLORS[r] for r in ("source", "acquired", "recovered") if r in low), None)


def _mark_beats(ax, t_s, v_mv, beats_s, *, role: str, label: str) -> None:
    """Beat markers on the trace at the beat times that fall inside ``t_s``."""
    b = np.asarray(beats_s, dtype=float).ravel()
    b = b[(b >= t_s[0]) & (b <= t_s[-1])]
    style = {"source": dict(marker="o", mfc="none"), "detected": dict(marker="x")}[role]
    ax.plot(b, np.interp(b, t_s, v_mv), ls="none", color=COLORS[role], label=label,
            gid=f"beats-{role}", **style)


@_styled
def plot_time_panel(t_s, source_v, acquired_v, recovered_v, *, ref_beats_s=None,
                    detected_beats_s=None, zoom_s=None, title="ECG acquisition", axes=None):
    """Clean source, acquired input and recovered output, stacked, plus a zoom.

    Parameters
    ----------
    t_s : array, shape (n_samples,)
        Common time axis, s.
    source_v, acquired_v, recovered_v : array, shape (n_samples,) or (1, n_samples)
        Clean source ECG, amplifier input with interference (input-referred)
        and recovered output (input-referred), V. Shown in mV.
    ref_beats_s, detected_beats_s : array or None
        Reference and detected beat times, s: marked on the source and the
        recovered panel respectively, and both in the zoom.
    zoom_s : (float, float) or None
        Zoom window (t0, t1) in s; None shows the first 3 s (or all, if shorter).
    title : str
        Figure title.
    axes : sequence of 4 Axes or None
        Axes for source, acquired, recovered and zoom; None makes a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    t = _trace("t_s", t_s)
    traces = {role: _trace(f"{role}_v", v, t.size) * _MV_PER_V
              for role, v in (("source", source_v), ("acquired", acquired_v),
                              ("recovered", recovered_v))}
    z = np.ravel(np.asarray([t[0], min(t[0] + 3.0, t[-1])] if zoom_s is None else zoom_s,
                            dtype=float))
    if z.size != 2 or not (t[0] <= z[0] < z[1] <= t[-1]):
        raise ValueError(f"zoom_s must be (t0, t1) with {t[0]:g} <= t0 < t1 <= {t[-1]:g} s; "
                         f"got {zoom_s!r}.")
    t0, t1 = z
    if axes is None:
        fig, axes = _new_axes(4, 1, figsize=(8.0, 9.0))
        for ax in axes[1:3]:
            ax.sharex(axes[0])
    else:
        axes = _given_axes("axes", axes, 4)
        fig = axes[0].figure
    panel_titles = {"source": "Clean source (reference)",
                    "acquired": "Acquired input with interference",
                    "recovered": "Recovered output"}
    for ax, (role, v) in zip(axes, traces.items()):
        ax.plot(t, v, color=COLORS[role], label=role)
        ax.set_title(panel_titles[role])
    if ref_beats_s is not None:
        _mark_beats(axes[0], t, traces["source"], ref_beats_s, role="source",
                    label="reference beats")
    if detected_beats_s is not None:
        _mark_beats(axes[2], t, traces["recovered"], detected_beats_s, role="detected",
                    label="detected beats")
    zoom = axes[3]
    keep = (t >= t0) & (t <= t1)
    for role, v in traces.items():
        zoom.plot(t[keep], v[keep], color=COLORS[role], label=role,
                  alpha=0.5 if role == "acquired" else 1.0)
    if ref_beats_s is not None:
        _mark_beats(zoom, t[keep], traces["source"][keep], ref_beats_s, role="source",
                    label="reference beats")
    if detected_beats_s is not None:
        _mark_beats(zoom, t[keep], traces["recovered"][keep], detected_beats_s,
                    role="detected", label="detected beats")
    zoom.set_title(f"Zoom {t0:g} to {t1:g} s")
    zoom.legend(loc="upper right", ncols=2)
    for ax in axes:
        ax.set_xlabel("Time (s)")
        ax.set_ylabel("Amplitude (mV)")
    fig.suptitle(title)
    return fig


@_styled
def plot_psd(fs_hz, signals: Mapping[str, np.ndarray], *, mains_hz, n_harmonics=3,
             nperseg=None, title="Power spectral density", ax=None):
    """Welch PSD of each signal, in dB re 1 µV²/Hz, with mains and harmonics marked.

    Parameters
    ----------
    fs_hz : float
        Sampling rate of every signal, Hz.
    signals : dict of str to array, shape (n_samples,)
        Label -> signal in V (e.g. ``{"acquired": x, "recovered": y}``). A label
        containing a role name (source, acquired, recovered) gets its colour.
    mains_hz : float
        Mains frequency, Hz: vertical lines at ``k * mains_hz`` for
        ``k = 1..n_harmonics`` below Nyquist.
    n_harmonics : int
        Number of mains lines (fundamental included).
    nperseg : int or None
        Welch segment length; None uses 4 s (0.25 Hz resolution) or the whole
        signal if shorter.
    title : str
    ax : Axes or None

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    ``scipy.signal.welch`` with a Hann window and density scaling, so that
    the PSD integrates to the signal's variance (Parseval). Displayed as
    ``10 log10(P / 1 µV²/Hz)``.
    """
    from scipy.signal import welch

    fs_hz = check_positive("fs_hz", fs_hz)
    mains_hz = check_positive("mains_hz", mains_hz)
    if not isinstance(n_harmonics, int) or n_harmonics < 1:
        raise ValueError(f"n_harmonics must be an int >= 1; got {n_harmonics!r}.")
    if not signals:
        raise ValueError("signals must hold at least one label -> array; got an empty dict.")
    fig, ax = _one_axes(ax)
    for label, x in signals.items():
        x = _trace(f"signals[{label!r}]", x)
        seg = min(x.size, round(4.0 * fs_hz)) if nperseg is None else int(nperseg)
        f, p_v2_per_hz = welch(x, fs=fs_hz, nperseg=seg)
        with np.errstate(divide="ignore"):
            ax.plot(f, 10.0 * np.log10(p_v2_per_hz * _UV2_PER_V2), label=label,
                    color=_role_color(label))
    for k in range(1, n_harmonics + 1):
        if k * mains_hz < fs_hz / 2:
            ax.axvline(k * mains_hz, color=COLORS["mains"], ls=":", lw=0.8, gid="mains",
                       label=f"mains {mains_hz:g} Hz and harmonics" if k == 1 else "_nolegend_")
    ax.set_xlim(0.0, fs_hz / 2)
    ax.set_xlabel("Frequency (Hz)")
    ax.set_ylabel("PSD (dB re 1 µV²/Hz)")
    ax.set_title(title)
    ax.legend(loc="upper right")
    return fig


@_styled
def plot_bode(f_hz, diff_gain, cm_gain, *, cmrr_eff_db=None, title="Amplifier gains and CMRR",
              axes=None):
    """|A_d|, |A_cm| and CMRR = |A_d|/|A_cm| in dB against frequency.

    Parameters
    ----------
    f_hz : array, shape (n,)
        Frequencies, Hz (> 0; log axis).
    diff_gain, cm_gain : complex array, shape (n,)
        Differential and common-mode gains, V/V.
    cmrr_eff_db : array, shape (n,), or None
        Effective CMRR including the electrode-imbalance CM-to-DM conversion,
        dB, drawn on the CMRR panel.
    title : str
    axes : sequence of 2 Axes or None
        Gain panel and CMRR panel; None makes a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    ``CMRR(f) = 20 log10(|A_d(f)| / |A_cm(f)|)`` dB; an ideal ``A_cm = 0``
    gives an infinite CMRR, which is not drawn.
    """
    f = _trace("f_hz", f_hz)
    if np.any(f <= 0):
        raise ValueError(f"f_hz must be > 0 for a log axis; got min {f.min():g} Hz.")
    ad = np.abs(np.asarray(diff_gain).ravel())
    acm = np.abs(np.asarray(cm_gain).ravel())
    for name, a in (("diff_gain", ad), ("cm_gain", acm)):
        if a.size != f.size:
            raise ValueError(f"{name} must have the length of f_hz ({f.size}); got {a.size}.")
    if axes is None:
        fig, axes = _new_axes(2, 1, sharex=True, figsize=(7.0, 6.0))
    else:
        axes = _given_axes("axes", axes, 2)
        fig = axes[0].figure
    gain_ax, cmrr_ax = axes
    with np.errstate(divide="ignore"):
        gain_ax.semilogx(f, 20 * np.log10(ad), label="|A_d| differential",
                         color=COLORS["recovered"])
        gain_ax.semilogx(f, 20 * np.log10(acm), label="|A_cm| common mode",
                         color=COLORS["acquired"])
        cmrr_ax.semilogx(f, 20 * np.log10(ad / acm), label="CMRR amplifier",
                         color=COLORS["source"], gid="cmrr")
    if cmrr_eff_db is not None:
        cmrr_ax.semilogx(f, _trace("cmrr_eff_db", cmrr_eff_db, f.size), ls="--",
                         color=COLORS["mains"], label="CMRR_eff with electrode imbalance",
                         gid="cmrr_eff")
    gain_ax.set_ylabel("Gain (dB re 1 V/V)")
    gain_ax.set_title("Differential and common-mode gain")
    cmrr_ax.set_ylabel("CMRR (dB)")
    cmrr_ax.set_title("Common-mode rejection ratio")
    for ax in axes:
        ax.set_xlabel("Frequency (Hz)")
        ax.legend(loc="best")
    fig.suptitle(title)
    return fig


@_styled
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
    xs = _trace("x", x)
    if not series:
        raise ValueError("series must hold at least one label -> array; got an empty dict.")
    fig, ax = _one_axes(ax)
    for label, y in series.items():
        ax.plot(xs, _trace(f"series[{label!r}]", y, xs.size), marker="o", label=label,
                color=_role_color(label))
    if limit is not None:
        ax.axhline(float(limit), color=COLORS["limit"], ls="--", label=limit_label, gid="limit")
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title if title is not None else f"{ylabel} against {xlabel}")
    ax.legend(loc="best")
    return fig


@_styled
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
    xs = _trace("x", x)
    fig, ax = _one_axes(ax)
    for name, y, color, marker in (("Se", se, COLORS["recovered"], "o"),
                                   ("+P", ppv, COLORS["detected"], "s")):
        y = _trace(name, y, xs.size)
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


@_styled
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
        fig, axes = _new_axes(1, len(metrics), figsize=(3.0 * len(metrics) + 1.0, 3.6))
    else:
        axes = _given_axes("axes", axes, len(metrics))
        fig = axes[0].figure
    import matplotlib as mpl

    colors = [c["color"] for c, _ in zip(mpl.rcParams["axes.prop_cycle"](), names)]
    pos = np.arange(len(names))
    for ax, (label, values) in zip(axes, metrics.items()):
        v = _trace(f"metrics[{label!r}]", values, len(names))
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


def _display_scale(peak_v: float) -> tuple[float, str]:
    """(factor, unit) showing a peak of ``peak_v`` volts in V, mV or µV."""
    if peak_v >= 1.0:
        return 1.0, "V"
    return (1e3, "mV") if peak_v >= 1e-3 else (1e6, "µV")


@_styled
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
    t = _trace("t_s", t_s)
    vin = _trace("input_v", input_v, t.size)
    vout = _trace("output_v", output_v, t.size)
    if axes is None:
        fig, axes = _new_axes(2, 1, sharex=True, figsize=(7.0, 5.5))
    else:
        axes = _given_axes("axes", axes, 2)
        fig = axes[0].figure
    in_ax, out_ax = axes
    k, unit = _display_scale(float(np.max(np.abs(vin))))
    in_ax.plot(t, vin * k, color=COLORS["acquired"], label="test input")
    in_ax.set_ylabel(f"Input ({unit})")
    in_ax.set_title("Applied test signal")
    pp_v = float(np.ptp(vout))
    out_ax.plot(t, vout * _MV_PER_V, color=COLORS["recovered"],
                label=f"output RTI (p-p {pp_v * _MV_PER_V:.4g} mV)")
    centre_v = 0.5 * (vout.max() + vout.min()) if limit_kind == "pp" else 0.0
    half_v = limit_v / 2 if limit_kind == "pp" else limit_v
    text = f"limit {limit_v * _MV_PER_V:.4g} mV {'p-p' if limit_kind == 'pp' else 'peak'}"
    for sign in (1, -1):
        out_ax.axhline((centre_v + sign * half_v) * _MV_PER_V, color=COLORS["limit"], ls="--",
                       gid="limit", label=text if sign == 1 else "_nolegend_")
    out_ax.set_ylabel("Output RTI (mV)")
    out_ax.set_title("Output against the limit")
    for ax in axes:
        ax.set_xlabel("Time (s)")
        ax.legend(loc="upper right")
    fig.suptitle(title)
    return fig


def figure_bytes(fig, fmt: str) -> bytes:
    """Render ``fig`` in the report style as ``fmt`` (e.g. ``"png"``, ``"svg"``) bytes."""
    import matplotlib

    supported = fig.canvas.get_supported_filetypes()
    check_option("format", fmt, supported)
    buf = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format=fmt)
    return buf.getvalue()


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place.

    A reader never sees a half-written file: on any error the temporary
    file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
    try:
        with open(tmp, "xb") as fh:  # not mkstemp: keep the umask's permissions, not 0600
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


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
