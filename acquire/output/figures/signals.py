"""Figures of signals: time panels, power spectra, Bode plots."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from acquire._check import check_positive

from acquire.output.figures.style import (COLORS, MV_PER_V, UV2_PER_V2, given_axes, mark_beats,
    new_axes, one_axes, role_color, styled, trace)


@styled
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
    t = trace("t_s", t_s)
    traces = {role: trace(f"{role}_v", v, t.size) * MV_PER_V
              for role, v in (("source", source_v), ("acquired", acquired_v),
                              ("recovered", recovered_v))}
    z = np.ravel(np.asarray([t[0], min(t[0] + 3.0, t[-1])] if zoom_s is None else zoom_s,
                            dtype=float))
    if z.size != 2 or not (t[0] <= z[0] < z[1] <= t[-1]):
        raise ValueError(f"zoom_s must be (t0, t1) with {t[0]:g} <= t0 < t1 <= {t[-1]:g} s; "
                         f"got {zoom_s!r}.")
    t0, t1 = z
    if axes is None:
        fig, axes = new_axes(4, 1, figsize=(8.0, 9.0))
        for ax in axes[1:3]:
            ax.sharex(axes[0])
    else:
        axes = given_axes("axes", axes, 4)
        fig = axes[0].figure
    panel_titles = {"source": "Clean source (reference)",
                    "acquired": "Acquired input with interference",
                    "recovered": "Recovered output"}
    for ax, (role, v) in zip(axes, traces.items()):
        ax.plot(t, v, color=COLORS[role], label=role)
        ax.set_title(panel_titles[role])
    if ref_beats_s is not None:
        mark_beats(axes[0], t, traces["source"], ref_beats_s, role="source",
                    label="reference beats")
    if detected_beats_s is not None:
        mark_beats(axes[2], t, traces["recovered"], detected_beats_s, role="detected",
                    label="detected beats")
    zoom = axes[3]
    keep = (t >= t0) & (t <= t1)
    for role, v in traces.items():
        zoom.plot(t[keep], v[keep], color=COLORS[role], label=role,
                  alpha=0.5 if role == "acquired" else 1.0)
    if ref_beats_s is not None:
        mark_beats(zoom, t[keep], traces["source"][keep], ref_beats_s, role="source",
                    label="reference beats")
    if detected_beats_s is not None:
        mark_beats(zoom, t[keep], traces["recovered"][keep], detected_beats_s,
                    role="detected", label="detected beats")
    zoom.set_title(f"Zoom {t0:g} to {t1:g} s")
    zoom.legend(loc="upper right", ncols=2)
    for ax in axes:
        ax.set_xlabel("Time (s)")
        ax.set_ylabel("Amplitude (mV)")
    fig.suptitle(title)
    return fig


@styled
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
    fig, ax = one_axes(ax)
    for label, x in signals.items():
        x = trace(f"signals[{label!r}]", x)
        seg = min(x.size, round(4.0 * fs_hz)) if nperseg is None else int(nperseg)
        f, p_v2_per_hz = welch(x, fs=fs_hz, nperseg=seg)
        with np.errstate(divide="ignore"):
            ax.plot(f, 10.0 * np.log10(p_v2_per_hz * UV2_PER_V2), label=label,
                    color=role_color(label))
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


@styled
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
    f = trace("f_hz", f_hz)
    if np.any(f <= 0):
        raise ValueError(f"f_hz must be > 0 for a log axis; got min {f.min():g} Hz.")
    ad = np.abs(np.asarray(diff_gain).ravel())
    acm = np.abs(np.asarray(cm_gain).ravel())
    for name, a in (("diff_gain", ad), ("cm_gain", acm)):
        if a.size != f.size:
            raise ValueError(f"{name} must have the length of f_hz ({f.size}); got {a.size}.")
    if axes is None:
        fig, axes = new_axes(2, 1, sharex=True, figsize=(7.0, 6.0))
    else:
        axes = given_axes("axes", axes, 2)
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
        cmrr_ax.semilogx(f, trace("cmrr_eff_db", cmrr_eff_db, f.size), ls="--",
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
