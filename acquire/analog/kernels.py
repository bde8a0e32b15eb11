"""Compiled inner loops of the analog stages (numba): one pass over a chunk instead of one numpy pass per term.

Each kernel performs the same floating-point operations, in the same order,
as the element-wise formulation it replaces (documented in the stage that
calls it), so its output depends on the absolute sample index only and
chunking cannot change it. ``cache=True`` keeps the machine code beside this
file: the first import on a fresh machine compiles it (a few seconds), later
ones load it.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _branch_sum(coef: np.ndarray, data: np.ndarray, c: int, m: int, first: int, up: int, down: int) -> float:
    """Output ``m``: ``sum_k coef[m mod L, k] data[c, floor(m M / L) - first - k]``, k ascending."""
    r, base = m % up, (m * down) // up - first
    acc = 0.0
    for k in range(coef.shape[1]):
        acc += coef[r, k] * data[c, base - k]
    return acc


@njit(cache=True, nogil=True)
def polyphase(data: np.ndarray, first: int, m0: int, coef: np.ndarray, up: int, down: int,
              out: np.ndarray) -> None:
    """Rational resampling: ``out[c, i] = sum_{k=0}^{K-1} coef[r, k] data[c, floor(m M / L) - first - k]``.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_in)
        Inputs; column ``j`` is input ``first + j``. Must hold every input
        the outputs read (the caller's history guarantees it).
    first : int
        Absolute index of ``data[:, 0]``.
    m0 : int
        Absolute index of ``out[:, 0]``; output ``m = m0 + i`` has residue
        ``r = m mod L``.
    coef : ndarray, shape (L, K)
        Polyphase branches, ``coef[r, k] = h[(r M mod L) + k L]``.
    up, down : int
        ``L`` and ``M``.
    out : ndarray, shape (n_channels, n_out)
        Written in place. Every sum runs over ``k = 0 .. K-1`` in that order;
        four outputs are summed side by side (independent additions the
        processor overlaps, where one sum waits on each addition).
    """
    n_taps, n_out = coef.shape[1], out.shape[1]
    for c in range(data.shape[0]):
        # r = m mod L and b = floor(m M / L) - first carried from output to output
        # (t = m M mod L), with no integer division in the loop.
        r, t, b = m0 % up, (m0 * down) % up, (m0 * down) // up - first
        i = 0
        while i + 4 <= n_out:
            r0, t, b0 = r, t, b
            r1, t, b1 = _next_output(r0, t, b0, up, down)
            r2, t, b2 = _next_output(r1, t, b1, up, down)
            r3, t, b3 = _next_output(r2, t, b2, up, down)
            r, t, b = _next_output(r3, t, b3, up, down)
            a0 = a1 = a2 = a3 = 0.0
            for k in range(n_taps):
                a0 += coef[r0, k] * data[c, b0 - k]
                a1 += coef[r1, k] * data[c, b1 - k]
                a2 += coef[r2, k] * data[c, b2 - k]
                a3 += coef[r3, k] * data[c, b3 - k]
            out[c, i], out[c, i + 1], out[c, i + 2], out[c, i + 3] = a0, a1, a2, a3
            i += 4
        for j in range(i, n_out):
            out[c, j] = _branch_sum(coef, data, c, m0 + j, first, up, down)


#: Outputs summed side by side in :func:`polyphase_grouped`.
TILE = 8


@njit(cache=True, nogil=True)
def polyphase_grouped(data: np.ndarray, first: int, m0: int, coef_t: np.ndarray, up: int, down: int,
                      out: np.ndarray) -> None:
    """:func:`polyphase` for upsampling, by runs of outputs that read the same inputs.

    Parameters
    ----------
    data, first, m0, up, down, out
        As for :func:`polyphase`.
    coef_t : ndarray, shape (K, L + TILE)
        The branches transposed, ``coef_t[k, r] = coef[r, k]``, zero for
        ``r >= L``.

    Notes
    -----
    Outputs ``m`` with the same ``n = floor(m M / L)`` (about L/M of them
    in a row, with consecutive residues ``r``) read the same inputs
    ``x[n - k]``, so a run is summed :data:`TILE` outputs at a time: each
    input is loaded once per tile and the coefficients ``coef_t[k, r .. r +
    TILE - 1]`` are contiguous (the zero padding lets the last tile of a run
    read past ``L``; its extra sums are discarded). Each output is still
    ``sum_k coef[r, k] x[n - k]`` over ``k = 0 .. K-1`` in that order, the
    same operations as :func:`polyphase`: about 2.5 times faster for 360 ->
    8000 Hz, and bit-identical.
    """
    n_taps, n_out = coef_t.shape[0], out.shape[1]
    for c in range(data.shape[0]):
        r, t, b = m0 % up, (m0 * down) % up, (m0 * down) // up - first
        i = 0
        while i < n_out:
            run = min((up - t + down - 1) // down, n_out - i)  # outputs left with input base b
            for j in range(0, run, TILE):
                a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
                for k in range(n_taps):
                    x = data[c, b - k]
                    w = coef_t[k, r + j:r + j + TILE]  # a slice: constant, non-negative indices below
                    a0 += w[0] * x
                    a1 += w[1] * x
                    a2 += w[2] * x
                    a3 += w[3] * x
                    a4 += w[4] * x
                    a5 += w[5] * x
                    a6 += w[6] * x
                    a7 += w[7] * x
                _store_tile(out, c, i + j, min(TILE, run - j), a0, a1, a2, a3, a4, a5, a6, a7)
            i += run
            r += run
            t += run * down
            if r >= up:
                r -= up
            while t >= up:
                t -= up
                b += 1


@njit(cache=True, nogil=True, inline="always")
def _store_tile(out: np.ndarray, c: int, o: int, n: int, a0: float, a1: float, a2: float, a3: float,
                a4: float, a5: float, a6: float, a7: float) -> None:
    """``out[c, o .. o + n - 1] = a0 .. a(n-1)``, ``1 <= n <= TILE``."""
    out[c, o] = a0
    if n > 1:
        out[c, o + 1] = a1
    if n > 2:
        out[c, o + 2] = a2
    if n > 3:
        out[c, o + 3] = a3
    if n > 4:
        out[c, o + 4] = a4
    if n > 5:
        out[c, o + 5] = a5
    if n > 6:
        out[c, o + 6] = a6
    if n > 7:
        out[c, o + 7] = a7


@njit(cache=True, nogil=True, inline="always")
def _next_output(r: int, t: int, b: int, up: int, down: int) -> tuple[int, int, int]:
    """``(m mod L, m M mod L, floor(m M / L) - first)`` of output ``m + 1`` from those of ``m``."""
    r = r + 1 if r + 1 < up else 0
    t += down
    while t >= up:
        t -= up
        b += 1
    return r, t, b


@njit(cache=True, nogil=True)
def exponential_divider(x: np.ndarray, dx: np.ndarray, prev: np.ndarray, direct: float,
                        static_coef: np.ndarray, decay: np.ndarray, coef: np.ndarray,
                        state: np.ndarray, acc: np.ndarray) -> None:
    """The electrode divider's response to the cubic Hermite interpolant of v_cm, added to ``acc``.

    With the drive of each first-order part over the interval ending at
    sample n, ``d_i[n] = c_i0 x[n-1] + c_i1 x'[n-1] + c_i2 x[n] + c_i3 x'[n]``::

        acc[n] <- acc[n] + ((direct x[n] + d_static[n]) + sum_i y_i[n]),
        y_i[n] = d_i[n] + s_i,   s_i <- decay_i y_i[n]

    (``s_i`` is the carried state, as ``scipy.signal.lfilter([1], [1,
    -decay_i])`` keeps it).

    Parameters
    ----------
    x, dx : ndarray, shape (n,)
        v_cm and its exact derivative.
    prev : ndarray, shape (2,)
        v_cm and its derivative at the sample before ``x[0]``; updated.
    direct : float
        Direct (frequency-independent) term of the divider.
    static_coef : ndarray, shape (4,)
        Drive coefficients of the memoryless parts (poles so fast that
        e^{pT} underflows).
    decay, coef : ndarray, shapes (P,), (P, 4)
        Each part's e^{pT} and drive coefficients.
    state : ndarray, shape (P,)
        The carried ``s_i``; updated.
    acc : ndarray, shape (n_channels, n)
        Every row has the response added in place (the divider error is
        common to the leads of one electrode pair).
    """
    x_prev, d_prev = prev[0], prev[1]
    for n in range(x.shape[0]):
        xn, dn = x[n], dx[n]
        o = direct * xn + (static_coef[0] * x_prev + static_coef[1] * d_prev + static_coef[2] * xn
                           + static_coef[3] * dn)
        for i in range(decay.shape[0]):
            y = (coef[i, 0] * x_prev + coef[i, 1] * d_prev + coef[i, 2] * xn + coef[i, 3] * dn) + state[i]
            state[i] = decay[i] * y
            o = o + y
        for c in range(acc.shape[0]):
            acc[c, n] = acc[c, n] + o
        x_prev, d_prev = xn, dn
    prev[0], prev[1] = x_prev, d_prev


@njit(cache=True, nogil=True)
def quantise(v: np.ndarray, lsb_v: float, half: float, out: np.ndarray) -> int:
    """ADC codes as volts: ``out = clip(rint(v / lsb_v), -half, half - 1) * lsb_v``; returns the clipped count.

    The element-wise operations of ``np.clip(np.rint(v / lsb_v), ...) *
    lsb_v`` (rint rounds half to even) in one pass; ``v`` may be a strided
    view (the ADC's every M-th input). A NaN passes through unclipped and
    uncounted, as with ``np.clip``.
    """
    n_clipped = 0
    for c in range(v.shape[0]):
        for i in range(v.shape[1]):
            code = np.rint(v[c, i] / lsb_v)
            if code < -half:
                code = -half
                n_clipped += 1
            elif code > half - 1:
                code = half - 1
                n_clipped += 1
            out[c, i] = code * lsb_v
    return n_clipped
