"""Compiled inner loops of the streaming accumulators (numba): one pass per quantity over a chunk.

``cache=True`` keeps the machine code beside this file.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Columns of the :func:`pair_update` state.
MEAN_X, MEAN_Y, M2X, M2Y, CXY, SUM_X2, SUM_D2 = range(7)
#: Longest piece summed in one sequential pass; longer chunks are merged piece by piece.
PAIR_SPAN = 1024


@njit(cache=True, nogil=True)
def pair_update(x: np.ndarray, y: np.ndarray, n: int, state: np.ndarray) -> None:
    """Merge the chunk ``x, y`` (n_series, m) into ``state`` (n_series, 7) holding ``n`` samples per series.

    Per piece of at most :data:`PAIR_SPAN` samples (``mb`` of them): the means
    ``sum / mb`` (one sequential pass), then in a second pass the centred sums
    ``sum (x - mx)^2``, ``sum (y - my)^2``, ``sum (x - mx)(y - my)`` and
    ``sum x^2``, ``sum (x - y)^2``; merged with Chan et al.'s update
    ``M2 = M2a + M2b + d^2 na nb / (na + nb)`` (d: the difference of the
    means), ``C = Ca + Cb + dx dy na nb / (na + nb)``. Pieces bound the
    rounding of a sequential sum over a long block to that of ``PAIR_SPAN``
    terms.
    """
    n_series, m = x.shape
    for r in range(n_series):
        na = n
        for p0 in range(0, m, PAIR_SPAN):
            p1 = min(m, p0 + PAIR_SPAN)
            mb = p1 - p0
            sx = sy = 0.0
            for i in range(p0, p1):
                sx += x[r, i]
                sy += y[r, i]
            mx, my = sx / mb, sy / mb
            sxx = syy = sxy = sx2 = sd2 = 0.0
            for i in range(p0, p1):
                a, b = x[r, i], y[r, i]
                dx, dy, e = a - mx, b - my, a - b
                sxx += dx * dx
                syy += dy * dy
                sxy += dx * dy
                sx2 += a * a
                sd2 += e * e
            nn = na + mb
            ex, ey = mx - state[r, MEAN_X], my - state[r, MEAN_Y]
            w = na * mb / nn
            state[r, M2X] = state[r, M2X] + sxx + ex * ex * w
            state[r, M2Y] = state[r, M2Y] + syy + ey * ey * w
            state[r, CXY] = state[r, CXY] + sxy + ex * ey * w
            state[r, MEAN_X] = state[r, MEAN_X] + ex * (mb / nn)
            state[r, MEAN_Y] = state[r, MEAN_Y] + ey * (mb / nn)
            state[r, SUM_X2] += sx2
            state[r, SUM_D2] += sd2
            na = nn


@njit(cache=True, nogil=True)
def beat_errors(ref: np.ndarray, test: np.ndarray, beats: np.ndarray, qrs_window: tuple, st_offsets: tuple):
    """QRS amplitude and ST level errors ``test - ref`` per series and beat, shapes (n_series, n_beats) each.

    ``pp = max - min`` over ``beat + qrs_window[0] .. beat + qrs_window[1]``;
    ``ST = x[beat + st] - mean(x[beat + lo .. beat + hi])`` with
    ``(lo, hi, st) = st_offsets``, the mean a sequential sum over the window
    divided by its length (a NaN in a window gives NaN, as numpy's
    reductions do). Every window must lie inside the signals.
    """
    q0, q1 = qrs_window
    lo, hi, st = st_offsets
    n_series, n_beats = ref.shape[0], beats.size
    qrs, level = np.empty((n_series, n_beats)), np.empty((n_series, n_beats))
    for c in range(n_series):
        for b in range(n_beats):
            r = beats[b]
            pp = np.empty(2)
            mean = np.empty(2)
            for s, x in enumerate((ref, test)):
                top = bottom = x[c, r + q0]
                for i in range(r + q0 + 1, r + q1 + 1):
                    v = x[c, i]
                    if v > top or v != v:  # a NaN sticks, as in numpy's max and min
                        top = v
                    if v < bottom or v != v:
                        bottom = v
                pp[s] = top - bottom
                acc = 0.0
                for i in range(r + lo, r + hi + 1):
                    acc += x[c, i]
                mean[s] = x[c, r + st] - acc / (hi - lo + 1)
            qrs[c, b] = pp[1] - pp[0]
            level[c, b] = mean[1] - mean[0]
    return qrs, level


@njit(cache=True, nogil=True)
def window_rms(e: np.ndarray, n_win: int, partial: np.ndarray, n_partial: int) -> np.ndarray:
    """RMS over consecutive windows of ``n_win`` samples of ``e`` (n_series, m), continuing a partial window.

    ``partial`` (n_series,) holds the sum of squares of the ``n_partial``
    samples of the incomplete window so far and is updated in place. Each
    window's sum of squares runs sequentially over its samples; its value is
    ``sqrt(sum / n_win)``. Returns the completed windows, shape
    (n_series, (n_partial + m) // n_win).
    """
    n_series, m = e.shape
    out = np.empty((n_series, (n_partial + m) // n_win))
    for c in range(n_series):
        acc, count, k = partial[c], n_partial, 0
        for i in range(m):
            acc += e[c, i] * e[c, i]
            count += 1
            if count == n_win:
                out[c, k] = np.sqrt(acc / n_win)
                acc, count, k = 0.0, 0, k + 1
        partial[c] = acc
    return out
