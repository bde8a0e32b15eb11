"""The instrumentation amplifier's per-sample arithmetic in one compiled pass (numba).

:class:`frontend_models.inamp.InstrumentationAmplifier` draws its noise and
forms its common-mode term with numpy, and shapes each noise stream with
:func:`parallel_pass` (its filter in parallel form) or scipy's cascade;
everything else for a chunk (gain, band filters, offset, clipping and both
counters) is :func:`amplifier_pass`, one loop over the samples instead of a
dozen numpy passes and a scipy call per filter. The band filters run the
transposed direct form II of ``scipy.signal.sosfilt`` operation for
operation, so their output equals scipy's bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from acquire.stage import _tdf2


@njit(cache=True, nogil=True, inline="always")
def _section(sos: np.ndarray, s: int, zi: np.ndarray, c: int, v: np.ndarray) -> None:
    """Section ``s`` of ``sos`` on the row ``v`` of channel ``c``, in place; state ``zi[s, c]`` updated.

    The state lives in locals for the whole row (one recursion, no store and
    reload per sample), with scipy's transposed direct form II operations.
    """
    b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
    z0, z1 = zi[s, c, 0], zi[s, c, 1]
    for i in range(v.shape[0]):
        u = v[i]
        y = b0 * u + z0
        z0 = b1 * u - a1 * y + z1
        z1 = b2 * u - a2 * y
        v[i] = y
    zi[s, c, 0], zi[s, c, 1] = z0, z1


#: The parallel form's parts are padded to a multiple of this (the SIMD width times the unroll the
#: compiler picks for AVX2: 15 parts cost as much as 24 unpadded, 16 padded as 12).
PARALLEL_LANES = 8


def padded_parts(poles: np.ndarray, residues: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``poles`` and ``residues`` padded with zeros to a multiple of :data:`PARALLEL_LANES`.

    A padded part has ``s_k = v[n]`` and adds ``0 * s_k = 0`` to the sum: the
    same filter, with no remainder loop after the SIMD one.
    """
    n_pad = -len(poles) % PARALLEL_LANES
    return np.pad(poles, (0, n_pad)), np.pad(residues, (0, n_pad))


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def parallel_pass(v: np.ndarray, direct: float, poles: np.ndarray, residues: np.ndarray,
                  state: np.ndarray) -> None:
    """A filter in parallel form on ``v`` (n_channels, n), in place: ``direct v[n] + sum_k r_k s_k[n]``.

    ``s_k[n] = p_k s_k[n-1] + v[n]`` (``state`` (n_channels, n_parts) holds
    ``s_k[n-1]``; updated). The recursions are independent, so the loop over
    the parts runs them side by side (SIMD) where a cascade waits on each
    section in turn: about 5 ns per sample for 16 parts against 2 to 3 ns
    per section for a cascade. ``reassoc`` lets the compiler split the sum
    over the parts across SIMD lanes and ``contract`` fuse each multiply-add
    (a shorter recursion, 20 % faster); the operations are then fixed by the
    number of parts alone, the same machine code for every sample, so the
    result still depends on the absolute sample index only (chunk-exact,
    deterministic).
    """
    for c in range(v.shape[0]):
        for i in range(v.shape[1]):
            w = v[c, i]
            acc = direct * w
            for k in range(poles.shape[0]):
                s = poles[k] * state[c, k] + w
                state[c, k] = s
                acc += residues[k] * s
            v[c, i] = acc


@njit(cache=True, nogil=True, inline="always")
def _add_cm_term(cm: tuple, coef: np.ndarray, row: np.ndarray) -> None:
    """``row += (G/CMRR) (cos c - sin q)``, ``c = v_cm + v_cm'/w_z`` and ``q`` likewise (empty fields: none).

    In the order of the element-wise numpy form: ``c``, ``cos c``, minus
    ``sin q``, times G/CMRR, added last.
    """
    cm_v, cm_dvdt, quad, quad_dvdt = cm
    scale, cos_phase, sin_phase, w_z = coef[0], coef[1], coef[2], coef[3]
    corner, rotated = cm_dvdt.shape[0] > 0, quad.shape[0] > 0
    for i in range(row.shape[0]):
        c = cm_v[i] + cm_dvdt[i] / w_z if corner else cm_v[i]
        term = cos_phase * c
        if rotated:
            term = term - sin_phase * (quad[i] + quad_dvdt[i] / w_z if corner else quad[i])
        row[i] = row[i] + scale * term


@njit(cache=True, nogil=True)
def amplifier_pass(x: np.ndarray, gain: float, noise: np.ndarray, cm: tuple, cm_coef: np.ndarray,
                   band_sos: np.ndarray, band_zi: np.ndarray, dc_out_v: float, cm_range: np.ndarray,
                   swing_v: float, y: np.ndarray) -> tuple[int, int]:
    """One chunk of the amplifier: ``y = clip(band(G x + sum_p noise_p + cm_term) + dc_out_v)``.

    Parameters
    ----------
    x : ndarray, shape (n_channels, n)
        Differential input.
    gain : float
        G.
    noise : ndarray, shape (n_paths, n_channels, n)
        Each noise path's output (already shaped).
    cm, cm_coef : tuple of 4 ndarray, ndarray
        The common-mode fields (each shape (n,) or (0,): unused) and
        ``(G/CMRR, cos(phase), sin(phase), w_z)`` for :func:`_add_cm_term`; no
        term and v_cm = 0 for the range check when ``cm[0]`` is empty.
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
    cm_v = cm[0]
    has_cm = cm_v.shape[0] > 0
    lo, hi = cm_range[0], cm_range[1]
    check_range = lo > -np.inf or hi < np.inf
    n_clipped = 0
    n_outside = 0
    for c in range(x.shape[0]):
        row = y[c]
        for i in range(x.shape[1]):
            u = gain * x[c, i]
            for p in range(noise.shape[0]):
                u = u + noise[p, c, i]
            row[i] = u
        if has_cm:
            _add_cm_term(cm, cm_coef, row)
        for s in range(band_sos.shape[0] - 1):
            _section(band_sos, s, band_zi, c, row)
        # The last band section, offset, clip and range check in one loop: the section's recursion
        # is latency bound, and the rest fills its gaps.
        last = band_sos.shape[0] - 1
        z0, z1 = band_zi[last, c, 0], band_zi[last, c, 1]
        for i in range(x.shape[1]):
            v, z0, z1 = _tdf2(band_sos, last, row[i], z0, z1)
            v = v + dc_out_v
            n_clipped += (v > swing_v) | (v < -swing_v)
            row[i] = swing_v if v > swing_v else (-swing_v if v < -swing_v else v)
            if check_range:
                # cm +- x/2 both inside [lo, hi] <=> cm - |x/2| >= lo and cm + |x/2| <= hi (exactly:
                # the same two sums); a NaN counts as inside either way.
                v_cm = cm_v[i] if has_cm else 0.0
                half = abs(x[c, i] / 2)
                n_outside += (v_cm - half < lo) | (v_cm + half > hi)
        band_zi[last, c, 0], band_zi[last, c, 1] = z0, z1
    return n_clipped, n_outside
