"""ECGSYN: the dynamical model of a synthetic ECG (McSharry et al. 2003), streamed.

The phase of the model's limit cycle is built beat by beat from an RR
tachogram with a bimodal (LF/HF) spectrum, so every R peak falls exactly on a
sample; the z equation, linear in z once the phase is known, is integrated
exactly for a piecewise-linear drive with a first-order recursion
(``scipy.signal.lfilter``) whose state carries over between reads.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import fft, signal

from acquire._check import check_positive
from acquire.noise import BlockNoise
from acquire.sources.recording import Annotations, Recording

#: Standard deviation of each Gaussian peak of the RR spectrum, Hz
#: (McSharry et al. 2003, Sec. II; ``flostd = fhistd = 0.01`` in ecgsyn.m).
SPECTRUM_STD_HZ = 0.01
#: Sampling rate of the RR process before it is interpolated at beat times.
#: Linear interpolation from 8 Hz keeps sinc^4(f/8 Hz) >= 0.994 of the power
#: at 0.25 Hz, so the LF/HF ratio is biased by < 1 %.
RR_FS_HZ = 8.0
#: Shortest period of the RR process, s: keeps the spectral grid at least 2.5
#: bins per SPECTRUM_STD_HZ for short records.
MIN_RR_PERIOD_S = 256.0
#: Points per beat of the steady-state template used for the amplitude scale.
TEMPLATE_POINTS = 4096
#: Samples per block of measurement noise; each block has its own generator
#: keyed on (seed, channel block index), so reads of any size draw the same.
NOISE_BLOCK = 65536

_DEG = math.pi / 180.0


def _check_count(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}.")


def _tuple5(name: str, values, *, positive: bool = False) -> tuple[float, ...]:
    vals = tuple(float(v) for v in values)
    if len(vals) != 5:
        raise ValueError(f"{name} must have 5 values (P, Q, R, S, T); got {len(vals)}: {values!r}.")
    for v in vals:
        if not math.isfinite(v) or (positive and v <= 0):
            need = "finite and > 0" if positive else "finite"
            raise ValueError(f"{name} values must be {need}; got {values!r}.")
    return vals


@dataclass(frozen=True)
class EcgsynParams:
    """Parameters of the ECGSYN model.

    Parameters
    ----------
    heart_rate_bpm : float
        Mean heart rate, 20 to 300 beats per minute.
    heart_rate_std_bpm : float
        Standard deviation of the heart rate, 0 to ``heart_rate_bpm / 10``
        (the bound keeps every RR interval positive).
    lf_hz, hf_hz : float
        Centres of the low- (Mayer wave) and high-frequency (respiratory)
        peaks of the RR spectrum, ``0 < lf_hz < hf_hz``. ``hf_hz`` is also the
        frequency of the respiratory baseline wander.
    lf_hf_ratio : float
        Ratio of the power in the LF peak to the power in the HF peak, >= 0.
    theta_rad : tuple of 5 float
        Angles of the P, Q, R, S, T extrema on the limit cycle at 60 bpm, in
        (-pi, pi].
    a : tuple of 5 float
        Gaussian amplitudes of P, Q, R, S, T (model units); ``a[2]`` (R) > 0.
    b : tuple of 5 float
        Gaussian widths of P, Q, R, S, T at 60 bpm, radians, > 0.
    amplitude_mv : float
        Height of the R peak above the isoelectric level, mV, for a
        steady-state beat at the mean heart rate (see Notes). The default
        1 mV is an assumption: a typical limb-lead R wave, inside the
        0.5-5 mV ECG range of the reference facts (Analog Dialogue).
    baseline_wander_mv : float
        Amplitude A of the respiratory baseline ``z0 = A sin(2 pi hf_hz t)``
        in the z equation, mV; 0 switches it off. The paper uses 0.15 mV.
        The model's unit-rate relaxation low-passes z0, so the wander seen in
        the output is ``A / sqrt(1 + (2 pi hf_hz * 1 s)^2)`` (0.54 A at
        0.25 Hz).
    noise_mv : float
        RMS of additive white Gaussian measurement noise, mV, >= 0.
        (ecgsyn.m adds uniform noise of half-width ``Anoise``; Gaussian noise
        makes this an RMS value comparable with the front-end noise models.)

    Notes
    -----
    Defaults are those of McSharry et al. (2003), Table I and Sec. II:
    theta = (-70, -15, 0, 15, 100) deg, a = (1.2, -5, 30, -7.5, 0.75),
    b = (0.25, 0.1, 0.1, 0.1, 0.4), LF 0.1 Hz, HF 0.25 Hz, LF/HF = 0.5.
    """

    heart_rate_bpm: float = 60.0
    heart_rate_std_bpm: float = 1.0
    lf_hz: float = 0.1
    hf_hz: float = 0.25
    lf_hf_ratio: float = 0.5
    theta_rad: tuple = tuple(d * _DEG for d in (-70.0, -15.0, 0.0, 15.0, 100.0))
    a: tuple = (1.2, -5.0, 30.0, -7.5, 0.75)
    b: tuple = (0.25, 0.1, 0.1, 0.1, 0.4)
    amplitude_mv: float = 1.0
    baseline_wander_mv: float = 0.15
    noise_mv: float = 0.0

    def __post_init__(self):
        hr = check_positive("heart_rate_bpm", self.heart_rate_bpm)
        if not 20.0 <= hr <= 300.0:
            raise ValueError(f"heart_rate_bpm must be in [20, 300]; got {self.heart_rate_bpm!r}.")
        std = check_positive("heart_rate_std_bpm", self.heart_rate_std_bpm, allow_zero=True)
        if std > hr / 10:
            raise ValueError(
                f"heart_rate_std_bpm must be in [0, heart_rate_bpm/10 = {hr / 10:g}] so every "
                f"RR interval stays positive; got {self.heart_rate_std_bpm!r}."
            )
        lf = check_positive("lf_hz", self.lf_hz)
        hf = check_positive("hf_hz", self.hf_hz)
        if not lf < hf:
            raise ValueError(f"lf_hz must be below hf_hz; got lf_hz={lf:g}, hf_hz={hf:g}.")
        check_positive("lf_hf_ratio", self.lf_hf_ratio, allow_zero=True)
        theta = _tuple5("theta_rad", self.theta_rad)
        if not all(-math.pi < t <= math.pi for t in theta):
            raise ValueError(f"theta_rad values must be in (-pi, pi]; got {self.theta_rad!r}.")
        a = _tuple5("a", self.a)
        if a[2] <= 0:
            raise ValueError(f"a[2] (the R wave) must be > 0; got a={self.a!r}.")
        b = _tuple5("b", self.b, positive=True)
        object.__setattr__(self, "theta_rad", theta)
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)
        check_positive("amplitude_mv", self.amplitude_mv)
        check_positive("baseline_wander_mv", self.baseline_wander_mv, allow_zero=True)
        check_positive("noise_mv", self.noise_mv, allow_zero=True)

    def scaled_morphology(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Angles, amplitudes and widths adjusted to the mean heart rate.

        As in ecgsyn.m: with ``f = sqrt(heart_rate_bpm / 60)``, the widths are
        multiplied by f and the angles of (P, Q, R, S, T) by
        (sqrt(f), f, 1, f, sqrt(f)).
        """
        f = math.sqrt(self.heart_rate_bpm / 60.0)
        theta = np.array(self.theta_rad) * np.array([math.sqrt(f), f, 1.0, f, math.sqrt(f)])
        return theta, np.array(self.a), np.array(self.b) * f


def _rr_process(params: EcgsynParams, n: int, rng: np.random.Generator) -> np.ndarray:
    """RR intervals, s, sampled at ``RR_FS_HZ`` over one period of ``n`` samples.

    Notes
    -----
    McSharry et al. (2003), Sec. II-A: the RR power spectrum is the sum of two
    Gaussians of equal width ``SPECTRUM_STD_HZ`` centred on ``lf_hz`` and
    ``hf_hz``, with areas in the ratio ``lf_hf_ratio : 1``. The series is the
    inverse FFT of amplitudes ``sqrt(S(f))`` with uniform random phases,
    scaled to mean ``60 / hr`` and standard deviation ``60 hr_std / hr^2``
    (the first-order map of the heart-rate std to RR), as in rrprocess of
    ecgsyn.m. The series is periodic with period ``n / RR_FS_HZ``.
    """
    rr_mean = 60.0 / params.heart_rate_bpm
    rr_std = 60.0 * params.heart_rate_std_bpm / params.heart_rate_bpm**2
    f = fft.rfftfreq(n, 1.0 / RR_FS_HZ)

    def peak(centre_hz):
        return np.exp(-0.5 * ((f - centre_hz) / SPECTRUM_STD_HZ) ** 2)

    power = params.lf_hf_ratio * peak(params.lf_hz) + peak(params.hf_hz)
    spectrum = np.sqrt(power) * np.exp(2j * np.pi * rng.random(f.size))
    spectrum[0] = 0.0
    if n % 2 == 0:
        spectrum[-1] = 0.0
    x = fft.irfft(spectrum, n)
    sd = x.std()
    if rr_std == 0.0 or sd == 0.0:
        return np.full(n, rr_mean)
    return rr_mean + x * (rr_std / sd)


def _beat_boundaries(params: EcgsynParams, duration_s: float, fs_hz: float, seed: int) -> np.ndarray:
    """Sample indices of successive R peaks covering ``[0, duration_s)``.

    The first boundary is negative (the beat under way when the record
    starts, half an RR interval before its first R peak) and the last is at
    or past the end.

    Notes
    -----
    Beat k starts at time T_k of the RR process and lasts
    ``RR_k = rr(T_k)`` (linear interpolation of the periodic RR series), as in
    ecgsyn.m. The record's time is ``t = T - rr(0)/2`` and each R peak is
    placed on the nearest sample, ``n_k = round(t_k fs)``; rounding does not
    accumulate because T_k is kept in continuous time.
    """
    rr_mean = 60.0 / params.heart_rate_bpm
    period_s = max(duration_s + 2 * rr_mean, MIN_RR_PERIOD_S)
    n_rr = fft.next_fast_len(math.ceil(period_s * RR_FS_HZ), real=True)
    rr = _rr_process(params, n_rr, np.random.default_rng([seed, 0])).tolist()
    t_end = duration_s + rr[0] / 2
    times = [0.0]
    t = 0.0
    while t <= t_end:
        u = t * RR_FS_HZ
        i = int(u)
        frac = u - i
        t += rr[i % n_rr] * (1.0 - frac) + rr[(i + 1) % n_rr] * frac
        times.append(t)
    return np.rint((np.array(times) - rr[0] / 2) * fs_hz).astype(np.int64)


def _phase(n: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Phase theta in (-pi, pi] at absolute samples ``n``: 0 at each R peak."""
    k = np.searchsorted(bounds, n, side="right") - 1
    frac = (n - bounds[k]) / (bounds[k + 1] - bounds[k])
    theta = 2.0 * np.pi * frac
    return np.where(frac > 0.5, theta - 2.0 * np.pi, theta)


def _drive(theta: np.ndarray, centres: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The z-equation drive ``-sum_i a_i dtheta_i exp(-dtheta_i^2 / (2 b_i^2))``."""
    out = np.zeros_like(theta)
    for ti, ai, bi in zip(centres, a, b):
        d = np.mod(theta - ti + np.pi, 2.0 * np.pi) - np.pi
        out -= ai * d * np.exp(-0.5 * (d / bi) ** 2)
    return out


def _foh_coefficients(h_s: float) -> tuple[list[float], list[float]]:
    """lfilter (b, a) integrating ``dz/dt = g - z`` exactly for g linear between samples."""
    alpha = math.exp(-h_s)
    c = -math.expm1(-h_s) / h_s  # (1 - alpha) / h
    return [1.0 - c, c - alpha], [1.0, -alpha]


class EcgsynStream:
    """ECGSYN samples read in successive blocks of any size.

    Parameters
    ----------
    params : EcgsynParams
        Model parameters.
    duration_s : float
        Record length, s; ``n_samples = round(duration_s * fs_hz)``.
    fs_hz : float
        Sampling rate, Hz.
    seed : int
        Seeds the RR tachogram and the measurement noise.
    n_channels : int
        Number of identical leads, each with its own measurement noise.

    Attributes
    ----------
    annotations : Annotations
        R-peak sample of every beat of the whole record, symbol ``'N'``.

    Notes
    -----
    McSharry, Clifford, Tarassenko & Smith, "A dynamical model for generating
    synthetic electrocardiogram signals", IEEE TBME 50(3):289-294, 2003:

    .. math::

        \\dot x = \\alpha x - \\omega y, \\quad \\dot y = \\alpha y + \\omega x,
        \\quad \\alpha = 1 - \\sqrt{x^2 + y^2},

        \\dot z = -\\sum_{i \\in \\{P,Q,R,S,T\\}} a_i \\Delta\\theta_i
        \\exp\\!\\left(-\\frac{\\Delta\\theta_i^2}{2 b_i^2}\\right) - (z - z_0),

    with ``theta = atan2(y, x)``, ``dtheta_i = (theta - theta_i) mod 2 pi``
    wrapped to [-pi, pi), ``omega = 2 pi / RR`` held constant over each beat
    (as ecgsyn.m does) and ``z0 = A sin(2 pi hf_hz t)``.

    Discretisation. Started on the unit circle, (x, y) stays on it, so
    ``theta`` is the integral of omega: it rises linearly from 0 at the
    sample of one R peak to 2 pi at the next, computed per sample from the
    absolute index (exact). R peaks are therefore exactly on samples, and the
    annotation is the sample where ``theta = 0``, the centre of the R
    Gaussian. The maximum of the continuous z lies ``b_R^2 / omega^2`` earlier
    (the relaxation term; 0.25 ms at 60 bpm), less than half a sample up to
    about 2 kHz. Given theta, the z equation is linear; it is split by
    superposition into the ECG part, integrated with the drive g taken as
    linear between samples (first-order hold, exact for that g):
    ``z[n+1] = e^-h z[n] + (1 - c) g[n+1] + (c - e^-h) g[n]`` with
    ``c = (1 - e^-h)/h``; its error is second order in ``h omega / b_R``
    (against scipy's DOP853 on the paper's equations: 0.03 % RMS, 0.11 %
    peak of the R amplitude at 500 Hz and 70 bpm; the R peak is within
    0.1 % of ``amplitude_mv`` at 1 kHz, 0.6 % at 250 Hz and 60 bpm, 2 % at
    250 Hz and 120 bpm, so use fs_hz >= 250 Hz, more for fast rates). The
    respiratory part is the exact steady state
    ``A (sin wt - w cos wt) / (1 + w^2)``, ``w = 2 pi hf_hz``. The published
    ODE is integrated, rather than the Gaussian sum used directly as the
    waveform, so that the beat-to-beat amplitude change with RR, the
    high-pass action of the relaxation term and the wander are those of the
    model.

    Scaling. ecgsyn.m rescales the whole record to [-0.4, 1.2] mV, which
    needs the whole record and makes the gain depend on it. Here one
    constant gain and offset are applied instead, from the steady-state
    periodic solution at the mean heart rate (computed on a
    ``TEMPLATE_POINTS`` grid): its value at theta = 0 (R peak) maps to
    ``amplitude_mv`` and its value at theta = pi (the point opposite the R
    peak, mid T-P segment at normal rates) maps to 0 mV. The relaxation term
    acts on the Gaussian sum as a 0.16 Hz first-order high-pass, which is why
    this isoelectric level is below the model's z = 0. Beats faster or slower
    than the mean are a little smaller or larger, as in the model.

    The record starts half a beat before the first R peak, with z on the
    steady-state template, so there is no start-up transient. Memory is that
    of the RR series and beat list (a few MB for 24 h) plus O(read size)
    and one noise block of ``NOISE_BLOCK`` samples per channel.
    """

    def __init__(self, params: EcgsynParams = EcgsynParams(), *, duration_s: float, fs_hz: float,
                 seed: int = 0, n_channels: int = 1):
        if not isinstance(params, EcgsynParams):
            raise TypeError(f"params must be an EcgsynParams; got {type(params).__name__}.")
        self.fs_hz = check_positive("fs_hz", fs_hz)
        check_positive("duration_s", duration_s)
        self.n_samples = int(round(duration_s * self.fs_hz))
        if self.n_samples < 1:
            raise ValueError(
                f"duration_s * fs_hz must give at least one sample; got {duration_s!r} s at {fs_hz!r} Hz."
            )
        _check_count("seed", seed, 0)
        _check_count("n_channels", n_channels, 1)
        self.params = params
        self.seed = int(seed)
        self.n_channels = int(n_channels)
        self.noise_ = BlockNoise(self.seed, 1, self.n_channels, NOISE_BLOCK)
        self._centres, self._a, self._b = params.scaled_morphology()
        self._bounds = _beat_boundaries(params, self.n_samples / self.fs_hz, self.fs_hz, self.seed)
        peaks = self._bounds[(self._bounds >= 0) & (self._bounds < self.n_samples)]
        self.annotations = Annotations(peaks, np.full(peaks.size, "N"))
        self._filt_b, self._filt_a = _foh_coefficients(1.0 / self.fs_hz)
        self._gain, self._offset, z_start = self._steady_state_scale()
        theta0 = _phase(np.zeros(1, dtype=np.int64), self._bounds)
        g0 = _drive(theta0, self._centres, self._a, self._b)[0]
        self._zi0 = np.array([z_start(theta0[0]) - self._filt_b[0] * g0])
        self.reset()

    def _steady_state_scale(self):
        """Gain, offset and z(theta) of the periodic solution at the mean heart rate."""
        m = TEMPLATE_POINTS
        theta = -np.pi + 2.0 * np.pi * np.arange(m + 1) / m
        g = _drive(theta, self._centres, self._a, self._b)
        fb, fa = _foh_coefficients(60.0 / self.params.heart_rate_bpm / m)
        from_zero = signal.lfilter(fb, fa, g, zi=[-fb[0] * g[0]])[0]  # z[0] = 0
        # z[m] = alpha^m z[0] + from_zero[m]; periodicity z[m] = z[0]:
        z0 = from_zero[m] / (1.0 - (-fa[1]) ** m)
        z = signal.lfilter(fb, fa, g, zi=[z0 - fb[0] * g[0]])[0]
        z_peak, z_iso = z[m // 2], z[0]
        if not z_peak > z_iso:
            raise ValueError(
                f"a, b and theta_rad give no positive R peak (R {z_peak:.3g} <= isoelectric "
                f"{z_iso:.3g}); make a[2] dominate."
            )
        gain = self.params.amplitude_mv / (z_peak - z_iso)
        return gain, z_iso, lambda th: float(np.interp(th, theta, z, period=2 * np.pi))

    def reset(self) -> None:
        """Go back to the first sample; the next reads replay the record exactly."""
        self.position_ = 0
        self.zi_ = self._zi0.copy()
        self.noise_.reset()

    def read(self, n: int) -> np.ndarray:
        """Return the next ``min(n, remaining)`` samples, volts, shape (n_channels, n)."""
        _check_count("n", n, 0)
        start = self.position_
        stop = min(start + int(n), self.n_samples)
        idx = np.arange(start, stop, dtype=np.int64)
        g = _drive(_phase(idx, self._bounds), self._centres, self._a, self._b)
        z, self.zi_ = signal.lfilter(self._filt_b, self._filt_a, g, zi=self.zi_)
        mv = self._gain * (z - self._offset) + self._wander_mv(idx)
        out = np.repeat(mv[None, :], self.n_channels, axis=0)
        if self.params.noise_mv > 0:
            out += self.params.noise_mv * self.noise_.normal(start, stop)
        self.position_ = stop
        return out * 1e-3

    def _wander_mv(self, idx: np.ndarray) -> np.ndarray:
        amp = self.params.baseline_wander_mv
        if amp == 0:
            return np.zeros(idx.size)
        w = 2.0 * np.pi * self.params.hf_hz
        wt = w * (idx / self.fs_hz)
        return amp * (np.sin(wt) - w * np.cos(wt)) / (1.0 + w * w)


def ecgsyn(params: EcgsynParams = EcgsynParams(), *, duration_s: float, fs_hz: float, seed: int = 0,
           n_channels: int = 1) -> Recording:
    """Generate a synthetic ECG with exact beat annotations.

    Parameters
    ----------
    params : EcgsynParams
        Model parameters (McSharry et al. 2003 defaults).
    duration_s : float
        Record length, s.
    fs_hz : float
        Sampling rate, Hz.
    seed : int
        Same seed, same samples; a different seed gives a different RR series.
    n_channels : int
        Number of identical leads, each with its own measurement noise.

    Returns
    -------
    Recording
        Volts, shape (n_channels, n_samples), channels ``("ECG",)`` or
        ``("ECG1", "ECG2", ...)``; every R peak annotated ``'N'``.

    Notes
    -----
    One read of an :class:`EcgsynStream`, so streamed and one-shot records
    are bit-identical; see that class for the model and its discretisation.
    """
    stream = EcgsynStream(params, duration_s=duration_s, fs_hz=fs_hz, seed=seed, n_channels=n_channels)
    names = ("ECG",) if stream.n_channels == 1 else tuple(f"ECG{i + 1}" for i in range(stream.n_channels))
    return Recording(
        signals_v=stream.read(stream.n_samples),
        fs_hz=stream.fs_hz,
        channel_names=names,
        annotations=stream.annotations,
        provenance={"generator": "ecgsyn", "seed": stream.seed, **dataclasses.asdict(params)},
    )
