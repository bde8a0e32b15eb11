"""The instrumentation amplifier's per-sample arithmetic in one compiled pass (numba).

:class:`frontend_models.inamp.InstrumentationAmplifier` draws its noise and
forms its common-mode term with numpy; everything else for a chunk (noise
shaping filters, gain, band filters, offset, clipping and both counters) is
:func:`amplifier_pass`, one loop over the samples instead of a dozen numpy
passes and a scipy call per filter. The filters run the transposed direct
form II of ``scipy.signal.sosfilt`` operation for operation, so their output
equals scipy's bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _cascade(sos: np.ndarray, first: int, stop: int, zi: np.ndarray, c: int, v: float) -> float:
    """Sections ``first .. stop - 1`` of ``sos`` on one sample ``v`` of channel ``c``; state ``zi`` updated."""
    for s in range(first, stop):
        y = sos[s, 0] * v + zi[s, c, 0]
        zi[s, c, 0] = sos[s, 1] * v - sos[s, 4] * y + zi[s, c, 1]
        zi[s, c, 1] = sos[s, 2] * v - sos[s, 5] * y
        v = y
    return v


@njit(cache=True, nogil=True)
def amplifier_pass(x: np.ndarray, gain: float, draws: np.ndarray, noise_sos: np.ndarray,
                   bounds: np.ndarray, noise_zi: np.ndarray, cm_term: np.ndarray, cm_in: np.ndarray,
                   band_sos: np.ndarray, band_zi: np.ndarray, dc_out_v: float, cm_range: np.ndarray,
                   swing_v: float, y: np.ndarray) -> tuple[int, int]:
    """One chunk of the amplifier: ``y = clip(band(G x + sum_p H_p(w_p) + cm_term) + dc_out_v)``.

    Parameters
    ----------
    x : ndarray, shape (n_channels, n)
        Differential input.
    gain : float
        G.
    draws : ndarray, shape (n_paths, n_channels, n)
        Unit normal draws of each noise path.
    noise_sos, bounds : ndarray
        The paths' sections stacked, shape (n_sections, 6); path ``p`` is
        sections ``bounds[p] .. bounds[p + 1] - 1``.
    noise_zi : ndarray, shape (n_sections, n_channels, 2)
        The noise filters' state; updated.
    cm_term : ndarray, shape (n,) or (0,)
        The common-mode term added before the band filters (none if empty).
    cm_in : ndarray, shape (n,) or (0,)
        v_cm for the input range check (0 if empty).
    band_sos, band_zi : ndarray
        Band filters and their state, shape (n_band, n_channels, 2); updated.
    dc_out_v : float
        Output offset added after the band filters.
    cm_range : ndarray, shape (2,)
        ``(lo, hi)``; an input ``cm +- x/2`` outside counts as a violation
        (never when both are infinite).
    swing_v : float
        Outputs beyond ``+-swing_v`` are clipped and counted (math.inf: never).
    y : ndarray, shape (n_channels, n)
        Output, written in place.

    Returns
    -------
    (n_clipped, n_cm_range_violations) : tuple of int
        Channel x sample counts. The sums are in the order
        ``G x``, each path, ``cm_term``, as element-wise numpy adds would be.
    """
    lo, hi = cm_range[0], cm_range[1]
    check_range = lo > -np.inf or hi < np.inf
    n_clipped = 0
    n_outside = 0
    for c in range(x.shape[0]):
        for i in range(x.shape[1]):
            u = gain * x[c, i]
            for p in range(draws.shape[0]):
                u = u + _cascade(noise_sos, bounds[p], bounds[p + 1], noise_zi, c, draws[p, c, i])
            if cm_term.shape[0]:
                u = u + cm_term[i]
            v = _cascade(band_sos, 0, band_sos.shape[0], band_zi, c, u) + dc_out_v
            if v > swing_v or v < -swing_v:
                n_clipped += 1
                v = swing_v if v > 0 else -swing_v
            y[c, i] = v
            if check_range:
                cm = cm_in[i] if cm_in.shape[0] else 0.0
                half = x[c, i] / 2
                if cm + half < lo or cm + half > hi or cm - half < lo or cm - half > hi:
                    n_outside += 1
    return n_clipped, n_outside
