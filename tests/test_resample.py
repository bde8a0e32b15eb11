"""Polyphase resampler against scipy.signal.upfirdn, analytic sines and its design stopband."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from acquire.analog.resample import Decimator, Resampler, rational_ratio
from acquire.stage import Chunk
from tests.contract import check_stage_contract, check_steady_start

RATIOS = [(360.0, 8000.0), (8000.0, 500.0), (1000.0, 8000.0), (8000.0, 360.0)]


def test_rational_ratio():
    assert rational_ratio(360.0, 8000.0) == (200, 9)
    assert rational_ratio(8000.0, 500.0) == (1, 16)
    assert rational_ratio(1000.0, 8000.0) == (8, 1)
    assert rational_ratio(48000.0, 44100.0) == (147, 160)
    assert rational_ratio(1000.0, 1000.0 / 3) == (1, 3)


@pytest.mark.parametrize("fs_in, fs_out", RATIOS)
def test_equals_upfirdn_with_the_same_taps(fs_in, fs_out, rng):
    r = Resampler(fs_in, fs_out)
    x = rng.standard_normal((2, 3000))
    y = r.process(Chunk(x)).diff_v
    # Causal output count: ceil(n L / M) outputs after n inputs.
    assert y.shape == (2, -(-3000 * r.up // r.down))
    ref = signal.upfirdn(r.taps, x, r.up, r.down)[:, :y.shape[1]]
    # Same sums in another order: rounding only. Outputs are O(1) with up to ~600 terms of
    # O(1) products, so differences are a few 1e-15; 1e-12 is the brief's bound.
    assert np.max(np.abs(y - ref)) < 1e-12


@pytest.mark.parametrize("fs_in, fs_out, f", [(360.0, 8000.0, 10.0), (360.0, 8000.0, 100.0),
                                              (8000.0, 500.0, 50.0), (1000.0, 8000.0, 300.0)])
def test_sine_amplitude_and_group_delay(fs_in, fs_out, f):
    r = Resampler(fs_in, fs_out)
    n_in = int(3 * fs_in)
    x = np.sin(2 * np.pi * f * np.arange(n_in) / fs_in)[None, :]
    y = r.process(Chunk(x)).diff_v[0]
    t = np.arange(y.size) / fs_out
    steady = t > 2 * r.group_delay_s + 0.1  # the filter has filled with the sine
    ideal = np.sin(2 * np.pi * f * (t - r.group_delay_s))
    # Passband ripple is 0.0012 dB = 1.4e-4 and images are 80 dB down (1e-4): 1e-3 of the
    # amplitude bounds both with margin, and a 1e-3 error would be a delay error of only
    # 1e-3/(2 pi f) s, so the reported group delay is what the output shows.
    assert np.max(np.abs(y[steady] - ideal[steady])) < 1e-3
    # Least-squares amplitude at f: within 0.01 dB of 1.
    basis = np.stack([np.sin(2 * np.pi * f * t[steady]), np.cos(2 * np.pi * f * t[steady])], axis=1)
    coef = np.linalg.lstsq(basis, y[steady], rcond=None)[0]
    assert abs(20 * np.log10(np.hypot(*coef))) < 0.01


def test_group_delay_value():
    r = Resampler(360.0, 8000.0)
    # N = 24 * 200 = 4800 taps at 72 kHz: (N - 1)/2 / 72000 = 33.326 ms
    assert len(r.taps) == 4800
    assert r.group_delay_s == pytest.approx(4799 / 2 / 72000.0, rel=1e-15)
    assert r.settling_time_s == pytest.approx(4799 / 72000.0, rel=1e-15)


def coherent_spectrum(y, fs):
    """Amplitude spectrum of a record of exactly 1 s (1 Hz bins; on-bin tones do not leak)."""
    assert y.size == int(fs)
    return np.abs(np.fft.rfft(y)) * 2 / y.size


def test_images_attenuated_by_the_stopband():
    r = Resampler(360.0, 8000.0)
    # Design claim: passband to 142 Hz, stopband from 218 Hz at about 80 dB.
    assert r.cutoff_hz - r.transition_hz / 2 == pytest.approx(142.35, abs=0.01)
    assert r.cutoff_hz + r.transition_hz / 2 == pytest.approx(217.65, abs=0.01)
    x = np.sin(2 * np.pi * 100.0 * np.arange(360 * 3) / 360.0)[None, :]
    y = r.process(Chunk(x)).diff_v[0]
    spec = coherent_spectrum(y[8000:16000], 8000.0)  # second 1-3 s: steady state
    assert spec[100] == pytest.approx(1.0, abs=2e-4)
    others = np.delete(spec, 100)
    # Images at 360k +- 100 Hz. Kaiser's formula is accurate to a few tenths of a dB
    # (measured minimum over the stopband: 79.8 dB for the ratios tested); allow 0.5 dB.
    assert 20 * np.log10(others.max()) < -(r.stopband_db - 0.5)
    assert 20 * np.log10(spec[260]) < -(r.stopband_db - 0.5)  # the first image, 360 - 100


def test_aliases_attenuated_by_the_stopband():
    r = Resampler(8000.0, 500.0)
    t = np.arange(8000 * 3) / 8000.0
    x = (np.sin(2 * np.pi * 50.0 * t) + np.sin(2 * np.pi * 600.0 * t))[None, :]
    y = r.process(Chunk(x)).diff_v[0]
    spec = coherent_spectrum(y[500:1000], 500.0)
    assert spec[50] == pytest.approx(1.0, abs=2e-4)
    # 600 Hz aliases to 100 Hz; it lies in the stopband (from 302 Hz).
    assert 20 * np.log10(spec[100]) < -(r.stopband_db - 0.5)


@pytest.mark.parametrize("fs_in, fs_out, n", [(360.0, 8000.0, 300), (8000.0, 500.0, 2900),
                                              (1000.0, 8000.0, 400), (8000.0, 360.0, 2900)])
def test_stage_contract(fs_in, fs_out, n, rng):
    chunk = Chunk(rng.standard_normal((2, n)), start_sample=17)
    check_stage_contract(lambda: Resampler(fs_in, fs_out), chunk)
    out = Resampler(fs_in, fs_out).process(chunk)
    L, M = rational_ratio(fs_in, fs_out)
    assert out.start_sample == -(-17 * L // M) and out.cm_v is None


@pytest.mark.parametrize("fs_in, fs_out", RATIOS)
def test_stage_contract_primed(fs_in, fs_out, rng):
    chunk = Chunk(rng.standard_normal((2, 900)), start_sample=17)
    check_stage_contract(lambda: Resampler(fs_in, fs_out), chunk, modes=("random", "size:7"),
                         dc_in_v=[0.3, -2e-3])


@pytest.mark.parametrize("fs_in, fs_out", RATIOS)
def test_primed_resampler_is_in_steady_state_from_sample_0(fs_in, fs_out):
    r = Resampler(fs_in, fs_out)
    dc_in = np.array([0.3, -2e-3])
    # An FIR forgets its start after N - 1 samples at L fs_in (settling_time_s); past that the
    # unprimed run computes the same sums on the same all-dc history: equal to rounding (1e-15).
    n_settle = r.down * math.ceil((r.settling_time_s * fs_in + 1) / r.down)
    dc_out = check_steady_start(lambda: Resampler(fs_in, fs_out), dc_in, n_settle, n_check=10 * r.down,
                                settle_rtol=1e-15, steady_output=r.up == 1)
    # The mean output is H(1)/L = 1 (the prototype has gain L at dc) to the design's passband
    # ripple at dc, 0.0012 dB = 1.4e-4 (class Notes).
    np.testing.assert_allclose(dc_out, dc_in, rtol=1.4e-4)
    y = Resampler(fs_in, fs_out)
    y.prime(dc_in)
    out = y.process(Chunk(np.repeat(dc_in[:, None], 50 * r.down, axis=1))).diff_v
    whole = out[:, :r.up * (out.shape[1] // r.up)]  # whole periods of the L branches
    # The mean over whole periods is what prime returned (rounding of ~1e4 terms: 1e-13).
    np.testing.assert_allclose(whole.mean(axis=1), dc_out, rtol=1e-13)
    # Each output differs by the dc's images at multiples of fs_in, each attenuated by the
    # stopband: at most 10^(-80/20) = 1e-4 of the dc (2.9e-5 observed for 360 -> 8000 Hz).
    assert np.max(np.abs(out - dc_out[:, None]) / np.abs(dc_in)[:, None]) < 10 ** (-r.stopband_db / 20)


def test_chunked_start_samples_are_contiguous(rng):
    r = Resampler(360.0, 8000.0)
    x = rng.standard_normal((1, 50))
    expected = 0
    for a in range(0, 50, 7):
        out = r.process(Chunk(x[:, a:a + 7], start_sample=a))
        assert out.start_sample == expected
        expected += out.n_samples
    assert expected == -(-50 * 200 // 9)


def test_decimator():
    d = Decimator(8000.0, 16)
    assert (d.up, d.down, d.fs_out_hz, d.factor) == (1, 16, 500.0, 16)
    x = np.random.default_rng(1).standard_normal((1, 1000))
    y = d.process(Chunk(x)).diff_v
    assert np.max(np.abs(y - signal.upfirdn(d.taps, x, 1, 16)[:, :y.shape[1]])) < 1e-12


def test_errors():
    with pytest.raises(ValueError, match="fs_in_hz must be finite and > 0; got 0"):
        Resampler(0.0, 8000.0)
    with pytest.raises(ValueError, match="fs_out_hz must be finite and > 0; got -500"):
        Resampler(8000.0, -500.0)
    with pytest.raises(ValueError, match="not a fraction L/M"):
        Resampler(1000.0, 1000.0 * math.pi)
    with pytest.raises(ValueError, match="n_taps_per_phase must be an integer >= 2; got 1"):
        Resampler(360.0, 8000.0, n_taps_per_phase=1)
    with pytest.raises(ValueError, match="stopband_db"):
        Resampler(360.0, 8000.0, stopband_db=10.0)
    with pytest.raises(ValueError, match="factor must be an integer >= 2; got 2.5"):
        Decimator(8000.0, 2.5)
    r = Resampler(360.0, 8000.0)
    with pytest.raises(ValueError, match="cm_v"):
        r.process(Chunk(np.zeros((1, 10)), cm_v=np.zeros(10)))
    r.process(Chunk(np.zeros((1, 10))))
    with pytest.raises(ValueError, match="expected start_sample=10, got 11"):
        r.process(Chunk(np.zeros((1, 10)), start_sample=11))
