"""Fidelity metrics against hand-computed values and exact synthetic tones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from acquire.evaluation import metrics

X = np.array([1.0, 2.0, 3.0, 4.0])
X_HAT = np.array([1.0, 2.0, 3.0, 5.0])
# By hand: sum (x - x_hat)^2 = 1; sum x^2 = 1 + 4 + 9 + 16 = 30;
# mean x = 2.5, sum (x - 2.5)^2 = 2.25 + 0.25 + 0.25 + 2.25 = 5.


def test_prd_hand_value():
    # 100 sqrt(1/30) = 18.2574185835...
    assert metrics.prd_percent(X, X_HAT) == pytest.approx(18.25741858350554, rel=1e-12)


def test_prdn_hand_value_and_dc_independence():
    # 100 sqrt(1/5) = 44.7213595500
    assert metrics.prdn_percent(X, X_HAT) == pytest.approx(44.72135954999579, rel=1e-12)
    # Adding the same dc to both leaves PRDN unchanged but changes PRD.
    assert metrics.prdn_percent(X + 7, X_HAT + 7) == pytest.approx(44.72135954999579, rel=1e-12)
    # PRD: sum (x + 7)^2 = 64 + 81 + 100 + 121 = 366 -> 100 sqrt(1/366) = 5.227%
    assert metrics.prd_percent(X + 7, X_HAT + 7) == pytest.approx(100 / math.sqrt(366), rel=1e-12)


def test_snr_hand_value_identity_and_prdn_relation():
    # 10 log10(5/1) = 6.98970004336
    assert metrics.snr_db(X, X_HAT) == pytest.approx(6.989700043360188, rel=1e-12)
    # SNR = -20 log10(PRDN/100) (facts.md section 5)
    assert metrics.snr_db(X, X_HAT) == pytest.approx(-20 * math.log10(metrics.prdn_percent(X, X_HAT) / 100))
    assert metrics.snr_db(X, X) == math.inf
    assert metrics.snr_improvement_db(3.0, 10.0) == 7.0


def test_correlation_hand_value():
    # xc = [-1.5, -.5, .5, 1.5], yc = [-1.75, -.75, .25, 2.25]; sum xc yc = 6.5,
    # sum xc^2 = 5, sum yc^2 = 8.75 -> r = 6.5 / sqrt(43.75) = 0.982708...
    assert metrics.correlation(X, X_HAT) == pytest.approx(6.5 / math.sqrt(43.75), rel=1e-12)
    assert metrics.correlation(X, 2 * X + 1) == pytest.approx(1.0, rel=1e-12)
    assert metrics.correlation(X, X[::-1]) == pytest.approx(-1.0, rel=1e-12)


def test_two_channel_input_gives_one_value_per_channel():
    x = np.stack([X, X])
    y = np.stack([X_HAT, X])
    np.testing.assert_allclose(metrics.prd_percent(x, y), [18.25741858350554, 0.0], rtol=1e-12)
    assert metrics.snr_db(x, y)[1] == math.inf


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="same shape"):
        metrics.prd_percent(X, X[:3])


FS = 500.0


def tone(f_hz, amp_v_rms, n, phase=0.7):
    t = np.arange(n) / FS
    return amp_v_rms * math.sqrt(2) * np.cos(2 * np.pi * f_hz * t + phase)


def test_lock_in_exact_on_non_bin_tone_with_dc():
    # 50.37 Hz over 0.5 s (25.185 cycles: not on a DFT bin) on 0.3 V dc.
    x = 0.3 + tone(50.37, 1e-3, 250)
    # Least squares is exact for tone + dc; 1e-9 V leaves room for rounding only.
    assert abs(metrics.goertzel_amplitude_v_rms(x, FS, 50.37) - 1e-3) < 1e-9
    # A large dc alone does not leak into the tone estimate (< 0.01 uV).
    assert metrics.goertzel_amplitude_v_rms(np.full(250, 1.0), FS, 50.37) < 1e-8
    assert metrics.goertzel_amplitude_v_rms(np.zeros(250), FS, 50.37) < 1e-8


def test_lock_in_rejects_frequency_past_nyquist():
    with pytest.raises(ValueError, match="Nyquist"):
        metrics.goertzel_amplitude_v_rms(np.zeros(100), FS, 250.0)


def test_residual_mains_separates_harmonics():
    # 20 uV at 50.2 Hz, 5 uV at 150.6 Hz, nothing at 100.4 Hz, plus 1 mV dc, 0.73 s.
    n = 365
    x = 1e-3 + tone(50.2, 20e-6, n) + tone(150.6, 5e-6, n, phase=2.1)
    total, per = metrics.residual_mains_uv_rms(x, FS, 50.2, n_harmonics=3)
    # Joint least squares is exact here: errors are rounding (< 1e-6 uV).
    assert per[1] == pytest.approx(20.0, abs=1e-6)
    assert per[2] == pytest.approx(0.0, abs=1e-6)
    assert per[3] == pytest.approx(5.0, abs=1e-6)
    assert total == pytest.approx(math.sqrt(20.0**2 + 5.0**2), abs=1e-6)


def test_residual_mains_harmonic_past_nyquist_raises():
    with pytest.raises(ValueError, match="n_harmonics"):
        metrics.residual_mains_uv_rms(np.zeros(100), FS, 50.0, n_harmonics=5)


def test_cmrr_effective_hand_case():
    # 1 V rms common mode leaving 100 uV RTI: 20 log10(1 / 1e-4) = 80 dB.
    assert metrics.cmrr_effective_db(1.0, 100e-6) == pytest.approx(80.0, rel=1e-12)
    assert metrics.cmrr_effective_db(1.0, 0.0) == math.inf


def test_qrs_amplitude_error_hand_case():
    fs = 1000.0
    ref = np.zeros(1000)
    ref[100], ref[110] = 1.0e-3, -0.2e-3   # beat 1: pp 1.2 mV
    ref[300] = 2.0e-3                        # beat 2: pp 2.0 mV
    test = ref.copy()
    test[100] = 0.9e-3                       # pp 1.1 mV -> error 100 uV
    test[300] = 1.5e-3                       # pp 1.5 mV -> error 500 uV
    test[351] = 5e-3                         # 51 ms after beat 2: outside the +-50 ms window
    # Beat at 20 has no full window (needs sample -30): skipped.
    out = metrics.qrs_amplitude_error_uv(ref, test, [20, 100, 300], fs)
    assert out["n_beats"] == 2
    assert out["median_uv"] == pytest.approx(300.0)            # mean of 100 and 500
    assert out["p95_uv"] == pytest.approx(100 + 0.95 * 400)    # numpy linear percentile: 480


def test_st_level_error_hand_case():
    fs = 1000.0
    r = 500
    ref = np.zeros(1000)
    ref[r + 100] = 0.1e-3                    # J + 60 ms = R + 100 ms: ST_ref = 100 uV
    test = ref.copy()
    test[r - 80:r - 59] += 20e-6             # PR baseline R-80..R-60 ms raised 20 uV
    test[r + 100] = 0.15e-3                  # ST_test = 150 - 20 = 130 uV -> error 30 uV
    out = metrics.st_level_error_uv(ref, test, [r], fs)
    assert out["n_beats"] == 1
    assert out["median_uv"] == pytest.approx(30.0)
    assert out["p95_uv"] == pytest.approx(30.0)
    # A dc offset moves baseline and ST point alike: zero error.
    assert metrics.st_level_error_uv(ref, ref + 1e-3, [r], fs)["median_uv"] == pytest.approx(0.0, abs=1e-9)


def test_saturated_fraction():
    assert metrics.saturated_fraction(5, 1000) == 0.005
    with pytest.raises(ValueError, match="n_clipped"):
        metrics.saturated_fraction(11, 10)


def test_settling_time_hand_case():
    err = [5, 4, 3, 0.5, 2, 0.1, 0.1, 0.1]
    # Last sample with |e| >= 1 is index 4 -> settled from index 5 = 0.5 s at 10 Hz.
    assert metrics.settling_time_s(err, 10.0, 1.0) == 0.5
    assert metrics.settling_time_s(np.zeros(5), 10.0, 1.0) == 0.0
    assert metrics.settling_time_s([0, 0, 3], 10.0, 1.0) == math.inf


def test_tone_fit_gram_closed_form_equals_the_design_product():
    from acquire.evaluation.accumulators import ToneFit

    freqs = metrics.mains_tones_hz(500.0, 60.0, 4) + metrics.floor_probes_hz(500.0, 60.0)
    fit = ToneFit(500.0, freqs)
    fit.update(np.zeros((1, 12_345)))
    phase = 2 * np.pi * np.outer(np.arange(12_345), [float(r) for r in fit.cycles])
    design = np.hstack([np.ones((12_345, 1)), np.cos(phase), np.sin(phase)])
    # Entries up to n = 12345; the float design's own phase rounding is about 1e-13 n.
    np.testing.assert_allclose(fit.gram(), design.T @ design, rtol=0, atol=1e-12 * 12_345)


def test_tone_fit_phase_is_exact_a_day_into_the_record():
    from fractions import Fraction

    from acquire.evaluation.accumulators import ToneFit

    fs, f = 500.0, 60.013
    fit = ToneFit(fs, [f])
    fit.n = n0 = 43_200_000  # 24 h of samples already fed
    x = np.random.default_rng(2).standard_normal((1, 3000))
    fit.update(x)
    r = Fraction(f / fs)
    turns = [float((r * (n0 + i)) % 1) for i in range(x.shape[1])]
    exact = np.sum(x[0] * np.exp(2j * np.pi * np.array(turns)))
    assert abs(fit.dtx[1][0, 0] - exact) < 1e-12 * np.sum(np.abs(x))


def test_streamed_accumulators_equal_one_block():
    from acquire.evaluation.accumulators import PairStats, RmsEnvelope, ToneFit

    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 20_011))
    y = x + 0.1 * rng.standard_normal(x.shape)
    one = [PairStats.of(x, y), RmsEnvelope(500), ToneFit(500.0, [60.0, 120.0])]
    one[1].update(y - x)
    one[2].update(y - x)
    parts = [PairStats(), RmsEnvelope(500), ToneFit(500.0, [60.0, 120.0])]
    for i in range(0, x.shape[1], 777):
        parts[0].update(x[:, i:i + 777], y[:, i:i + 777])
        parts[1].update(y[:, i:i + 777] - x[:, i:i + 777])
        parts[2].update(y[:, i:i + 777] - x[:, i:i + 777])
    for key in ("mean_x", "m2x", "m2y", "cxy", "sum_x2", "sum_d2"):
        np.testing.assert_allclose(getattr(parts[0], key), getattr(one[0], key), rtol=1e-12)
    np.testing.assert_array_equal(parts[1].envelope(), one[1].envelope())  # sequential per window: exact
    np.testing.assert_allclose(parts[2].rms(), one[2].rms(), rtol=1e-10)
