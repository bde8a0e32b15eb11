"""Spectra: power spectral densities with the mains harmonics and their aliases, Bode plots of the front end."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from acquire._check import check_positive
from acquire.output.figures.style import (COLORS, UV2_PER_V2, axes_or_new, legend_outside, one_axes, role_color,
                                          set_titles, styled, trace)

#: Harmonics marked on a Bode plot when none are given.
BODE_HARMONICS = (1, 2, 3)


def _harmonics(harmonics, n_harmonics) -> list[int]:
    """Checked harmonic numbers: ``harmonics`` if given, else 1 to ``n_harmonics``."""
    ks = list(range(1, n_harmonics + 1)) if harmonics is None and isinstance(n_harmonics, int) else harmonics
    if ks is None or not len(ks) or not all(isinstance(k, (int, np.integer)) and k >= 1 for k in ks):
        raise ValueError(f"n_harmonics must be an int >= 1 and harmonics a sequence of ints >= 1; got "
                         f"n_harmonics={n_harmonics!r}, harmonics={harmonics!r}.")
    return sorted({int(k) for k in ks})


def mains_lines(mains_hz: float, harmonics: Sequence[int], fs_hz: float,
                fs_adc_hz: float | None = None) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """Where the mains harmonics appear in a spectrum sampled at ``fs_hz`` after an ADC at ``fs_adc_hz``.

    Returns
    -------
    inband : list of (k, f_hz)
        Harmonics ``k * mains_hz`` below both Nyquist frequencies.
    aliases : list of (k, f_hz)
        Harmonics above the ADC's Nyquist frequency folded to
        ``|k f - m fs_adc|`` (the nearest multiple ``m``), where that is
        inside ``(0, fs_hz / 2)``: at 500 SPS the 5th and 7th harmonics of
        60 Hz appear at 200 and 80 Hz.
    """
    fs_adc = fs_hz if fs_adc_hz is None else fs_adc_hz
    inband, aliases = [], []
    for k in harmonics:
        f = k * mains_hz
        if f < min(fs_hz, fs_adc) / 2:
            inband.append((k, f))
            continue
        a = abs(f - round(f / fs_adc) * fs_adc)
        if 0 < a < fs_hz / 2:
            aliases.append((k, a))
    return inband, aliases


def _mark_mains(ax, mains_hz, inband, aliases, fs_adc_hz) -> None:
    """Mains lines (dotted, ``gid="mains"``), alias lines (dash-dot, ``"mains-alias"``) and their names on top."""
    for i, (k, f) in enumerate(inband):
        ax.axvline(f, color=COLORS["mains"], ls=":", lw=0.9, gid="mains",
                   label=f"mains {mains_hz:g} Hz and harmonics kf" if i == 0 else "_nolegend_")
    for i, (k, f) in enumerate(aliases):
        ax.axvline(f, color=COLORS["mains"], ls="-.", lw=0.9, gid="mains-alias",
                   label=(f"(kf): harmonic above {fs_adc_hz / 2:g} Hz, aliased at {fs_adc_hz:g} SPS" if i == 0
                          else "_nolegend_"))
    _name_harmonics(ax, inband, aliases)


def _name_harmonics(ax, inband, aliases) -> None:
    """The harmonics' names as the top axis' tick labels: ``f``, ``3f``, aliases in parentheses ``(5f)``."""
    from matplotlib.ticker import NullLocator

    names: dict[float, list[str]] = {}
    for k, f in inband:
        names.setdefault(round(f, 6), []).append("f" if k == 1 else f"{k}f")
    for k, f in aliases:
        names.setdefault(round(f, 6), []).append(f"({k}f)")
    top = ax.secondary_xaxis("top")
    top.set_xticks(sorted(names), [", ".join(names[f]) for f in sorted(names)], fontsize=7,
                   color=COLORS["mains"])
    top.tick_params(axis="x", which="both", length=2, pad=1)
    top.xaxis.set_minor_locator(NullLocator())


class WelchPsd:
    """Welch's PSD estimate accumulated chunk by chunk: ``scipy.signal.welch`` with its defaults, in bounded memory.

    Parameters
    ----------
    fs_hz : float
    nperseg : int
        Segment length; segments start every ``nperseg // 2`` samples (50 %
        overlap) from the first sample.

    Notes
    -----
    Each whole segment is detrended (its mean removed), multiplied by the
    periodic Hann window ``w`` and transformed; its one-sided periodogram
    ``|X|^2 / (fs sum w^2)`` (doubled except at dc and Nyquist) is added to
    a running sum, and :meth:`psd` returns the mean over the segments. These
    are the segments and the arithmetic of ``welch(x, fs, nperseg=nperseg)``
    (Hann window, ``detrend="constant"``, density scaling, mean average, no
    boundary extension or padding), so the result equals it on the whole
    signal up to the order of the sum over segments. Memory: one segment.
    A signal shorter than ``nperseg`` gives one periodogram of all of it, as
    ``welch`` does after shortening ``nperseg``.
    """

    def __init__(self, fs_hz: float, nperseg: int):
        from scipy.signal import get_window

        self.fs_hz, self.nperseg = check_positive("fs_hz", fs_hz), max(1, int(nperseg))
        self.step = self.nperseg - self.nperseg // 2
        self.window = get_window("hann", self.nperseg)
        self.buf = np.zeros(0)
        self.total, self.count = 0.0, 0

    def _periodogram(self, seg: np.ndarray, window: np.ndarray) -> np.ndarray:
        p = np.abs(np.fft.rfft((seg - seg.mean()) * window)) ** 2 / (self.fs_hz * np.sum(window**2))
        p[1:-1 if seg.size % 2 == 0 else None] *= 2
        return p

    def update(self, x: np.ndarray) -> None:
        """Add the next samples, shape (m,), V."""
        self.buf = np.concatenate([self.buf, np.asarray(x, dtype=float)])
        n_seg = (self.buf.size - self.nperseg) // self.step + 1 if self.buf.size >= self.nperseg else 0
        for k in range(n_seg):
            self.total = self.total + self._periodogram(self.buf[k * self.step:k * self.step + self.nperseg],
                                                        self.window)
        self.count += n_seg
        self.buf = self.buf[n_seg * self.step:]

    def psd(self) -> tuple[np.ndarray, np.ndarray]:
        """``(f_hz, psd_v2_per_hz)``."""
        if self.count:
            return np.fft.rfftfreq(self.nperseg, 1 / self.fs_hz), self.total / self.count
        from scipy.signal import get_window

        short = get_window("hann", self.buf.size)
        return np.fft.rfftfreq(self.buf.size, 1 / self.fs_hz), self._periodogram(self.buf, short)



@styled
def plot_psd(fs_hz, signals: Mapping[str, np.ndarray], *, mains_hz, n_harmonics=3, nperseg=None,
             title="Power spectral density", ax=None, harmonics=None, fs_adc_hz=None, subtitle=""):
    """Welch PSD of each signal, in dB re 1 µV²/Hz, with the mains harmonics and their aliases marked.

    Parameters
    ----------
    fs_hz : float
        Sampling rate of every signal, Hz.
    signals : dict of str to array, shape (n_samples,), or to :class:`WelchPsd`
        Label -> signal in V (e.g. ``{"acquired": x, "recovered": y}``), or
        its PSD accumulated chunk by chunk (then ``nperseg`` is its own). A label
        containing a role name (source, acquired, recovered) gets its colour.
    mains_hz : float
        Mains frequency, Hz.
    n_harmonics : int
        Harmonics 1 to ``n_harmonics`` are marked (fundamental included),
        unless ``harmonics`` is given.
    nperseg : int or None
        Welch segment length; None uses 4 s (0.25 Hz resolution) or the whole
        signal if shorter.
    title : str
    ax : Axes or None
    harmonics : sequence of int or None
        The harmonic numbers to mark (e.g. 1, 2, 3, 4 and the modelled 5, 7).
    fs_adc_hz : float or None
        The ADC's sampling rate: harmonics above its Nyquist frequency are
        marked where they alias (:func:`mains_lines`). None: ``fs_hz``.
    subtitle : str
        The scenario, shown under the title.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Welch's method (:class:`WelchPsd`, equal to ``scipy.signal.welch``'s
    defaults) with a Hann window and density scaling, so that the PSD
    integrates to the signal's variance (Parseval). Displayed as
    ``10 log10(P / 1 µV²/Hz)``. The harmonics' names (``3f``, aliases in
    parentheses, ``(5f)``) are the top axis' tick labels.
    """
    fs_hz = check_positive("fs_hz", fs_hz)
    mains_hz = check_positive("mains_hz", mains_hz)
    fs_adc = fs_hz if fs_adc_hz is None else check_positive("fs_adc_hz", fs_adc_hz)
    ks = _harmonics(harmonics, n_harmonics)
    if not signals:
        raise ValueError("signals must hold at least one label -> array; got an empty dict.")
    fig, ax = one_axes(ax)
    for label, x in signals.items():
        if not isinstance(x, WelchPsd):
            x = trace(f"signals[{label!r}]", x)
            psd = WelchPsd(fs_hz, min(x.size, round(4.0 * fs_hz)) if nperseg is None else int(nperseg))
            psd.update(x)
            x = psd
        f, p_v2_per_hz = x.psd()
        with np.errstate(divide="ignore"):
            ax.plot(f, 10.0 * np.log10(p_v2_per_hz * UV2_PER_V2), label=label, color=role_color(label))
    _mark_mains(ax, mains_hz, *mains_lines(mains_hz, ks, fs_hz, fs_adc), fs_adc)
    ax.set_xlim(0.0, fs_hz / 2)
    ax.set_xlabel("Frequency (Hz)")
    ax.set_ylabel("PSD (dB re 1 µV²/Hz)")
    set_titles(ax, title, subtitle)
    legend_outside(ax)
    return fig


#: How far below its own top each curve is shown on a shared Bode range, dB: its passband and first decades of roll-off.
ROLLOFF_SHOWN_DB = 40.0


def common_ylim_db(*curves_db, step_db: float = 10.0, rolloff_db: float = ROLLOFF_SHOWN_DB) -> tuple[float, float]:
    """One y range (dB) for several curves: every curve's top and its first ``rolloff_db`` below it.

    The top is the highest finite value; the floor is the lowest of each
    curve's ``max(min, max - rolloff_db)``, so a curve that rolls off by
    hundreds of dB (a common-mode gain through the anti-alias filter) does
    not squeeze every other curve into a sliver, yet every curve's passband
    is on the plot. Both are widened to multiples of ``step_db``, the top
    strictly above the highest value (a flat passband is not drawn on the
    frame). For
    comparisons: pass it as ``ylim_db`` / ``gain_ylim_db`` to every preset's
    :func:`plot_bode`, which states what falls below the floor.
    """
    curves = [v[np.isfinite(v)] for v in (np.ravel(np.asarray(c, dtype=float)) for c in curves_db)]
    curves = [v for v in curves if v.size]
    if not curves:
        raise ValueError("common_ylim_db needs at least one finite value; got none.")
    rolloff_db = check_positive("rolloff_db", rolloff_db)
    top = max(float(v.max()) for v in curves)
    floor = min(max(float(v.min()), float(v.max()) - rolloff_db) for v in curves)
    return math.floor(floor / step_db) * step_db, (math.floor(top / step_db) + 1) * step_db  # the top clears hi


def _set_ylim(ax, lim, curves) -> None:
    """A Bode panel's y range: ``lim``, else :func:`common_ylim_db` of ``curves`` (dB); values below it are
    stated in the legend (an entry with ``gid="off-scale"``)."""
    finite = [c[np.isfinite(c)] for c in curves]
    finite = [c for c in finite if c.size]
    if not finite:
        return
    lo, hi = lim if lim is not None else common_ylim_db(*finite)
    ax.set_ylim(lo, hi)
    lowest = min(float(c.min()) for c in finite)
    if lowest < lo:  # a legend entry without a line: off the data
        ax.plot([], [], ls="none", gid="off-scale", label=f"off scale below {lo:g} dB (lowest {lowest:.0f} dB)")


def _ylim(param: str, lim):
    if lim is None:
        return None
    lo, hi = (float(x) for x in lim)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{param} must be (low, high) in dB with low < high; got {lim!r}.")
    return lo, hi


@styled
def plot_bode(f_hz, diff_gain, cm_gain, *, cmrr_eff_db=None, title="Amplifier gains and CMRR", axes=None,
              mains_hz=None, harmonics=BODE_HARMONICS, ylim_db=None, gain_ylim_db=None, subtitle=""):
    """|A_d|, |A_cm| and CMRR = |A_d|/|A_cm| in dB against frequency, with the mains marked.

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
    mains_hz : float or None
        Mains frequency: lines at ``k * mains_hz`` for ``k`` in ``harmonics``
        on both panels, and the CMRR_eff (else the CMRR) at ``mains_hz``
        marked with its value in the legend.
    harmonics : sequence of int
        Harmonic numbers marked.
    ylim_db, gain_ylim_db : (float, float) or None
        y ranges of the CMRR and the gain panel, dB; give the same ones to
        every preset of a comparison (:func:`common_ylim_db`). None: this
        figure's own :func:`common_ylim_db` of the panel's curves. A panel
        whose curves reach below its floor says so in its legend (an entry
        with ``gid="off-scale"``).
    subtitle : str
        The scenario, shown under the title.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    ``CMRR(f) = 20 log10(|A_d(f)| / |A_cm(f)|)`` dB; an ideal ``A_cm = 0``
    gives an infinite CMRR, which is not drawn. The value at the mains is
    interpolated linearly in log f.
    """
    from matplotlib.ticker import FuncFormatter

    f = trace("f_hz", f_hz)
    if np.any(f <= 0):
        raise ValueError(f"f_hz must be > 0 for a log axis; got min {f.min():g} Hz.")
    ad = np.abs(np.asarray(diff_gain).ravel())
    acm = np.abs(np.asarray(cm_gain).ravel())
    for name, a in (("diff_gain", ad), ("cm_gain", acm)):
        if a.size != f.size:
            raise ValueError(f"{name} must have the length of f_hz ({f.size}); got {a.size}.")
    ylim_db, gain_ylim_db = _ylim("ylim_db", ylim_db), _ylim("gain_ylim_db", gain_ylim_db)
    ks = _harmonics(BODE_HARMONICS if harmonics is None else harmonics, None) if mains_hz is not None else []
    fig, axes = axes_or_new(axes, 2, sharex=True, figsize=(7.5, 6.0))
    gain_ax, cmrr_ax = axes
    with np.errstate(divide="ignore"):
        gains = [20 * np.log10(ad), 20 * np.log10(acm)]
        cmrr = 20 * np.log10(ad / acm)
    gain_ax.semilogx(f, gains[0], label="|A_d| differential", color=COLORS["recovered"])
    gain_ax.semilogx(f, gains[1], label="|A_cm| common mode", color=COLORS["acquired"])
    cmrr_ax.semilogx(f, np.where(np.isfinite(cmrr), cmrr, np.nan), label="CMRR amplifier",
                     color=COLORS["source"], gid="cmrr")
    named = ("CMRR", cmrr)
    if cmrr_eff_db is not None:
        eff = trace("cmrr_eff_db", cmrr_eff_db, f.size)
        cmrr_ax.semilogx(f, eff, ls="--", color=COLORS["mains"], label="CMRR_eff with electrode imbalance",
                         gid="cmrr_eff")
        named = ("CMRR_eff", eff)
    if mains_hz is not None:
        mains_hz = check_positive("mains_hz", mains_hz)
        shown = [k for k in ks if f.min() <= k * mains_hz <= f.max()]
        _name_harmonics(gain_ax, [(k, k * mains_hz) for k in shown], [])
        for i, k in enumerate(shown):
            for ax in axes:
                ax.axvline(k * mains_hz, color=COLORS["mains"], ls=":", lw=0.9, gid="mains",
                           label=f"mains {mains_hz:g} Hz and harmonics" if i == 0 else "_nolegend_")
        order = np.argsort(f)
        value = float(np.interp(math.log10(mains_hz), np.log10(f[order]), named[1][order]))
        if math.isfinite(value):
            cmrr_ax.plot([mains_hz], [value], ls="none", marker="o", mfc="none", color=COLORS["mains"],
                         gid="cmrr-at-mains", label=f"{named[0]} at {mains_hz:g} Hz: {value:.1f} dB")
    gain_ax.set_ylabel("Gain (dB re 1 V/V)")
    gain_ax.set_title("Differential and common-mode gain")
    cmrr_ax.set_ylabel("CMRR (dB)")
    cmrr_ax.set_title("Common-mode rejection ratio")
    cmrr_ax.set_xlabel("Frequency (Hz)")
    cmrrs = [cmrr] + ([eff] if cmrr_eff_db is not None else [])
    for ax, lim, curves in ((gain_ax, gain_ylim_db, gains), (cmrr_ax, ylim_db, cmrrs)):
        _set_ylim(ax, lim, curves)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.6g}"))
        legend_outside(ax)
    set_titles(fig, title, subtitle)
    return fig
