"""ADC: LSB, quantisation noise, clipping, noise floor, sampling phase, contract, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from acquire.analog.adc import Adc, AdcParams
from acquire.stage import Chunk
from tests.contract import check_stage_contract, check_steady_start


def test_ads1298_lsb():
    # worked-examples.md: PGA 6, Vref 2.4 V, 24 bit, full scale +-Vref/PGA -> 2.4/(6 * 2^23) = 47.68 nV
    adc = Adc(AdcParams(n_bits=24, vref_v=2.4, pga_gain_v_per_v=6.0, fs_adc_hz=500.0), 8000.0)
    assert adc.lsb_v == pytest.approx(47.68e-9, rel=1e-4)
    assert adc.full_scale_v == pytest.approx(0.4, rel=1e-15)


def test_quantisation_error_is_lsb_over_sqrt12(rng):
    p = AdcParams(n_bits=12, vref_v=1.0, fs_adc_hz=1000.0)
    adc = Adc(p, 1000.0)
    x = rng.uniform(-0.9, 0.9, size=(1, 200_000))  # spans ~3700 LSB: error uniform on +-LSB/2
    err = adc.process(Chunk(x)).diff_v - x
    assert np.max(np.abs(err)) <= p.lsb_v / 2 * (1 + 1e-12)
    # Relative standard error of an rms estimate of a uniform error over N samples is
    # sqrt(var(e^2))/(2 E[e^2] sqrt(N)) = sqrt(0.8)/(2 sqrt(2e5)) = 0.1 %; 1 % is 10 sigma
    # (the brief allows 5 %).
    assert np.sqrt(np.mean(err ** 2)) == pytest.approx(p.lsb_v / math.sqrt(12), rel=0.01)


def test_clipping_exact_count_on_a_ramp():
    p = AdcParams(n_bits=8, vref_v=1.0, fs_adc_hz=100.0)  # LSB = 1/128, codes -128..127
    adc = Adc(p, 100.0)
    x = (np.arange(-300, 301) * p.lsb_v)[None, :]  # codes -300..300 exactly
    y = adc.process(Chunk(x)).diff_v[0]
    # clipped: 128..300 (173 codes) and -300..-129 (172 codes)
    assert adc.n_clipped_ == 173 + 172
    assert y.max() == 127 * p.lsb_v and y.min() == -128 * p.lsb_v
    assert np.array_equal(y[172:428], x[0, 172:428])  # codes -128..127 (indices 172..427) pass
    adc.reset()
    assert adc.n_clipped_ == 0


def test_noise_floor_rms():
    noise = 1e-6
    adc = Adc(AdcParams(n_bits=24, vref_v=2.4, pga_gain_v_per_v=6.0, fs_adc_hz=500.0, noise_v_rms=noise),
              1000.0, seed=3)
    y = adc.process(Chunk(np.zeros((2, 80_000)))).diff_v
    assert y.shape == (2, 40_000)
    # 80000 Gaussian draws: relative standard error of the rms is 1/sqrt(2N) = 0.25 %;
    # 2 % is 8 sigma. Quantisation adds (47.7 nV)^2/12, a 1e-4 relative change.
    assert np.sqrt(np.mean(y ** 2)) == pytest.approx(noise, rel=0.02)
    # white: lag-1 correlation within 5 sigma of 0 (sigma = 1/sqrt(N) = 0.0035)
    assert abs(np.corrcoef(y[0, :-1], y[0, 1:])[0, 1]) < 0.018
    # channels independent
    assert abs(np.corrcoef(y[0], y[1])[0, 1]) < 0.025
    other = Adc(adc.params, 1000.0, seed=4).process(Chunk(np.zeros((2, 80_000)))).diff_v
    assert not np.array_equal(y, other)


def test_sampling_phase_from_absolute_index():
    p = AdcParams(n_bits=16, vref_v=1.0, fs_adc_hz=500.0)
    M = 16
    codes = np.arange(-5000, 5000, 3)[None, :]
    x = codes * p.lsb_v  # on the code grid, so quantisation is exact
    out = Adc(p, 8000.0).process(Chunk(x, start_sample=5))
    # absolute input indices 5..; first multiple of 16 is 16 -> local 11, output index 1
    assert out.start_sample == 1
    assert np.array_equal(out.diff_v[0], x[0, 11::M])
    out0 = Adc(p, 8000.0).process(Chunk(x))
    assert out0.start_sample == 0 and np.array_equal(out0.diff_v[0], x[0, ::M])  # y[k] = x[k M]


@pytest.mark.parametrize("noise", [0.0, 2e-6])
def test_stage_contract(noise, rng):
    p = AdcParams(n_bits=16, vref_v=2.4, pga_gain_v_per_v=4.0, fs_adc_hz=500.0, noise_v_rms=noise)
    n = 9000  # M = 4: 2250 outputs
    t = np.arange(n) / 2000.0
    x = 0.7 * np.sin(2 * np.pi * 3 * t) + 1e-3 * rng.standard_normal((3, n))  # clips past 0.6 V
    chunk = Chunk(x, cm_v=np.cos(t), start_sample=7)
    check_stage_contract(lambda: Adc(p, 2000.0, seed=11), chunk)
    adc = Adc(p, 2000.0, seed=11)
    out = adc.process(chunk)
    assert adc.n_clipped_ > 0 and np.array_equal(out.cm_v, chunk.cm_v[1::4])


def test_noise_is_chunk_invariant_across_noise_blocks():
    # More outputs than one noise block (4096) so block boundaries are crossed.
    p = AdcParams(n_bits=24, fs_adc_hz=1000.0, noise_v_rms=1e-6)
    chunk = Chunk(np.zeros((1, 9000)), start_sample=1000)
    check_stage_contract(lambda: Adc(p, 1000.0, seed=5), chunk, modes=("random", "size:4095"))


def test_errors():
    for bad in (1, 33, 12.5):
        with pytest.raises(ValueError, match=f"n_bits must be an integer from 2 to 32; got {bad}"):
            AdcParams(n_bits=bad)
    with pytest.raises(ValueError, match="vref_v must be finite and > 0; got -2.4"):
        AdcParams(vref_v=-2.4)
    with pytest.raises(ValueError, match="noise_v_rms"):
        AdcParams(noise_v_rms=-1e-6)
    with pytest.raises(ValueError, match=r"fs_in_hz=1000 Hz must be an integer multiple of "
                                         r"fs_adc_hz=300 Hz .* e\.g\. 1200 Hz"):
        Adc(AdcParams(fs_adc_hz=300.0), 1000.0)
    with pytest.raises(ValueError, match="integer multiple"):
        Adc(AdcParams(fs_adc_hz=500.0), 250.0)


def test_ideal_adc_only_samples():
    # The ideal reference converter returns input sample k*M exactly: no noise, rounding or clipping.
    x = np.linspace(-10.0, 10.0, 80)[None] + 1e-9 / 3  # past full scale and off the LSB grid
    adc = Adc(AdcParams(n_bits=12, vref_v=1.0, noise_v_rms=1e-3, fs_adc_hz=500.0), 8000.0, ideal=True)
    out = adc.process(Chunk(x))
    assert np.array_equal(out.diff_v, x[:, ::16]) and adc.n_clipped_ == 0


def test_prime_returns_the_converted_dc_without_counting():
    # 12 bits, Vref 1 V, PGA 2: LSB = 0.5 V / 2048 = 244.14 uV, codes -2048 .. 2047.
    p = AdcParams(n_bits=12, vref_v=1.0, pga_gain_v_per_v=2.0, fs_adc_hz=500.0)
    lsb = 0.5 / 2048
    dc = np.array([0.1, 0.9, -0.9, 1.4 * lsb])
    # round(0.1 / LSB) = round(409.6) = 410; +-0.9 V is past +-0.5 V: codes 2047 and -2048; 1.4 LSB -> 1.
    expected = np.array([410, 2047, -2048, 1]) * lsb
    adc = Adc(p, 8000.0)
    np.testing.assert_array_equal(adc.prime(dc), expected)
    assert adc.n_clipped_ == 0  # priming converts no sample
    # The same as converting the constant (no state: the steady state is there from sample 0).
    check_steady_start(lambda: Adc(p, 8000.0), dc, n_settle=16, n_check=160)
    np.testing.assert_array_equal(Adc(p, 8000.0, ideal=True).prime(dc), dc)


def test_prime_leaves_the_noise_floor_out():
    # With a noise floor of 3 LSB the mean code of a constant is within LSB/2 of the noiseless
    # one (dither); prime returns the noiseless code, and the noise still replays.
    p = AdcParams(n_bits=12, vref_v=1.0, fs_adc_hz=500.0, noise_v_rms=3.0 / 2048)
    adc = Adc(p, 500.0, seed=3)
    dc = adc.prime([0.25 + 0.3 / 2048])
    assert dc == pytest.approx([512 / 2048])
    y = adc.process(Chunk(np.full((1, 20000), 0.25 + 0.3 / 2048))).diff_v
    # Mean of 20000 codes: standard error 3 LSB / sqrt(20000) = 0.02 LSB; the exact dithered
    # mean is 0.3 LSB above the noiseless code (Gaussian noise of 3 LSB fully dithers).
    assert np.mean(y) * 2048 == pytest.approx(512.3, abs=0.1)
