"""Fidelity metrics: how faithfully a front end recovered the ECG.

Pure functions on numpy arrays in volts. Waveform metrics take 1-D arrays
(one channel) or ``(n_channels, n_samples)`` arrays and work along the last
axis; they return a float for 1-D input and an array of one value per
channel otherwise. Beat metrics take one channel and a list of beat sample
indices. Definitions follow ``reference/facts.md`` section 5 (Nemcova et al.,
"A comparative analysis of methods for evaluation of ECG signal quality after
compression", BioMed Res Int 2018, art. 1868519).
"""

from __future__ import annotations

import numpy as np

from acquire._check import check_below_nyquist, check_positive
from acquire.evaluation.accumulator_kernels import beat_errors
from acquire.evaluation.accumulators import PairStats, ToneFit, ratio

_UV_PER_V = 1e6


def _pair(x, x_hat) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    x_hat = np.asarray(x_hat, dtype=float)
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape; got {x.shape} and {x_hat.shape}.")
    return x, x_hat


def _out(value):
    value = np.asarray(value, dtype=float)
    return float(value) if value.ndim == 0 else value


def prd_percent(x, x_hat):
    """Percentage root-mean-square difference.

    Parameters
    ----------
    x : array_like, shape (..., n)
        Reference signal, volts.
    x_hat : array_like, same shape
        Recovered signal, volts.

    Returns
    -------
    float or ndarray
        PRD in percent.

    Notes
    -----
    ``PRD = 100 sqrt(sum (x - x_hat)^2 / sum x^2)`` (Nemcova et al. 2018).
    It depends on the dc level of ``x``; see :func:`prdn_percent`.
    """
    return prd_from(PairStats.of(*_pair(x, x_hat)))


def prd_from(stats: PairStats):
    """:func:`prd_percent` from accumulated :class:`~acquire.evaluation.accumulators.PairStats`."""
    return _out(100.0 * np.sqrt(ratio(stats.sum_d2, stats.sum_x2)))


def prdn_percent(x, x_hat):
    """Normalised PRD: PRD with the mean of the reference removed.

    Notes
    -----
    ``PRDN = 100 sqrt(sum (x - x_hat)^2 / sum (x - mean(x))^2)``
    (Nemcova et al. 2018); it does not depend on a dc offset of ``x``.
    Arguments and return as :func:`prd_percent`.
    """
    return prdn_from(PairStats.of(*_pair(x, x_hat)))


def prdn_from(stats: PairStats):
    """:func:`prdn_percent` from accumulated :class:`~acquire.evaluation.accumulators.PairStats`."""
    return _out(100.0 * np.sqrt(ratio(stats.sum_d2, stats.m2x)))


def snr_db(reference, test):
    """Signal-to-noise ratio of ``test`` against ``reference``, in dB.

    Parameters
    ----------
    reference : array_like, shape (..., n)
        Clean signal ``x``, volts.
    test : array_like, same shape
        Recovered signal ``x_hat``, volts.

    Returns
    -------
    float or ndarray
        ``+inf`` when the signals are identical.

    Notes
    -----
    ``SNR = 10 log10(sum (x - mean(x))^2 / sum (x - x_hat)^2) = -20 log10(PRDN/100)``
    (Nemcova et al. 2018): signal power is the ac power of the reference,
    noise is everything in ``test`` that differs from it.
    """
    return snr_from(PairStats.of(*_pair(reference, test)))


def snr_from(stats: PairStats):
    """:func:`snr_db` from accumulated :class:`~acquire.evaluation.accumulators.PairStats`."""
    with np.errstate(divide="ignore"):
        return _out(10.0 * np.log10(stats.m2x) - 10.0 * np.log10(stats.sum_d2))


def snr_improvement_db(snr_in_db, snr_out_db):
    """SNR improvement ``SNR_out - SNR_in`` in dB.

    Both SNRs must use the same clean reference (for a filter: :func:`snr_db`
    of its input and of its output against the clean ECG).
    """
    with np.errstate(invalid="ignore"):  # -inf - -inf (a constant reference): no improvement to state, nan
        return _out(np.asarray(snr_out_db, dtype=float) - np.asarray(snr_in_db, dtype=float))


def correlation(x, x_hat):
    """Pearson correlation coefficient of ``x`` and ``x_hat`` along the last axis.

    Notes
    -----
    ``r = sum (x - mean x)(x_hat - mean x_hat) / sqrt(sum (x - mean x)^2 sum (x_hat - mean x_hat)^2)``;
    nan when either signal is constant.
    """
    return correlation_from(PairStats.of(*_pair(x, x_hat)))


def correlation_from(stats: PairStats):
    """:func:`correlation` from accumulated :class:`~acquire.evaluation.accumulators.PairStats`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _out(stats.cxy / np.sqrt(stats.m2x * stats.m2y))


def _tone_rms(x, fs_hz: float, freqs_hz: list[float]) -> np.ndarray:
    """RMS amplitude of each frequency, by joint least squares with a dc term.

    Returns an array of shape (len(freqs_hz), ...) over the leading axes of ``x``.
    """
    fit = ToneFit(fs_hz, freqs_hz)
    fit.update(np.asarray(x, dtype=float))
    return fit.rms()


def goertzel_amplitude_v_rms(x, fs_hz: float, f_hz: float):
    """RMS amplitude of the component of ``x`` at ``f_hz`` (lock-in detection).

    Parameters
    ----------
    x : array_like, shape (..., n)
        Signal, volts.
    fs_hz : float
        Sampling rate.
    f_hz : float
        Frequency of interest, ``0 < f_hz < fs_hz/2``; need not fall on a DFT bin.

    Returns
    -------
    float or ndarray
        RMS amplitude ``A/sqrt(2)`` in volts.

    Notes
    -----
    ``x[n]`` is fitted by least squares with ``c + a cos(2 pi f n/fs) + b sin(2 pi f n/fs)``
    and ``A = sqrt(a^2 + b^2)``. Unlike a Goertzel filter or a DFT bin, the
    fit is exact for a pure tone of any frequency plus dc over any record
    length of at least three samples, with no leakage from dc. Other
    components (the ECG, noise, other tones) leak in only as much as they
    correlate with the tone over the record.
    """
    check_below_nyquist("f_hz", f_hz, check_positive("fs_hz", fs_hz))
    return _out(_tone_rms(x, fs_hz, [float(f_hz)])[0])


def residual_mains_uv_rms(residual_v, fs_hz: float, mains_hz: float, n_harmonics: int = 1):
    """Mains interference left in a signal: total and per-harmonic rms in microvolts.

    Parameters
    ----------
    residual_v : array_like, shape (..., n)
        Output minus clean reference (or any signal), volts.
    fs_hz : float
        Sampling rate.
    mains_hz : float
        Mains fundamental (50 or 60 Hz, or the simulated deviation from it).
    n_harmonics : int
        Harmonics ``1 .. n_harmonics`` of ``mains_hz`` to measure; all must lie
        below Nyquist.

    Returns
    -------
    total_uv_rms : float or ndarray
        ``sqrt(sum_k A_k^2)`` over the harmonics, microvolts rms.
    per_harmonic : dict of int to float or ndarray
        Harmonic number to its rms amplitude in microvolts.

    Notes
    -----
    All harmonics and a dc term are fitted jointly by least squares (see
    :func:`goertzel_amplitude_v_rms`), so on a finite record one harmonic
    does not leak into another's estimate. Tones at distinct frequencies are
    orthogonal over long records, so their powers add.
    """
    return residual_mains_from(_tone_rms(residual_v, fs_hz, mains_tones_hz(fs_hz, mains_hz, n_harmonics)))


def mains_tones_hz(fs_hz: float, mains_hz: float, n_harmonics: int) -> list[float]:
    """Harmonics ``1 .. n_harmonics`` of ``mains_hz``, checked to lie below Nyquist (see :func:`residual_mains_uv_rms`)."""
    fs_hz = check_positive("fs_hz", fs_hz)
    check_positive("mains_hz", mains_hz)
    if int(n_harmonics) != n_harmonics or n_harmonics < 1:
        raise ValueError(f"n_harmonics must be an integer >= 1; got {n_harmonics!r}.")
    top = int(n_harmonics) * mains_hz
    if not top < fs_hz / 2:
        raise ValueError(f"n_harmonics={n_harmonics} puts harmonic {top:g} Hz at or above "
                         f"Nyquist ({fs_hz / 2:g} Hz); use n_harmonics <= "
                         f"{int(np.ceil(fs_hz / 2 / mains_hz)) - 1}.")
    return [k * mains_hz for k in range(1, int(n_harmonics) + 1)]


def residual_mains_from(rms_v: np.ndarray):
    """Total and per-harmonic rms in microvolts (as :func:`residual_mains_uv_rms`) from the harmonics' fitted rms, V."""
    rms_uv = np.asarray(rms_v) * _UV_PER_V
    total = np.sqrt(np.sum(rms_uv**2, axis=0))
    return _out(total), {k + 1: _out(v) for k, v in enumerate(rms_uv)}


def cmrr_effective_db(v_cm_rms: float, residual_rti_v_rms: float) -> float:
    """Effective CMRR from a common-mode test: ``20 log10(v_cm / v_residual)``.

    Parameters
    ----------
    v_cm_rms : float
        Common-mode voltage applied to the body, volts rms.
    residual_rti_v_rms : float
        Differential interference at the amplifier input (referred to input),
        volts rms, at the same frequency.

    Returns
    -------
    float
        dB; ``+inf`` for a zero residual.

    Notes
    -----
    Includes both the amplifier's CMRR and the CM-to-DM conversion by
    electrode imbalance: ``1/CMRR_eff ~ 1/CMRR_amp + |dZ_e|/|Z_cm|``
    (facts.md section 2.2).
    """
    v_cm = check_positive("v_cm_rms", v_cm_rms)
    residual = check_positive("residual_rti_v_rms", residual_rti_v_rms, allow_zero=True)
    return float("inf") if residual == 0 else float(20.0 * np.log10(v_cm / residual))


#: Probe frequencies of the measurement floor, as offsets from the fundamental in fractions of it.
FLOOR_PROBE_OFFSETS = (-0.16, -0.12, -0.08, -0.04, 0.04, 0.08, 0.12, 0.16)
#: A mains residual counts as measured only when it exceeds the floor by this factor (about 10 dB).
FLOOR_RATIO = 3.0


def tone_floor_v_rms(x, fs_hz: float, f_hz: float) -> float:
    """Measurement floor of a lock-in at ``f_hz``: rms of the lock-in amplitudes at nearby probe frequencies.

    Parameters
    ----------
    x : array_like, shape (n,)
        Signal (e.g. output minus ideal), volts.
    fs_hz : float
    f_hz : float
        The tone whose measurement floor is wanted.

    Returns
    -------
    float
        sqrt(mean(A_i^2)) over the probes at f (1 + o) for o in
        :data:`FLOOR_PROBE_OFFSETS` (those below Nyquist), volts rms: what the
        same lock-in reads where there is no tone (noise, quantisation,
        leakage of the ECG difference). Away from harmonics of a 50/60 Hz
        fundamental and outside a notch's 2 Hz stop band.
    """
    return float(np.sqrt(np.mean(_tone_rms(x, fs_hz, floor_probes_hz(fs_hz, f_hz)) ** 2)))


def floor_probes_hz(fs_hz: float, f_hz: float) -> list[float]:
    """The probe frequencies of :func:`tone_floor_v_rms` (those of :data:`FLOOR_PROBE_OFFSETS` below Nyquist)."""
    return [f_hz * (1 + o) for o in FLOOR_PROBE_OFFSETS if 0 < f_hz * (1 + o) < fs_hz / 2]


def mains_measure_db(v_cm_rms: float, residual_v_rms: float, floor_v_rms: float, *, saturated: bool):
    """``20 log10(v_cm / residual)``, or None when it cannot be measured.

    None (JSON null) when the tap saturated (the residual of a clipped
    signal is not the linear chain's), when there is no common mode, or when
    the residual is not above :data:`FLOOR_RATIO` times the lock-in's
    measurement floor (:func:`tone_floor_v_rms`): below it the number would
    be the noise's, not the front end's, and would look better than the
    physics allows.
    """
    if saturated or not v_cm_rms > 0 or not residual_v_rms > FLOOR_RATIO * floor_v_rms:
        return None
    return cmrr_effective_db(v_cm_rms, residual_v_rms)


def _beats_inside(beats, n_samples: int, first: int, last: int) -> np.ndarray:
    """Beats whose samples ``beat + first .. beat + last`` all lie in ``0 .. n_samples - 1``."""
    beats = np.asarray(beats, dtype=np.int64)
    return beats[(beats + first >= 0) & (beats + last < n_samples)]


def _summary_uv(error_v: np.ndarray) -> dict[str, float]:
    err = np.abs(error_v) * _UV_PER_V
    if err.size == 0:
        return {"median_uv": float("nan"), "p95_uv": float("nan"), "n_beats": 0}
    return {"median_uv": float(np.median(err)), "p95_uv": float(np.percentile(err, 95)),
            "n_beats": int(err.size)}


def _beat_pair(ref, test, fs_hz):
    ref, test = _pair(ref, test)
    if ref.ndim != 1:
        raise ValueError(f"ref and test must be 1-D (one channel); got shape {ref.shape}.")
    check_positive("fs_hz", fs_hz)
    return ref, test


def qrs_amplitude_error_uv(ref, test, beats, fs_hz: float, half_window_s: float = 0.050) -> dict:
    """Error of the QRS peak-to-peak amplitude, beat by beat.

    Parameters
    ----------
    ref, test : array_like, shape (n,)
        Clean and recovered signal of one channel, volts, time-aligned.
    beats : array_like of int
        R-peak sample indices.
    fs_hz : float
        Sampling rate.
    half_window_s : float
        Half-width of the window around each beat (default 50 ms, as the NST
        QRS amplitude measure, facts.md section 1.4).

    Returns
    -------
    dict
        ``median_uv`` and ``p95_uv``: median and 95th percentile of
        ``|pp(test) - pp(ref)|`` in microvolts; ``n_beats`` used.

    Notes
    -----
    ``pp`` is ``max - min`` over ``beat - half_window .. beat + half_window``
    (samples rounded to the nearest). Beats whose window does not fit in the
    signal are skipped.
    """
    return _summary_uv(qrs_amplitude_errors_v(ref, test, beats, fs_hz, half_window_s)[1])


def qrs_window(fs_hz: float, half_window_s: float = 0.050) -> tuple[int, int]:
    """Sample offsets (first, last) around a beat that :func:`qrs_amplitude_error_uv` reads."""
    half = round(check_positive("half_window_s", half_window_s) * fs_hz)
    return -half, half


def qrs_amplitude_errors_v(ref, test, beats, fs_hz: float, half_window_s: float = 0.050):
    """Beats used and their errors ``pp(test) - pp(ref)``, V (see :func:`qrs_amplitude_error_uv`)."""
    ref, test = _beat_pair(ref, test, fs_hz)
    first, last = qrs_window(fs_hz, half_window_s)
    kept = _beats_inside(beats, ref.size, first, last)
    return kept, beat_errors(ref[None], test[None], kept, (first, last), (first, first, first))[0][0]


def st_level_error_uv(ref, test, beats, fs_hz: float, *, j_offset_s: float = 0.040,
                      st_offset_s: float = 0.060,
                      baseline_s: tuple[float, float] = (-0.080, -0.060)) -> dict:
    """Error of the ST level at J + 60 ms, beat by beat.

    Parameters
    ----------
    ref, test : array_like, shape (n,)
        Clean and recovered signal of one channel, volts, time-aligned.
    beats : array_like of int
        R-peak sample indices.
    fs_hz : float
        Sampling rate.
    j_offset_s : float
        J point (end of QRS) after the R peak; a fixed 40 ms by default.
    st_offset_s : float
        ST measurement point after the J point (60 ms, the usual J+60).
    baseline_s : (float, float)
        Isoelectric (PR-segment) window relative to the R peak; default
        R-80 ms .. R-60 ms.

    Returns
    -------
    dict
        ``median_uv`` and ``p95_uv`` of ``|ST_test - ST_ref|`` in microvolts;
        ``n_beats`` used.

    Notes
    -----
    ``ST = x[R + j_offset + st_offset] - mean(x[R + baseline_s[0] .. R + baseline_s[1]])``,
    sample offsets rounded to the nearest. A fixed J offset is an assumption
    (this module's choice, not from a standard): it suits normal narrow
    QRS complexes; for wide complexes pass a larger ``j_offset_s``. What
    matters for a front end is the difference between ``test`` and ``ref``
    at the same points, which shows ST distortion by high-pass filtering.
    Beats whose windows do not fit in the signal are skipped.
    """
    return _summary_uv(st_level_errors_v(ref, test, beats, fs_hz, j_offset_s=j_offset_s, st_offset_s=st_offset_s,
                                         baseline_s=baseline_s)[1])


def st_offsets(fs_hz: float, j_offset_s: float = 0.040, st_offset_s: float = 0.060,
               baseline_s: tuple[float, float] = (-0.080, -0.060)) -> tuple[int, int, int]:
    """Sample offsets of :func:`st_level_error_uv` from the R peak: baseline start and stop, ST point."""
    lo, hi = (round(t * fs_hz) for t in baseline_s)
    if not lo <= hi:
        raise ValueError(f"baseline_s must be (start, stop) with start <= stop; got {baseline_s!r}.")
    return lo, hi, round((j_offset_s + st_offset_s) * fs_hz)


def st_level_errors_v(ref, test, beats, fs_hz: float, **offsets):
    """Beats used and their errors ``ST_test - ST_ref``, V (see :func:`st_level_error_uv`; same options)."""
    ref, test = _beat_pair(ref, test, fs_hz)
    offs = st_offsets(fs_hz, **offsets)
    kept = _beats_inside(beats, ref.size, min(offs[0], offs[2]), max(offs[1], offs[2]))
    return kept, beat_errors(ref[None], test[None], kept, (offs[2], offs[2]), offs)[1][0]


def beat_error_summary_uv(error_v) -> dict[str, float]:
    """Median and 95th percentile of ``|error|`` in microvolts, and the number of beats (NaN for none)."""
    return _summary_uv(np.asarray(error_v, dtype=float))


def saturated_fraction(n_clipped: int, n_samples: int) -> float:
    """Fraction of samples that clipped: ``n_clipped / n_samples`` (0 to 1)."""
    n = check_positive("n_samples", n_samples)
    c = check_positive("n_clipped", n_clipped, allow_zero=True)
    if c > n:
        raise ValueError(f"n_clipped must be <= n_samples ({n:g}); got {n_clipped!r}.")
    return c / n


def settling_time_s(error, fs_hz: float, threshold: float) -> float:
    """Time after which ``|error|`` stays below ``threshold``.

    Parameters
    ----------
    error : array_like, shape (n,)
        Error signal (e.g. output minus its final value), sampled from t = 0.
    fs_hz : float
        Sampling rate.
    threshold : float
        Settling band, same unit as ``error``.

    Returns
    -------
    float
        ``(k + 1)/fs`` where ``k`` is the last sample with ``|error| >= threshold``;
        0 if no sample reaches it; ``inf`` if the last sample does (not settled
        within the record).
    """
    err = np.abs(np.asarray(error, dtype=float))
    fs_hz = check_positive("fs_hz", fs_hz)
    check_positive("threshold", threshold)
    if err.ndim != 1:
        raise ValueError(f"error must be 1-D; got shape {err.shape}.")
    outside = np.flatnonzero(err >= threshold)
    if outside.size == 0:
        return 0.0
    if outside[-1] == err.size - 1:
        return float("inf")
    return float((outside[-1] + 1) / fs_hz)
