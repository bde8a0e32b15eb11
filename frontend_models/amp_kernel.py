"""The instrumentation amplifier's per-sample arithmetic in one compiled pass (numba).

:class:`frontend_models.inamp.InstrumentationAmplifier` draws its noise with
:class:`acquire.noise.FastBlockNoise` (and runs a noise filter that has no
parallel form through scipy's cascade); everything else for a chunk (the
noise filters in parallel form, gain, common-mode term, band filters,
offset, clipping and both counters) is :func:`amplifier_pass`, one loop over
the samples. The recursions in it (the parallel form's parts and the band
filter) are latency bound and independent of each other, so in one loop
each fills the other's waiting time; in separate passes their times add.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from frontend_models.amp_filters import parallel_form

#: The parallel forms' parts are padded to a multiple of this (the SIMD width times the unroll the
#: compiler picks for AVX2: 15 parts cost as much as 24 unpadded, 16 padded as 12).
PARALLEL_LANES = 8


def noise_bank(paths: dict, fs_hz: float) -> tuple[dict, tuple]:
    """The noise paths (stream -> gain or sections) for :func:`amplifier_pass`: ``(cascades, bank)``.

    A gain g is the parallel form (g, no parts); a filter is its
    :func:`frontend_models.amp_filters.parallel_form` when that matches it,
    else its sections go to ``cascades`` (stream -> sections, run by scipy
    before the pass) and its form is 1. ``bank`` is ``(direct, poles,
    residues)``, shapes (n_paths,) and (n_paths, n_parts): every path's
    parts padded with zeros to one length, a multiple of
    :data:`PARALLEL_LANES` (a padded part has ``s_k = w`` and adds ``0 s_k =
    0``: the same filter, with no remainder after the SIMD loop).
    """
    cascades, forms = {}, []
    for stream, path in paths.items():
        form = (path, (), ()) if isinstance(path, float) else parallel_form(path, fs_hz)
        if form is None:
            cascades[stream], form = path, (1.0, (), ())
        forms.append(form)
    n_parts = -(-max((len(f[1]) for f in forms), default=0) // PARALLEL_LANES) * PARALLEL_LANES
    poles, residues = np.zeros((len(forms), n_parts)), np.zeros((len(forms), n_parts))
    for p, (_, pole, residue) in enumerate(forms):
        poles[p, :len(pole)], residues[p, :len(residue)] = pole, residue
    return cascades, (np.array([f[0] for f in forms], dtype=float), poles, residues)


@njit(cache=True, nogil=True, inline="always")
def _cm_term(cm: tuple, coef: np.ndarray, row: np.ndarray) -> None:
    """``row = (G/CMRR) (cos c - sin q)``, ``c = v_cm + v_cm'/w_z`` and ``q`` likewise (empty fields: none)."""
    cm_v, cm_dvdt, quad, quad_dvdt = cm
    scale, cos_phase, sin_phase, w_z = coef[0], coef[1], coef[2], coef[3]
    corner, rotated = cm_dvdt.shape[0] > 0, quad.shape[0] > 0
    for i in range(row.shape[0]):
        c = cm_v[i] + cm_dvdt[i] / w_z if corner else cm_v[i]
        term = cos_phase * c
        if rotated:
            term = term - sin_phase * (quad[i] + quad_dvdt[i] / w_z if corner else quad[i])
        row[i] = scale * term


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def amplifier_pass(x: np.ndarray, gain: float, noise: np.ndarray, bank: tuple, bank_state: np.ndarray,
                   cm: tuple, cm_coef: np.ndarray, band_sos: np.ndarray, band_zi: np.ndarray, dc_out_v: float,
                   cm_range: np.ndarray, swing_v: float, y: np.ndarray) -> tuple[int, int]:
    """One chunk of the amplifier: ``y = clip(band(G x + sum_p P_p(w_p) + cm_term) + dc_out_v)``.

    Parameters
    ----------
    x : ndarray, shape (n_channels, n)
        Differential input.
    gain : float
        G.
    noise : ndarray, shape (n_paths, n_channels, n)
        Each noise path's input w_p: unit normal draws, or already shaped
        (then P_p = 1).
    bank : tuple of ndarray
        ``(direct, poles, residues)`` (:func:`noise_bank`): path ``p``'s
        parallel form ``P_p(w) = direct[p] w + sum_k residues[p, k] s_k``,
        ``s_k <- poles[p, k] s_k + w`` (P_p = 1: direct 1, zero parts).
    bank_state : ndarray, shape (n_channels, n_paths, n_parts)
        The parts' ``s_k``; updated.
    cm, cm_coef : tuple of 4 ndarray, ndarray
        The common-mode fields (each shape (n,) or (0,): unused) and
        ``(G/CMRR, cos(phase), sin(phase), w_z)`` for :func:`_cm_term`;
        no term and v_cm = 0 for the range check when ``cm[0]`` is empty.
    band_sos, band_zi : ndarray
        Band filters (at least one section; transposed direct form II, the
        first in the loop over the samples, any others after it) and their
        state, shape (n_band, n_channels, 2); updated.
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
        Channel x sample counts.

    Notes
    -----
    The parts' recursions are independent, so the loop over them runs them
    side by side (SIMD) where a cascade waits on each section in turn. The
    pass is compiled with ``reassoc`` (the sum over the parts split across
    SIMD lanes) and ``contract`` (multiply-adds fused): the operations are
    then fixed by the code and the number of parts alone, the same machine
    code for every sample, so the output depends on the absolute sample
    index only (chunk-exact, deterministic on a machine), and differs from
    scipy's ``sosfilt`` of the band filters and from element-wise numpy
    sums by rounding only (about 1e-16 relative).
    """
    direct, poles, residues = bank
    cm_v = cm[0]
    has_cm = cm_v.shape[0] > 0
    b0, b1, b2, a1, a2 = band_sos[0, 0], band_sos[0, 1], band_sos[0, 2], band_sos[0, 4], band_sos[0, 5]
    for c in range(x.shape[0]):
        row = y[c]
        if has_cm:
            _cm_term(cm, cm_coef, row)
        z0, z1 = band_zi[0, c, 0], band_zi[0, c, 1]
        for i in range(x.shape[1]):
            u = gain * x[c, i]
            for p in range(noise.shape[0]):
                w = noise[p, c, i]
                acc = direct[p] * w
                for k in range(poles.shape[1]):
                    s = poles[p, k] * bank_state[c, p, k] + w
                    bank_state[c, p, k] = s
                    acc += residues[p, k] * s
                u = u + acc
            if has_cm:
                u = u + row[i]
            v = b0 * u + z0  # the first band section, its state in registers
            z0 = b1 * u - a1 * v + z1
            z1 = b2 * u - a2 * v
            row[i] = v
        band_zi[0, c, 0], band_zi[0, c, 1] = z0, z1
        for s_ in range(1, band_sos.shape[0]):
            _section(band_sos, s_, band_zi, c, row)
    return _clip_and_count(x, cm_v, cm_range, dc_out_v, swing_v, y)


@njit(cache=True, nogil=True, inline="always")
def _section(sos: np.ndarray, s: int, zi: np.ndarray, c: int, v: np.ndarray) -> None:
    """Section ``s`` of ``sos`` on the row ``v`` of channel ``c``, in place, state ``zi[s, c]`` in registers."""
    b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
    z0, z1 = zi[s, c, 0], zi[s, c, 1]
    for i in range(v.shape[0]):
        u = v[i]
        y = b0 * u + z0
        z0 = b1 * u - a1 * y + z1
        z1 = b2 * u - a2 * y
        v[i] = y
    zi[s, c, 0], zi[s, c, 1] = z0, z1


@njit(cache=True, nogil=True, inline="always")
def _clip_and_count(x: np.ndarray, cm_v: np.ndarray, cm_range: np.ndarray, dc_out_v: float, swing_v: float,
                    y: np.ndarray) -> tuple[int, int]:
    """``y = clip(y + dc_out_v, +-swing_v)`` in place: (clipped count, input-range violations)."""
    lo, hi = cm_range[0], cm_range[1]
    check_range = lo > -np.inf or hi < np.inf
    n_clipped = 0
    n_outside = 0
    for c in range(y.shape[0]):
        for i in range(y.shape[1]):
            v = y[c, i] + dc_out_v
            n_clipped += (v > swing_v) | (v < -swing_v)
            y[c, i] = swing_v if v > swing_v else (-swing_v if v < -swing_v else v)
        if check_range:
            for i in range(y.shape[1]):
                # cm +- x/2 both inside [lo, hi] <=> cm - |x/2| >= lo and cm + |x/2| <= hi (the
                # same two sums); a NaN counts as inside either way.
                v_cm = cm_v[i] if cm_v.shape[0] else 0.0
                half = abs(x[c, i] / 2)
                n_outside += (v_cm - half < lo) | (v_cm + half > hi)
    return n_clipped, n_outside
