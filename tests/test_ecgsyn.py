"""Tests for the ECGSYN synthetic ECG (McSharry et al., IEEE TBME 50(3), 2003)."""

import math

import numpy as np
import pytest
from scipy import integrate, signal

from acquire.sources.ecgsyn import EcgsynParams, EcgsynStream, ecgsyn


def rr_intervals_s(stream_or_rec, fs_hz):
    return np.diff(stream_or_rec.annotations.sample) / fs_hz


def test_recording_layout_and_provenance():
    rec = ecgsyn(duration_s=10, fs_hz=250, seed=7, n_channels=2)
    assert rec.signals_v.shape == (2, 2500)
    assert rec.channel_names == ("ECG1", "ECG2")
    assert rec.fs_hz == 250
    assert set(rec.annotations.symbol) == {"N"}
    assert rec.provenance["generator"] == "ecgsyn" and rec.provenance["seed"] == 7
    assert rec.provenance["heart_rate_bpm"] == 60.0
    # Noise-free channels are copies of the same lead.
    np.testing.assert_array_equal(rec.signals_v[0], rec.signals_v[1])
    assert ecgsyn(duration_s=1, fs_hz=250).channel_names == ("ECG",)


def test_same_seed_same_samples_different_seed_different_rr():
    p = EcgsynParams(noise_mv=0.01)
    a = ecgsyn(p, duration_s=30, fs_hz=360, seed=1)
    b = ecgsyn(p, duration_s=30, fs_hz=360, seed=1)
    c = ecgsyn(p, duration_s=30, fs_hz=360, seed=2)
    np.testing.assert_array_equal(a.signals_v, b.signals_v)
    np.testing.assert_array_equal(a.annotations.sample, b.annotations.sample)
    n = min(len(a.annotations.sample), len(c.annotations.sample))
    assert not np.array_equal(a.annotations.sample[:n], c.annotations.sample[:n])
    assert not np.array_equal(a.signals_v, c.signals_v)


@pytest.mark.parametrize("hr", [40, 60, 75, 120])
def test_mean_rr_matches_heart_rate(hr):
    # The RR process has mean 60/hr over its period (which is the record plus
    # two beats); the beat-averaged RR is its harmonic mean, lower by about
    # cv^2 = (std/hr)^2 = 0.03 %, and rounding to samples does not accumulate.
    rec = ecgsyn(EcgsynParams(heart_rate_bpm=hr), duration_s=300, fs_hz=360, seed=hr)
    assert rr_intervals_s(rec, 360).mean() == pytest.approx(60 / hr, rel=0.01)


@pytest.mark.parametrize("hr, std", [(40, 2.0), (60, 1.0), (75, 3.0), (120, 6.0)])
def test_heart_rate_std_as_requested(hr, std):
    # RR std is set to 60 std / hr^2 (first-order map) exactly over the
    # process period. 5 % covers the second-order term of HR = 60/RR
    # (~1.5 cv^2 <= 0.4 %), beat-time sampling of rr(t) weighting short beats
    # (~cv), the 8 Hz interpolation (-0.2 %) and RR rounding at 1 kHz
    # (< 0.1 %); measured 1-2 % over seeds.
    for seed in range(3):
        stream = EcgsynStream(EcgsynParams(heart_rate_bpm=hr, heart_rate_std_bpm=std),
                              duration_s=300, fs_hz=1000, seed=seed)
        hr_beats = 60 / rr_intervals_s(stream, 1000)
        assert hr_beats.std() == pytest.approx(std, rel=0.05)


def test_zero_heart_rate_std_gives_constant_rr():
    stream = EcgsynStream(EcgsynParams(heart_rate_bpm=75, heart_rate_std_bpm=0), duration_s=60, fs_hz=1000)
    np.testing.assert_array_equal(np.diff(stream.annotations.sample), 800)


@pytest.mark.parametrize("hr", [40, 60, 120, 200])
def test_annotations_are_local_maxima(hr):
    fs = 360
    rec = ecgsyn(EcgsynParams(heart_rate_bpm=hr, heart_rate_std_bpm=hr / 30), duration_s=60, fs_hz=fs, seed=3)
    x = rec.signals_v[0]
    half = round(0.05 * fs)
    peaks = rec.annotations.sample
    assert len(peaks) == pytest.approx(hr, abs=2)
    for n in peaks:
        window = x[max(n - half, 0): n + half + 1]
        assert x[n] == window.max()


@pytest.mark.parametrize("hr, amplitude_mv", [(60, 1.0), (120, 2.5)])
def test_amplitude_and_isoelectric_level_as_documented(hr, amplitude_mv):
    # Constant RR: every beat is the steady-state beat at the mean rate, whose
    # R peak is amplitude_mv above the level at theta = pi (mid-beat), 0 mV.
    # Tolerance 0.3 %: the per-sample integration and the 4096-point template
    # differ by the first-order-hold error, ~(h omega / b_R)^2 / 12 = 0.1 %
    # at 1 kHz and 120 bpm.
    p = EcgsynParams(heart_rate_bpm=hr, heart_rate_std_bpm=0, amplitude_mv=amplitude_mv, baseline_wander_mv=0)
    fs = 1000
    rec = ecgsyn(p, duration_s=10, fs_hz=fs)
    mv = rec.signals_v[0] * 1e3
    peaks = rec.annotations.sample
    np.testing.assert_allclose(mv[peaks], amplitude_mv, rtol=0.003)
    half_beat = fs * 30 // hr
    mid = peaks - half_beat
    assert (mid >= 0).all()  # the record starts half a beat before the first R
    np.testing.assert_allclose(mv[mid], 0.0, atol=0.003 * amplitude_mv)


def _paper_ode(times_s, peaks_s, params, *, wander_mv, drive_gain):
    """Integrate McSharry et al. eq. (3) in (x, y, z) with scipy, beat by beat.

    omega is 2 pi / RR held over each beat; (x, y) starts at the R peak
    (1, 0); z starts at 0 (the transient decays as e^-t).
    """
    theta_i, a, b = params.scaled_morphology()
    w_resp = 2 * np.pi * params.hf_hz

    def rhs(t, s, omega):
        x, y, z = s
        alpha = 1 - math.hypot(x, y)
        dti = np.mod(math.atan2(y, x) - theta_i + np.pi, 2 * np.pi) - np.pi
        drive = -np.sum(a * dti * np.exp(-0.5 * (dti / b) ** 2))
        z0 = wander_mv * math.sin(w_resp * t)
        return [alpha * x - omega * y, alpha * y + omega * x, drive_gain * drive - (z - z0)]

    state, out = [1.0, 0.0, 0.0], []
    for t0, t1 in zip(peaks_s[:-1], peaks_s[1:]):
        t_eval = np.append(times_s[(times_s >= t0) & (times_s < t1)], t1)
        sol = integrate.solve_ivp(rhs, (t0, t1), state, args=(2 * np.pi / (t1 - t0),), t_eval=t_eval,
                                  method="DOP853", rtol=1e-10, atol=1e-12, max_step=0.004)
        out.append(sol.y[2, :-1])
        state = sol.y[:, -1]
    return np.concatenate(out)


def test_waveform_matches_the_papers_ode_integrated_by_scipy():
    # Independent oracle: the full (x, y, z) system of the paper, integrated
    # with DOP853 at tight tolerance over the same beat times (the RR series
    # is shared; the integration is not). Our output is
    # gain * (z_ecg - offset) + z_wander, so a least-squares fit of our samples
    # on [z_ecg, z_wander, 1] must give a wander coefficient of 1 (the
    # baseline_wander_mv is the paper's A in mV) and a tiny residual: the
    # first-order-hold error at 500 Hz is at most ~(h omega / b_R)^2 / 12 =
    # 0.13 % of the R amplitude (measured 0.03 % RMS, 0.11 % peak); allowed
    # 0.1 % RMS and 0.4 % peak.
    fs = 500
    p = EcgsynParams(heart_rate_bpm=70, heart_rate_std_bpm=3, baseline_wander_mv=0.4)
    rec = ecgsyn(p, duration_s=14, fs_hz=fs, seed=11)
    peaks = rec.annotations.sample
    times = np.arange(peaks[0], peaks[-1]) / fs
    z_ecg = _paper_ode(times, peaks / fs, p, wander_mv=0.0, drive_gain=1.0)
    z_wander = _paper_ode(times, peaks / fs, p, wander_mv=p.baseline_wander_mv, drive_gain=0.0)
    ours = rec.signals_v[0, peaks[0]:peaks[-1]] * 1e3
    keep = times >= peaks[0] / fs + 7.0  # oracle's start-up transient < e^-7
    design = np.column_stack([z_ecg, z_wander, np.ones_like(z_ecg)])[keep]
    coef, *_ = np.linalg.lstsq(design, ours[keep], rcond=None)
    resid = ours[keep] - design @ coef
    assert coef[1] == pytest.approx(1.0, abs=0.01)
    assert np.sqrt(np.mean(resid**2)) < 0.001 * p.amplitude_mv
    assert np.abs(resid).max() < 0.004 * p.amplitude_mv


def test_baseline_wander_amplitude_is_the_models_low_passed_z0():
    # dz/dt = -(z - A sin wt) passes A through 1/(1 + j w); by superposition
    # the difference of records with and without wander is that sinusoid,
    # amplitude A / sqrt(1 + w^2) = 0.537 A at 0.25 Hz.
    base = EcgsynParams(baseline_wander_mv=0)
    with_wander = EcgsynParams(baseline_wander_mv=0.15)
    diff = (ecgsyn(with_wander, duration_s=20, fs_hz=200).signals_v
            - ecgsyn(base, duration_s=20, fs_hz=200).signals_v)[0] * 1e3
    w = 2 * np.pi * 0.25
    expected = 0.15 / math.sqrt(1 + w * w)
    assert expected == pytest.approx(0.0806, abs=1e-4)  # by hand: 0.15 / sqrt(1 + 2.467)
    assert np.abs(diff).max() == pytest.approx(expected, rel=1e-3)


def test_noise_rms_and_independence_between_channels():
    p = EcgsynParams(noise_mv=0.05)
    noisy = ecgsyn(p, duration_s=60, fs_hz=500, n_channels=2).signals_v
    clean = ecgsyn(EcgsynParams(), duration_s=60, fs_hz=500).signals_v
    noise = (noisy - clean) * 1e3
    # 30 000 samples: the RMS estimate has relative std 1/sqrt(2 n) = 0.4 %; 2 %.
    np.testing.assert_allclose(np.sqrt(np.mean(noise**2, axis=1)), 0.05, rtol=0.02)
    # Independent channels: correlation ~ N(0, 1/sqrt(n)) = 0.006; bound 0.03.
    assert abs(np.corrcoef(noise)[0, 1]) < 0.03


def _band_ratio_and_peaks(stream, fs_hz, lf_hz, hf_hz):
    """LF/HF power and the centre of each spectral peak of the RR series.

    The whole-record periodogram of the interval series, taken as uniformly
    sampled at 1/mean(RR) (no interpolation, which would attenuate HF); bands
    0.04-0.15 and 0.15-0.4 Hz (HRV Task Force, Circulation 93, 1996). A peak's
    centre is its power-weighted mean frequency within +-0.05 Hz (5 std):
    the designed peaks are symmetric Gaussians, so that is their centre.
    """
    rr = rr_intervals_s(stream, fs_hz)
    f, pxx = signal.periodogram(rr - rr.mean(), fs=1 / rr.mean())
    lf = (f >= 0.04) & (f < 0.15)
    hf = (f >= 0.15) & (f < 0.4)

    def centre(f0):
        near = np.abs(f - f0) < 0.05
        return np.sum(f[near] * pxx[near]) / np.sum(pxx[near])

    return pxx[lf].sum() / pxx[hf].sum(), centre(lf_hz), centre(hf_hz)


@pytest.mark.parametrize("hr, lf_hz, hf_hz, ratio", [(60, 0.1, 0.25, 0.5), (75, 0.08, 0.3, 2.0)])
def test_rr_spectrum_peaks_and_lf_hf_ratio(hr, lf_hz, hf_hz, ratio):
    # The RR process has deterministic spectral amplitudes (random phases
    # only) and its period is the record plus two beats, so the whole-record
    # periodogram reproduces the designed spectrum without chi-square
    # estimation variance. 4 % covers the time warp of beat sampling, the
    # 8 Hz linear interpolation (+0.6 %), RR rounding at 2 kHz (< 0.2 %) and
    # leakage at the record ends; measured within 2.6 % over 6 seeds. Peak
    # centres: 0.001 Hz is a tenth of the peaks' 0.01 Hz std (measured
    # within 0.00015 Hz).
    p = EcgsynParams(heart_rate_bpm=hr, lf_hz=lf_hz, hf_hz=hf_hz, lf_hf_ratio=ratio)
    for seed in range(3):
        stream = EcgsynStream(p, duration_s=3600, fs_hz=2000, seed=seed)
        got, f_lf, f_hf = _band_ratio_and_peaks(stream, 2000, lf_hz, hf_hz)
        assert got == pytest.approx(ratio, rel=0.04)
        assert f_lf == pytest.approx(lf_hz, abs=0.001)
        assert f_hf == pytest.approx(hf_hz, abs=0.001)


def test_streaming_random_read_sizes_is_bit_identical():
    p = EcgsynParams(noise_mv=0.02, heart_rate_std_bpm=4)
    kw = dict(duration_s=200, fs_hz=360, seed=5)
    one_shot = ecgsyn(p, n_channels=2, **kw)
    stream = EcgsynStream(p, n_channels=2, **kw)
    rng = np.random.default_rng(0)
    for _ in range(2):  # second pass after reset() must replay exactly
        parts = []
        while stream.position_ < stream.n_samples:
            parts.append(stream.read(int(rng.choice([1, 1, 2, 3, 17, 500, 4096, 70000]))))
        np.testing.assert_array_equal(np.concatenate(parts, axis=1), one_shot.signals_v)
        assert stream.read(10).shape == (2, 0)
        stream.reset()
    np.testing.assert_array_equal(stream.annotations.sample, one_shot.annotations.sample)


def test_day_long_record_builds_only_the_beat_list():
    # 24 h at 360 Hz (31 M samples): construction builds the RR series and
    # beat list only; samples come per read.
    stream = EcgsynStream(duration_s=86400, fs_hz=360, seed=2)
    assert stream.n_samples == 86400 * 360
    assert rr_intervals_s(stream, 360).mean() == pytest.approx(1.0, rel=0.01)
    first = stream.read(3600)
    assert first.shape == (1, 3600) and np.isfinite(first).all()
    assert stream.position_ == 3600


@pytest.mark.parametrize("kwargs, name", [
    (dict(heart_rate_bpm=10), "heart_rate_bpm"),
    (dict(heart_rate_bpm=301), "heart_rate_bpm"),
    (dict(heart_rate_std_bpm=-1), "heart_rate_std_bpm"),
    (dict(heart_rate_std_bpm=7), "heart_rate_std_bpm"),
    (dict(lf_hz=0), "lf_hz"),
    (dict(hf_hz=-0.1), "hf_hz"),
    (dict(lf_hz=0.3, hf_hz=0.25), "lf_hz"),
    (dict(lf_hf_ratio=-1), "lf_hf_ratio"),
    (dict(theta_rad=(0, 1, 2)), "theta_rad"),
    (dict(theta_rad=(-1, -0.2, 0, 0.2, 4)), "theta_rad"),
    (dict(a=(1, 2, 3, 4)), "a"),
    (dict(a=(1.2, -5, -30, -7.5, 0.75)), "a[2]"),
    (dict(b=(0.25, 0.1, 0, 0.1, 0.4)), "b"),
    (dict(amplitude_mv=0), "amplitude_mv"),
    (dict(baseline_wander_mv=-0.1), "baseline_wander_mv"),
    (dict(noise_mv=float("nan")), "noise_mv"),
])
def test_parameter_validation_names_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name.replace('[', '.').replace(']', '.')}"):
        EcgsynParams(**kwargs)


@pytest.mark.parametrize("kwargs, exc, name", [
    (dict(duration_s=0, fs_hz=360), ValueError, "duration_s"),
    (dict(duration_s=1, fs_hz=-1), ValueError, "fs_hz"),
    (dict(duration_s=1, fs_hz=360, seed=-1), ValueError, "seed"),
    (dict(duration_s=1, fs_hz=360, seed=1.5), TypeError, "seed"),
    (dict(duration_s=1, fs_hz=360, n_channels=0), ValueError, "n_channels"),
])
def test_generator_arguments_are_validated(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        EcgsynStream(EcgsynParams(), **kwargs)


def test_read_size_is_validated():
    with pytest.raises(ValueError, match="^n must"):
        EcgsynStream(duration_s=1, fs_hz=100).read(-1)
