"""Adaptive mains canceller: NLMS with internally generated sine and cosine references.

After Widrow et al., "Adaptive noise cancelling: principles and applications",
Proc. IEEE 63(12):1692-1716, 1975 (section on cancelling periodic
interference in the ECG with a sinusoidal reference).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import signal

from acquire._check import check_below_nyquist, check_positive
from acquire.digital.filters import (
    DELAY_REFERENCE_HZ,
    check_harmonics,
    pole_settling_time_s,
    sos_group_delay_s,
)
from acquire.stage import Chunk, dc_vector

class AdaptiveMainsCanceller:
    """NLMS canceller of mains interference and its harmonics, per channel.

    Parameters
    ----------
    mains_hz : float
        Nominal mains frequency.
    fs_hz : float
        Sampling rate.
    step_size : float, default 0.01
        NLMS step ``mu``, 0 < mu < 2. Sets convergence and notch width:
        the residual falls by 40 dB in about ``9.2 K / mu`` samples (1.84 s at
        500 Hz for one harmonic) and the -3 dB width of each notch is about
        ``mu fs / (2 pi K)`` Hz (0.80 Hz at 500 Hz), with ``K = len(harmonics)``.
    harmonics : sequence of int, default (1,)
        Harmonics ``k`` of ``mains_hz`` to cancel (two weights each); all must
        lie below Nyquist.
    track_frequency : bool, default False
        Follow a drifting mains frequency (see Notes).
    track_block_s : float, default 0.2
        Length of the blocks over which the frequency error is measured.
    track_gain : float, default 0.5
        Fraction of the measured frequency error corrected per block, 0 < g <= 1.
    track_range_hz : float, optional
        The tracked frequency stays within ``mains_hz +- track_range_hz``;
        default 2 % of ``mains_hz`` (EN 50160: +-1 % for 99.5 % of a year on
        interconnected grids, +-2 % for 95 % of a week on islands; facts.md 2.4).
    delay_reference_hz : float, default 10
        Where ``group_delay_s`` is evaluated.

    Attributes
    ----------
    sos : ndarray
        The exact LTI equivalent at the nominal frequency (Notes), as
        second-order sections.
    group_delay_s : float
        Group delay of ``sos`` at ``delay_reference_hz``.
    settling_time_s : float
        Convergence time: after a mains onset the residual envelope decays as
        ``rho^n`` (``rho`` = largest pole radius of ``sos``); this is the time
        for it to fall to 1 % (-40 dB), ``ln(100) / (-ln rho) / fs_hz``. For
        one harmonic ``rho = sqrt(1 - mu)`` exactly.
    s_ : ndarray, shape (2K, n_channels), complex, or None
        Modal state (Notes); after ``reset()`` None (zero weights) or the primed state.
    omega_ : float
        Current reference phase increment of the fundamental, rad/sample.

    Notes
    -----
    References ``x = [cos(k phi_n), sin(k phi_n)]`` for each harmonic ``k``,
    ``phi_n = 2 pi f n / fs`` from the absolute sample index ``n``; the
    output is the error ``e_n = d_n - w_n . x_n`` and the NLMS update is
    ``w_{n+1} = w_n + (mu / |x_n|^2) e_n x_n`` with ``|x_n|^2 = K`` exactly,
    so every harmonic adapts with ``mu' = mu / K``.

    With the complex weight ``W_k = w_cos - j w_sin`` and the rotating weight
    ``V_k = W_k exp(j k phi_n)`` the update becomes

    ``V_{k,n+1} = exp(j k omega) (V_{k,n} + mu' e_n)``,  ``e_n = d_n - sum_k Re V_{k,n}``,

    which no longer depends on ``n``: the canceller is exactly a linear
    time-invariant filter (Widrow et al. 1975, their notch-filter analysis).
    For one harmonic its transfer function is

    ``H(z) = (z^2 - 2 cos(omega) z + 1) / (z^2 - (2 - mu) cos(omega) z + 1 - mu)``,

    a notch with zeros on the unit circle at ``+-omega`` and poles of radius
    ``sqrt(1 - mu)`` (Widrow's form with ``2 mu C^2 -> mu``). It is run in the
    eigenbasis of its ``2K x 2K`` state matrix: each mode is a first-order
    complex recursion (``scipy.signal.lfilter`` with the state carried), so
    the cost is ``2K`` vectorised passes per chunk and the output does not
    depend on chunking. The weights are recovered from the state exactly
    (:attr:`weights`).

    Frequency tracking: the absolute index is cut into blocks of
    ``B = round(track_block_s fs)`` samples. When the mains runs at
    ``omega + delta``, the weight phasor ``W`` of the lowest harmonic ``k``
    rotates by ``k delta`` per sample in steady state; at each block boundary
    ``delta = angle(sum_channels W_end conj(W_start)) / (k B)`` is measured
    (an amplitude-weighted mean over channels, since the mains frequency is
    common to all leads), and the reference increment becomes
    ``omega + track_gain delta``, clipped to the tracking range. The
    reference phase stays continuous. The tracker's time constant is about
    ``B / track_gain`` samples plus the canceller's own ``2 K / mu`` (0.4 s +
    0.4 s with the defaults at 500 Hz). Measured with the defaults at 500 Hz,
    mains drifting linearly from 60 to 60.5 Hz in 60 s: the residual
    interference stays below -37 dB in every 1-s window after convergence
    (without tracking it reaches -2 dB by the end of the minute). With no
    mains in the input the weights are noise and the tracked frequency
    wanders within the range, which is harmless. Block boundaries are
    absolute sample indices, so tracking is chunk-invariant too.

    Steady start (:meth:`prime`): a constant input ``d`` is passed with the
    LTI equivalent's dc gain ``H(1)`` (``2 / (2 - mu)`` for one harmonic:
    the weights settle where ``Re V = -mu e / 2``). Each mode
    ``s[n] = lam s[n-1] + beta d`` is then at its fixed point
    ``s = beta d / (1 - lam)`` and the output is
    ``e = d (1 + Re sum_i gamma_i beta_i / (1 - lam_i))``. With tracking, the
    settled weights turn by ``k omega B`` per block, which the tracker reads
    as no frequency error only when the block holds whole mains cycles
    (``mains_hz track_block_s`` an integer, as with the defaults); otherwise
    a dc input moves the tracked frequency, primed or not.
    """

    def __init__(self, mains_hz: float, fs_hz: float, *, step_size: float = 0.01,
                 harmonics: Sequence[int] = (1,), track_frequency: bool = False,
                 track_block_s: float = 0.2, track_gain: float = 0.5,
                 track_range_hz: float | None = None,
                 delay_reference_hz: float = DELAY_REFERENCE_HZ):
        self.fs_in_hz = self.fs_out_hz = check_positive("fs_hz", fs_hz)
        self.mains_hz = check_below_nyquist("mains_hz", mains_hz, self.fs_in_hz)
        mu = float(step_size)
        if not 0 < mu < 2:
            raise ValueError(f"step_size must lie in (0, 2) (NLMS stability); got {step_size!r}.")
        self.step_size = mu
        self.track_frequency = bool(track_frequency)
        self.track_range_hz = check_positive(
            "track_range_hz", 0.02 * self.mains_hz if track_range_hz is None else track_range_hz)
        highest_hz = self.mains_hz + (self.track_range_hz if self.track_frequency else 0.0)
        self.harmonics = check_harmonics(harmonics, highest_hz, self.fs_in_hz)
        self.track_gain = float(track_gain)
        if not 0 < self.track_gain <= 1:
            raise ValueError(f"track_gain must lie in (0, 1]; got {track_gain!r}.")
        self.track_block = round(check_positive("track_block_s", track_block_s) * self.fs_in_hz)
        self._k_track = min(self.harmonics)
        # A frequency error of up to 2 track_range_hz must turn the weights by less than half
        # a turn per block, or the measured rotation would wrap.
        longest_s = 0.25 / (self._k_track * self.track_range_hz)
        if self.track_frequency and not (self.track_block >= 1
                                         and self.track_block / self.fs_in_hz < longest_s):
            raise ValueError(
                f"track_block_s={track_block_s!r} must span at least one sample and stay below "
                f"0.25 / (lowest harmonic x track_range_hz): track_block_s < {longest_s:g} s.")
        self._omega0 = 2 * math.pi * self.mains_hz / self.fs_in_hz
        self._omega_range = 2 * math.pi * self.track_range_hz / self.fs_in_hz
        self.delay_reference_hz = check_below_nyquist("delay_reference_hz", delay_reference_hz,
                                                      self.fs_in_hz)
        lam = self._design(self._omega0)[0]
        zeros = np.exp(1j * self._omega0 * np.array([k * sign for k in self.harmonics
                                                     for sign in (1, -1)]))
        self.sos = signal.zpk2sos(zeros, lam, 1.0)
        self.group_delay_s = sos_group_delay_s(self.sos, self.delay_reference_hz, self.fs_in_hz)
        self.settling_time_s = pole_settling_time_s(lam, self.fs_in_hz)
        self._s0 = None
        self.reset()

    def _design(self, omega: float):
        """Modes of the canceller at fundamental increment ``omega`` (rad/sample).

        Returns eigenvalues ``lam``, input gains ``beta``, output gains
        ``gamma`` and the eigenvector matrix ``E`` (``v = Re(E s)``) of the
        real state ``v = [Re V_1, Im V_1, Re V_2, ...]`` with
        ``v' = A v + B d``, ``e = C v + d``.
        """
        n_harm = len(self.harmonics)
        mu = self.step_size / n_harm
        real_part = np.zeros(2 * n_harm)
        real_part[0::2] = 1.0
        rot = np.zeros((2 * n_harm, 2 * n_harm))
        for i, k in enumerate(self.harmonics):
            c, s = math.cos(k * omega), math.sin(k * omega)
            rot[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[c, -s], [s, c]]
        a = rot @ (np.eye(2 * n_harm) - mu * np.outer(real_part, real_part))
        lam, vecs = np.linalg.eig(a)
        if np.linalg.cond(vecs) > 1e8:
            raise ValueError(f"step_size={self.step_size!r} places two poles of the canceller on "
                             f"top of each other; choose a smaller step_size.")
        inv = np.linalg.inv(vecs)
        return lam, inv @ (mu * rot @ real_part), -real_part @ vecs, vecs, inv

    def _set_frequency(self, omega: float) -> None:
        self.omega_ = omega
        self._lam, self._beta, self._gamma, self._vecs, self._inv = self._design(omega)

    def reset(self) -> None:
        """Back to the initial weights (zero, or primed) and the nominal mains frequency."""
        self._set_frequency(self._omega0)
        self.s_ = None if self._s0 is None else self._s0.copy()
        self.block_start_ = None   # absolute index where the current phase block began
        self.block_phase_ = 0.0    # fundamental reference phase at block_start_, rad
        self.next_sample_ = None   # absolute index of the next input sample
        self.w_block_ = None       # lowest-harmonic weight phasors at the last block boundary

    def prime(self, dc_in_v: np.ndarray) -> np.ndarray:
        """Start in the steady state for the constant input ``dc_in_v`` (n_channels,); return the dc output.

        The modal state is ``beta d / (1 - lam)`` at the nominal frequency
        (class Notes), the output ``H(1) d``; ``reset()`` returns to it.
        """
        dc = dc_vector(dc_in_v)
        self._set_frequency(self._omega0)
        modes = self._beta / (1.0 - self._lam)
        self._s0 = np.outer(modes, dc).astype(complex)
        self.reset()
        return dc * (1.0 + float(np.real(self._gamma @ modes)))

    def _rotating_weights(self) -> np.ndarray:
        """``V`` (K, n_channels) from the modal state."""
        v = (self._vecs @ self.s_).real
        return v[0::2] + 1j * v[1::2]

    @property
    def weights(self) -> np.ndarray | None:
        """Current NLMS weights ``(w_cos, w_sin)``, shape (n_channels, K, 2); None before data."""
        if self.next_sample_ is None:
            return None
        phase = self.block_phase_ + self.omega_ * (self.next_sample_ - self.block_start_)
        w = self._rotating_weights() * np.exp(-1j * np.array(self.harmonics)[:, None] * phase)
        return np.stack([w.real, -w.imag], axis=-1).transpose(1, 0, 2)

    def freq_response(self, f_hz) -> np.ndarray:
        """Complex response of the LTI equivalent at the nominal frequency."""
        f = np.atleast_1d(np.asarray(f_hz, dtype=float))
        return signal.sosfreqz(self.sos, worN=f, fs=self.fs_in_hz)[1]

    def _filter(self, x: np.ndarray) -> np.ndarray:
        acc = np.zeros(x.shape, dtype=complex)
        for i, (lam, beta, gamma) in enumerate(zip(self._lam, self._beta, self._gamma)):
            y, zf = signal.lfilter([0.0, beta], [1.0, -lam], x, axis=-1, zi=self.s_[i][:, None])
            self.s_[i] = zf[:, 0]
            acc += gamma * y
        return x + acc.real

    def _track(self, boundary: int) -> None:
        """Frequency update at an absolute block boundary."""
        v_now = self._rotating_weights()[self.harmonics.index(self._k_track)]
        phase = self.block_phase_ + self.omega_ * (boundary - self.block_start_)
        w_now = v_now * np.exp(-1j * self._k_track * phase)
        if self.w_block_ is not None:
            turn = np.sum(w_now * np.conj(self.w_block_))
            if turn != 0:
                delta = float(np.angle(turn)) / (self._k_track * self.track_block)
                omega = float(np.clip(self.omega_ + self.track_gain * delta,
                                      self._omega0 - self._omega_range,
                                      self._omega0 + self._omega_range))
                v = (self._vecs @ self.s_).real
                self._set_frequency(omega)
                self.s_ = self._inv @ v
        self.w_block_ = w_now
        self.block_start_, self.block_phase_ = boundary, math.fmod(phase, 2 * math.pi)

    def process(self, chunk: Chunk) -> Chunk:
        """Cancel the mains in ``chunk.diff_v``."""
        x = np.asarray(chunk.diff_v, dtype=np.float64)
        n0, n = chunk.start_sample, x.shape[-1]
        if self.block_start_ is None:
            if self.s_ is None:
                self.s_ = np.zeros((self._lam.size, x.shape[0]), dtype=complex)
            self.block_start_ = n0
            self.block_phase_ = math.fmod(self._omega0 * n0, 2 * math.pi)
        y = np.empty_like(x)
        pos = 0
        while pos < n:
            end = n
            if self.track_frequency:
                end = min(n, ((n0 + pos) // self.track_block + 1) * self.track_block - n0)
            y[:, pos:end] = self._filter(x[:, pos:end])
            pos = end
            if self.track_frequency and (n0 + pos) % self.track_block == 0:
                self._track(n0 + pos)
        self.next_sample_ = n0 + n
        return Chunk(diff_v=y, cm_v=None, cm_dvdt_v_per_s=None, start_sample=n0)
