"""The patient circuit against hand-worked closed forms and ngspice (tests/data/patient)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from acquire._check import FrontendWarning
from acquire.analog.electrodes import ElectrodeParams
from acquire.analog.impedance import ParallelRC
from acquire.analog.patient import BodyParams, PatientCircuit
from acquire.config import resolve_config
from acquire.frontend import build_frontend, patient_circuit
from frontend_models.inamp import InAmpParams

NGSPICE = json.loads((Path(__file__).parent / "data" / "patient" / "ngspice_results.json").read_text())
F, V_M = 60.0, 120.0
W = 2 * math.pi * F
Y_P, Y_B, Y_RL = 1j * W * 3e-12, 1j * W * 300e-12, 1 / 51e3
#: the netlist's inputs: default electrodes, IEC imbalance on "-", INA128 Z_cm 100 GOhm || 9 pF
ELECTRODES = ElectrodeParams()
AMP = InAmpParams(gain_v_per_v=10, cmrr_db=106, bandwidth_hz=2e5, z_cm=ParallelRC(1e11, 9e-12))


def z_electrode(f):
    return 1e3 + 100e3 / (1 + 1j * 2 * math.pi * f * 100e3 * 47e-9)


def y_load(f):
    """The two inputs' admittance from the body to the device reference, written out by hand."""
    zc = 1 / (1 / 1e11 + 1j * 2 * math.pi * f * 9e-12)
    z_imb = 51e3 / (1 + 1j * 2 * math.pi * f * 51e3 * 47e-9)
    return 1 / (z_electrode(f) + zc) + 1 / (z_electrode(f) + z_imb + zc)


def circuit(**body):
    return patient_circuit(BodyParams(**body), ELECTRODES, AMP, 1)


CASES = {  # ngspice case -> the same circuit's BodyParams
    "P1": {}, "P2": {"grounded": True}, "P3": {"grounded": True, "drl_loop_gain": 100.0},
    "P4": {"grounded": True, "c_iso_f": 100e-12}, "P5": {"grounded": True, "drl_loop_gain": 100.0, "c_iso_f": 100e-12},
    "P6": {"c_iso_f": 100e-12},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_against_ngspice(case):
    # ngspice prints 7 significant digits: 1e-5 relative.
    re, im = NGSPICE["v_cm_re_im_v"][case]
    assert circuit(**CASES[case]).cm_phasor_v(V_M, F) == pytest.approx(complex(re, im), rel=1e-5)


def test_floating_body_loaded_by_the_inputs_closed_form():
    # Earthed device, no reference electrode: v_cm = V Y_p / (Y_p + Y_b + Y_in). The INA128's 2 x 9 pF
    # pull it 5.9 % below the unloaded 3/303 divider (1.121 V against 1.188 V).
    got = circuit().cm_phasor_v(V_M, F)
    assert got == pytest.approx(V_M * Y_P / (Y_P + Y_B + y_load(F)), rel=1e-6)
    assert abs(V_M * 3 / 303) / abs(got) - 1 == pytest.approx(0.059, abs=0.001)


def test_grounded_body_and_drl_closed_forms():
    d = Y_P + Y_B + y_load(F) + Y_RL
    grounded = circuit(grounded=True).cm_phasor_v(V_M, F)
    assert grounded == pytest.approx(V_M * Y_P / d, rel=1e-6)
    # DRL of gain A: v_cm = i_d Z_RL / (1 + A) in the textbook limit; exactly V Y_p / d / (1 + A Y_RL / d).
    for a in (10.0, 100.0, 1000.0):
        drl = circuit(grounded=True, drl_loop_gain=a).cm_phasor_v(V_M, F)
        assert drl == pytest.approx(V_M * Y_P / d / (1 + a * Y_RL / d), rel=1e-6)
        assert abs(drl) == pytest.approx(abs(V_M * Y_P * 51e3) / (1 + a), rel=5e-3)  # i_d Z_RL/(1+A)


def test_isolated_device_closed_form():
    # C_iso in series: H_m = Y_p Y_iso / ((Y_p + Y_b)(S + Y_iso) + S Y_iso), S = Y_in + Y_RL.
    y_iso = 1j * W * 100e-12
    s = y_load(F) + Y_RL
    want = V_M * Y_P * y_iso / ((Y_P + Y_B) * (s + y_iso) + s * y_iso)
    assert circuit(grounded=True, c_iso_f=100e-12).cm_phasor_v(V_M, F) == pytest.approx(want, rel=1e-6)
    # Isolation lowers the common mode the amplifier sees (Wood et al. 1995): by C_iso/(C_pow + C_body + C_iso).
    ratio = abs(want) / abs(circuit(grounded=True).cm_phasor_v(V_M, F))
    assert ratio == pytest.approx(100 / 403, rel=1e-3)


def test_drl_on_a_floating_body_is_a_configuration_error():
    with pytest.raises(ValueError, match="driven right leg needs the reference .right-leg. electrode"):
        BodyParams(drl_loop_gain=100.0)


def test_drl_phase_margin_and_warning():
    # One-pole DRL, A0 = 2000, f_p = 10 Hz (20 kHz gain-bandwidth): the body network adds the
    # 51 kOhm || (C_pow + C_body + 18 pF) pole at 9.7 kHz, so |T| = 1 at 12.4 kHz with 38 deg of margin.
    # Oracle: T(f) = A(f) Y_RL / (Y_p + Y_b + Y_in + Y_RL) written out here, crossover by bisection.
    def t(f):
        w = 2 * math.pi * f
        a = 2000 / (1 + 1j * f / 10)
        return a * Y_RL / (1j * w * 303e-12 + y_load(f) + Y_RL)

    lo, hi = 1e3, 1e5
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if abs(t(mid)) > 1 else (lo, mid)
    pm_oracle = 180 + math.degrees(np.angle(t(lo)))
    c = circuit(grounded=True, drl_loop_gain=2000.0, drl_bandwidth_hz=10.0)
    f_c, pm = c.phase_margin()
    assert f_c == pytest.approx(lo, rel=1e-6) and pm == pytest.approx(pm_oracle, abs=1e-4)
    assert pm < 45
    with pytest.warns(FrontendWarning, match="phase margin of .* deg"):
        c.check_stability()
    # A gentler loop (A0 = 100, 10 Hz: crossover about 1 kHz, far below the body pole) has ~84 deg: no warning.
    f_c, pm = circuit(grounded=True, drl_loop_gain=100.0, drl_bandwidth_hz=10.0).phase_margin()
    assert 80 < pm < 90


def test_integrating_drl():
    # A(jf) = f_u/(jf) / (1 + jf/f_p): at 60 Hz with f_u = 6 kHz the loop gain is about -100j.
    body = BodyParams(grounded=True, drl_kind="integrator", drl_unity_hz=6e3, drl_bandwidth_hz=1e5)
    assert body.drl_gain(60.0) == pytest.approx(6e3 / (60j) / (1 + 60j / 1e5), rel=1e-12)
    with pytest.raises(ValueError, match="drl_unity_hz"):
        BodyParams(grounded=True, drl_unity_hz=100.0)


def test_the_built_front_end_uses_the_loaded_circuit():
    # The default chain (INA128, floating, 2 leads) loads the body with four inputs.
    cfg = resolve_config()
    fe = build_frontend(cfg, 500.0, 2)
    assert len(fe.info["patient"].inputs) == 4
    from acquire.analog.mains import cm_harmonics

    v1 = cm_harmonics(fe.info["mains"], fe.info["patient"])[0][1]
    assert v1 == pytest.approx(V_M * Y_P / (Y_P + Y_B + 2 * y_load(F)), rel=1e-6)


def test_cli_drl_without_reference_electrode_is_one_line_exit_2():
    from tests.test_cli import invoke, one_line_error

    r = invoke("simulate", "--duration-s", "2", "--set", "body.drl_loop_gain=100")
    one_line_error(r, 2, "driven right leg needs the reference (right-leg) electrode", "body.grounded = true")


def test_metrics_report_the_patient_circuit():
    import acquire

    sim = acquire.simulate(source__duration_s=2, body__grounded=True, body__drl_loop_gain=100.0,
                           body__drl_bandwidth_hz=10.0, body__c_iso_f=100e-12)
    p = sim.metrics["patient"]
    assert p["isolated"] and p["reference_electrode"]
    f_c, pm = sim.simulation.frontend.info["patient"].phase_margin()
    assert p["drl_crossover_hz"] == pytest.approx(f_c) and p["drl_phase_margin_deg"] == pytest.approx(pm)
    assert p["drl_saturated"] is False and p["drl_current_a_peak"] > 0
