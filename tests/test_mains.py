"""Tests for the mains interference, body common mode and magnetic pickup."""

import math

import numpy as np
import pytest

from acquire._check import FrontendWarning
from acquire.analog.impedance import ElectrodeImpedance
from acquire.analog.mains import MainsParams, MainsStage, cm_harmonics, magnetic_pickup_v_peak, period_samples
from acquire.analog.patient import BodyParams, PatientCircuit
from acquire.stage import Chunk
from tests.contract import check_stage_contract

FS = 8000.0


def body_cm_phasor_v(mains, body, f_hz):
    """The unloaded patient circuit's common mode for ``mains`` at ``f_hz``."""
    return PatientCircuit(body).cm_phasor_v(mains.mains_v_rms, f_hz)


def run(mains, body, n, *, fs=FS, n_leads=1, seed=0, start=0):
    stage = MainsStage(mains, body, fs, seed=seed)
    return stage.process(Chunk(np.zeros((n_leads, n)), start_sample=start))


def lockin(x, fs, f_hz, start=0):
    """Rms phasor of the component of ``x`` at ``f_hz`` (exact over whole periods)."""
    t = (start + np.arange(x.shape[-1])) / fs
    return math.sqrt(2) * np.mean(x * np.exp(-2j * np.pi * f_hz * t))


# --- body common mode: worked-examples.md oracles ---------------------------------------------

def test_floating_body_divider_worked_examples():
    body = BodyParams()  # 3 pF to mains, 300 pF to ground, floating
    # 230 V * 3/303 = 2.277 V and 120 V * 3/303 = 1.188 V (worked-examples.md); the divider is
    # frequency independent, so the value holds at every harmonic.
    assert body_cm_phasor_v(MainsParams(50), body, 50) == pytest.approx(230 * 3 / 303, rel=1e-12)
    assert abs(body_cm_phasor_v(MainsParams(50), body, 50)) == pytest.approx(2.28, abs=0.005)
    assert abs(body_cm_phasor_v(MainsParams(60), body, 180)) == pytest.approx(1.19, abs=0.005)


def test_grounded_body_through_reference_electrode():
    body = BodyParams(grounded=True, z_ref=51e3)
    v = body_cm_phasor_v(MainsParams(50), body, 50)
    # worked example: 0.217 uA displacement current x 51 kOhm = 11.1 mV rms (C_body ignored there;
    # 300 pF is 10.6 MOhm at 50 Hz, which changes |v| by 1e-5).
    assert abs(v) == pytest.approx(11.1e-3, abs=0.05e-3)
    i_disp = 230 * 2 * math.pi * 50 * 3e-12
    assert i_disp == pytest.approx(0.217e-6, abs=0.001e-6)
    assert abs(v) == pytest.approx(i_disp * 51e3, rel=1e-4)
    # The current source drives a resistor: v_cm leads the mains by ~90 degrees and grows with f.
    assert np.angle(v) == pytest.approx(math.pi / 2, abs=0.01)
    assert abs(body_cm_phasor_v(MainsParams(50), body, 150)) == pytest.approx(3 * abs(v), rel=1e-3)


def test_drl_divides_by_one_plus_loop_gain():
    # Closed form of an earthed device: v_cm = V Y_p / (Y_p + Y_b + Y_RL) / (1 + A Y_RL/(Y_p + Y_b + Y_RL)).
    mains = MainsParams(50)
    w = 2 * math.pi * 50
    y_p, y_b, y_rl = 1j * w * 3e-12, 1j * w * 300e-12, 1 / 51e3
    plain = body_cm_phasor_v(mains, BodyParams(grounded=True), 50)
    assert plain == pytest.approx(230 * y_p / (y_p + y_b + y_rl), rel=1e-12)
    for body, a in ((BodyParams(grounded=True, drl_loop_gain=99.0), 99.0),
                    (BodyParams(grounded=True, drl_loop_gain=1000.0, drl_bandwidth_hz=10.0), 1000 / (1 + 5j))):
        got = body_cm_phasor_v(mains, body, 50)
        assert got == pytest.approx(plain / (1 + a * y_rl / (y_p + y_b + y_rl)), rel=1e-12)
        # ... which is the textbook 1/(1 + A) to within |Y_p + Y_b|/Y_RL = 5e-3 (Winter & Webster 1983).
        assert abs(got) == pytest.approx(abs(plain / (1 + a)), rel=5e-3)


def test_direct_mode_and_harmonic_table():
    mains = MainsParams(60, harmonic_ratios={3: 0.1, "5": 0.02}, harmonic_phases_rad={3: 0.5})
    body = BodyParams(mode="direct", cm_v_rms=1.5)
    got = cm_harmonics(mains, body)
    want = [(60.0, 1.5), (180.0, 0.15 * np.exp(0.5j)), (300.0, 0.03)]
    assert [f for f, _ in got] == [f for f, _ in want]
    for (_, v), (_, w) in zip(got, want):
        assert v == pytest.approx(w, rel=1e-12)


def test_mains_defaults():
    assert MainsParams(50).mains_v_rms == 230.0 and MainsParams(60).mains_v_rms == 120.0
    # Default spectrum: half the EN 50160 limits for 3rd, 5th, 7th (5 %, 6 %, 5 %).
    assert MainsParams(50).harmonic_ratios == {3: 0.025, 5: 0.03, 7: 0.025}


# --- the generated waveform ------------------------------------------------------------------

def test_fundamental_and_harmonics_by_lockin():
    # 50.3 Hz: 10 s hold 503 periods of every harmonic, so projecting onto exact sinusoids
    # leaves only rounding (~1e-12); 1e-6 is the requirement.
    mains = MainsParams(50, offset_hz=0.3, harmonic_ratios={2: 0.01, 3: 0.025, 5: 0.03, 7: 0.025},
                        harmonic_phases_rad={3: 1.0, 7: -2.0})
    body = BodyParams()
    out = run(mains, body, int(10 * FS), start=12345)
    v_fund = 230 * 3 / 303  # floating body, worked example
    for k, ratio in [(1, 1.0), (2, 0.01), (3, 0.025), (5, 0.03), (7, 0.025)]:
        phase = {3: 1.0, 7: -2.0}.get(k, 0.0)
        meas = lockin(out.cm_v, FS, k * 50.3, start=12345)
        assert meas == pytest.approx(v_fund * ratio * np.exp(1j * phase), rel=1e-6)
    # Nothing at a frequency that is not a harmonic (4th), nor at the nominal 50 Hz's 4th.
    assert abs(lockin(out.cm_v, FS, 4 * 50.3, start=12345)) < 1e-9
    # The total rms equals the quadrature sum of the components.
    total = v_fund * math.sqrt(1 + 0.01**2 + 0.025**2 + 0.03**2 + 0.025**2)
    assert np.sqrt(np.mean(out.cm_v**2)) == pytest.approx(total, rel=1e-9)
    assert np.array_equal(out.diff_v, np.zeros_like(out.diff_v))  # no magnetic pickup asked


def test_steady_mains_read_from_one_period_is_exact_late_in_a_day():
    # Periods by hand: 60 Hz at 8 kHz repeats after 400 samples (3 cycles), 50 Hz after 160,
    # 60.1 Hz after 80000 (601 cycles), too long to tabulate (> 2^16); drift is never periodic.
    assert (period_samples(60.0, FS), period_samples(50.0, FS), period_samples(60.1, FS)) == (400, 160, None)
    assert period_samples(60.1, FS, max_samples=10 ** 5) == 80000
    mains, body = MainsParams(60, harmonic_ratios={3: 0.025, 5: 0.03}), BodyParams()
    assert MainsStage(mains, body, FS)._table.shape == (5, 400)
    assert MainsStage(MainsParams(60, drift_hz_rms=0.1), body, FS)._table is None
    # Oracle: the analytic harmonics with the phase of sample n from exact integers, n*3 mod 400,
    # at 23 h into a record; rounding only (1e-12 of the amplitude).
    start = int(23 * 3600 * FS) + 17
    out = run(mains, body, 4000, start=start)
    n = start + np.arange(4000)
    t_cycles = (n * 3 % 400) / 400
    want = sum(math.sqrt(2) * (v * np.exp(2j * np.pi * round(f / 60) * t_cycles)).real
               for f, v in cm_harmonics(mains, body))
    np.testing.assert_allclose(out.cm_v, want, rtol=0, atol=1e-12 * np.max(np.abs(want)))


def test_input_ecg_kept_and_common_mode_added_to_existing():
    mains, body = MainsParams(60), BodyParams()
    ecg = np.random.default_rng(1).standard_normal((2, 800)) * 1e-3
    stage = MainsStage(mains, body, FS)
    base = stage.process(Chunk(ecg))
    assert np.array_equal(base.diff_v, ecg)
    stage.reset()
    extra = np.linspace(0, 1, 800)
    both = stage.process(Chunk(ecg, cm_v=extra, cm_dvdt_v_per_s=np.full(800, 8000 / 799)))
    assert np.array_equal(both.cm_v, extra + base.cm_v)
    assert np.array_equal(both.cm_dvdt_v_per_s, 8000 / 799 + base.cm_dvdt_v_per_s)
    with pytest.raises(ValueError, match="cm_dvdt_v_per_s"):
        stage.process(Chunk(ecg, cm_v=extra))


@pytest.mark.parametrize("mains", [
    MainsParams(50),
    MainsParams(60, am_depth=0.3, am_hz=2.0, harmonic_phases_rad={5: 0.7}),
    MainsParams(50, drift_hz_rms=0.3, drift_tau_s=0.5, am_depth=0.2, am_hz=3.0),
])
def test_derivative_matches_central_difference(mains):
    # Central difference of a sinusoid of angular frequency w has relative error
    # 1 - sin(wT)/(wT) <= (wT)^2/6, so for the sum of harmonics (peak a_k, w_k = k w) the error is
    # at most sum_k a_k w_k (w_k T)^2/6; the envelope (1 + m) and the 1 % drift scale that by
    # (1 + m)(1.01)^3, and the AM and drift rates add terms far below it (1 % margin).
    out = run(mains, BodyParams(), 4000, start=777)
    x, dx = out.cm_v, out.cm_dvdt_v_per_s
    t_s = 1 / FS
    central = (x[2:] - x[:-2]) / (2 * t_s)
    w1 = 2 * math.pi * (mains.frequency_hz + mains.drift_bound_hz * bool(mains.drift_hz_rms))
    bound = sum(math.sqrt(2) * abs(v) * k * w1 * (k * w1 * t_s) ** 2 / 6
                for (k, _), (_, v) in zip(mains.components(), cm_harmonics(mains, BodyParams())))
    bound *= (1 + mains.am_depth) * 1.01
    err = np.max(np.abs(central - dx[1:-1]))
    assert err <= bound
    assert err > 0.3 * bound  # the bound is the right order: the derivative is not off by a term
    assert np.max(np.abs(dx)) > 100 * bound


def test_frequency_offset_moves_the_lines():
    mains = MainsParams(60, offset_hz=-0.5, harmonic_ratios={})
    out = run(mains, BodyParams(), int(2 * FS))
    # 59.5 Hz over 2 s: 119 whole periods.
    assert abs(lockin(out.cm_v, FS, 59.5)) == pytest.approx(120 * 3 / 303, rel=1e-9)
    assert abs(lockin(out.cm_v, FS, 60.0)) < 0.05 * 120 * 3 / 303


def zero_crossing_frequencies(x, fs):
    """Frequency of each period, from linearly interpolated upward zero crossings."""
    i = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    t = (i + x[i] / (x[i] - x[i + 1])) / fs
    return 1 / np.diff(t)


def test_drift_changes_frequency_within_en50160():
    fs = 2000.0
    plain = MainsParams(50, harmonic_ratios={})
    body = BodyParams()
    f_plain = zero_crossing_frequencies(run(plain, body, int(100 * fs), fs=fs).cm_v, fs)
    # Linear interpolation misplaces a crossing by up to ~(wT)^2/6 of a sample's phase step
    # (wT = 0.157 at 2 kHz): up to ~2e-3 Hz per period when the crossings slide along the grid.
    tol_hz = 2e-3
    assert np.max(np.abs(f_plain - 50)) < tol_hz
    drifting = MainsParams(50, harmonic_ratios={}, drift_hz_rms=0.1, drift_tau_s=1.0)
    f = zero_crossing_frequencies(run(drifting, body, int(100 * fs), fs=fs, seed=4).cm_v, fs)
    dev = f - 50
    # 100 correlation times: the sample std of an OU process is within ~10 % of sigma (1 sigma
    # of the estimate ~ sqrt(tau/T) = 0.1); 0.6..1.4 leaves 4 sigma.
    assert 0.06 < dev.std() < 0.14
    assert np.max(np.abs(dev)) <= 0.5 + tol_hz  # never beyond EN 50160's +-1 %
    # The frequency wanders smoothly: a knot (0.1 s = 5 periods) moves d by sqrt(1 - a^2) sigma
    # = 0.043 Hz rms (a = exp(-0.1)), a period by a fifth of that, so 5 sigma is 0.043 Hz,
    # well below the 0.1 Hz spread.
    assert np.max(np.abs(np.diff(f))) < 0.043
    # At the largest rms the clipping at +-1 % (0.5 Hz) is reached but not exceeded.
    wild = MainsParams(50, harmonic_ratios={}, drift_hz_rms=0.5, drift_tau_s=1.0)
    dev = zero_crossing_frequencies(run(wild, body, int(100 * fs), fs=fs, seed=4).cm_v, fs) - 50
    assert 0.45 < np.max(np.abs(dev)) <= 0.5 + tol_hz
    # Another seed, another path.
    other = zero_crossing_frequencies(run(drifting, body, int(100 * fs), fs=fs, seed=5).cm_v, fs)
    assert not np.allclose(other[:1000], f[:1000], atol=1e-3)


def test_amplitude_modulation_depth():
    mains = MainsParams(50, harmonic_ratios={}, am_depth=0.2, am_hz=1.0)
    out = run(mains, BodyParams(mode="direct", cm_v_rms=1.0), int(FS))
    # (1 + m sin(w_am t)) cos(w t): carrier 1, sidebands at 49 and 51 Hz of m/2 each; all whole
    # periods in 1 s, so lock-in is exact to rounding.
    carrier = abs(lockin(out.cm_v, FS, 50.0))
    lower, upper = abs(lockin(out.cm_v, FS, 49.0)), abs(lockin(out.cm_v, FS, 51.0))
    assert carrier == pytest.approx(1.0, rel=1e-9)
    assert (lower + upper) / carrier == pytest.approx(0.2, rel=1e-6)


def test_magnetic_pickup_facts_case():
    # facts.md 2.2: 1 uT, 100 cm^2, 50 Hz -> w B A = 3.1 uV peak, in every lead.
    body = BodyParams(loop_area_m2=100e-4, flux_density_t=1e-6)
    mains = MainsParams(50)
    assert magnetic_pickup_v_peak(mains, body) == pytest.approx(3.1e-6, abs=0.05e-6)
    out = run(mains, body, int(FS), n_leads=3)
    want = 2 * math.pi * 50 * 1e-6 * 100e-4
    for lead in out.diff_v:
        assert math.sqrt(2) * abs(lockin(lead, FS, 50.0)) == pytest.approx(want, rel=1e-9)
        assert np.max(np.abs(lead)) == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("mains, body", [
    (MainsParams(50), BodyParams()),
    (MainsParams(60, drift_hz_rms=0.2, drift_tau_s=0.05, am_depth=0.1, am_hz=5.0),
     BodyParams(grounded=True, drl_loop_gain=30.0, drl_bandwidth_hz=100.0,
                loop_area_m2=0.01, flux_density_t=1e-6)),
])
def test_stage_contract(mains, body):
    # 0.05 s drift time constant with knots every 0.1 s: every knot's draw matters within 2500
    # samples (three knots), and the start offset puts a knot boundary inside the chunk.
    ecg = np.random.default_rng(0).standard_normal((2, 2500)) * 1e-3
    check_stage_contract(lambda: MainsStage(mains, body, FS, seed=7), Chunk(ecg, start_sample=1234))


def test_drift_independent_of_where_reading_starts():
    mains = MainsParams(50, drift_hz_rms=0.2, drift_tau_s=0.3)
    whole = run(mains, BodyParams(), 20000, seed=2).cm_v
    stage = MainsStage(mains, BodyParams(), FS, seed=2)
    late = stage.process(Chunk(np.zeros((1, 5000)), start_sample=15000)).cm_v
    early = stage.process(Chunk(np.zeros((1, 3000)), start_sample=1000)).cm_v  # going back
    assert np.array_equal(late, whole[15000:])
    assert np.array_equal(early, whole[1000:4000])


# --- validation ------------------------------------------------------------------------------

def test_mains_validation():
    with pytest.raises(ValueError, match="frequency_hz must be 50 or 60.*got 55"):
        MainsParams(55)
    with pytest.raises(ValueError, match="offset_hz must lie in the EN 50160 range"):
        MainsParams(50, offset_hz=3.0)
    with pytest.warns(FrontendWarning, match="1 %"):
        MainsParams(50, offset_hz=1.0)
    with pytest.raises(ValueError, match="drift_hz_rms must be <= 0.6"):
        MainsParams(60, drift_hz_rms=1.0)
    with pytest.raises(ValueError, match="harmonic_ratios keys"):
        MainsParams(50, harmonic_ratios={1: 0.1})
    with pytest.raises(ValueError, match=r"harmonic_phases_rad has harmonics \[4\]"):
        MainsParams(50, harmonic_phases_rad={4: 0.1})
    with pytest.raises(ValueError, match="am_depth"):
        MainsParams(50, am_depth=1.0)
    with pytest.raises(ValueError, match="highest mains harmonic"):
        MainsStage(MainsParams(50, harmonic_ratios={25: 0.01}), BodyParams(), 2000.0)


def test_body_validation():
    with pytest.raises(ValueError, match="c_body_ground_f must be finite and > 0; got -1e-12"):
        BodyParams(c_body_ground_f=-1e-12)
    with pytest.raises(ValueError, match="mode must be one of.*'displacment'.*Did you mean 'displacement'"):
        BodyParams(mode="displacment")
    with pytest.raises(ValueError, match="needs cm_v_rms"):
        BodyParams(mode="direct")
    with pytest.raises(ValueError, match="cm_v_rms applies to mode='direct' only"):
        BodyParams(cm_v_rms=1.0)
    with pytest.raises(TypeError, match="z_ref"):
        BodyParams(z_ref="51k")
    assert BodyParams(z_ref=10e3).z_ref == ElectrodeImpedance(r_s_ohm=10e3)
