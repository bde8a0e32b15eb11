"""Tests for the behavioural instrumentation amplifier against analytic oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from acquire._check import FrontendWarning
from acquire.analog.impedance import IEC_IMBALANCE, ElectrodeImpedance
from acquire.stage import Chunk
from frontend_models.amp_filters import lorentzian_sum_sos, merged_noise_path, one_stream_noise_sos, pink_noise_sos
from frontend_models.inamp import NOISE_BLOCK_SAMPLES, InAmpParams, InstrumentationAmplifier
from tests.contract import check_stage_contract, check_steady_start

FS_HZ = 8000.0


def lock_in(y: np.ndarray, f_hz: float, fs_hz: float) -> complex:
    """Complex amplitude of the f_hz component of y (whole periods assumed)."""
    n = np.arange(y.shape[-1])
    return 2 * np.mean(y * np.exp(-2j * np.pi * f_hz * n / fs_hz))


def sine_chunk(f_hz: float, n: int, *, cm: bool, amplitude_v: float = 1.0) -> Chunk:
    """A sine as differential input (cm=False) or as common mode with its exact derivative."""
    t = np.arange(n) / FS_HZ
    s = amplitude_v * np.sin(2 * np.pi * f_hz * t)
    if cm:
        ds = amplitude_v * 2 * np.pi * f_hz * np.cos(2 * np.pi * f_hz * t)
        return Chunk(diff_v=np.zeros((1, n)), cm_v=s, cm_dvdt_v_per_s=ds)
    return Chunk(diff_v=s[None, :])


@pytest.mark.parametrize("cmrr_db", [60.0, 80.0, 100.0, 120.0])
def test_common_mode_tone_attenuated_by_cmrr(cmrr_db):
    g = 10.0
    amp = InstrumentationAmplifier(InAmpParams(gain_v_per_v=g, cmrr_db=cmrr_db, bandwidth_hz=1e7), FS_HZ)
    chunk = sine_chunk(60.0, 8000, cm=True, amplitude_v=math.sqrt(2))  # 1 V rms, 60 whole periods
    y = amp.process(chunk).diff_v[0]
    expected_peak = g * math.sqrt(2) * 10 ** (-cmrr_db / 20)
    # 1 %: the brief's tolerance; the 10 MHz pole changes the 60 Hz gain by < 1e-9.
    assert abs(lock_in(y, 60.0, FS_HZ)) == pytest.approx(expected_peak, rel=0.01, abs=0)


def test_frequency_response_matches_analytic_below_0p4_fs():
    # f_3dB = 20 kHz >= 1.6 fs: the model claims 0.1 dB up to 0.4 fs (documented bound
    # 0.27 (fs/f_3dB)^2 dB = 0.043 dB) and phase within 7.04 deg * fs/f_3dB = 2.82 deg.
    params = InAmpParams(gain_v_per_v=100.0, cmrr_db=90.0, cmrr_corner_hz=500.0, bandwidth_hz=20e3)
    n_skip, n = 400, 8000  # the pole at z = -0.9 has decayed by 1e-18 after 400 samples
    for f_hz in (10.0, 100.0, 500.0, 1000.0, 2000.0, 3200.0):
        h = {}
        for kind in ("diff", "cm"):
            amp = InstrumentationAmplifier(params, FS_HZ)
            y = amp.process(sine_chunk(f_hz, n_skip + n, cm=kind == "cm")).diff_v[0, n_skip:]
            # the input phase at sample n_skip is 2 pi f n_skip / fs; remove it
            h[kind] = lock_in(y, f_hz, FS_HZ) / (-1j * np.exp(2j * np.pi * f_hz * n_skip / FS_HZ))
        expected_d, expected_c = params.diff_gain(f_hz), params.cm_gain(f_hz)
        assert 20 * np.log10(abs(h["diff"]) / abs(expected_d)) == pytest.approx(0, abs=0.1)
        assert abs(np.angle(h["diff"] / expected_d, deg=True)) < 2.85
        assert 20 * np.log10(abs(h["cm"]) / abs(expected_c)) == pytest.approx(0, abs=0.1)
        # CMRR uses the exact derivative, so the measured ratio has no discretisation error
        # beyond floating point; 1e-6 dB.
        cmrr_meas_db = 20 * np.log10(abs(h["diff"]) / abs(h["cm"]))
        assert cmrr_meas_db == pytest.approx(float(params.cmrr_db_at(f_hz)), abs=1e-6)


def test_low_bandwidth_warns_and_is_exact_at_the_corner():
    params = InAmpParams(gain_v_per_v=1.0, cmrr_db=90.0, bandwidth_hz=1000.0)
    with pytest.warns(FrontendWarning, match=r"within 0.1 dB only up to"):
        amp = InstrumentationAmplifier(params, FS_HZ)
    # Documented: the bilinear transform is prewarped at the pole, so the -3 dB point is exact.
    y = amp.process(sine_chunk(1000.0, 8400, cm=False)).diff_v[0, 400:]
    assert 20 * np.log10(abs(lock_in(y, 1000.0, FS_HZ))) == pytest.approx(-10 * np.log10(2), abs=1e-3)


def test_no_warning_for_fast_amplifier():
    InstrumentationAmplifier(InAmpParams(gain_v_per_v=1.0, cmrr_db=90.0, bandwidth_hz=13e3), FS_HZ)


def test_pink_filter_is_one_over_f():
    f_hz = np.logspace(-1, math.log10(FS_HZ / 10), 300)
    _, h = signal.sosfreqz(pink_noise_sos(FS_HZ), worN=f_hz, fs=FS_HZ)
    # Documented synthesis accuracy: +-0.15 dB of 1/f from 0.1 Hz to fs/10.
    assert np.max(np.abs(10 * np.log10(np.abs(h) ** 2 * f_hz))) < 0.15


def band_power(y: np.ndarray, fs_hz: float, f_lo: float, f_hi: float, nperseg: int):
    """Welch band power and the exact frequency edges of the bins summed."""
    f, psd = signal.welch(y, fs=fs_hz, nperseg=nperseg)
    df = f[1] - f[0]
    sel = (f >= f_lo) & (f < f_hi)
    return psd[sel].sum() * df, f[sel][0] - df / 2, f[sel][-1] + df / 2


NOISE_FS_HZ = 2500.0
NOISE_N = int(NOISE_FS_HZ * 1600)  # 1600 s: each band's estimate has a ~2-3 % standard error
BANDS = [(0.1, 1.0), (1.0, 10.0), (100.0, 1000.0)]


def test_voltage_noise_white_plus_flicker_matches_density():
    e_n, f_c, g = 10e-9, 10.0, 2.0
    params = InAmpParams(gain_v_per_v=g, cmrr_db=90.0, bandwidth_hz=1e8, noise_v_per_rthz=e_n, noise_corner_hz=f_c)
    amp = InstrumentationAmplifier(params, NOISE_FS_HZ, seed=3)
    y = amp.process(Chunk(diff_v=np.zeros((1, NOISE_N)))).diff_v[0]
    for f_lo, f_hi in BANDS:
        measured, a, b = band_power(y, NOISE_FS_HZ, f_lo, f_hi, nperseg=2 ** 16)
        expected = g ** 2 * e_n ** 2 * ((b - a) + f_c * math.log(b / a))  # integral of e_n^2 (1 + f_c/f)
        # 10 %: the brief's tolerance; statistical error ~3 %, synthesis ripple 0.15 dB.
        assert measured == pytest.approx(expected, rel=0.10, abs=0), (f_lo, f_hi)


@pytest.mark.parametrize("case", ["resistive_1M_pos", "iec_network_neg", "white_and_both_networks",
                                  "white_flicker_and_both_networks"])
def test_current_noise_through_electrode_matches_density(case):
    e_n, f_c = 0.0, 0.0
    if case == "resistive_1M_pos":
        i_n, z_pos, z_neg = 100e-15, ElectrodeImpedance(1e6), None

        def z_mag2(f):
            return np.full_like(f, 1e6 ** 2)
    elif case == "iec_network_neg":
        i_n, z_pos, z_neg = 2e-12, None, IEC_IMBALANCE

        def z_mag2(f):  # |51 kOhm || 47 nF|^2, by hand
            return 51e3 ** 2 / (1 + (2 * np.pi * f * 51e3 * 47e-9) ** 2)
    else:  # white e_n (and 1/f) plus both inputs' current noise: merged streams, or one stream
        e_n, i_n, z_pos, z_neg = 10e-9, 2e-12, ElectrodeImpedance(1e3, 100e3, 47e-9), IEC_IMBALANCE
        if case == "white_flicker_and_both_networks":  # the ina128 default's densities: one stream
            e_n, f_c, i_n = 80e-9, 5.6, 3e-12

        def z_mag2(f):  # |1 kOhm + 100 kOhm || 47 nF|^2 + |51 kOhm || 47 nF|^2, by hand
            pos = 1e3 + 100e3 / (1 + 2j * np.pi * f * 100e3 * 47e-9)
            return np.abs(pos) ** 2 + 51e3 ** 2 / (1 + (2 * np.pi * f * 51e3 * 47e-9) ** 2)
    params = InAmpParams(gain_v_per_v=1.0, cmrr_db=90.0, bandwidth_hz=1e8, current_noise_a_per_rthz=i_n,
                         noise_v_per_rthz=e_n, noise_corner_hz=f_c)
    amp = InstrumentationAmplifier(params, NOISE_FS_HZ, z_pos=z_pos, z_neg=z_neg, seed=5)
    assert len(amp._noise_paths) == 1  # one stream drawn: merged, or with 1/f (one_stream_noise_sos)
    y = amp.process(Chunk(diff_v=np.zeros((1, NOISE_N // 4)))).diff_v[0]
    for f_lo, f_hi in [(1.0, 10.0), (10.0, 100.0), (100.0, 1000.0)]:
        measured, a, b = band_power(y, NOISE_FS_HZ, f_lo, f_hi, nperseg=2 ** 12)
        f = np.linspace(a, b, 20001)
        expected = np.trapezoid(e_n ** 2 * (1 + f_c / f) + i_n ** 2 * z_mag2(f), f)
        assert measured == pytest.approx(expected, rel=0.10, abs=0), (case, f_lo, f_hi)


def test_lorentzian_sum_filter_is_the_spectral_factor():
    # Oracle: the sum itself at the bilinear transform's analog frequency 2 fs tan(w / 2).
    c, a = np.array([1e-3, 5.0, 2e4]), np.array([0.1, 30.0, 2000.0])
    f = np.logspace(-2, math.log10(0.45 * FS_HZ), 400)
    w_analog = 2 * FS_HZ * np.tan(np.pi * f / FS_HZ)
    for const in (1e-2, 0.0):
        _, h = signal.sosfreqz(lorentzian_sum_sos(const, c, a, FS_HZ), worN=f, fs=FS_HZ)
        want = const + np.sum(c / (w_analog[:, None] ** 2 + a ** 2), axis=1)
        np.testing.assert_allclose(np.abs(h) ** 2, want, rtol=1e-7)  # zeros found to 1e-15


def test_one_stream_noise_only_where_it_matches_the_model():
    # 2 pA through 51 kOhm || 47 nF is 2.1 nV/rtHz at 0.4 fs, above e_n = 1 nV/rtHz: the bilinear
    # compression of its Lorentzian there (-7.8 dB) would put the total ~5 dB low, so it is refused.
    assert one_stream_noise_sos(1e-9, 0.0, 2e-12, [IEC_IMBALANCE], FS_HZ) is None
    # With the ina128 densities (gain 10) white noise dominates at high frequency: 0.02 dB off.
    sos = one_stream_noise_sos(80e-9, 5.6, 3e-12, [ElectrodeImpedance(1e3, 100e3, 47e-9), IEC_IMBALANCE], FS_HZ)
    f = np.logspace(-1, math.log10(0.4 * FS_HZ), 300)
    z_pos = 1e3 + 100e3 / (1 + 2j * np.pi * f * 100e3 * 47e-9)
    z_neg = 51e3 / (1 + 2j * np.pi * f * 51e3 * 47e-9)
    model = 80e-9 ** 2 * (1 + 5.6 / f) + 3e-12 ** 2 * (np.abs(z_pos) ** 2 + np.abs(z_neg) ** 2)
    _, h = signal.sosfreqz(sos, worN=f, fs=FS_HZ)
    assert np.max(np.abs(10 * np.log10(np.abs(h) ** 2 / model))) < 0.05


def test_merged_noise_path_psd_is_the_sum_of_the_paths():
    # Independent oracle: scipy's frequency responses of the separate paths, powers summed.
    first = np.array([[0.5, 0.2, 0.0, 1.0, -0.97, 0.0]])
    second = np.array([[-0.3, -0.1, 0.0, 1.0, -0.949, 0.0]])
    w = np.linspace(0.0, np.pi, 1000)
    for paths in ([0.7, first, second], [first, second], [0.7, first]):
        merged = merged_noise_path(paths)
        want = sum(g * g if isinstance(g, float) else np.abs(signal.sosfreqz(g, worN=w)[1]) ** 2 for g in paths)
        # 1e-9: root finding of a degree-4 polynomial, good to ~1e-13 here.
        np.testing.assert_allclose(np.abs(signal.sosfreqz(merged, worN=w)[1]) ** 2, want, rtol=1e-9)
    assert merged_noise_path([0.3, 0.4]) == pytest.approx(0.5, rel=1e-15)


def test_bias_offset_current_and_offset_voltage_dc():
    g, vos, ib, ios = 10.0, 50e-6, 1e-9, 0.2e-9
    params = InAmpParams(gain_v_per_v=g, cmrr_db=90.0, bandwidth_hz=1e6, bias_current_a=ib,
                         offset_current_a=ios, offset_v=vos)
    amp = InstrumentationAmplifier(params, FS_HZ, z_pos=ElectrodeImpedance(1e6),
                                   z_neg=ElectrodeImpedance(150e3, 50e3, 47e-9))
    y = amp.process(Chunk(diff_v=np.zeros((1, 100)))).diff_v
    # By hand: 10 * (50 uV - 1.1 nA * 1 MOhm + 0.9 nA * 200 kOhm) = -8.7 mV.
    np.testing.assert_allclose(y, -8.7e-3, rtol=1e-12)
    only_vos = InstrumentationAmplifier(InAmpParams(gain_v_per_v=g, cmrr_db=90.0, bandwidth_hz=1e6, offset_v=vos), FS_HZ)
    np.testing.assert_allclose(only_vos.process(Chunk(diff_v=np.zeros((1, 10)))).diff_v, g * vos, rtol=1e-12)


def test_clipping_output_and_exact_count():
    params = InAmpParams(gain_v_per_v=10.0, cmrr_db=90.0, bandwidth_hz=1e12, output_swing_v=1.0)
    amp = InstrumentationAmplifier(params, FS_HZ, n_channels=2)
    levels = np.array([0.05, 0.2, -0.15, 0.08, -0.3])  # x10: 0.5, 2, -1.5, 0.8, -3 V
    x = np.repeat(levels, 100)
    y = amp.process(Chunk(diff_v=np.vstack([x, -x]))).diff_v
    # 3 of 5 levels exceed 1 V by >= 50 %, far beyond the 1e-9 relative transient of the
    # 1e12 Hz pole: 300 samples per channel.
    assert amp.n_clipped_ == 600
    np.testing.assert_allclose(y[0], np.clip(10 * x, -1, 1), atol=1e-8)
    amp.reset()
    assert amp.n_clipped_ == 0


def test_electrode_offset_saturates_high_gain_dc_coupled_amp():
    params = InAmpParams(gain_v_per_v=1000.0, cmrr_db=90.0, bandwidth_hz=1e6, output_swing_v=3.8)
    amp = InstrumentationAmplifier(params, FS_HZ)
    y = amp.process(Chunk(diff_v=np.full((1, 500), 0.3))).diff_v
    assert amp.n_clipped_ == 500
    np.testing.assert_array_equal(y, 3.8)


def test_dc_block_removes_electrode_offset():
    g = 100.0
    params = InAmpParams(gain_v_per_v=g, cmrr_db=80.0, bandwidth_hz=1e5, dc_block_hz=0.5, output_swing_v=1.45)
    amp = InstrumentationAmplifier(params, FS_HZ)
    n = int(12 * FS_HZ)
    t = np.arange(n) / FS_HZ
    x = 0.3 + 1e-3 * np.sin(2 * np.pi * 10 * t)
    y = amp.process(Chunk(diff_v=x[None, :])).diff_v[0]
    assert amp.n_clipped_ > 0  # the 30 V step saturates at power-on
    tail = y[-int(FS_HZ):]  # after 11 s the step has decayed by exp(-2 pi 0.5 11) ~ 1e-15
    h = lock_in(tail, 10.0, FS_HZ) / -1j  # 11 s is a whole number of 10 Hz periods
    assert abs(np.mean(tail)) < 1e-6  # 30 V * exp(-34.6) ~ 3e-14 V left
    assert abs(h) == pytest.approx(1e-3 * abs(params.diff_gain(10.0)), rel=1e-3, abs=0)  # HP 0.5 Hz analytic


def test_input_cm_range_violations_counted():
    params = InAmpParams(gain_v_per_v=1.0, cmrr_db=90.0, bandwidth_hz=1e6, input_cm_range_v=(-1.0, 1.0))
    amp = InstrumentationAmplifier(params, FS_HZ)
    cm = np.r_[np.full(10, 0.5), np.full(7, 1.5), np.full(5, 0.5)]
    diff = np.r_[np.zeros(17), np.full(5, 1.2)]  # last 5: + input at 0.5 + 0.6 = 1.1 V
    amp.process(Chunk(diff_v=diff[None, :], cm_v=cm))
    assert amp.n_cm_range_violations_ == 12


def test_cmrr_corner_fit_and_gbw():
    p = InAmpParams(gain_v_per_v=1.0, cmrr_db=95.0, cmrr_hf_point=(5000.0, 84.0), bandwidth_hz=1e6)
    assert float(p.cmrr_db_at(5000.0)) == pytest.approx(84.0, abs=0.01)
    # f_z = 5000 / sqrt(10^(11/10) - 1), by hand
    assert p.cmrr_zero_hz == pytest.approx(5000 / math.sqrt(10 ** 1.1 - 1), rel=1e-12)
    q = InAmpParams(gain_v_per_v=100.0, cmrr_db=95.0, gbw_hz=1e6)
    assert q.f_3db_hz == pytest.approx(1e4)
    assert abs(q.diff_gain(1e4)) == pytest.approx(100 / math.sqrt(2))


def test_missing_cm_derivative_is_refused_only_with_a_corner():
    chunk = Chunk(diff_v=np.zeros((1, 10)), cm_v=np.ones(10))
    with_corner = InstrumentationAmplifier(InAmpParams(gain_v_per_v=1.0, cmrr_db=90.0, cmrr_corner_hz=500.0,
                                                       bandwidth_hz=1e6), FS_HZ)
    with pytest.raises(ValueError, match="needs the chunk.s cm_dvdt_v_per_s.*it is None"):
        with_corner.process(chunk)
    # 1e12 Hz pole: the bilinear step ringing at fs/2 is ~0.13 fs/f_3dB ~ 1e-9 relative.
    flat = InstrumentationAmplifier(InAmpParams(gain_v_per_v=1.0, cmrr_db=60.0, bandwidth_hz=1e12), FS_HZ)
    np.testing.assert_allclose(flat.process(chunk).diff_v, 1e-3, rtol=1e-6)


def test_output_chunk_consumes_common_mode_and_keeps_start():
    amp = InstrumentationAmplifier(InAmpParams(gain_v_per_v=1.0, cmrr_db=60.0, bandwidth_hz=1e7), FS_HZ)
    out = amp.process(Chunk(diff_v=np.zeros((1, 4)), cm_v=np.ones(4), cm_dvdt_v_per_s=np.zeros(4), start_sample=7))
    assert out.cm_v is None and out.cm_dvdt_v_per_s is None and out.start_sample == 7


def make_noisy_amp():
    params = InAmpParams(gain_v_per_v=10.0, cmrr_db=95.0, cmrr_hf_point=(5000.0, 84.0), bandwidth_hz=1e6,
                         noise_v_per_rthz=18e-9, noise_corner_hz=2.0, current_noise_a_per_rthz=1e-12,
                         bias_current_a=1e-9, offset_v=1e-4, output_swing_v=0.02, input_cm_range_v=(-1.0, 1.0))
    return InstrumentationAmplifier(params, FS_HZ, z_pos=ElectrodeImpedance(10e3),
                                    z_neg=ElectrodeImpedance(10e3).plus(IEC_IMBALANCE), n_channels=2, seed=11)


# The second chunk straddles a noise block boundary (the draws of two seeded blocks).
@pytest.mark.parametrize("n, start", [(2500, 0), (6000, NOISE_BLOCK_SAMPLES - 3000)])
def test_stage_contract_with_noise_and_electrodes(rng, n, start):
    t = (start + np.arange(n)) / FS_HZ
    cm = 1.2 * np.sin(2 * np.pi * 50 * t)
    chunk = Chunk(diff_v=1e-3 * rng.standard_normal((2, n)), cm_v=cm,
                  cm_dvdt_v_per_s=1.2 * 2 * np.pi * 50 * np.cos(2 * np.pi * 50 * t), start_sample=start)
    check_stage_contract(make_noisy_amp, chunk)
    amp = make_noisy_amp()
    amp.process(chunk)
    assert amp.n_clipped_ > 0 and amp.n_cm_range_violations_ > 0  # the counters are exercised
    counts = (amp.n_clipped_, amp.n_cm_range_violations_)
    amp.reset()
    for a in range(0, n, 999):
        amp.process(Chunk(chunk.diff_v[:, a:a + 999], cm[a:a + 999], chunk.cm_dvdt_v_per_s[a:a + 999], start + a))
    assert (amp.n_clipped_, amp.n_cm_range_violations_) == counts


def test_stage_contract_primed_with_noise_and_electrodes(rng):
    n = 2500
    t = np.arange(n) / FS_HZ
    cm = 1.2 * np.sin(2 * np.pi * 50 * t)
    chunk = Chunk(diff_v=1e-3 * rng.standard_normal((2, n)), cm_v=cm,
                  cm_dvdt_v_per_s=1.2 * 2 * np.pi * 50 * np.cos(2 * np.pi * 50 * t))
    # 1 mV and -0.3 mV: the first lead's 10 mV output is inside the 20 mV swing, and so is the second's.
    check_stage_contract(make_noisy_amp, chunk, modes=("random", "size:7"), dc_in_v=[1e-3, -3e-4])


def test_primed_dc_coupled_amp_sits_at_its_operating_point():
    g, vos, ib, ios = 10.0, 50e-6, 1e-9, 0.2e-9
    params = InAmpParams(gain_v_per_v=g, cmrr_db=90.0, bandwidth_hz=1e5, bias_current_a=ib,
                         offset_current_a=ios, offset_v=vos)

    def make():
        return InstrumentationAmplifier(params, FS_HZ, z_pos=ElectrodeImpedance(1e6),
                                        z_neg=ElectrodeImpedance(150e3, 50e3, 47e-9), n_channels=2)

    dc_in = np.array([0.01, -0.02])
    # The 100 kHz pole, prewarped at 0.4 fs (class Notes), is z = (K - w)/(K + w) with
    # K = 2 pi 0.4 fs / tan(0.4 pi), w = 2 pi 100 kHz: -0.979, whose fs/2 ringing after a step
    # falls to 1e-13 in ln(1e13)/-ln(0.979) = 1440 samples.
    k, w = 2 * math.pi * 0.4 * FS_HZ / math.tan(0.4 * math.pi), 2 * math.pi * 1e5
    dc_out = check_steady_start(make, dc_in, math.ceil(math.log(1e13) / -math.log(abs((k - w) / (k + w)))))
    # By hand (test_bias_offset_current_and_offset_voltage_dc): G u - 8.7 mV = 91.3 mV, -208.7 mV.
    np.testing.assert_allclose(dc_out, g * dc_in - 8.7e-3, rtol=1e-12)


def test_primed_dc_block_holds_the_amplified_offset():
    params = InAmpParams(gain_v_per_v=100.0, cmrr_db=80.0, bandwidth_hz=1e5, dc_block_hz=0.5,
                         output_swing_v=1.45)

    def make():
        return InstrumentationAmplifier(params, FS_HZ, n_channels=2)

    dc_in = np.array([0.3, -0.2])
    # The unprimed amplifier clips the 30 V step for ~1 s (test_dc_block_removes_electrode_offset)
    # and reaches 0 after ln(1e13)/(2 pi 0.5 Hz) = 9.5 s (76k samples) to 1e-13 of 30 V. Its
    # rounding on the 30 V state over 1/(1 - rho) = 2500 steps, ~1e-11 V, is 3e-11 of the 0.3 V
    # input: 1e-10.
    n_settle = math.ceil(math.log(1e13) / (2 * math.pi * 0.5) * FS_HZ)
    dc_out = check_steady_start(make, dc_in, n_settle, settle_rtol=1e-10)
    assert np.all(dc_out == 0.0)  # H(1) = 0: the blocking capacitor holds all of it
    amp = make()
    amp.prime(dc_in)
    x = 1e-3 * np.sin(2 * np.pi * 10 * np.arange(8000) / FS_HZ)
    y = amp.process(Chunk(diff_v=dc_in[:, None] + x)).diff_v
    ref = make().process(Chunk(diff_v=np.vstack([x, x]))).diff_v
    assert amp.n_clipped_ == 0  # the 100 mV of ECG-band output fits: no power-on saturation
    # Linearity: primed(x + dc) = rest(x) + steady(dc); rounding of 30 V, 1e-14 V.
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-13)


def test_primed_high_gain_dc_coupled_amp_still_saturates():
    params = InAmpParams(gain_v_per_v=10.0, cmrr_db=90.0, bandwidth_hz=1e6, output_swing_v=1.0)
    amp = InstrumentationAmplifier(params, FS_HZ, n_channels=2)
    # 10 x 0.3 V = 3 V and 10 x -0.05 V = -0.5 V: the first is past the 1 V swing at its
    # operating point, physics rather than a start-up transient.
    # (The band's dc gain is 1 to rounding: 1e-15.)
    np.testing.assert_allclose(amp.prime([0.3, -0.05]), [1.0, -0.5], rtol=1e-15)
    assert amp.n_clipped_ == 0
    y = amp.process(Chunk(diff_v=np.repeat([[0.3], [-0.05]], 100, axis=1))).diff_v
    assert amp.n_clipped_ == 100  # every sample of the first lead, none of the second
    np.testing.assert_allclose(y, np.repeat([[1.0], [-0.5]], 100, axis=1), rtol=1e-12)
    with pytest.raises(ValueError, match=r"shape \(n_channels=2,\)"):
        amp.prime([0.3])


@pytest.mark.parametrize("kwargs, match", [
    ({"gain_v_per_v": -1.0}, "gain_v_per_v"),
    ({"gbw_hz": 1e6}, "exactly one of bandwidth_hz or gbw_hz"),
    ({"bandwidth_hz": None}, "exactly one of bandwidth_hz or gbw_hz"),
    ({"output_swing_v": 0.0}, "output_swing_v"),
    ({"output_swing_v": -1.0}, "output_swing_v"),
    ({"cmrr_hf_point": (5000.0, 100.0)}, "cmrr_hf_point"),
    ({"cmrr_hf_point": (5000.0, 80.0), "cmrr_corner_hz": 100.0}, "at most one of cmrr_hf_point"),
    ({"input_cm_range_v": (1.0, -1.0)}, "input_cm_range_v"),
    ({"noise_v_per_rthz": -1e-9}, "noise_v_per_rthz"),
])
def test_bad_parameters_raise_naming_the_parameter(kwargs, match):
    base = {"gain_v_per_v": 10.0, "cmrr_db": 90.0, "bandwidth_hz": 1e5}
    with pytest.raises(ValueError, match=match):
        InAmpParams(**{**base, **kwargs})


def test_bad_stage_arguments():
    p = InAmpParams(gain_v_per_v=1.0, cmrr_db=90.0, bandwidth_hz=1e6)
    with pytest.raises(TypeError, match="z_pos"):
        InstrumentationAmplifier(p, FS_HZ, z_pos=1e3)
    with pytest.raises(ValueError, match="n_channels"):
        InstrumentationAmplifier(p, FS_HZ, n_channels=0)
    with pytest.raises(ValueError, match=r"n_channels=1"):
        InstrumentationAmplifier(p, FS_HZ).process(Chunk(diff_v=np.zeros((2, 5))))
    with pytest.raises(ValueError, match="dc_block_hz"):
        InstrumentationAmplifier(InAmpParams(gain_v_per_v=1.0, cmrr_db=90.0, bandwidth_hz=1e6, dc_block_hz=5e3),
                                 FS_HZ)


def test_one_stream_noise_falls_back_when_its_zeros_cannot_be_bracketed():
    # Found by the CLI fuzz: a 6.7e11 Hz 1/f corner puts the spectral factor's parts so many decades
    # apart that brentq's bracket loses its sign change; the one-stream filter then declines (None:
    # the exact per-path filters are used) instead of raising scipy's bare message. A normal 10 Hz
    # corner with the same electrodes still gets the one-stream filter.
    z = [ElectrodeImpedance(1e3, 1e5, 47e-9), ElectrodeImpedance(1e3, 1.51e5, 94e-9)]
    assert one_stream_noise_sos(8e-9, 670440350404.0, 1e-13, z, 8000.0) is None
    assert one_stream_noise_sos(8e-9, 10.0, 1e-13, z, 8000.0) is not None


def test_noise_filter_in_parallel_form_is_the_cascade(monkeypatch):
    import frontend_models.amp_filters as amp_filters
    from frontend_models.amp_filters import parallel_form

    # Oracle: the cascade. The ina128 default's one-stream filter (poles from 1e-5 below z = 1 to
    # negative real) has a parallel form within 1e-5 of it (the gap is the cascade's own rounding).
    sos = one_stream_noise_sos(80e-9, 5.6, 3e-12, [ElectrodeImpedance(1e3, 100e3, 47e-9), IEC_IMBALANCE], FS_HZ)
    direct, poles, residues = parallel_form(sos, FS_HZ)
    f_hz = np.logspace(-4, math.log10(0.4 * FS_HZ), 300)
    h_cascade = signal.sosfreqz(sos, worN=f_hz, fs=FS_HZ)[1]
    h_parallel = direct + np.sum(residues / (1 - poles * np.exp(-2j * np.pi * f_hz / FS_HZ)[:, None]), axis=1)
    assert np.max(np.abs(h_parallel / h_cascade - 1)) < 1e-5
    # Complex poles (a Butterworth band-pass) have no real-pole parallel form.
    assert parallel_form(signal.butter(2, [1.0, 40.0], "bandpass", fs=FS_HZ, output="sos"), FS_HZ) is None

    def noise(amp):
        x = np.zeros((1, 8000 * 20))
        return amp.process(Chunk(diff_v=x)).diff_v[0]

    params = InAmpParams(gain_v_per_v=1.0, cmrr_db=90.0, bandwidth_hz=1e8, current_noise_a_per_rthz=3e-12,
                         noise_v_per_rthz=80e-9, noise_corner_hz=5.6)

    def make():
        return InstrumentationAmplifier(params, FS_HZ, z_pos=ElectrodeImpedance(1e3, 100e3, 47e-9),
                                        z_neg=IEC_IMBALANCE, seed=4)

    parallel = make()
    monkeypatch.setattr(amp_filters, "PARALLEL_TOLERANCE", -1.0)  # no parallel form: the cascade
    cascade = make()
    assert not parallel._noise_cascades and list(cascade._noise_cascades) == list(cascade._noise_paths)
    # The same draws through both forms: the same noise to rounding (7e-9 of its rms measured).
    a, b = noise(parallel), noise(cascade)
    assert np.max(np.abs(a - b)) < 1e-6 * a.std()
