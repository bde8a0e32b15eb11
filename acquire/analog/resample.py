"""Streaming rational polyphase resampler (up by L, down by M) and decimator.

A source sampled at, say, 360 Hz is brought to the analog simulation rate
(8 kHz) and the ADC output is decimated on the digital side. Both are the same
operation: upsample by L, low-pass at the lower Nyquist frequency, keep every
M-th sample, computed in polyphase form so no zero is ever multiplied.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy import signal

from acquire._check import check_positive
from acquire.analog.kernels import TILE, polyphase, polyphase_grouped
from acquire.stage import Chunk, dc_vector

#: Largest L or M accepted when reducing fs_out/fs_in to a fraction.
MAX_RATIO_TERM = 10_000
#: Smallest L/M summed by runs of outputs (:func:`acquire.analog.kernels.polyphase_grouped`): a run
#: of about L/M outputs then fills at least half of a tile of TILE = 8.
GROUPED_MIN_RATIO = 4


def rational_ratio(fs_in_hz: float, fs_out_hz: float) -> tuple[int, int]:
    """Return ``(L, M)``, the reduced fraction with ``fs_out/fs_in = L/M``.

    Raises
    ------
    ValueError
        If a rate is not finite and positive, or the ratio is not a fraction
        with terms up to :data:`MAX_RATIO_TERM` (to 1e-12 relative).
    """
    fs_in = check_positive("fs_in_hz", fs_in_hz)
    fs_out = check_positive("fs_out_hz", fs_out_hz)
    ratio = Fraction(fs_out / fs_in).limit_denominator(MAX_RATIO_TERM)
    up, down = ratio.numerator, ratio.denominator
    if up > MAX_RATIO_TERM or abs(fs_in * up / down - fs_out) > 1e-12 * fs_out:
        raise ValueError(
            f"fs_out_hz/fs_in_hz = {fs_out:g}/{fs_in:g} is not a fraction L/M with L, M <= "
            f"{MAX_RATIO_TERM}; choose rates with a simpler ratio."
        )
    return up, down


def kaiser_lowpass(n_taps: int, cutoff_hz: float, fs_hz: float, stopband_db: float) -> np.ndarray:
    """Kaiser-window linear-phase low-pass with unit dc gain.

    Notes
    -----
    The window's beta is ``scipy.signal.kaiser_beta(stopband_db)``; Kaiser's
    formula ``A = 2.285 (N - 1) * 2 pi df/fs + 7.95`` (Kaiser 1974; Oppenheim &
    Schafer, Discrete-Time Signal Processing, 3rd ed., eq. 7.63) then gives the
    full transition width ``df`` that ``N`` taps afford, centred on the cutoff.
    """
    return signal.firwin(n_taps, cutoff_hz, window=("kaiser", signal.kaiser_beta(stopband_db)),
                         fs=fs_hz)


class Resampler:
    """Streaming rational resampler: up by L, anti-imaging/anti-aliasing FIR, down by M.

    Parameters
    ----------
    fs_in_hz, fs_out_hz : float
        Input and output rates. ``L/M`` is the reduced fraction of
        ``fs_out_hz/fs_in_hz`` (360 -> 8000 Hz is 200/9).
    n_taps_per_phase : int, default 24
        Length of the filter in samples of the lower of the two rates: the
        prototype has ``N = n_taps_per_phase * max(L, M)`` taps at
        ``L * fs_in_hz``. When upsampling, this is exactly the number of taps
        of each polyphase branch (multiplies per output sample); when
        downsampling, each output costs ``n_taps_per_phase * M / L``.
    stopband_db : float, default 80
        Kaiser design attenuation of the stopband.

    Attributes
    ----------
    up, down : int
        L and M.
    taps : ndarray
        Prototype FIR at ``L * fs_in_hz``, gain L (so the passband gain is 1).
    cutoff_hz : float
        ``min(fs_in_hz, fs_out_hz) / 2``, the centre of the transition band.
    transition_hz : float
        Full width of the transition band, centred on ``cutoff_hz``.
    group_delay_s : float
        ``(N - 1) / 2`` samples at ``L * fs_in_hz`` (linear phase).
    settling_time_s : float
        ``(N - 1)`` samples at ``L * fs_in_hz``: after this the output no
        longer depends on the zero history before the first input.

    Notes
    -----
    Output ``m`` (absolute index at ``fs_out_hz``) is, with ``n = floor(m M / L)``
    and phase ``p = (m M) mod L``,

    ``y[m] = sum_{k=0}^{K-1} h[p + k L] x[n - k]``

    which is ``scipy.signal.upfirdn(h, x, L, M)`` (Crochiere & Rabiner,
    Multirate Digital Signal Processing, 1983, ch. 3), with inputs before the
    first one taken as zero (once primed, as the constant of :meth:`prime`).
    The first chunk's ``start_sample`` fixes the absolute input index; later
    chunks must follow it without gaps. It is
    causal: output ``m`` is produced as soon as input ``n`` has arrived, so
    once inputs up to index ``n_in - 1`` have arrived, outputs up to index
    ``ceil(n_in L / M) - 1`` have been returned. Every output is summed over taps
    ``k = 0, 1, ..., K-1`` in that order with element-wise operations, so the
    result does not depend on how the input was chunked.

    With the defaults (24 taps, 80 dB) the transition band is ``0.21 *
    min(fs_in, fs_out)`` wide: 360 -> 8000 Hz passes 0-142 Hz (ripple 0.0012
    dB) and attenuates everything above 218 Hz by about 80 dB (Kaiser's
    formula holds to a few tenths of a dB: 79.8 dB measured for 360 -> 8000,
    8000 -> 500 and 1000 -> 8000 Hz), so every image or alias of a passband
    component is about 80 dB down. The sum runs in one compiled pass, K
    multiply-adds per output: :func:`acquire.analog.kernels.polyphase_grouped`
    when upsampling by ``L/M >= 4`` (runs of outputs that read the same
    inputs summed side by side), else :func:`acquire.analog.kernels.polyphase`;
    both perform the same operations.
    """

    def __init__(self, fs_in_hz: float, fs_out_hz: float, *, n_taps_per_phase: int = 24,
                 stopband_db: float = 80.0):
        self.up, self.down = rational_ratio(fs_in_hz, fs_out_hz)
        self.fs_in_hz = float(fs_in_hz)
        self.fs_out_hz = float(fs_out_hz)
        if isinstance(n_taps_per_phase, bool) or not isinstance(n_taps_per_phase, int | np.integer) \
                or n_taps_per_phase < 2:
            raise ValueError(f"n_taps_per_phase must be an integer >= 2; got {n_taps_per_phase!r}.")
        self.stopband_db = check_positive("stopband_db", stopband_db)
        if self.stopband_db <= 21:
            raise ValueError(f"stopband_db must be > 21 dB (Kaiser design range); got {stopband_db!r}.")
        fs_high = self.up * self.fs_in_hz
        n_taps = int(n_taps_per_phase) * max(self.up, self.down)
        self.cutoff_hz = min(self.fs_in_hz, self.fs_out_hz) / 2
        self.transition_hz = (self.stopband_db - 7.95) * fs_high / (2.285 * 2 * math.pi * (n_taps - 1))
        self.taps = self.up * kaiser_lowpass(n_taps, self.cutoff_hz, fs_high, self.stopband_db)
        self.group_delay_s = (n_taps - 1) / 2 / fs_high
        self.settling_time_s = (n_taps - 1) / fs_high
        # Polyphase branches: coef[r, k] = h[p_r + k L] for output residue r = m mod L, which
        # reads input floor(m M / L) - k (p_r = r M mod L).
        K = self._n_branch_taps = -(-n_taps // self.up)
        poly = np.zeros(K * self.up)
        poly[:n_taps] = self.taps
        residues = np.arange(self.up)
        self._coef = np.ascontiguousarray(poly.reshape(K, self.up).T[(residues * self.down) % self.up])
        # Upsampling by L/M >= GROUPED_MIN_RATIO: runs of outputs sharing their inputs fill most of a
        # tile of polyphase_grouped, whose transposed, zero-padded branches it reads.
        self._coef_t = (np.ascontiguousarray(np.pad(self._coef.T, ((0, 0), (0, TILE))))
                        if self.up >= GROUPED_MIN_RATIO * self.down else None)
        self._n_history = self._n_branch_taps + self.down
        self._history0 = None
        self.reset()

    def reset(self) -> None:
        """Back to the initial input history: zeros, or the primed constant."""
        self.history_ = None if self._history0 is None else self._history0.copy()
        self.n_in_ = None

    def prime(self, dc_in_v: np.ndarray) -> np.ndarray:
        """Start as if the constant input ``dc_in_v`` (n_channels,) had always been applied.

        Returns
        -------
        ndarray, shape (n_channels,)
            The mean output, ``x sum_k h[k] / L``.

        Notes
        -----
        The input history is filled with ``x = dc_in_v``, so output ``m``
        is ``x sum_k h[p + k L]``, the sum of its polyphase branch. With
        ``L = 1`` (:class:`Decimator`) that is ``H(1) x`` for every output.
        With ``L > 1`` the branch sums differ by the dc's images at
        multiples of ``fs_in_hz``, about ``10^(-stopband_db/20)`` of ``x``,
        periodically in ``m`` as in any steady run; their mean is returned.
        """
        dc = dc_vector(dc_in_v)
        self._history0 = np.repeat(dc[:, None], self._n_history, axis=1)
        self.reset()
        return dc * (np.sum(self.taps) / self.up)

    def process(self, chunk: Chunk) -> Chunk:
        """Resample one chunk; returns every output whose inputs have all arrived."""
        if chunk.cm_v is not None or chunk.cm_dvdt_v_per_s is not None:
            raise ValueError(
                "Resampler takes a differential signal only (cm_v and cm_dvdt_v_per_s None); "
                "resample before adding common-mode interference."
            )
        x = np.asarray(chunk.diff_v, dtype=float)
        if self.n_in_ is None:
            self.n_in_ = chunk.start_sample
            if self.history_ is None:
                self.history_ = np.zeros((x.shape[0], self._n_history))
        elif chunk.start_sample != self.n_in_:
            raise ValueError(
                f"Resampler needs contiguous chunks: expected start_sample={self.n_in_}, got "
                f"{chunk.start_sample}."
            )
        n0, n1 = self.n_in_, self.n_in_ + x.shape[1]
        m0 = -(-n0 * self.up // self.down)
        m1 = -(-n1 * self.up // self.down)
        data = np.concatenate([self.history_, x], axis=1)
        y = self._compute(data, n0 - self._n_history, m0, m1)
        self.history_ = data[:, -self._n_history:]
        self.n_in_ = n1
        return Chunk(diff_v=y, start_sample=m0)

    def _compute(self, data: np.ndarray, data_start: int, m0: int, m1: int) -> np.ndarray:
        """Outputs ``m0 <= m < m1``; ``data[:, i]`` is input ``data_start + i``."""
        out = np.empty((data.shape[0], max(0, m1 - m0)))
        if self._coef_t is None:
            polyphase(np.ascontiguousarray(data), data_start, m0, self._coef, self.up, self.down, out)
        else:
            polyphase_grouped(np.ascontiguousarray(data), data_start, m0, self._coef_t, self.up, self.down, out)
        return out


class Decimator(Resampler):
    """Anti-aliased integer decimation by ``factor`` (``L = 1``, ``M = factor``).

    Parameters
    ----------
    fs_in_hz : float
        Input rate.
    factor : int
        Decimation factor (>= 2); the output rate is ``fs_in_hz / factor``.
    **kwargs
        ``n_taps_per_phase`` and ``stopband_db`` as for :class:`Resampler`.
    """

    def __init__(self, fs_in_hz: float, factor: int, **kwargs):
        if isinstance(factor, bool) or not isinstance(factor, int | np.integer) or factor < 2:
            raise ValueError(f"factor must be an integer >= 2; got {factor!r}.")
        super().__init__(fs_in_hz, check_positive("fs_in_hz", fs_in_hz) / factor, **kwargs)
        self.factor = int(factor)
