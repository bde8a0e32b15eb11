"""Time panels: source, acquired input and recovered output of each channel, an overview and zooms."""

from __future__ import annotations

import numpy as np

from acquire.output.figures.style import (COLORS, MV_PER_V, format_range, format_si, given_axes, legend_outside,
                                          mark_beats, set_titles, styled, trace)

#: Records longer than this get zooms at their start, middle and end, s.
LONG_RECORD_S = 60.0
#: Width of a default zoom window, s.
ZOOM_WIDTH_S = 3.0
#: Most points drawn per trace in an overview; a longer trace is drawn as its min/max envelope.
OVERVIEW_POINTS = 4000
#: Most beats marked in an overview (more would be a smear; the zooms mark every beat).
MAX_MARKED_BEATS = 60
#: The acquired input is drawn to its full range when that is at most this many times the others'.
ACQUIRED_RANGE_FACTOR = 5.0
ROLES = ("source", "acquired", "recovered")
LABELS = {"source": "source reference", "acquired": "acquired input", "recovered": "recovered output"}


def zoom_windows(t0_s: float, t1_s: float, *, first_s: float | None = None,
                 width_s: float = ZOOM_WIDTH_S) -> list[tuple[float, float]]:
    """Default zoom windows of a record spanning ``t0_s`` to ``t1_s``.

    Parameters
    ----------
    t0_s, t1_s : float
        First and last sample time, s.
    first_s : float or None
        Start of the first zoom (e.g. after the settling time); None: ``t0_s``.
        Moved back when the window would pass the end.
    width_s : float
        Width of each window, s (the whole record when shorter).

    Returns
    -------
    list of (float, float)
        One window; for records longer than :data:`LONG_RECORD_S`, three:
        the first, the middle and the end of the record.
    """
    w = min(width_s, t1_s - t0_s)
    start = t0_s if first_s is None else max(t0_s, min(first_s, t1_s - w))
    windows = [(start, start + w)]
    if t1_s - t0_s > LONG_RECORD_S:
        mid = 0.5 * (t0_s + t1_s) - w / 2
        windows += [(mid, mid + w), (t1_s - w, t1_s)]
    return windows


def _channels(param: str, v, n: int) -> np.ndarray:
    """A ``(n_channels, n)`` float array from a 1-D trace or a 2-D array."""
    a = np.asarray(v, dtype=float)
    a = a[None, :] if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[1] != n:
        raise ValueError(f"{param} must be a 1-D array of length {n} or a (n_channels, {n}) array; "
                         f"got shape {np.shape(v)}.")
    return a


def _zooms(zoom_s, t: np.ndarray) -> list[tuple[float, float]]:
    """The checked zoom windows: None (defaults), one ``(t0, t1)`` or a sequence of them."""
    if zoom_s is None:
        return zoom_windows(float(t[0]), float(t[-1]))
    z = np.asarray(zoom_s, dtype=float)
    z = z[None, :] if z.ndim == 1 else z
    if z.ndim != 2 or z.shape[1] != 2 or z.shape[0] < 1 or not all(t[0] <= a < b <= t[-1] for a, b in z):
        raise ValueError(f"zoom_s must be (t0, t1) or a sequence of (t0, t1) with {t[0]:g} <= t0 < t1 <= "
                         f"{t[-1]:g} s; got {zoom_s!r}.")
    return [(float(a), float(b)) for a, b in z]


def _per_channel(param: str, beats, n_ch: int) -> list:
    """Beat times for each channel: one array for all, or a sequence of ``n_ch`` arrays (None: no markers)."""
    if beats is None:
        return [None] * n_ch
    if len(beats) and all(np.ndim(b) == 1 for b in beats):
        if len(beats) != n_ch:
            raise ValueError(f"{param} must be one array of beat times or one per channel ({n_ch}); "
                             f"got {len(beats)} arrays.")
        return list(beats)
    return [beats] * n_ch


def _envelope(t: np.ndarray, v: np.ndarray, n_points: int = OVERVIEW_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(t, v)`` itself when short, else its min/max per bin, interleaved (looks the same, draws fast)."""
    if t.size <= n_points:
        return t, v
    starts = np.linspace(0, t.size, n_points // 2, endpoint=False).astype(int)
    lo, hi = np.minimum.reduceat(v, starts), np.maximum.reduceat(v, starts)
    return np.repeat(t[starts], 2), np.column_stack([lo, hi]).ravel()


def _view(traces: dict, keep: np.ndarray) -> tuple[tuple[float, float], bool]:
    """y limits over ``keep`` from source and recovered, and whether the acquired input fits in them."""
    core = np.concatenate([traces[r][keep] for r in ("source", "recovered")])
    lo, hi = float(np.min(core)), float(np.max(core))
    acq = traces["acquired"][keep]
    fits = np.ptp(acq) <= ACQUIRED_RANGE_FACTOR * max(hi - lo, 1e-9)
    if fits:
        lo, hi = min(lo, float(acq.min())), max(hi, float(acq.max()))
    pad = 0.08 * max(hi - lo, 1e-6)
    return (lo - pad, hi + 2 * pad), bool(fits)  # room at the top for the detected-beat markers


def _draw(ax, t, traces, keep, beats, *, overview: bool) -> bool:
    """The three traces over ``keep`` (acquired behind) with beat markers; True when acquired fits the view."""
    tt = t[keep]
    for role in ("acquired", "source", "recovered"):
        x, y = _envelope(tt, traces[role][keep]) if overview else (tt, traces[role][keep])
        ax.plot(x, y, color=COLORS[role], alpha=0.45 if role == "acquired" else 1.0, label=LABELS[role],
                gid=f"trace-{role}", lw=0.8 if overview else 1.0)
    for role, on, b in (("source", "source", beats[0]), ("detected", "recovered", beats[1])):
        b = None if b is None else np.asarray(b, dtype=float).ravel()
        if b is not None and (not overview or np.count_nonzero((b >= tt[0]) & (b <= tt[-1])) <= MAX_MARKED_BEATS):
            mark_beats(ax, tt, traces[on][keep], b, role=role,
                       label="reference beats" if role == "source" else "detected beats")
    ylim, fits = _view(traces, keep)
    ax.set_ylim(*ylim)
    ax.set_xlabel("Time (s)")
    return fits


def _layout(n_ch: int, n_zoom: int, axes):
    """``(figure, [[overview, zoom, ...] per channel])``: a new grid, or the given axes in that order."""
    per = 1 + n_zoom
    if axes is not None:
        axes = given_axes("axes", axes, n_ch * per)
        return axes[0].figure, [axes[c * per:(c + 1) * per] for c in range(n_ch)]
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 2.6 * 2 * n_ch + 0.4))
    gs = fig.add_gridspec(2 * n_ch, n_zoom)
    rows = []
    for c in range(n_ch):
        overview = fig.add_subplot(gs[2 * c, :])
        first = fig.add_subplot(gs[2 * c + 1, 0])
        rows.append([overview, first, *(fig.add_subplot(gs[2 * c + 1, j], sharey=first)
                                        for j in range(1, n_zoom))])
    return fig, rows


def _offsets(traces_v: dict, c: int) -> tuple[dict, str]:
    """Per role, the channel's trace in mV with its median (dc offset) removed; and the offsets as text."""
    traces, removed = {}, []
    for role in ROLES:
        offset_v = float(np.median(traces_v[role][c]))
        traces[role] = (traces_v[role][c] - offset_v) * MV_PER_V
        if abs(offset_v) >= 1e-6:
            removed.append(f"{role} {format_si(offset_v, 'V', 3)}")
    return traces, ("offsets removed: " + ", ".join(removed)) if removed else ""


def _draw_channel(t, traces, offsets: str, windows, beats, head: str, overview, zooms) -> None:
    """One channel: the overview with the zoom windows shaded, then each zoom, on one y range."""
    from matplotlib.ticker import MaxNLocator

    notes = [offsets] if offsets else []
    if not _draw(overview, t, traces, np.ones(t.size, dtype=bool), beats, overview=True):
        notes.append(f"acquired input (p-p {np.ptp(traces['acquired']):.3g} mV) runs off the view")
    for i, (a, b) in enumerate(windows):
        overview.axvspan(a, b, color="0.8", alpha=0.4, lw=0, gid="zoom-window",
                         label="zoom windows" if i == 0 else "_nolegend_")
    overview.set_title("\n".join([f"{head}overview {format_range(t[0], t[-1])}", "; ".join(notes)] if notes
                                 else [f"{head}overview {format_range(t[0], t[-1])}"]), fontsize=9)
    overview.set_ylabel("Amplitude (mV)")
    for ax, (a, b) in zip(zooms, windows):
        fits = _draw(ax, t, traces, (t >= a) & (t <= b), beats, overview=False)
        ax.set_title(f"zoom {format_range(a, b)}" + ("" if fits else "\nacquired input off scale"), fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    zooms[0].set_ylabel("Amplitude (mV)")
    lims = np.array([ax.get_ylim() for ax in zooms])
    zooms[0].set_ylim(lims[:, 0].min(), lims[:, 1].max())


@styled
def plot_time_panel(t_s, source_v, acquired_v, recovered_v, *, ref_beats_s=None, detected_beats_s=None,
                    zoom_s=None, title="ECG acquisition", axes=None, channel_names=None, subtitle=""):
    """Clean source, acquired input and recovered output of each channel: an overview of the record and zooms.

    Parameters
    ----------
    t_s : array, shape (n_samples,)
        Common time axis, s.
    source_v, acquired_v, recovered_v : array, shape (n_samples,) or (n_channels, n_samples)
        Clean source ECG, amplifier input with interference (input-referred)
        and recovered output (input-referred), V. Shown in mV, each with its
        median (its dc offset) removed; the overview's title states the offsets.
    ref_beats_s, detected_beats_s : array, sequence of arrays (one per channel), or None
        Reference and detected beat times, s: marked on the source and the
        recovered trace of every channel (in the overview only when at most
        :data:`MAX_MARKED_BEATS` fall in it).
    zoom_s : (float, float), sequence of them, or None
        Zoom windows (t0, t1) in s; None uses :func:`zoom_windows` (the first
        3 s, plus the middle and the end of records over a minute).
    title : str
        Figure title.
    axes : sequence of Axes or None
        Per channel, the overview then one axes per zoom window
        (``n_channels * (1 + n_zooms)``); None makes a new figure.
    channel_names : sequence of str or None
        Channel names for the panel titles (e.g. ``["MLII", "V5"]``).
    subtitle : str
        The scenario (:func:`~acquire.output.figures.style.scenario_line`),
        shown under the title.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Overviews of long records are drawn as each trace's min/max envelope
    over :data:`OVERVIEW_POINTS` / 2 bins, which shows the same extent as
    every sample. The y range covers the source and recovered traces; the
    acquired input, drawn behind them, is included when its range is at most
    :data:`ACQUIRED_RANGE_FACTOR` times theirs, and otherwise runs off the
    view, which the panel's title says. One legend, beside the first
    overview, names the traces of every channel.
    """
    t = trace("t_s", t_s)
    traces_v = {role: _channels(f"{role}_v", v, t.size)
                for role, v in (("source", source_v), ("acquired", acquired_v), ("recovered", recovered_v))}
    n_ch = traces_v["source"].shape[0]
    if any(v.shape[0] != n_ch for v in traces_v.values()):
        raise ValueError(f"source_v, acquired_v and recovered_v must have the same number of channels; got "
                         f"{', '.join(str(v.shape[0]) for v in traces_v.values())}.")
    names = [str(n) for n in channel_names] if channel_names is not None else None
    if names is not None and len(names) != n_ch:
        raise ValueError(f"channel_names must name the {n_ch} channel(s); got {len(names)}: {names}.")
    windows = _zooms(zoom_s, t)
    fig, rows = _layout(n_ch, len(windows), axes)
    beats = zip(_per_channel("ref_beats_s", ref_beats_s, n_ch),
                _per_channel("detected_beats_s", detected_beats_s, n_ch))
    for c, ((overview, *zooms), channel_beats) in enumerate(zip(rows, beats)):
        traces, offsets = _offsets(traces_v, c)
        _draw_channel(t, traces, offsets, windows, channel_beats, f"{names[c]}: " if names else "", overview, zooms)
    named = {}
    for ax in rows[0]:  # the overview's traces, and the beat markers a long overview leaves to the zooms
        for handle, label in zip(*ax.get_legend_handles_labels()):
            named.setdefault(label, handle)
    legend_outside(rows[0][0], named.values())
    set_titles(fig, title, subtitle)
    return fig


class TimeView:
    """What a time panel of a long record draws, accumulated chunk by chunk: an overview envelope and zooms.

    Parameters
    ----------
    fs_by_role : dict
        Role (source, acquired, recovered) -> sampling rate, Hz.
    n_channels : int
    duration_s : float
        Record length: the overview's bins are ``duration_s`` /
        (:data:`OVERVIEW_POINTS` / 2) wide.
    windows : list of (float, float)
        Zoom windows, s (:func:`zoom_windows`); their samples are kept whole.

    Notes
    -----
    Memory: two values per bin, role and channel, plus the zooms' samples,
    whatever the record's length. The overview is each trace's min/max per
    time bin, as :func:`plot_time_panel` draws a long trace; the offsets it
    removes are the medians of the drawn points rather than of every sample.
    """

    def __init__(self, fs_by_role: dict, n_channels: int, duration_s: float, windows):
        self.fs, self.windows = dict(fs_by_role), [tuple(map(float, w)) for w in windows]
        self.n_bins = OVERVIEW_POINTS // 2
        self.bin_s = max(duration_s, 1e-9) / self.n_bins
        self.lo = {r: np.full((n_channels, self.n_bins), np.inf) for r in self.fs}
        self.hi = {r: np.full((n_channels, self.n_bins), -np.inf) for r in self.fs}
        self.zooms = {r: [[] for _ in self.windows] for r in self.fs}
        self.n = dict.fromkeys(self.fs, 0)

    def update(self, role: str, v: np.ndarray) -> None:
        """Add the next chunk of a role's trace, shape (n_channels, m), V."""
        m = v.shape[1]
        t = np.arange(self.n[role], self.n[role] + m) / self.fs[role]
        self.n[role] += m
        if not m:
            return
        bins = np.minimum((t / self.bin_s).astype(int), self.n_bins - 1)
        starts = np.flatnonzero(np.r_[True, np.diff(bins) != 0])
        b = bins[starts]
        self.lo[role][:, b] = np.minimum(self.lo[role][:, b], np.minimum.reduceat(v, starts, axis=1))
        self.hi[role][:, b] = np.maximum(self.hi[role][:, b], np.maximum.reduceat(v, starts, axis=1))
        for i, (a, z) in enumerate(self.windows):
            inside = (t >= a) & (t <= z)
            if inside.any():
                self.zooms[role][i].append((t[inside], v[:, inside]))

    def traces(self) -> tuple[np.ndarray, dict, list]:
        """``(t, role -> (n_channels, n) V, zoom windows)`` for :func:`plot_time_panel`.

        The overview's points outside the zoom windows, then every zoom
        sample, on the recovered trace's times (the others interpolated).
        """
        filled = np.all([np.isfinite(self.lo[r]).all(axis=0) for r in self.fs], axis=0)
        t_bins = np.flatnonzero(filled) * self.bin_s
        outside = ~np.any([(t_bins >= a) & (t_bins <= z) for a, z in self.windows], axis=0)
        t_env = np.repeat(t_bins[outside], 2)
        env = {r: np.stack([self.lo[r][:, filled][:, outside], self.hi[r][:, filled][:, outside]],
                           axis=2).reshape(self.lo[r].shape[0], -1) for r in self.fs}
        pieces_t, pieces = [t_env], {r: [env[r]] for r in self.fs}
        windows = []
        for i in range(len(self.windows)):
            if not self.zooms["recovered"][i]:
                continue
            t_z = np.concatenate([p[0] for p in self.zooms["recovered"][i]])
            windows.append((float(t_z[0]), float(t_z[-1])))
            pieces_t.append(t_z)
            for r in self.fs:
                tr = np.concatenate([p[0] for p in self.zooms[r][i]])
                vr = np.concatenate([p[1] for p in self.zooms[r][i]], axis=1)
                pieces[r].append(np.stack([np.interp(t_z, tr, ch) for ch in vr]))
        t = np.concatenate(pieces_t)
        order = np.argsort(t, kind="stable")
        return t[order], {r: np.concatenate(pieces[r], axis=1)[:, order] for r in self.fs}, windows
