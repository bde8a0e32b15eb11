"""Streaming digital filter stages at the ADC rate, and the registry that builds them by name.

High-pass (baseline), low-pass (band limit), mains notch and mains comb are
linear time-invariant stages: :class:`SosFilter` (IIR, second-order sections)
and :class:`FirFilter` (linear-phase FIR), each carrying its filter state
between chunks, so any chunking gives bit-identical output. Zero-phase
(forward-backward) filtering is not causal and exists only as the offline
function :func:`zero_phase`.

Every stage reports

- ``group_delay_s``: for FIR stages the exact linear-phase delay
  ``(n_taps - 1) / 2 / fs``; for IIR stages the group delay at
  ``delay_reference_hz`` (default :data:`DELAY_REFERENCE_HZ` = 10 Hz, inside
  the QRS band), ``-d(phase)/d(omega)`` summed over the sections
  (``scipy.signal.group_delay``).
- ``settling_time_s``: for IIR stages, the time for the slowest natural mode
  (the pole of largest radius ``rho``) to decay to :data:`SETTLING_FRACTION`
  (1 %, -40 dB) of its initial amplitude, ``ln(100) / (-ln rho) / fs``;
  for a first-order high-pass it is ``tau ln(100) = 4.6 tau``, for a notch
  of -3 dB bandwidth ``bw`` about ``ln(100) / (pi bw)``. For FIR stages,
  ``(n_taps - 1) / fs``, after which the output no longer depends on the
  zero history before the first input.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Sequence

import numpy as np
from scipy import signal

from acquire._check import check_below_nyquist, check_option, check_positive, suggest
from acquire.stage import Chunk, SosState, dc_vector

#: Frequency at which IIR stages report their group delay, Hz.
DELAY_REFERENCE_HZ = 10.0
#: Fraction to which the slowest natural mode has decayed at ``settling_time_s`` (-40 dB).
SETTLING_FRACTION = 0.01

#: Named high-pass corners, Hz. "diagnostic": 0.05 Hz, the AHA diagnostic band 0.05-150 Hz;
#: "monitoring": 0.5 Hz, monitor mode 0.5-40 Hz (GE B20, Gima K10 manuals); "monitoring-0.67":
#: 0.67 Hz, -3 dB at 0.67 Hz, the most a monitor may lose there (J Electrocardiol 2009), and
#: the ambulatory band 0.67-40 Hz (device manual). Sources in facts.md section 1.3.
HIGHPASS_CORNERS_HZ = {"diagnostic": 0.05, "monitoring": 0.5, "monitoring-0.67": 0.67}
#: Named low-pass cutoffs, Hz. "monitoring": 40 Hz (monitor mode 0.5-40 Hz); "clinical-100":
#: 100 Hz (clinical band 0.05-100 Hz, Analog Dialogue, facts.md 2.1); "diagnostic": 150 Hz
#: (AHA diagnostic band); "pediatric": 250 Hz (Rijnbeek 2001; needs fs_hz > 500 Hz).
LOWPASS_CUTOFFS_HZ = {"monitoring": 40.0, "clinical-100": 100.0, "diagnostic": 150.0,
                      "pediatric": 250.0}


def _check_order(order: int) -> int:
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or not 1 <= order <= 10:
        raise ValueError(f"order must be an integer from 1 to 10; got {order!r}.")
    return int(order)


def _resolve_frequency(param: str, value, named: dict[str, float]) -> float:
    """A frequency given in Hz or by one of the names in ``named``."""
    if isinstance(value, str):
        return named[check_option(param, value, named)]
    return value


def pole_settling_time_s(poles, fs_hz: float) -> float:
    """Time for the slowest natural mode (largest pole radius ``rho``) to decay to
    SETTLING_FRACTION: ``ln(1 / SETTLING_FRACTION) / (-ln rho) / fs_hz``."""
    radius = max(np.abs(np.asarray(poles)), default=0.0)
    return math.log(1 / SETTLING_FRACTION) / -math.log(radius) / fs_hz if radius > 0 else 0.0


def sos_group_delay_s(sos: np.ndarray, f_hz: float, fs_hz: float) -> float:
    """Group delay of an SOS cascade at ``f_hz``, seconds (sum over sections)."""
    return sum(float(signal.group_delay((s[:3], s[3:]), w=[f_hz], fs=fs_hz)[1][0])
               for s in sos) / fs_hz


def _passthrough(chunk: Chunk, y: np.ndarray) -> Chunk:
    """Output chunk: filtered ``diff_v``; the common mode is not carried past the ADC."""
    return Chunk(diff_v=y, cm_v=None, cm_dvdt_v_per_s=None, start_sample=chunk.start_sample)


class SosFilter(SosState):
    """Causal IIR stage: ``scipy.signal.sosfilt`` per channel with the state carried.

    Parameters
    ----------
    sos : array_like, shape (n_sections, 6)
        Second-order sections (``[b0, b1, b2, 1, a1, a2]``), designed with ``fs=fs_hz``;
        must be stable.
    fs_hz : float
        Sampling rate of the chunks.
    delay_reference_hz : float, default 10
        Frequency at which ``group_delay_s`` is evaluated.

    Attributes
    ----------
    group_delay_s : float
        Group delay at ``delay_reference_hz``.
    settling_time_s : float
        Time for the slowest mode to decay to 1 % (module docstring).
    zi_ : ndarray, shape (n_sections, n_channels, 2) or None
        Filter state; after ``reset()`` None (rest, zero state) or the primed state.

    Notes
    -----
    The state starts at zero (the filter at rest) or, after
    :meth:`~acquire.stage.SosState.prime`, in the exact steady state for the
    front end's dc operating point; never from statistics of the first
    chunk, so the output does not depend on how a record is cut.
    ``sosfilt`` runs each sample through the same operations whatever the
    chunk length, so chunked output is bit-identical to one block.
    """

    def __init__(self, sos, fs_hz: float, *, delay_reference_hz: float = DELAY_REFERENCE_HZ):
        self.fs_in_hz = self.fs_out_hz = check_positive("fs_hz", fs_hz)
        sos = np.array(sos, dtype=np.float64)
        if sos.ndim != 2 or sos.shape[1] != 6 or sos.shape[0] == 0 or not np.all(np.isfinite(sos)):
            raise ValueError(f"sos must be a finite array of shape (n_sections, 6); got shape "
                             f"{sos.shape}.")
        poles = signal.sos2zpk(sos)[1]
        radius = max(np.abs(poles), default=0.0)
        if radius >= 1:
            raise ValueError(f"sos must be stable (all poles inside the unit circle); the largest "
                             f"pole radius is {radius:.6g}.")
        self.sos = sos
        self.delay_reference_hz = check_below_nyquist("delay_reference_hz", delay_reference_hz,
                                                      self.fs_in_hz)
        self.group_delay_s = sos_group_delay_s(sos, self.delay_reference_hz, self.fs_in_hz)
        self.settling_time_s = pole_settling_time_s(poles, self.fs_in_hz)
        self.reset()

    def freq_response(self, f_hz) -> np.ndarray:
        """Complex frequency response at ``f_hz``."""
        f = np.atleast_1d(np.asarray(f_hz, dtype=float))
        return signal.sosfreqz(self.sos, worN=f, fs=self.fs_in_hz)[1]

    def process(self, chunk: Chunk) -> Chunk:
        """Filter ``chunk.diff_v``."""
        return _passthrough(chunk, self._filter(np.asarray(chunk.diff_v, dtype=np.float64)))


class FirFilter:
    """Causal linear-phase FIR stage with the input history carried between chunks.

    Parameters
    ----------
    taps : array_like, shape (n_taps,)
        Symmetric or antisymmetric (linear-phase) impulse response.
    fs_hz : float
        Sampling rate of the chunks.

    Attributes
    ----------
    group_delay_s : float
        ``(n_taps - 1) / 2 / fs_hz``, exact at every frequency.
    settling_time_s : float
        ``(n_taps - 1) / fs_hz``.
    history_ : ndarray, shape (n_channels, n_taps - 1) or None
        The last ``n_taps - 1`` inputs; after ``reset()`` None (zeros) or the
        primed constant (:meth:`prime`).

    Notes
    -----
    ``y[n] = sum_k h[k] x[n - k]``, summed over ``k = 0, 1, ..., n_taps - 1``
    in that order with element-wise vector operations, so every output is
    the same floating-point expression whatever the chunking
    (``scipy.signal.lfilter`` with a carried state is not bit-identical
    across chunkings for FIR filters). Cost: ``n_taps`` vector operations per chunk.
    """

    def __init__(self, taps, fs_hz: float):
        self.fs_in_hz = self.fs_out_hz = check_positive("fs_hz", fs_hz)
        taps = np.array(taps, dtype=np.float64)
        if taps.ndim != 1 or taps.size == 0 or not np.all(np.isfinite(taps)):
            raise ValueError(f"taps must be a finite 1-D array; got shape {taps.shape}.")
        tol = 1e-12 * np.max(np.abs(taps))
        if not (np.allclose(taps, taps[::-1], rtol=0, atol=tol)
                or np.allclose(taps, -taps[::-1], rtol=0, atol=tol)):
            raise ValueError("taps must be symmetric or antisymmetric (linear phase); use "
                             "SosFilter or scipy.signal.tf2sos for other filters.")
        self.taps = taps
        self.group_delay_s = (taps.size - 1) / 2 / self.fs_in_hz
        self.settling_time_s = (taps.size - 1) / self.fs_in_hz
        self._history0 = None
        self.reset()

    def freq_response(self, f_hz) -> np.ndarray:
        """Complex frequency response at ``f_hz``."""
        f = np.atleast_1d(np.asarray(f_hz, dtype=float))
        return signal.freqz(self.taps, worN=f, fs=self.fs_in_hz)[1]

    def reset(self) -> None:
        """Back to the initial input history: zeros, or the primed constant."""
        self.history_ = None if self._history0 is None else self._history0.copy()

    def prime(self, dc_in_v: np.ndarray) -> np.ndarray:
        """Fill the history with the constant input ``dc_in_v`` (n_channels,); return ``H(1) dc_in_v``.

        Every output is then ``sum_k h[k] x = H(1) x`` until the input changes.
        """
        dc = dc_vector(dc_in_v)
        self._history0 = np.repeat(dc[:, None], self.taps.size - 1, axis=1)
        self.reset()
        return dc * np.sum(self.taps)

    def process(self, chunk: Chunk) -> Chunk:
        """Filter ``chunk.diff_v``."""
        x = np.asarray(chunk.diff_v, dtype=np.float64)
        n_hist, n = self.taps.size - 1, x.shape[-1]
        if self.history_ is None:
            self.history_ = np.zeros((x.shape[0], n_hist))
        buf = np.concatenate([self.history_, x], axis=-1)
        y = np.zeros_like(x)
        for k, h in enumerate(self.taps):
            y += h * buf[:, n_hist - k:n_hist - k + n]
        self.history_ = buf[:, buf.shape[-1] - n_hist:]
        return _passthrough(chunk, y)


def highpass(corner_hz: float | str, fs_hz: float, order: int = 1, *,
             delay_reference_hz: float = DELAY_REFERENCE_HZ) -> SosFilter:
    """Butterworth high-pass (baseline-wander removal).

    Parameters
    ----------
    corner_hz : float or str
        -3 dB corner in Hz, or a name in :data:`HIGHPASS_CORNERS_HZ`
        ("diagnostic" 0.05, "monitoring" 0.5, "monitoring-0.67" 0.67).
    fs_hz : float
        Sampling rate.
    order : int, default 1
        Butterworth order. First order is the default because the
        low-frequency requirements are stated for it: time constants of
        >= 3.2 s (diagnostic) and >= 0.3 s (monitoring), and the AAMI EC11
        impulse test, which a first-order 0.05 Hz high-pass passes.
    delay_reference_hz : float, default 10
        Where ``group_delay_s`` is evaluated.

    Notes
    -----
    Digital Butterworth design ``scipy.signal.butter(order, corner_hz,
    "highpass", fs=fs_hz, output="sos")`` (bilinear transform prewarped at
    the corner). First order: ``H(s) = s tau / (1 + s tau)``,
    ``tau = 1 / (2 pi f_c)`` = 3.18 s at 0.05 Hz.

    EC11 impulse test (facts.md 1.3; pulse 3 mV x 100 ms, slope after the
    pulse <= 0.30 mV/s): after a pulse of amplitude ``A`` and width ``T``
    the first-order output is ``-A (1 - exp(-T/tau)) exp(-(t-T)/tau)``, of
    initial slope ``A (1 - exp(-T/tau)) / tau``: 0.0291 mV/s at 0.05 Hz,
    2.54 mV/s at 0.5 Hz (fails).
    """
    fs = check_positive("fs_hz", fs_hz)
    fc = check_below_nyquist("corner_hz", _resolve_frequency("corner_hz", corner_hz,
                                                             HIGHPASS_CORNERS_HZ), fs)
    sos = signal.butter(_check_order(order), fc, "highpass", fs=fs, output="sos")
    return SosFilter(sos, fs, delay_reference_hz=delay_reference_hz)


def lowpass(cutoff_hz: float | str, fs_hz: float, order: int = 4, *,
            delay_reference_hz: float = DELAY_REFERENCE_HZ) -> SosFilter:
    """Butterworth low-pass (band limit).

    Parameters
    ----------
    cutoff_hz : float or str
        -3 dB cutoff in Hz, or a name in :data:`LOWPASS_CUTOFFS_HZ`
        ("monitoring" 40, "clinical-100" 100, "diagnostic" 150, "pediatric" 250).
    fs_hz : float
        Sampling rate; the cutoff must lie below ``fs_hz / 2``.
    order : int, default 4
        Butterworth order.
    delay_reference_hz : float, default 10
        Where ``group_delay_s`` is evaluated.

    Notes
    -----
    ``scipy.signal.butter(order, cutoff_hz, "lowpass", fs=fs_hz, output="sos")``.
    """
    fs = check_positive("fs_hz", fs_hz)
    fc = check_below_nyquist("cutoff_hz", _resolve_frequency("cutoff_hz", cutoff_hz,
                                                             LOWPASS_CUTOFFS_HZ), fs)
    sos = signal.butter(_check_order(order), fc, "lowpass", fs=fs, output="sos")
    return SosFilter(sos, fs, delay_reference_hz=delay_reference_hz)


def check_harmonics(harmonics: Sequence[int], f0_hz: float, fs_hz: float) -> tuple[int, ...]:
    """Distinct positive integer harmonics whose frequencies ``k f0_hz`` lie below Nyquist."""
    ks = tuple(harmonics) if isinstance(harmonics, Sequence) and not isinstance(harmonics, str) \
        else (harmonics,)
    if not ks or any(isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1
                     for k in ks) or len(set(ks)) != len(ks):
        raise ValueError(f"harmonics must be distinct positive integers, e.g. (1, 2); "
                         f"got {harmonics!r}.")
    for k in ks:
        if not k * f0_hz < fs_hz / 2:
            raise ValueError(f"harmonics: harmonic {k} of {f0_hz:g} Hz is {k * f0_hz:g} Hz, at or "
                             f"above Nyquist (fs_hz/2 = {fs_hz / 2:g} Hz); drop it from harmonics "
                             f"or raise the sampling rate.")
    return tuple(int(k) for k in ks)


def notch(f0_hz: float, fs_hz: float, *, harmonics: Sequence[int] = (1,), q: float | None = None,
          bandwidth_hz: float | None = None,
          delay_reference_hz: float = DELAY_REFERENCE_HZ) -> SosFilter:
    """Cascade of second-order IIR notches at the mains frequency and chosen harmonics.

    Parameters
    ----------
    f0_hz : float
        Mains frequency (50 or 60 Hz).
    fs_hz : float
        Sampling rate.
    harmonics : sequence of int, default (1,)
        Harmonics ``k`` to notch at ``k f0_hz``. A harmonic at or above
        Nyquist raises ValueError (rather than being skipped silently, since
        the harmonic would alias to another frequency the notch does not cover).
    q : float, optional
        Quality factor ``f_k / bandwidth`` of every notch (so the -3 dB
        bandwidth grows with ``k``); 30 when neither ``q`` nor ``bandwidth_hz``
        is given.
    bandwidth_hz : float, optional
        Alternatively, the same -3 dB bandwidth for every notch
        (``Q_k = k f0_hz / bandwidth_hz``). Give ``q`` or ``bandwidth_hz``, not both.
    delay_reference_hz : float, default 10
        Where ``group_delay_s`` is evaluated.

    Notes
    -----
    Each section is ``scipy.signal.iirnotch(k f0_hz, Q_k, fs=fs_hz)``: zeros
    on the unit circle at ``+-2 pi k f0 / fs`` (infinite attenuation there),
    poles at the same angles and radius ``~1 - pi bw / fs``, unit gain at dc
    and Nyquist. At ``f_k +- 2 f_k/Q`` (twice the bandwidth from the centre)
    a single section attenuates by ``10 log10(1 + 1/16) = 0.26 dB``.
    """
    fs = check_positive("fs_hz", fs_hz)
    f0 = check_below_nyquist("f0_hz", f0_hz, fs)
    ks = check_harmonics(harmonics, f0, fs)
    if q is not None and bandwidth_hz is not None:
        raise ValueError(f"give q or bandwidth_hz, not both; got q={q!r}, "
                         f"bandwidth_hz={bandwidth_hz!r}.")
    if bandwidth_hz is None:
        qs = [check_positive("q", 30.0 if q is None else q)] * len(ks)
    else:
        bw = check_positive("bandwidth_hz", bandwidth_hz)
        qs = [k * f0 / bw for k in ks]
    sos = np.array([np.r_[signal.iirnotch(k * f0, qk, fs=fs)] for k, qk in zip(ks, qs)])
    return SosFilter(sos, fs, delay_reference_hz=delay_reference_hz)


def comb_taps(mains_hz: float, fs_hz: float) -> np.ndarray:
    """Unit-dc-gain linear-phase FIR with a null at every harmonic of ``mains_hz``.

    Parameters
    ----------
    mains_hz : float
        Mains frequency; the period is ``P = fs_hz / mains_hz`` samples.
    fs_hz : float
        Sampling rate.

    Returns
    -------
    taps : ndarray
        For integer ``P``, the moving average over one period (``P`` taps of
        ``1/P``: nulls at ``k fs/P`` for ``k = 1..P-1``, Nyquist included).
        For fractional ``P``, the ``2K + 1`` taps (``K = ceil(P/2) - 1``, the
        number of harmonics below Nyquist) of the symmetric FIR whose
        zero-phase amplitude ``A(w) = h_0 + 2 sum_n h_n cos(n w)`` is 1 at dc
        and 0 at ``w_k = 2 pi k / P``, ``k = 1..K``.

    Notes
    -----
    The fractional case solves the ``(K+1) x (K+1)`` cosine system for
    ``h_n`` (condition number about 2 to 5, since the nulls are evenly
    spaced); the taps resemble a moving average of ``P`` samples with
    smaller end taps (500 Hz / 60 Hz: 9 taps from 0.075 to 0.126). The
    common approximation, ``floor(P)`` taps of ``1/P`` plus a last tap
    weighted by the fractional part, is neither linear-phase nor a null:
    at 500 Hz / 60 Hz it attenuates 60, 120, 180 and 240 Hz by only 40, 34,
    29 and 26 dB.
    """
    fs = check_positive("fs_hz", fs_hz)
    period = fs / check_below_nyquist("mains_hz", mains_hz, fs)
    if abs(period - round(period)) < 1e-9 * period:
        return np.full(round(period), 1.0 / round(period))
    n_harm = math.ceil(period / 2) - 1
    w = np.r_[0.0, 2 * np.pi * np.arange(1, n_harm + 1) / period]
    basis = np.cos(np.outer(w, np.arange(n_harm + 1)))
    basis[:, 1:] *= 2
    half = np.linalg.solve(basis, np.r_[1.0, np.zeros(n_harm)])
    return np.r_[half[:0:-1], half]


def comb(mains_hz: float, fs_hz: float) -> FirFilter:
    """Mains comb: moving average over one mains period (:func:`comb_taps`) as a stage."""
    return FirFilter(comb_taps(mains_hz, fs_hz), fs_hz)


def zero_phase(stage_or_sos, x) -> np.ndarray:
    """Forward-backward (zero-phase) filtering of a whole recording; offline only.

    Parameters
    ----------
    stage_or_sos : SosFilter, FirFilter, a stage with an ``sos`` attribute, or array (n, 6)
        The filter to apply forwards and backwards.
    x : array_like, shape (n_channels, n_samples)
        The complete signal.

    Returns
    -------
    ndarray
        ``scipy.signal.sosfiltfilt`` (or ``filtfilt`` for FIR taps) along the
        last axis, with scipy's default odd-extension padding: zero phase,
        squared magnitude response.

    Notes
    -----
    The output at each sample depends on future samples, so this cannot be
    a streaming stage; :func:`make_digital_stage` refuses ``zero_phase=True``.
    """
    x = np.asarray(x, dtype=np.float64)
    taps = getattr(stage_or_sos, "taps", None)
    if taps is not None:
        return signal.filtfilt(taps, [1.0], x, axis=-1)
    return signal.sosfiltfilt(getattr(stage_or_sos, "sos", stage_or_sos), x, axis=-1)


def decimate(factor: int, fs_hz: float, *, n_taps_per_phase: int | None = None,
             stopband_db: float | None = None):
    """Anti-aliased decimation stage, ``acquire.resample.Decimator(fs_hz, factor)``.

    ``n_taps_per_phase`` and ``stopband_db`` are passed on when given.
    """
    from acquire.analog.resample import Decimator

    options = {k: v for k, v in (("n_taps_per_phase", n_taps_per_phase),
                                 ("stopband_db", stopband_db)) if v is not None}
    return Decimator(fs_hz, factor, **options)


#: Digital stage kinds: name -> "module:callable" (imported when used). Each callable takes
#: ``fs_hz`` and the stage's parameters by keyword.
DIGITAL_STAGES = {
    "highpass": "acquire.digital.filters:highpass",
    "lowpass": "acquire.digital.filters:lowpass",
    "notch": "acquire.digital.filters:notch",
    "comb": "acquire.digital.filters:comb",
    "nlms": "acquire.digital.nlms:AdaptiveMainsCanceller",
    "decimate": "acquire.digital.filters:decimate",
}


def make_digital_stage(kind: str, fs_hz: float, **params):
    """Build a digital stage by name, as listed in a config's ``[[digital]]`` tables.

    Parameters
    ----------
    kind : str
        One of :data:`DIGITAL_STAGES`.
    fs_hz : float
        Sampling rate of the stage's input.
    **params
        The stage's parameters, e.g. ``corner_hz=0.05, order=1`` for
        "highpass". ``zero_phase=False`` is accepted and ignored;
        ``zero_phase=True`` raises, since forward-backward filtering is not
        causal (use :func:`zero_phase` on a finished recording).

    Raises
    ------
    ValueError
        Unknown kind or parameter (with "did you mean"), a missing required
        parameter, ``zero_phase=True``, or an invalid value.
    """
    check_option("kind", kind, DIGITAL_STAGES)
    if params.pop("zero_phase", False):
        raise ValueError(f"zero_phase=True is not allowed for the streaming {kind!r} stage: "
                         f"forward-backward filtering needs the whole record (offline only). "
                         f"Set zero_phase=False, or apply acquire.filters.zero_phase(stage, x) "
                         f"to the finished recording.")
    module, name = DIGITAL_STAGES[kind].split(":")
    factory = getattr(importlib.import_module(module), name)
    accepted = {p.name: p for p in inspect.signature(factory).parameters.values()
                if p.name != "fs_hz" and p.kind is not p.VAR_KEYWORD}
    for key in params:
        if key not in accepted:
            raise ValueError(f"unknown parameter {key!r} for digital stage {kind!r}; allowed: "
                             f"{', '.join(sorted(accepted))}.{suggest(key, accepted)}")
    missing = [n for n, p in accepted.items() if p.default is p.empty and n not in params]
    if missing:
        raise ValueError(f"digital stage {kind!r} needs {', '.join(missing)}; got "
                         f"{sorted(params) or 'no parameters'}.")
    return factory(fs_hz=fs_hz, **params)
