"""Differential-pair designer against worked-examples.md and hand-worked CMRR numbers."""

from __future__ import annotations

import math

import pytest

from acquire._check import FrontendWarning
from frontend_models.diffpair import DiffPairParams, design, to_inamp_params

GM, RO = 1e-3, 100e3  # worked-examples.md: g_m = 1 mS, r_o = 100 kOhm for every device


def db(x):
    return 20 * math.log10(x)


@pytest.mark.parametrize("load, r_d, r_out, gain, gain_db", [
    ("resistive", 10e3, 10e3, 10.0, 20.0),
    ("active", None, 50e3, 50.0, 34.0),      # r_on || r_op
    ("cascode", None, 5e6, 5000.0, 74.0),    # (g_m r_o^2) || (g_m r_o^2)
])
def test_worked_example_gains(load, r_d, r_out, gain, gain_db):
    r = design(DiffPairParams(GM, RO, RO, load=load, r_d_ohm=r_d, c_load_f=1e-12))
    # The formulas give these values exactly (up to rounding); the table rounds dB to 1 dB.
    assert r.r_out_ohm == pytest.approx(r_out, rel=1e-12)
    assert r.a_d_v_per_v == pytest.approx(gain, rel=1e-12)
    assert db(r.a_d_v_per_v) == pytest.approx(gain_db, abs=0.5)
    assert math.isinf(r.cmrr_db) and r.a_cm_v_per_v == 0  # ideal tail by default


def test_unity_gain_frequency_and_gbw():
    r = design(DiffPairParams(GM, RO, RO, load="active", c_load_f=1e-12))
    # worked-examples: f_T = 1 mS / (2 pi 1 pF) = 159.15 MHz
    assert r.f_t_hz == pytest.approx(159.15e6, rel=1e-4)
    assert r.f_3db_hz == pytest.approx(1 / (2 * math.pi * 50e3 * 1e-12), rel=1e-12)  # 3.18 MHz
    assert r.gbw_hz == pytest.approx(r.f_t_hz, rel=1e-12)


def test_doubling_r_out_doubles_gain_and_halves_bandwidth():
    a = design(DiffPairParams(GM, RO, RO, r_d_ohm=10e3))
    b = design(DiffPairParams(GM, RO, RO, r_d_ohm=20e3))
    assert b.a_d_v_per_v == pytest.approx(2 * a.a_d_v_per_v, rel=1e-12)
    assert b.f_3db_hz == pytest.approx(a.f_3db_hz / 2, rel=1e-12)
    assert b.gbw_hz == pytest.approx(a.gbw_hz, rel=1e-12)


def test_cmrr_resistive_load_mismatch_hand_worked():
    # g_m = 1 mS, R_D = 10 kOhm, R_SS = 100 kOhm, Delta R_D / R_D = 1 %:
    # A_cm = R_D/(2 R_SS) * 0.01 = 10e3/200e3 * 0.01 = 5e-4; A_d = g_m R_D = 10;
    # CMRR = 10 / 5e-4 = 2e4 = 2 g_m R_SS / eps = 200 / 0.01 -> 86.02 dB.
    r = design(DiffPairParams(GM, RO, RO, r_d_ohm=10e3, r_tail_ohm=100e3, r_d_mismatch_fraction=0.01))
    assert r.a_cm_v_per_v == pytest.approx(5e-4, rel=1e-12)
    assert r.cmrr_db == pytest.approx(86.0206, abs=1e-4)
    # Adding 1 % g_m mismatch (worst case, adds): eps = 0.02 -> CMRR 1e4 = 80 dB.
    r2 = design(DiffPairParams(GM, RO, RO, r_d_ohm=10e3, r_tail_ohm=100e3,
                               r_d_mismatch_fraction=0.01, gm_mismatch_fraction=0.01))
    assert r2.cmrr_db == pytest.approx(80.0, abs=1e-9)


def test_cmrr_active_load_hand_worked():
    # Matched mirror: A_cm = 1/(2 g_mp R_SS) = 1/(2 * 1e-3 * 100e3) = 5e-3; A_d = 50;
    # CMRR = 50 / 5e-3 = 1e4 -> 80 dB (Sedra & Smith: g_m (r_o2||r_o4) * 2 g_m3 R_SS).
    r = design(DiffPairParams(GM, RO, RO, load="active", r_tail_ohm=100e3))
    assert r.a_cm_v_per_v == pytest.approx(5e-3, rel=1e-12)
    assert r.cmrr_db == pytest.approx(80.0, abs=1e-9)
    # 1 % g_m mismatch adds R_out * 0.01 / (2 R_SS) = 50e3 * 0.01 / 200e3 = 2.5e-3:
    # A_cm = 7.5e-3, CMRR = 50 / 7.5e-3 = 6666.7 -> 76.478 dB.
    r2 = design(DiffPairParams(GM, RO, RO, load="active", r_tail_ohm=100e3, gm_mismatch_fraction=0.01))
    assert r2.cmrr_db == pytest.approx(76.4782, abs=1e-4)


def test_to_inamp_params_keys_and_values():
    r = design(DiffPairParams(GM, RO, RO, load="active", r_tail_ohm=100e3))
    d = to_inamp_params(r)
    assert d == {"gain_v_per_v": 50.0, "cmrr_db": r.cmrr_db, "bandwidth_hz": r.f_3db_hz}


def test_errors():
    with pytest.raises(ValueError, match="Did you mean 'cascode'"):
        DiffPairParams(GM, RO, RO, load="cascade")
    with pytest.raises(ValueError, match="r_d_ohm is required"):
        DiffPairParams(GM, RO, RO, load="resistive")
    with pytest.raises(ValueError, match="r_d_ohm is required"):
        DiffPairParams(GM, RO, RO, load="active", r_d_ohm=1e3)
    with pytest.raises(ValueError, match="gm_s"):
        DiffPairParams(0.0, RO, RO, r_d_ohm=1e3)
    with pytest.raises(ValueError, match="r_tail_ohm"):
        DiffPairParams(GM, RO, RO, r_d_ohm=1e3, r_tail_ohm=-1.0)
    with pytest.raises(ValueError, match="gm_mismatch_fraction"):
        DiffPairParams(GM, RO, RO, r_d_ohm=1e3, gm_mismatch_fraction=-0.01)


def test_warns_when_tail_too_small_for_the_approximation():
    with pytest.warns(FrontendWarning, match="2 g_m R_SS"):
        design(DiffPairParams(GM, RO, RO, r_d_ohm=10e3, r_tail_ohm=1e3))  # 2 g_m R_SS = 2


def test_designed_pair_parameterises_an_amplifier_stage():
    # The designer's result drives the behavioural amplifier: a 10 Hz differential tone is
    # amplified by A_d = g_m (r_on || r_op) = 50 and a 60 Hz common-mode tone by A_d/CMRR
    # (the pole at f_3dB = 1/(2 pi 50 kOhm 1 pF) = 3.2 MHz is flat here: < 1e-6 relative).
    import numpy as np

    from acquire.evaluation.metrics import goertzel_amplitude_v_rms
    from acquire.stage import Chunk
    from frontend_models.inamp import InAmpParams, InstrumentationAmplifier

    r = design(DiffPairParams(GM, RO, RO, load="active", r_tail_ohm=100e3, gm_mismatch_fraction=0.01))
    amp = InstrumentationAmplifier(InAmpParams(**to_inamp_params(r)), 8000.0)
    t = np.arange(16000) / 8000.0
    w = 2 * np.pi * 60.0
    out = amp.process(Chunk(1e-3 * np.sin(2 * np.pi * 10.0 * t)[None], cm_v=np.sin(w * t),
                            cm_dvdt_v_per_s=w * np.cos(w * t)))
    y = out.diff_v[0, 8000:]
    assert goertzel_amplitude_v_rms(y, 8000.0, 10.0) == pytest.approx(50.0 * 1e-3 / np.sqrt(2), rel=1e-4)
    expected_cm = 50.0 * 10 ** (-r.cmrr_db / 20) / np.sqrt(2)
    assert goertzel_amplitude_v_rms(y, 8000.0, 60.0) == pytest.approx(expected_cm, rel=1e-3)
