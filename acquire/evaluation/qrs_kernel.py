"""Compiled inner loops of the streaming QRS detector (numba): the signal path and the candidate search.

:class:`acquire.evaluation.qrs.QrsDetector` keeps its signals in one buffer
``buf`` of shape (3, capacity), rows ``w`` (integrated energy), ``y``
(band-pass output) and ``d`` (derivative), indexed from the buffer's first
sample; the samples before the chunk are the history the filters need. Each
output sample is computed from the same inputs in the same order whatever
the chunking, so the detector's signals, and its beats, do not depend on it.
``cache=True`` keeps the machine code beside this file.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from acquire.stage import sos_pairs

_W, _Y, _D = 0, 1, 2


@njit(cache=True, nogil=True)
def filter_chunk(x: np.ndarray, sos: np.ndarray, zi: np.ndarray, deriv_b: np.ndarray, n_int: int,
                 buf: np.ndarray, n0: int) -> None:
    """Band-pass, derivative and moving integration of ``x`` into ``buf[:, n0:n0 + m]``.

    Parameters
    ----------
    x : ndarray, shape (m,)
    sos : ndarray, shape (n_sections, 6)
        Band-pass sections.
    zi : ndarray, shape (n_sections, 2)
        Band-pass state, updated in place.
    deriv_b : ndarray, shape (5,)
        Derivative taps.
    n_int : int
        Integration length ``N``; ``buf`` holds at least ``max(N - 1, 4)``
        samples before ``n0``.
    buf : ndarray, shape (3, capacity)
    n0 : int

    Notes
    -----
    The band-pass is :func:`acquire.stage.sos_pairs`, ``scipy.signal.sosfilt``'s
    transposed direct form II with its operations in its order (so ``y`` is
    bit-identical to it). Then, for each output sample,
    ``d[n] = sum_k deriv_b[k] y[n-k]`` and
    ``w[n] = (sum_{j<N} d[n-j]^2) / N``, both summed from 0 in ascending
    ``k`` (``j``): the same order for every sample whatever the chunking,
    and directly over the window rather than as a running sum, so no drift
    over a day and a window of zeros (a clipped plateau) gives exactly zero.
    The loops over ``k`` and ``j`` are outside the loop over the chunk's
    samples, which the compiler vectorises (several samples' sums at once,
    each in its own order: no reassociation).
    """
    m = x.size
    y, d, w = buf[_Y], buf[_D], buf[_W]
    y[n0:n0 + m] = x
    sos_pairs(sos, buf[_Y:_Y + 1, n0:n0 + m], zi.reshape(zi.shape[0], 1, 2))
    acc = np.zeros(m)
    for k in range(deriv_b.size):
        _add_scaled(acc, deriv_b[k], y[n0 - k:n0 - k + m])
    d[n0:n0 + m] = acc
    sq = d[n0 - n_int + 1:n0 + m] ** 2
    acc[:] = 0.0
    for j in range(n_int):
        _add_scaled(acc, 1.0, sq[n_int - 1 - j:n_int - 1 - j + m])
    w[n0:n0 + m] = acc * (1.0 / n_int)


@njit(cache=True, nogil=True, inline="always")
def _add_scaled(acc: np.ndarray, scale: float, v: np.ndarray) -> None:
    """``acc[i] += scale v[i]`` (``scale`` 1 for a plain sum: ``1.0 * v`` is ``v`` exactly)."""
    for i in range(acc.size):
        acc[i] += scale * v[i]


@njit(cache=True, nogil=True)
def find_candidates(buf: np.ndarray, n_buf: int, lo: int, hi: int, n_ref: int, n_int: int) -> np.ndarray:
    """Candidates at buffer positions ``lo .. hi - 1``: rows ``(position, sqrt w, peak |y|, slope, arg)``.

    A position ``p`` is a candidate when ``w[p] > w[p-j]`` and
    ``w[p] >= w[p+j]`` for ``j = 1 .. n_ref``, ``w`` beyond ``n_buf`` taken
    as ``-inf`` (the end of the stream); a NaN fails, as numpy's comparisons
    with a NaN maximum do. For each: ``peak |y|`` is the largest ``|y|`` over
    ``p-N-3 .. p`` at offset ``arg`` from its start (the first one, the
    first NaN if any, as ``np.argmax``); ``slope`` the largest ``|d|`` over
    ``p-N+1 .. p`` (NaN if any is). Two candidates are more than ``n_ref``
    apart, which bounds their number.
    """
    out = np.empty(((hi - lo) // (n_ref + 1) + 1, 5))
    count = 0
    for p in range(lo, hi):
        wp = buf[_W, p]
        ok = True
        for j in range(1, n_ref + 1):
            after = buf[_W, p + j] if p + j < n_buf else -np.inf
            if not (wp >= after and wp > buf[_W, p - j]):
                ok = False
                break
        if not ok:
            continue
        start = p - n_int - 3
        arg, peak = 0, abs(buf[_Y, start])
        for k in range(1, n_int + 4):
            v = abs(buf[_Y, start + k])
            if np.isnan(peak):
                break
            if v > peak or np.isnan(v):
                arg, peak = k, v
        slope = abs(buf[_D, p - n_int + 1])
        for k in range(p - n_int + 2, p + 1):
            v = abs(buf[_D, k])
            if v > slope or np.isnan(v):
                slope = v
            if np.isnan(slope):
                break
        out[count, 0], out[count, 1], out[count, 2] = p, np.sqrt(wp), peak
        out[count, 3], out[count, 4] = slope, arg
        count += 1
    return out[:count]
