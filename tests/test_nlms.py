"""Adaptive mains canceller against a per-sample NLMS loop, Widrow's notch and drifting mains."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from acquire.digital.nlms import AdaptiveMainsCanceller
from acquire.stage import Chunk
from tests.contract import check_stage_contract, check_steady_start

FS = 500.0


def nlms_loop(d, mains_hz, fs_hz, mu, harmonics, n0=0, block=None, gain=0.5, range_hz=None):
    """Textbook NLMS (Widrow 1975) one sample at a time, optionally with the block tracker.

    References cos(k phi), sin(k phi); e = d - w.x; w += mu e x / |x|^2. With ``block``,
    at every absolute index multiple of ``block`` the lowest harmonic's complex weight
    W = w_cos - j w_sin is compared with its value one block earlier and the phase
    increment moves by ``gain`` times the measured rotation per sample.
    """
    n_ch, n = d.shape
    w = np.zeros((n_ch, 2 * len(harmonics)))
    e = np.empty_like(d)
    omega0 = 2 * math.pi * mains_hz / fs_hz
    omega, phase, w_block = omega0, omega0 * n0, None
    k_low = min(harmonics)
    i_low = harmonics.index(k_low)
    for i in range(n):
        x = np.concatenate([[math.cos(k * phase), math.sin(k * phase)] for k in harmonics])
        e[:, i] = d[:, i] - w @ x
        w += (mu / (x @ x)) * e[:, i:i + 1] * x
        phase += omega
        if block is not None and (n0 + i + 1) % block == 0:
            big_w = w[:, 2 * i_low] - 1j * w[:, 2 * i_low + 1]
            if w_block is not None:
                delta = np.angle(np.sum(big_w * np.conj(w_block))) / (k_low * block)
                span = 2 * math.pi * range_hz / fs_hz
                omega = min(max(omega + gain * delta, omega0 - span), omega0 + span)
            w_block = big_w
    return e, w, omega


def mains_input(n, rng, f_hz=60.3, n0=0):
    t = (n0 + np.arange(n)) / FS
    mains = np.stack([1e-3 * np.sin(2 * np.pi * f_hz * t + 0.4)
                      + 2e-4 * np.sin(4 * np.pi * f_hz * t),
                      -5e-4 * np.cos(2 * np.pi * f_hz * t + 1.0)])
    return mains + 1e-5 * rng.standard_normal((2, n))


@pytest.mark.parametrize("harmonics", [(1,), (1, 2), (1, 3)])
def test_equals_plain_nlms_loop(harmonics, rng):
    d = mains_input(3000, rng, n0=123)
    c = AdaptiveMainsCanceller(60.0, FS, step_size=0.05, harmonics=harmonics)
    y = c.process(Chunk(d, start_sample=123)).diff_v
    e, w, _ = nlms_loop(d, 60.0, FS, 0.05, harmonics, n0=123)
    # Exact algebraic equivalence; the modal recursion and the loop differ in rounding only
    # (observed ~3e-13 of the input scale), so 1e-9 relative is the brief's bound.
    assert np.max(np.abs(y - e)) < 1e-9 * np.max(np.abs(d))
    assert np.max(np.abs(c.weights.reshape(2, -1) - w)) < 1e-9 * np.max(np.abs(w))


def test_tracking_equals_plain_nlms_loop_with_tracker(rng):
    d = mains_input(4000, rng, f_hz=60.4, n0=37)
    c = AdaptiveMainsCanceller(60.0, FS, step_size=0.02, harmonics=(1, 2), track_frequency=True,
                               track_block_s=0.1, track_gain=0.5)
    y = c.process(Chunk(d, start_sample=37)).diff_v
    e, _, omega = nlms_loop(d, 60.0, FS, 0.02, (1, 2), n0=37, block=50, gain=0.5, range_hz=1.2)
    # Same algorithm; the tracker turns rounding-level weight differences into
    # rounding-level frequency differences, so the 1e-9 bound still holds.
    assert np.max(np.abs(y - e)) < 1e-9 * np.max(np.abs(d))
    assert c.omega_ == pytest.approx(omega, rel=1e-12)
    assert c.omega_ * FS / (2 * math.pi) == pytest.approx(60.4, abs=0.02)  # it did track


@pytest.mark.parametrize("mu", [0.01, 0.1])
def test_lti_equivalent_is_widrows_notch(mu):
    c = AdaptiveMainsCanceller(60.0, FS, step_size=mu)
    w0 = 2 * math.pi * 60.0 / FS
    f = np.array([0.5, 10.0, 59.0, 59.9, 60.1, 61.0, 120.0, 240.0])
    z = np.exp(2j * np.pi * f / FS)
    # Widrow et al. 1975 with 2 mu C^2 -> mu (NLMS, unit references):
    widrow = (z ** 2 - 2 * math.cos(w0) * z + 1) / (z ** 2 - (2 - mu) * math.cos(w0) * z + 1 - mu)
    # Poles from an eigenvalue solve; 1e-9 bounds their rounding near the notch.
    assert np.max(np.abs(c.freq_response(f) - widrow)) < 1e-9
    assert abs(c.freq_response(60.0)[0]) < 1e-9  # zero on the unit circle
    # Poles of radius sqrt(1 - mu) exactly: 1 % after 2 ln(100) / (-ln(1 - mu)) samples.
    assert c.settling_time_s == pytest.approx(2 * math.log(100) / -math.log(1 - mu) / FS, rel=1e-9)
    h = 1e-3
    ph = np.unwrap(np.angle(c.freq_response([10.0 - h, 10.0 + h])))
    assert c.group_delay_s == pytest.approx(-(ph[1] - ph[0]) / (2 * math.pi * 2 * h), rel=1e-5)


def test_sos_equivalent_runs_the_same(rng):
    x = mains_input(3000, rng)
    c = AdaptiveMainsCanceller(50.0, FS, step_size=0.03, harmonics=(1, 2, 3))
    # The LTI equivalent through sosfilt: the same filter in another realisation
    # (rounding only, observed 1e-15 of the input scale).
    assert np.max(np.abs(c.process(Chunk(x)).diff_v - signal.sosfilt(c.sos, x, axis=-1))) \
        < 1e-9 * np.max(np.abs(x))


@pytest.mark.parametrize("kwargs", [dict(harmonics=(1, 2)),
                                    dict(track_frequency=True, track_block_s=0.05),
                                    dict(harmonics=(2, 3), track_frequency=True,
                                         track_block_s=0.03, step_size=0.05)])
def test_stage_contract(kwargs, rng):
    x = mains_input(2500, rng, f_hz=60.5, n0=11)
    check_stage_contract(lambda: AdaptiveMainsCanceller(60.0, FS, **kwargs),
                         Chunk(x, cm_v=x[0], start_sample=11))


@pytest.mark.parametrize("kwargs", [dict(harmonics=(1, 2)),
                                    dict(track_frequency=True, track_block_s=0.05)])
def test_stage_contract_primed(kwargs, rng):
    x = mains_input(2500, rng, f_hz=60.5, n0=11)
    check_stage_contract(lambda: AdaptiveMainsCanceller(60.0, FS, **kwargs), Chunk(x, start_sample=11),
                         modes=("random", "size:7"), dc_in_v=[0.3, -2e-3])


@pytest.mark.parametrize("kwargs", [dict(), dict(harmonics=(1, 3), step_size=0.05),
                                    dict(track_frequency=True, track_block_s=0.05)])
def test_primed_canceller_is_in_steady_state_from_sample_0(kwargs):
    def make():
        return AdaptiveMainsCanceller(60.0, FS, **kwargs)

    c = make()
    dc_in = np.array([0.3, -2e-3])
    # Settled to 1e-13 after 6.5 times the 1 % settling time (0.01^6.5); the recursion's
    # rounding over ~1/(1 - rho) = 200 steps stays near 1e-14, so 1e-11.
    n_settle = math.ceil(6.5 * c.settling_time_s * FS)
    dc_out = check_steady_start(make, dc_in, n_settle, settle_rtol=1e-11)
    # The dc gain of the LTI equivalent (its SOS, an independent realisation): 2/(2 - mu) for
    # one harmonic, 1.005025 at mu = 0.01 (the weights settle at Re V = -mu e/2, not at 0).
    np.testing.assert_allclose(dc_out, dc_in * c.freq_response(0.0).real, rtol=1e-12)
    if kwargs == {}:
        np.testing.assert_allclose(dc_out, dc_in * 2 / (2 - 0.01), rtol=1e-12)
    # The textbook loop, run to the steady state, ends at the same output.
    e = nlms_loop(np.repeat(dc_in[:, None], n_settle, axis=1), 60.0, FS, c.step_size, c.harmonics)[0]
    np.testing.assert_allclose(e[:, -1], dc_out, rtol=1e-11)
    if kwargs.get("track_frequency"):
        # 0.05 s holds 3 whole cycles of 60 Hz: the settled weights turn by 2 pi k 3 per block,
        # which is no frequency error, so the primed tracker stays at the nominal frequency.
        c.prime(dc_in)
        c.process(Chunk(np.repeat(dc_in[:, None], 500, axis=1)))
        assert c.omega_ == pytest.approx(2 * math.pi * 60.0 / FS, abs=1e-12)


def test_converges_below_minus_40db_within_settling_time():
    # Mains 1 mV at 60 Hz on a low-frequency test signal (1 mV at 1.1 Hz + 0.5 mV at 7 Hz).
    # The canceller is exactly LTI (tests above), so the residual interference is the output
    # for signal + mains minus the output for the signal alone.
    c = AdaptiveMainsCanceller(60.0, FS)  # default step 0.01
    # Predicted convergence: 2 ln(100) / (-ln(1 - mu)) samples = 1.83 s at 500 Hz.
    assert c.settling_time_s == pytest.approx(1.833, abs=1e-3)
    t = np.arange(int(5 * FS)) / FS
    s = 1e-3 * np.sin(2 * np.pi * 1.1 * t) + 5e-4 * np.sin(2 * np.pi * 7 * t)
    m = 1e-3 * np.sin(2 * np.pi * 60 * t + 0.7)
    residual = c.process(Chunk((s + m)[None])).diff_v[0]
    c.reset()
    clean = c.process(Chunk(s[None])).diff_v[0]
    residual -= clean
    m_rms = 1e-3 / math.sqrt(2)

    def rel_db(a, dur):
        i = round(a * FS)
        return 20 * math.log10(np.sqrt(np.mean(residual[i:i + round(dur * FS)] ** 2)) / m_rms)

    assert rel_db(c.settling_time_s, 1.0) < -40
    assert rel_db(c.settling_time_s / 2, 0.1) > -30  # not converged at half the time
    # The test signal passes: |1 - H| < 1 % at 1.1 and 7 Hz for mu = 0.01.
    n0 = round(c.settling_time_s * FS)
    assert np.sqrt(np.mean((clean[n0:] - s[n0:]) ** 2)) < 0.01 * np.sqrt(np.mean(s[n0:] ** 2))


def test_tracks_a_drifting_mains_frequency():
    # Mains drifting linearly 60 -> 60.5 Hz over 60 s (1 mV) on a 1 mV 1.1 Hz test signal.
    # Residual interference = output - test signal; the test signal alone leaks 46 dB below
    # the mains (|1 - H| at 1.1 Hz), far under the limits checked.
    duration = 60.0
    t = np.arange(int(duration * FS)) / FS
    m = 1e-3 * np.sin(2 * np.pi * (60 * t + 0.25 * t ** 2 / duration) + 0.3)
    s = 1e-3 * np.sin(2 * np.pi * 1.1 * t)
    one_s = int(FS)

    def window_db(stage):
        r = stage.process(Chunk((s + m)[None])).diff_v[0] - s
        start = math.ceil(stage.settling_time_s * FS)
        return np.array([20 * math.log10(np.sqrt(np.mean(r[i:i + one_s] ** 2)
                                                 / np.mean(m[i:i + one_s] ** 2)))
                         for i in range(start, t.size - one_s + 1, one_s)])

    tracking = AdaptiveMainsCanceller(60.0, FS, track_frequency=True)
    tracked = window_db(tracking)
    fixed = window_db(AdaptiveMainsCanceller(60.0, FS))
    assert np.max(tracked) < -30  # measured -38.9 dB worst 1-s window
    assert np.max(fixed[-10:]) > -10  # measured about -2 dB at the end: the notch is 0.5 Hz off
    assert tracking.omega_ * FS / (2 * math.pi) == pytest.approx(60.5, abs=0.02)


def test_weights_estimate_the_interference_phasor():
    # Pure 60 Hz at 2 mV, phase 0.7: after convergence w_cos cos(phi) + w_sin sin(phi)
    # reproduces it, so (w_cos, w_sin) = 2 mV (sin 0.7, cos 0.7). Residual transient after
    # 5 settling times: 1e-10 relative, so 1e-6.
    c = AdaptiveMainsCanceller(60.0, FS)
    n = round(5 * c.settling_time_s * FS)
    t = np.arange(n) / FS
    c.process(Chunk(2e-3 * np.sin(2 * np.pi * 60 * t + 0.7)[None]))
    assert np.allclose(c.weights[0, 0], 2e-3 * np.array([math.sin(0.7), math.cos(0.7)]),
                       rtol=0, atol=2e-9)


def test_errors():
    with pytest.raises(ValueError, match=r"step_size must lie in \(0, 2\)"):
        AdaptiveMainsCanceller(60.0, FS, step_size=2.0)
    with pytest.raises(ValueError, match="harmonics: harmonic 5 of 60 Hz is 300 Hz"):
        AdaptiveMainsCanceller(60.0, FS, harmonics=(1, 5))
    with pytest.raises(ValueError, match="mains_hz=300 Hz is at or above Nyquist"):
        AdaptiveMainsCanceller(300.0, FS)
    with pytest.raises(ValueError, match=r"track_block_s=1.*track_block_s < 0.208333 s"):
        AdaptiveMainsCanceller(60.0, FS, track_frequency=True, track_block_s=1.0)
    with pytest.raises(ValueError, match=r"track_gain must lie in \(0, 1\]"):
        AdaptiveMainsCanceller(60.0, FS, track_gain=0.0)
