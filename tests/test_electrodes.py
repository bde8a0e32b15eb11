"""Tests for electrode offsets, noise, drift and the CM-to-DM conversion."""

import math

import numpy as np
import pytest
from scipy import signal

from acquire._check import FrontendWarning
from acquire.analog.electrodes import (ElectrodeParams, ElectrodeStage, cm_to_dm_transfer, cmrr_eff_db,
                                parse_imbalance)
from acquire.analog.impedance import IEC_IMBALANCE, ElectrodeImpedance, ParallelRC
from acquire.analog.mains import BodyParams, MainsParams, MainsStage
from acquire.stage import Chunk
from tests.contract import check_stage_contract

FS = 8000.0
Z_CM = ParallelRC(100e6, 2e-12)
TEN_K = ElectrodeImpedance(r_s_ohm=10e3)


def lockin(x, fs, f_hz):
    t = np.arange(x.shape[-1]) / fs
    return math.sqrt(2) * np.mean(x * np.exp(-2j * np.pi * f_hz * t))


# --- analytic functions: worked-examples.md oracles ------------------------------------------

@pytest.mark.parametrize("f_hz, ratio, db", [(50, 4.080e-4, -67.79), (100, 2.842e-4, -70.93),
                                             (150, 2.100e-4, -73.56), (200, 1.656e-4, -75.62)])
def test_divider_worked_examples(f_hz, ratio, db):
    # 10 kOhm vs 10 kOhm + 51k||47n into 100 MOhm || 2 pF (checked with ngspice there).
    h = cm_to_dm_transfer(f_hz, TEN_K, (TEN_K, IEC_IMBALANCE), Z_CM)
    assert abs(h) == pytest.approx(ratio, rel=5e-3)  # table rounded to 4 digits; 0.5 % asked
    assert 20 * math.log10(abs(h)) == pytest.approx(db, abs=0.01)
    # The series form agrees with the combined electrode, and with the textbook difference form.
    combined = TEN_K.plus(IEC_IMBALANCE)
    assert cm_to_dm_transfer(f_hz, TEN_K, combined, Z_CM) == pytest.approx(h, rel=1e-12)
    zc = Z_CM.z_ohm(f_hz)
    direct = zc / (TEN_K.z_ohm(f_hz) + zc) - zc / (combined.z_ohm(f_hz) + zc)
    assert h == pytest.approx(direct, rel=1e-9)  # 1 - 1e-4 differences cost ~7 digits


def test_cmrr_eff_worked_examples():
    # |51k||47n| against a resistive 100 MOhm: 67.80 dB at 50 Hz, 68.44 dB at 60 Hz.
    got = cmrr_eff_db(math.inf, ElectrodeImpedance(0.0), IEC_IMBALANCE, ParallelRC(100e6), [50, 60])
    assert got == pytest.approx([67.80, 68.44], abs=0.005)
    # Reciprocals add: with an 80 dB amplifier, 1/CMRR_eff = 1e-4 + 40.74k/100M.
    z_imb = abs(IEC_IMBALANCE.z_ohm(50))
    assert z_imb == pytest.approx(40.74e3, rel=1e-4)
    want = -20 * math.log10(1e-4 + z_imb / 100e6)
    assert cmrr_eff_db(80.0, ElectrodeImpedance(0.0), IEC_IMBALANCE, ParallelRC(100e6), 50) == \
        pytest.approx(want, abs=1e-9)
    assert cmrr_eff_db(80.0, TEN_K, TEN_K, Z_CM, 50) == pytest.approx(80.0, abs=1e-12)


def test_parse_imbalance():
    assert parse_imbalance("iec") is IEC_IMBALANCE
    assert parse_imbalance(" IEC ") is IEC_IMBALANCE
    assert parse_imbalance("51e3") == ElectrodeImpedance(r_s_ohm=51e3)
    assert parse_imbalance(0) == ElectrodeImpedance(r_s_ohm=0.0)
    assert parse_imbalance(TEN_K) is TEN_K
    with pytest.raises(ValueError, match="imbalance must be one of.*got 'ieec'.*Did you mean 'iec'"):
        parse_imbalance("ieec")
    with pytest.raises(ValueError, match="imbalance must be finite and >= 0"):
        parse_imbalance("-5")
    with pytest.raises(TypeError, match="imbalance"):
        parse_imbalance(None)
    assert ElectrodeParams(imbalance="iec").imbalance is IEC_IMBALANCE
    assert ElectrodeParams(imbalance=51e3).imbalance == ElectrodeImpedance(r_s_ohm=51e3)


def test_params_validation():
    with pytest.raises(ValueError, match=r"\|offset_v\| <= 1 V"):
        ElectrodeParams(offset_v=1.2)
    with pytest.warns(FrontendWarning, match="0.3 V"):
        ElectrodeParams(offset_v=(0.1, -0.5))
    with pytest.raises(ValueError, match="noise_v_rms"):
        ElectrodeParams(noise_v_rms=-1e-6)
    with pytest.raises(ValueError, match="imbalance must be one of.*Did you mean 'iec'"):
        ElectrodeParams(imbalance="ieec")
    with pytest.raises(ValueError, match="c_d_f must be finite and >= 0"):
        ElectrodeImpedance(1e3, 1e5, -47e-9)
    with pytest.raises(ValueError, match="offset_v must have 1 or n_channels=3 values; got 2"):
        ElectrodeStage(ElectrodeParams(offset_v=(0.1, 0.2)), Z_CM, FS, 3)


# --- the stage -------------------------------------------------------------------------------

def mains_chunk(f0, n, *, harmonics=None, fs=FS):
    mains = MainsParams(f0, harmonic_ratios=harmonics or {})
    body = BodyParams(mode="direct", cm_v_rms=1.0)
    return MainsStage(mains, body, fs).process(Chunk(np.zeros((2, n))))


@pytest.mark.parametrize("params, z_cm", [
    (ElectrodeParams(z_electrode=TEN_K), Z_CM),  # the worked example
    (ElectrodeParams(), Z_CM),  # RC electrodes on both sides: two RC sections in series
    (ElectrodeParams(z_electrode=TEN_K), ParallelRC(100e6)),  # resistive Z_cm: direct term, no pole
    (ElectrodeParams(), ParallelRC(math.inf, 5e-12)),  # purely capacitive Z_cm
])
def test_cm_to_dm_error_matches_divider(params, z_cm):
    # A 1 V rms common mode at 50 Hz (3rd harmonic 150 Hz) and at 60 Hz; measure the differential
    # error after 0.5 s (the slowest pole is ~5 ms) over 1 s, i.e. whole periods.
    # The exponential integrator's only error is the cubic Hermite interpolation of v_cm,
    # <= (wT)^4/384 = 5e-7 at 150 Hz; 1e-5 leaves room for rounding (asked: 1e-3).
    for f0 in (50.0, 60.0):
        chunk = mains_chunk(f0, int(1.5 * FS), harmonics={3: 0.5})
        out = ElectrodeStage(params, z_cm, FS, 2).process(chunk)
        tail = out.diff_v[:, int(0.5 * FS):]
        for f_hz, v_cm in ((f0, 1.0), (3 * f0, 0.5)):
            want = v_cm * cm_to_dm_transfer(f_hz, params.z_pos, params.z_neg, z_cm)
            for lead in tail:
                assert lockin(lead, FS, f_hz) == pytest.approx(want, rel=1e-5)
        assert np.array_equal(out.cm_v, chunk.cm_v)
        assert out.cm_dvdt_v_per_s is chunk.cm_dvdt_v_per_s


def test_cm_to_dm_worked_example_magnitude():
    # The table value itself, measured on the simulated waveform: |v_d| = 4.080e-4 x 1 V at 50 Hz.
    out = ElectrodeStage(ElectrodeParams(z_electrode=TEN_K), Z_CM, FS, 2).process(mains_chunk(50.0, 12000))
    assert abs(lockin(out.diff_v[0, 4000:], FS, 50.0)) == pytest.approx(4.080e-4, rel=5e-4)


def test_balanced_electrodes_convert_nothing():
    out = ElectrodeStage(ElectrodeParams(imbalance=0.0), Z_CM, FS, 2).process(mains_chunk(50.0, 4000))
    # Identical dividers: H_pos - H_neg cancels to rounding of the ~1 V terms (1e-16 relative).
    assert np.max(np.abs(out.diff_v)) < 1e-13


def test_offsets_are_dc():
    ecg = np.random.default_rng(0).standard_normal((2, 1000)) * 1e-3
    stage = ElectrodeStage(ElectrodeParams(offset_v=(0.1, -0.25)), Z_CM, FS, 2)
    out = stage.process(Chunk(ecg))
    assert np.array_equal(out.diff_v, ecg + np.array([[0.1], [-0.25]]))
    assert out.cm_v is None


def test_noise_rms_and_band():
    n = int(10 * FS)
    stage = ElectrodeStage(ElectrodeParams(noise_v_rms=2e-6), Z_CM, FS, 2, seed=3)
    e = stage.process(Chunk(np.zeros((2, n)))).diff_v
    # ~2 x 150 Hz x 10 s = 3000 independent values: the rms is within 10 % at > 5 sigma.
    rms = np.sqrt(np.mean(e**2, axis=1))
    assert rms == pytest.approx([2e-6, 2e-6], rel=0.1)
    assert abs(np.corrcoef(e)[0, 1]) < 0.1  # leads independent
    # Band-limited to 150 Hz (2nd-order Butterworth): above 1.5 kHz the PSD is 40 dB down.
    f, p = signal.welch(e[0], fs=FS, nperseg=4096)
    assert np.mean(p[(f > 1500) & (f < 3000)]) < 1e-4 * np.mean(p[(f > 5) & (f < 100)])


def test_offset_drift_is_a_random_walk():
    fs, sigma = 1000.0, 10e-6  # V/sqrt(s)
    stage = ElectrodeStage(ElectrodeParams(offset_drift_v_per_rts=sigma), Z_CM, fs, 4, seed=1)
    w = stage.process(Chunk(np.zeros((4, int(80 * fs))))).diff_v
    # Wiener process: increments over a lag tau have variance sigma^2 tau. Non-overlapping
    # increments of 4 leads x 80 s: 3196 at 0.1 s (2.5 % std of the variance estimate) and 316 at
    # 1 s (8 %); tolerances are about 4 sigma.
    for lag, rel in ((100, 0.1), (1000, 0.3)):
        inc = np.diff(w[:, lag - 1::lag], axis=1)
        assert np.var(inc) == pytest.approx(sigma**2 * lag / fs, rel=rel)
    # Successive increments are independent (correlation std 1/sqrt(3196) = 0.018).
    inc = np.diff(w[:, 99::100], axis=1)
    assert abs(np.corrcoef(inc[:, :-1].ravel(), inc[:, 1:].ravel())[0, 1]) < 0.08
    # It starts at zero offset and wanders: after 80 s the spread is ~sigma sqrt(80 s) = 89 uV.
    assert np.max(np.abs(w[:, 0])) < 5 * sigma * math.sqrt(1 / fs)
    assert np.max(np.abs(w[:, -1])) > 10e-6


def test_needs_the_derivative():
    chunk = mains_chunk(50.0, 100)
    with pytest.raises(ValueError, match="cm_dvdt_v_per_s"):
        ElectrodeStage(ElectrodeParams(), Z_CM, FS, 2).process(Chunk(chunk.diff_v, cm_v=chunk.cm_v))
    with pytest.raises(ValueError, match=r"shape \(n_channels=3, n\)"):
        ElectrodeStage(ElectrodeParams(), Z_CM, FS, 3).process(chunk)


@pytest.mark.parametrize("params", [
    ElectrodeParams(),
    ElectrodeParams(offset_v=(0.2, -0.1), offset_drift_v_per_rts=20e-6, noise_v_rms=3e-6,
                    imbalance="51e3"),
])
def test_stage_contract(params):
    mains = MainsParams(50, drift_hz_rms=0.1, drift_tau_s=0.1, am_depth=0.1)
    chunk = MainsStage(mains, BodyParams(), FS, seed=2).process(Chunk(np.zeros((2, 2500)), start_sample=900))
    check_stage_contract(lambda: ElectrodeStage(params, Z_CM, FS, 2, seed=4), chunk)


# --- input mismatch: Z_cm per input and cable capacitance -------------------------------------

def _stage_transfer(params, z_cm, f_hz, *, z_cm_mismatch=0.0, duration_s=1.0):
    """v_d/v_cm of the time-domain ElectrodeStage at f_hz, by lock-in on a 1 V rms common mode."""
    src = MainsStage(MainsParams(frequency_hz=f_hz, harmonic_ratios={}), BodyParams(mode="direct", cm_v_rms=1.0), FS)
    chunk = src.process(Chunk(np.zeros((1, int(duration_s * FS)))))
    out = ElectrodeStage(params, z_cm, FS, 1, z_cm_mismatch=z_cm_mismatch).process(chunk).diff_v[0]
    skip = int(0.1 * FS)  # the divider's start-up (ms)
    return lockin(out[skip:], FS, f_hz) / lockin(chunk.cm_v[skip:], FS, f_hz)


@pytest.mark.parametrize("mismatch", [0.01, -0.05, 0.2])
def test_z_cm_mismatch_alone_matches_the_closed_form(mismatch):
    # Closed form with equal electrodes Z_e and no imbalance: v_d/v_cm = Z_e/(Z_e + Z_cm1) - Z_e/(Z_e + Z_cm2),
    # Z_cm1 the negative input's shunt Z_cm (1 - m/2), Z_cm2 the positive's Z_cm (1 + m/2).
    f = 60.0
    params = ElectrodeParams(z_electrode=TEN_K, imbalance=0.0)
    z_cm = ParallelRC(1e9, 5e-12)
    k1, k2 = 1 - mismatch / 2, 1 + mismatch / 2
    z1, z2 = ParallelRC(z_cm.r_ohm * k1, z_cm.c_f / k1).z_ohm(f), ParallelRC(z_cm.r_ohm * k2, z_cm.c_f / k2).z_ohm(f)
    ze = TEN_K.z_ohm(f)
    closed = ze / (ze + z1) - ze / (ze + z2)
    shunts = params.input_shunts(z_cm, mismatch)
    h = cm_to_dm_transfer(f, params.z_pos, params.z_neg, *shunts)
    assert abs(h - closed) <= 1e-6 * abs(closed)  # the acceptance's 1e-6 (same algebra, other form)
    # The time-domain stage realises the same divider: Hermite-exact integration, error ~(wT)^4/384 = 5e-9.
    assert abs(_stage_transfer(params, z_cm, f, z_cm_mismatch=mismatch) - closed) <= 1e-4 * abs(closed)


def test_cable_capacitance_mismatch_enters_the_divider_exactly():
    # 100 pF cables mismatched by 10 % against a 10 GOhm || 5 pF Z_cm: each input's shunt is
    # Z_cm || C_cable (1 +- 5 %); closed form with the shunts' admittances written out here.
    f, c = 60.0, 100e-12
    params = ElectrodeParams(z_electrode=TEN_K, imbalance=0.0, cable_c_f=c, cable_c_mismatch=0.1)
    z_cm = ParallelRC(10e9, 5e-12)
    w = 2 * np.pi * f
    z_pos = 1 / (1 / 10e9 + 1j * w * (5e-12 + c * 1.05))
    z_neg = 1 / (1 / 10e9 + 1j * w * (5e-12 + c * 0.95))
    ze = TEN_K.z_ohm(f)
    closed = z_pos / (ze + z_pos) - z_neg / (ze + z_neg)
    h = cm_to_dm_transfer(f, params.z_pos, params.z_neg, *params.input_shunts(z_cm))
    assert abs(h - closed) <= 1e-9 * abs(closed)
    assert abs(_stage_transfer(params, z_cm, f) - closed) <= 1e-4 * abs(closed)


def test_imbalance_lead_swaps_the_sign_of_the_divider():
    pos = ElectrodeParams(z_electrode=TEN_K, imbalance="iec", imbalance_lead="+")
    neg = ElectrodeParams(z_electrode=TEN_K, imbalance="iec", imbalance_lead="-")
    h_pos = cm_to_dm_transfer(60.0, pos.z_pos, pos.z_neg, Z_CM)
    h_neg = cm_to_dm_transfer(60.0, neg.z_pos, neg.z_neg, Z_CM)
    assert h_pos == pytest.approx(-h_neg, rel=1e-12)
    with pytest.raises(ValueError, match="imbalance_lead must be one of '\\+', '-'"):
        ElectrodeParams(imbalance_lead="left")
    with pytest.raises(ValueError, match="cable_c_mismatch must be a fraction"):
        ElectrodeParams(cable_c_mismatch=1.5)
