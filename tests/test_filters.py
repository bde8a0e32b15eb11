"""Digital filter stages against scipy run in one block, analytic responses and standards' tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from acquire.digital.filters import (
    DIGITAL_STAGES,
    FirFilter,
    SosFilter,
    comb,
    comb_taps,
    highpass,
    lowpass,
    make_digital_stage,
    notch,
    zero_phase,
)
from acquire.stage import Chain, Chunk
from tests.contract import check_stage_contract, check_steady_start

FS = 500.0


def db(h):
    return 20 * np.log10(np.abs(h))


def lock_in_amplitude(y, f_hz, fs_hz):
    """Least-squares amplitude of a sine at ``f_hz`` in ``y`` (with a dc term)."""
    t = np.arange(y.size) / fs_hz
    basis = np.stack([np.sin(2 * np.pi * f_hz * t), np.cos(2 * np.pi * f_hz * t), np.ones_like(t)],
                     axis=1)
    coef = np.linalg.lstsq(basis, y, rcond=None)[0]
    return float(np.hypot(coef[0], coef[1]))


def sine_gain(stage, f_hz, n_periods_steady=50):
    """Steady-state gain for a unit sine: run past settling, lock in over whole periods."""
    fs = stage.fs_in_hz
    n_settle = math.ceil(stage.settling_time_s * fs) + 1
    n_steady = round(n_periods_steady * fs / f_hz)
    t = np.arange(n_settle + n_steady) / fs
    y = stage.process(Chunk(np.sin(2 * np.pi * f_hz * t)[None])).diff_v[0, n_settle:]
    return lock_in_amplitude(y, f_hz, fs)


STAGES = {
    "highpass_diag": lambda: highpass("diagnostic", FS),
    "highpass_4": lambda: highpass(0.5, FS, order=4),
    "lowpass": lambda: lowpass("diagnostic", FS),
    "notch": lambda: notch(60.0, FS, harmonics=(1, 2)),
    "comb_int": lambda: comb(50.0, FS),
    "comb_frac": lambda: comb(60.0, FS),
    "sos": lambda: SosFilter(signal.butter(3, [5, 40], "bandpass", fs=FS, output="sos"), FS),
    "fir": lambda: FirFilter(signal.firwin(31, 40.0, fs=FS), FS),
}


@pytest.mark.parametrize("name", STAGES)
def test_stage_contract(name, rng):
    x = rng.standard_normal((2, 2500))
    check_stage_contract(STAGES[name], Chunk(x, cm_v=x[0], start_sample=17))


@pytest.mark.parametrize("name", STAGES)
def test_stage_contract_primed(name, rng):
    x = rng.standard_normal((2, 2500))
    check_stage_contract(STAGES[name], Chunk(x, start_sample=17), modes=("random", "size:7"),
                         dc_in_v=[0.3, -2e-3])


@pytest.mark.parametrize("name", STAGES)
def test_primed_stage_is_in_steady_state_from_sample_0(name):
    stage = STAGES[name]()
    # Settled: every mode below 1e-13 (27.6 settling times of 1 %, 0.01^6.5 = 1e-13); the
    # unprimed run's own rounding then dominates, a few 1e-13 of the dc over 60k samples of
    # the 0.05 Hz high-pass (pole 1 - 6e-4 sums ~1/(1 - pole) rounding errors), so 1e-11.
    n_settle = math.ceil(6.5 * stage.settling_time_s * FS) + 1
    dc_in = np.array([0.3, -2e-3])
    dc_out = check_steady_start(STAGES[name], dc_in, n_settle, settle_rtol=1e-11)
    # And the dc output is the filter's own dc gain H(1), computed independently by scipy.
    np.testing.assert_allclose(dc_out, dc_in * stage.freq_response(0.0).real, rtol=0, atol=1e-12)


def test_primed_highpass_removes_an_offset_a_cold_one_lets_through(rng):
    # First-order bilinear high-pass H(z) = b0 (1 - 1/z) / (1 - p/z): a step V at t = 0 leaves
    # V b0 p^n at sample n, 0.3 V * 0.9997 * 0.99937^499 = 0.219 V after 1 s (tau = 3.18 s).
    # Primed with V, the output is the ECG's alone.
    x = 1e-3 * rng.standard_normal((1, 500))
    ref = highpass("diagnostic", FS).process(Chunk(x)).diff_v
    cold = highpass("diagnostic", FS)
    b0, p = cold.sos[0, 0], -cold.sos[0, 4]
    y_cold = cold.process(Chunk(x + 0.3)).diff_v
    np.testing.assert_allclose(y_cold - ref, 0.3 * b0 * p ** np.arange(500)[None], rtol=1e-12)
    warm = highpass("diagnostic", FS)
    assert warm.prime([0.3]) == pytest.approx([0.0], abs=1e-15)
    # Linearity: primed(x + V) = rest(x) + steady(V) = rest(x); rounding of 0.3 V only.
    np.testing.assert_allclose(warm.process(Chunk(x + 0.3)).diff_v, ref, rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", STAGES)
def test_one_block_equals_scipy(name, rng):
    stage = STAGES[name]()
    x = rng.standard_normal((2, 3000))
    out = stage.process(Chunk(x, cm_v=x[0]))
    if isinstance(stage, SosFilter):
        # Same recursion from a zero state in both: identical arithmetic.
        assert np.array_equal(out.diff_v, signal.sosfilt(stage.sos, x, axis=-1))
    else:
        # Same products summed in another order: rounding only, outputs O(1) from <= 31
        # O(1) terms, so a few 1e-16; 1e-14 leaves margin.
        ref = signal.lfilter(stage.taps, [1.0], x, axis=-1)
        assert np.max(np.abs(out.diff_v - ref)) < 1e-14
    assert out.cm_v is None and out.cm_dvdt_v_per_s is None


def test_named_corners_are_minus_3db():
    # scipy's digital Butterworth is prewarped: |H| = 1/sqrt(2) at the corner exactly
    # (1e-6 dB: coefficient rounding amplified by the pole at 1 - 6e-4).
    for name, fc in (("diagnostic", 0.05), ("monitoring", 0.5), ("monitoring-0.67", 0.67)):
        assert db(highpass(name, FS).freq_response(fc))[0] == pytest.approx(-10 * math.log10(2),
                                                                             abs=1e-6)
    for name, fc in (("monitoring", 40.0), ("clinical-100", 100.0), ("diagnostic", 150.0)):
        assert db(lowpass(name, FS).freq_response(fc))[0] == pytest.approx(-10 * math.log10(2),
                                                                           abs=1e-9)
    assert highpass("diagnostic", FS).sos.shape == (1, 6)  # first order by default


def test_first_order_highpass_settling_and_delay():
    tau = 1 / (2 * math.pi * 0.05)
    stage = highpass(0.05, FS)
    # The pole decays as exp(-n / (tau fs)) up to the prewarped bilinear transform (relative
    # error of the decay rate ~ (pi fc / fs)^2 / 3 = 3e-8): 1 % after tau ln(100).
    assert stage.settling_time_s == pytest.approx(tau * math.log(100), rel=1e-6)
    # iirnotch poles have radius sqrt((1 - b)/(1 + b)), b = tan(pi bw / fs): -ln r =
    # atanh(b) = pi bw / fs (1 + O((pi bw/fs)^2)), so ln(100) / (pi bw) to 1e-3.
    assert notch(60.0, FS, bandwidth_hz=2.0).settling_time_s == pytest.approx(
        math.log(100) / (math.pi * 2.0), rel=1e-3)
    assert comb(60.0, FS).settling_time_s == 8 / FS
    # Group delay against the numerical derivative of the unwrapped phase (central
    # difference, step 1e-3 Hz: truncation error ~ h^2 relative, far below 1e-6).
    for st in (stage, lowpass(40.0, FS), notch(60.0, FS)):
        h = 1e-3
        ph = np.unwrap(np.angle(st.freq_response([10.0 - h, 10.0 + h])))
        assert st.group_delay_s == pytest.approx(-(ph[1] - ph[0]) / (2 * math.pi * 2 * h),
                                                 rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("fc, passes", [(0.05, True), (0.5, False)])
def test_ec11_impulse_response_first_order_highpass(fc, passes):
    # AAMI EC11 low-frequency impulse test (facts.md 1.3): 3 mV for 100 ms; slope after the
    # pulse <= 0.30 mV/s. Analytic, first-order HP with tau = 1/(2 pi fc): after the pulse the
    # output is -A (1 - exp(-T/tau)) exp(-(t-T)/tau), slope A (1 - exp(-T/tau)) / tau.
    amp, width, tau = 3e-3, 0.1, 1 / (2 * math.pi * fc)
    displacement = amp * (1 - math.exp(-width / tau))
    slope = displacement / tau
    stage = highpass(fc, FS, order=1)
    x = np.zeros(int(6 * FS))
    x[500:550] = amp  # 100 ms = 50 samples, starting at 1 s
    y = stage.process(Chunk(x[None])).diff_v[0, 550:]  # from the first sample after the pulse
    measured_slope = np.max(np.abs(np.diff(y))) * FS
    # Discretisation: the sampled pulse edge and the one-sample difference quotient each err
    # by O(1 / (tau fs)) relative (6e-4 at 0.05 Hz, 6e-3 at 0.5 Hz); 2 / (tau fs) bounds both.
    tol = 2 / (tau * FS)
    assert -y[0] == pytest.approx(displacement, rel=tol)
    assert measured_slope == pytest.approx(slope, rel=tol)
    limit_v_per_s = 0.30e-3
    assert (measured_slope <= limit_v_per_s) == passes
    assert (slope <= limit_v_per_s) == passes


NOTCHES = [  # (f0, harmonics, q, bandwidth)
    (60.0, (1, 2), 30.0, None),
    (50.0, (1, 2, 3, 4), 30.0, None),
    (60.0, (1, 2, 3), None, 2.0),
]


@pytest.mark.parametrize("f0, harmonics, q, bw", NOTCHES)
def test_notch_attenuation_and_passband_by_design(f0, harmonics, q, bw):
    stage = notch(f0, FS, harmonics=harmonics, q=q, bandwidth_hz=bw)
    centres = np.array([k * f0 for k in harmonics])
    # Zeros on the unit circle: only rounding remains at the centres (>> 40 dB).
    assert np.all(db(stage.freq_response(centres)) < -40)
    f = np.linspace(0, FS / 2, 200_001)
    halfwidth = 2 * (centres / q if bw is None else np.full(centres.shape, bw))
    outside = np.all(np.abs(f[:, None] - centres) > halfwidth, axis=1)
    # One section attenuates by 10 log10(1 + 1/16) = 0.26 dB at twice its bandwidth from the
    # centre; the acceptance limit is 0.5 dB everywhere outside the exclusion zones.
    assert np.max(np.abs(db(stage.freq_response(f[outside])))) < 0.5
    if bw is not None:  # each notch is bw wide at -3 dB (0.1 %: bilinear asymmetry)
        for c in centres:
            g = np.linspace(c - 2 * bw, c + 2 * bw, 40_001)
            below = g[np.abs(stage.freq_response(g)) < 2 ** -0.5]
            assert below.max() - below.min() == pytest.approx(bw, rel=1e-3)


@pytest.mark.parametrize("f0, harmonics, q, bw", NOTCHES)
def test_notch_attenuation_and_passband_by_simulation(f0, harmonics, q, bw):
    stage = notch(f0, FS, harmonics=harmonics, q=q, bandwidth_hz=bw)
    for k in harmonics:
        stage.reset()
        assert 20 * math.log10(sine_gain(stage, k * f0)) < -40
    for f in (1.0, 10.0, 25.0, 45.0, 85.0, 160.0, 230.0):
        stage.reset()
        gain = sine_gain(stage, f)
        # The lock-in measures the response the design predicts: the transient is below
        # 1 % after settling_time_s and decays further, and 50 whole periods average it
        # out, so 1e-4 relative.
        assert gain == pytest.approx(abs(stage.freq_response(f)[0]), rel=1e-4)
        assert abs(20 * math.log10(gain)) < 0.5


@pytest.mark.parametrize("mains, fs", [(50.0, 500.0), (60.0, 500.0), (60.0, 1000.0),
                                       (50.5, 1000.0), (60.0, 8000.0)])
def test_comb_nulls_dc_gain_and_linear_phase(mains, fs):
    stage = comb(mains, fs)
    period = fs / mains
    harmonics = mains * np.arange(1, math.floor(period / 2) + 1)  # Nyquist included if harmonic
    assert np.all(db(stage.freq_response(harmonics)) < -40)
    assert stage.taps.sum() == pytest.approx(1.0, abs=1e-14)
    # Linear phase: H(f) exp(j 2 pi f tau_g) is real at every frequency.
    f = np.linspace(0.1, 0.49 * fs, 500)
    rotated = stage.freq_response(f) * np.exp(2j * np.pi * f * stage.group_delay_s)
    assert np.max(np.abs(rotated.imag)) < 1e-12
    assert stage.group_delay_s == (stage.taps.size - 1) / 2 / fs
    if period == round(period):
        assert np.array_equal(stage.taps, np.full(round(period), 1 / period))
    else:
        assert stage.taps.size == 2 * math.ceil(period / 2) - 1


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_comb_nulls_by_simulation(mains):
    stage = comb(mains, FS)
    for k in range(1, math.ceil(FS / mains / 2)):
        stage.reset()
        assert 20 * math.log10(sine_gain(stage, k * mains) + 1e-300) < -40
    stage.reset()
    y = stage.process(Chunk(np.full((1, 50), 2.5e-3))).diff_v[0]
    assert np.allclose(y[stage.taps.size - 1:], 2.5e-3, rtol=1e-14, atol=0)  # dc gain 1


def test_fractional_tap_moving_average_is_not_a_comb():
    # The approximation comb_taps replaces (documented there): floor(P) taps of 1/P and a
    # last tap of frac(P)/P leaves 40, 34, 29, 26 dB at 60..240 Hz for 500 Hz / 60 Hz.
    period = FS / 60.0
    taps = np.r_[np.ones(8), period - 8] / period
    att = -db(signal.freqz(taps, worN=[60.0, 120.0, 180.0, 240.0], fs=FS)[1])
    assert np.allclose(att, [39.9, 33.5, 29.4, 26.1], atol=0.1)
    assert np.all(-db(FirFilter(comb_taps(60.0, FS), FS).freq_response([60.0, 240.0])) > 200)


def test_zero_phase_is_offline_forward_backward(rng):
    x = rng.standard_normal((2, 2000))
    lp = lowpass(40.0, FS)
    assert np.array_equal(zero_phase(lp, x), signal.sosfiltfilt(lp.sos, x, axis=-1))
    assert np.array_equal(zero_phase(lp.sos, x), signal.sosfiltfilt(lp.sos, x, axis=-1))
    c = comb(60.0, FS)
    assert np.array_equal(zero_phase(c, x), signal.filtfilt(c.taps, [1.0], x, axis=-1))
    # No delay: a 10 Hz sine comes out scaled by |H|^2 and in phase (away from the ends;
    # the 4th-order 40 Hz filter settles in ~0.05 s). 1e-6: the edge transient is long gone.
    t = np.arange(2000) / FS
    s = np.sin(2 * np.pi * 10 * t)[None]
    y = zero_phase(lp, s)[0, 200:-200]
    assert np.max(np.abs(y - abs(lp.freq_response(10.0)[0]) ** 2 * s[0, 200:-200])) < 1e-6


def test_errors():
    with pytest.raises(ValueError, match=r"corner_hz=300 Hz is at or above Nyquist.*250.*raise"):
        highpass(300.0, FS)
    with pytest.raises(ValueError, match=r"cutoff_hz=250 Hz.*Nyquist"):
        lowpass("pediatric", FS)
    with pytest.raises(ValueError, match=r"corner_hz must be one of.*Did you mean 'diagnostic'"):
        highpass("diagnostc", FS)
    with pytest.raises(ValueError, match=r"harmonics: harmonic 5 of 50 Hz is 250 Hz.*drop it"):
        notch(50.0, FS, harmonics=(1, 5))
    with pytest.raises(ValueError, match="harmonics must be distinct positive integers"):
        notch(50.0, FS, harmonics=(1, 1))
    with pytest.raises(ValueError, match="give q or bandwidth_hz, not both"):
        notch(50.0, FS, q=30.0, bandwidth_hz=1.0)
    with pytest.raises(ValueError, match="order must be an integer"):
        lowpass(40.0, FS, order=0)
    with pytest.raises(ValueError, match="mains_hz=300 Hz.*Nyquist"):
        comb(300.0, FS)
    with pytest.raises(ValueError, match="sos must be stable"):
        SosFilter([[1, 0, 0, 1, -1.5, 0.5625 * 2]], FS)
    with pytest.raises(ValueError, match=r"shape \(n_sections, 6\)"):
        SosFilter([1, 0, 0, 1, 0, 0], FS)
    with pytest.raises(ValueError, match="symmetric or antisymmetric"):
        FirFilter([1.0, 0.5, 0.1], FS)
    with pytest.raises(ValueError, match="delay_reference_hz=300"):
        lowpass(40.0, FS, delay_reference_hz=300.0)


def test_make_digital_stage_builds_each_kind():
    hp = make_digital_stage("highpass", FS, corner_hz=0.05, order=1)
    assert np.array_equal(hp.sos, highpass(0.05, FS).sos)
    nt = make_digital_stage("notch", FS, f0_hz=60.0, harmonics=[1, 2], q=30.0, zero_phase=False)
    assert np.array_equal(nt.sos, notch(60.0, FS, harmonics=(1, 2)).sos)
    assert np.array_equal(make_digital_stage("lowpass", FS, cutoff_hz="monitoring").sos,
                          lowpass(40.0, FS).sos)
    assert np.array_equal(make_digital_stage("comb", FS, mains_hz=60.0).taps, comb_taps(60.0, FS))
    canceller = make_digital_stage("nlms", FS, mains_hz=60.0, step_size=0.02)
    assert canceller.step_size == 0.02 and canceller.fs_out_hz == FS
    assert set(DIGITAL_STAGES) == {"highpass", "lowpass", "notch", "comb", "nlms", "decimate"}


def test_make_digital_stage_decimate():
    resample = pytest.importorskip("acquire.analog.resample")
    stage = make_digital_stage("decimate", 1000.0, factor=2)
    assert isinstance(stage, resample.Decimator) and stage.fs_out_hz == 500.0
    assert make_digital_stage("decimate", 1000.0, factor=2, stopband_db=60.0).stopband_db == 60.0


def test_config_default_chain_builds_and_streams(rng):
    from acquire.config import DEFAULTS

    def build():
        return Chain([(f"{i}:{spec['kind']}", make_digital_stage(
            spec["kind"], FS, **{k: v for k, v in spec.items() if k != "kind"}))
            for i, spec in enumerate(DEFAULTS["digital"])])

    check_stage_contract(build, Chunk(rng.standard_normal((2, 1500))), modes=("random", "size:7"))


def test_make_digital_stage_errors():
    with pytest.raises(ValueError, match=r"kind must be one of.*Did you mean 'notch'"):
        make_digital_stage("notchh", FS)
    with pytest.raises(ValueError, match=r"unknown parameter 'corner_h'.*Did you mean 'corner_hz'"):
        make_digital_stage("highpass", FS, corner_h=0.5)
    with pytest.raises(ValueError, match=r"'lowpass' needs cutoff_hz"):
        make_digital_stage("lowpass", FS, order=2)
    with pytest.raises(ValueError, match=r"zero_phase=True.*offline only"):
        make_digital_stage("lowpass", FS, cutoff_hz=40.0, zero_phase=True)
