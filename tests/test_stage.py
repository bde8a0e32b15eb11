"""Tests for the stage protocol and the chain."""

import numpy as np
import pytest
from scipy import signal

from acquire.stage import Chain, Chunk, Stage, dc_vector, sos_steady_state, sosfilt_carry
from tests.contract import check_stage_contract, check_steady_start


class Scale:
    """A minimal stateful stage: a one-sample delay times a gain, y[n] = g x[n-1]."""

    def __init__(self, gain, fs_hz=100.0, fs_out_hz=None):
        self.gain, self.fs_in_hz = gain, fs_hz
        self.fs_out_hz = fs_hz if fs_out_hz is None else fs_out_hz
        self.last0_ = None
        self.reset()

    def reset(self):
        self.last_ = self.last0_

    def prime(self, dc_in_v):
        self.last0_ = self.gain * np.asarray(dc_in_v, dtype=float)[:, None]
        self.reset()
        return self.last0_[:, 0]

    def process(self, chunk):
        x = chunk.diff_v * self.gain
        last = np.zeros((x.shape[0], 1)) if self.last_ is None else self.last_
        y = np.concatenate([last, x], axis=-1)
        self.last_ = y[:, -1:]
        return Chunk(y[:, :-1], start_sample=chunk.start_sample)


def test_chain_is_a_stage_and_composes_in_order():
    x = Chunk(np.arange(12.0).reshape(2, 6))
    chain = Chain([("a", Scale(2.0)), ("b", Scale(0.5))])
    assert isinstance(chain, Stage)
    # Oracle: two one-sample delays and a net gain of 1, by hand.
    expected = np.concatenate([np.zeros((2, 2)), x.diff_v[:, :-2]], axis=-1)
    np.testing.assert_array_equal(chain.process(x).diff_v, expected)
    assert chain["b"].gain == 0.5


def test_chain_passes_contract():
    x = Chunk(np.random.default_rng(0).standard_normal((2, 500)))
    check_stage_contract(lambda: Chain([("a", Scale(2.0)), ("b", Scale(0.5))]), x)


def test_chain_rejects_inconsistent_rates():
    with pytest.raises(ValueError, match="'a' outputs 100 Hz but 'b' expects 200 Hz"):
        Chain([("a", Scale(1.0, 100.0)), ("b", Scale(1.0, 200.0))])


def test_chain_rejects_duplicate_names_and_empty():
    with pytest.raises(ValueError, match="unique"):
        Chain([("a", Scale(1.0)), ("a", Scale(1.0))])
    with pytest.raises(ValueError, match="at least one"):
        Chain([])


def test_chain_prime_feeds_each_stage_the_previous_dc():
    chain = Chain([("a", Scale(2.0)), ("b", Scale(-0.5))])
    # 3 V and -1 V through x2 then x-0.5: -3 V and 1 V, and each delay holds its own stage's dc.
    np.testing.assert_array_equal(chain.prime([3.0, -1.0]), [-3.0, 1.0])
    np.testing.assert_array_equal(chain["a"].last_[:, 0], [6.0, -2.0])
    check_steady_start(lambda: Chain([("a", Scale(2.0)), ("b", Scale(-0.5))]), [3.0, -1.0], n_settle=2)
    x = Chunk(np.random.default_rng(0).standard_normal((2, 500)))
    check_stage_contract(lambda: Chain([("a", Scale(2.0)), ("b", Scale(0.5))]), x, dc_in_v=[3.0, -1.0])


@pytest.mark.parametrize("sos", [
    signal.butter(4, 40.0, fs=500.0, output="sos"),
    signal.butter(2, 0.05, "highpass", fs=8000.0, output="sos"),
    signal.bessel(3, [5.0, 40.0], "bandpass", fs=500.0, output="sos"),
    np.array([[2.0, 1.0, 0.5, 1.0, -0.6, 0.1]]),  # any numerator, poles 0.3 +- 0.1j
], ids=["lowpass", "highpass", "bandpass", "general"])
def test_sos_steady_state_is_sosfilt_zi_scaled(sos):
    dc = np.array([0.3, -2e-3, 0.0])
    zi, y = sos_steady_state(sos, dc)
    # scipy solves (I - A) z = B per section, a system of condition ~1/(1 + a1 + a2): 1.5e-9
    # for the 0.05 Hz high-pass at 8 kHz, whose scipy state is off by 2.1e-9 V for 0.3 V
    # (sosfilt from it then starts at -2.1e-9 V, not 0); 1e-16/1.5e-9 * 0.3 V = 2e-8 V bounds it.
    # The closed form is the exact fixed point, checked by sosfilt below to 1e-13.
    np.testing.assert_allclose(zi, signal.sosfilt_zi(sos)[:, None, :] * dc[None, :, None], rtol=0,
                               atol=2e-8)
    # The dc output is H(1) = sum(b)/sum(a) over the sections.
    h1 = np.prod(sos[:, :3].sum(axis=1) / sos[:, 3:].sum(axis=1))
    np.testing.assert_allclose(y, h1 * dc, rtol=1e-12, atol=1e-15)
    # And sosfilt from that state outputs it from sample 0 (to rounding).
    out, zf = signal.sosfilt(sos, np.repeat(dc[:, None], 100, axis=1), axis=-1, zi=zi)
    np.testing.assert_allclose(out, np.repeat(y[:, None], 100, axis=1), rtol=0, atol=1e-13)


def test_dc_vector_checks_one_finite_value_per_channel():
    np.testing.assert_array_equal(dc_vector([1, 2]), [1.0, 2.0])
    for bad in ([[0.1]], [], [np.nan], 0.3):
        with pytest.raises(ValueError, match="dc_in_v must be one finite value per channel"):
            dc_vector(bad)
    with pytest.raises(ValueError, match=r"shape \(n_channels=3,\); got \[0.1\]"):
        dc_vector([0.1], 3)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 8])
def test_sosfilt_carry_is_scipy_sosfilt_to_the_last_bit(order):
    # Oracle: scipy.signal.sosfilt with zi; the compiled pairs of sections perform its operations.
    rng = np.random.default_rng(order)
    sos = signal.butter(order, [30.0, 900.0], "bandpass", fs=8000.0, output="sos")
    x, zi = rng.standard_normal((2, 3001)), rng.standard_normal((len(sos), 2, 2))
    zi_before = zi.copy()
    y, zf = sosfilt_carry(sos, x, zi)
    ref_y, ref_zf = signal.sosfilt(sos, x, axis=-1, zi=zi)
    assert np.array_equal(y, ref_y) and np.array_equal(zf, ref_zf)
    assert np.array_equal(zi, zi_before)  # the carried state is returned, not updated in place
