"""Differential-pair designer against worked-examples.md, closed forms and a committed ngspice oracle."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest

from acquire._check import FrontendWarning
from frontend_models.diffpair import (
    LOADS, DiffPairParams, design, from_device, load_design, summarize, summarize_loads, sweep_design,
    to_inamp_params)
from frontend_models.mosfet import U_T_V, DeviceParams, small_signal

GM, RO = 1e-3, 100e3  # worked-examples.md: g_m = 1 mS, r_o = 100 kOhm for every device
RD, RSS = 10e3, 100e3
ORACLE = json.loads((Path(__file__).parent / "data" / "diffpair" / "ngspice_results.json").read_text())
# Device-level example of the ngspice length sweep: g_m = 0.5 mS, r_o = 1 MOhm at L = 1 um.
DEVICE = {"id_a": 50e-6, "lambda0_per_v": 0.02, "l0_m": 1e-6, "w_over_l": 12.5, "mu_cox_a_per_v2": 200e-6}


def db(x):
    return 20 * math.log10(x)


def par(a, b):
    return a * b / (a + b)


def test_resistive_gain_is_exact_half_circuit():
    # worked-examples.md lists R_out = R_D = 10 kOhm, A_d = 10 (20 dB) for this row because it ignores
    # r_o. With r_o the half-circuit gives R_out = R_D || r_o = 9.0909 kOhm and A_d = 9.0909 (19.17 dB).
    r = design(DiffPairParams(GM, RO, RO, r_d_ohm=RD, c_load_f=1e-12))
    assert r.r_out_ohm == pytest.approx(par(RD, RO), rel=1e-12)
    assert r.a_d_v_per_v == pytest.approx(GM * par(RD, RO), rel=1e-12)
    assert r.a_d_v_per_v == pytest.approx(9.0909, abs=1e-4)
    assert r.f_3db_hz == pytest.approx(1 / (2 * math.pi * par(RD, RO) * 1e-12), rel=1e-9)
    assert math.isinf(r.cmrr_db) and r.a_cm_v_per_v == 0  # ideal tail by default
    # The table's r_o-free value is the r_o -> inf limit.
    assert design(DiffPairParams(GM, 1e15, r_d_ohm=RD)).a_d_v_per_v == pytest.approx(10.0, rel=1e-9)


@pytest.mark.parametrize("load, r_out_exact, r_out_table, gain_table, gain_db", [
    ("active", 50.2475e3, 50e3, 50.0, 34.0),      # r_on || r_op
    ("cascode", 5.1005e6, 5e6, 5000.0, 74.0),     # ~ (g_m r_o^2) || (g_m r_o^2)
])
def test_worked_example_gains_mirror_loads(load, r_out_exact, r_out_table, gain_table, gain_db):
    r = design(DiffPairParams(GM, RO, RO, load=load, c_load_f=1e-12))
    assert r.r_out_ohm == pytest.approx(r_out_exact, rel=1e-5)
    # The table's values drop terms of relative order 1/(g_m r_o) = 1 % (and 2 r_o next to g_m r_o^2
    # for the cascode), so 2.5 % covers them; the table rounds dB to 1 dB.
    assert r.r_out_ohm == pytest.approx(r_out_table, rel=0.025)
    assert r.a_d_v_per_v == pytest.approx(gain_table, rel=0.025)
    assert db(r.a_d_v_per_v) == pytest.approx(gain_db, abs=0.5)
    assert math.isinf(r.cmrr_db) and r.a_cm_v_per_v == 0


def test_cascode_output_resistance_closed_form():
    # Sedra & Smith cascode R_o = 2 r_o + g_m r_o^2 on each side: (g_m r_o + 2) r_o || same = 5.1 MOhm;
    # the small remainder (1e-4) is the other half of the pair seen through the tail node.
    r = design(DiffPairParams(GM, RO, 2 * RO, load="cascode"))
    expected = par((GM * RO + 2) * RO, (GM * 2 * RO + 2) * 2 * RO)
    assert r.r_out_ohm == pytest.approx(expected, rel=1e-3)


def test_unity_gain_frequency_and_gbw():
    r = design(DiffPairParams(GM, RO, RO, load="active", c_load_f=1e-12))
    # worked-examples: f_T = 1 mS / (2 pi 1 pF) = 159.15 MHz
    assert r.f_t_hz == pytest.approx(159.15e6, rel=1e-4)
    # One capacitor: exactly one pole at 1/(2 pi R_out C_L); worked example 3.18 MHz within R_out's 0.5 %.
    assert r.f_3db_hz == pytest.approx(1 / (2 * math.pi * r.r_out_ohm * 1e-12), rel=1e-9)
    assert r.f_3db_hz == pytest.approx(3.183e6, rel=0.01)
    assert r.gbw_hz == pytest.approx(r.a_d_v_per_v / r.r_out_ohm / (2 * math.pi * 1e-12), rel=1e-9)
    # GBW = G_m / (2 pi C_L) with G_m = A_d / R_out within 1/(g_m r_o) = 1 % of g_m.
    assert r.gbw_hz == pytest.approx(r.f_t_hz, rel=0.015)
    res = design(DiffPairParams(GM, RO, r_d_ohm=RD))
    assert res.gbw_hz == pytest.approx(res.f_t_hz, rel=1e-9)  # resistive: G_m = g_m exactly


def test_r_out_sets_gain_and_bandwidth_inversely():
    a = design(DiffPairParams(GM, RO, r_d_ohm=10e3))
    b = design(DiffPairParams(GM, RO, r_d_ohm=20e3))
    ratio = par(20e3, RO) / par(10e3, RO)  # 1.833: R_D || r_o, not R_D, doubles less than 2x
    assert b.a_d_v_per_v / a.a_d_v_per_v == pytest.approx(ratio, rel=1e-9)
    assert a.f_3db_hz / b.f_3db_hz == pytest.approx(ratio, rel=1e-9)
    assert b.gbw_hz == pytest.approx(a.gbw_hz, rel=1e-9)


def test_cmrr_resistive_load_mismatch():
    # g_m = 1 mS, R_D = 10 kOhm, r_o = 100 kOhm, R_SS = 100 kOhm, Delta R_D / R_D = +1 %: 86.154 dB, as
    # ngspice gives (oracle case r1). The "about 89.0 dB" is reproduced by neither; 89.03 dB is
    # the standards' CMR requirement in worked-examples.md, probably the source of the mix-up.
    p = DiffPairParams(GM, RO, r_d_ohm=RD, r_tail_ohm=RSS, r_d_mismatch_fraction=0.01)
    assert design(p).cmrr_db == pytest.approx(86.1542, abs=1e-4)
    # r_o -> inf: Razavi's A_cm = Delta R_D / (1/g_m + 2 R_SS), CMRR = (1 + 2 g_m R_SS)/eps = 86.06 dB
    # (the old r_o-free 2 g_m R_SS / eps = 86.02 dB dropped the 1).
    ideal_ro = design(DiffPairParams(GM, 1e15, r_d_ohm=RD, r_tail_ohm=RSS, r_d_mismatch_fraction=0.01))
    assert ideal_ro.cmrr_db == pytest.approx(db((1 + 2 * GM * RSS) / 0.01), abs=1e-6)


@pytest.mark.parametrize("eps_gm, eps_r", [(0.01, 0.0), (0.0, 0.01), (0.01, 0.01), (-0.01, 0.01)])
def test_resistive_first_order_closed_form(eps_gm, eps_r):
    # Notes of design(): A_cm = eps_R R_D (g_m/D) r_o/(R_D + r_o) + eps_gm g_m (R_D||r_o)(1 + (R_D+2R_SS)/r_o)/D.
    # Second-order terms are ~eps^2 relative: 1e-5 bounds them at 1 %.
    d = 1 + 2 * GM * RSS + (RD + 2 * RSS) / RO
    expected = (eps_r * RD * GM / d * RO / (RD + RO)
                + eps_gm * GM * par(RD, RO) * (1 + (RD + 2 * RSS) / RO) / d)
    p = DiffPairParams(GM, RO, r_d_ohm=RD, r_tail_ohm=RSS, gm_mismatch_fraction=eps_gm,
                       r_d_mismatch_fraction=eps_r)
    assert design(p, polarity="given").a_cm_v_per_v == pytest.approx(abs(expected), rel=1e-5)


def test_signed_mismatch_worst_and_best_case():
    kw = dict(r_d_ohm=RD, r_tail_ohm=RSS)
    same = design(DiffPairParams(GM, RO, **kw, gm_mismatch_fraction=0.01, r_d_mismatch_fraction=0.01),
                  polarity="given")
    opposite = design(DiffPairParams(GM, RO, **kw, gm_mismatch_fraction=-0.01, r_d_mismatch_fraction=0.01),
                      polarity="given")
    assert same.cmrr_db == pytest.approx(73.898, abs=1e-3)      # the terms add (oracle r3)
    assert opposite.cmrr_db == pytest.approx(79.710, abs=1e-3)  # they partly cancel (oracle r4)
    for g, r in [(0.01, 0.01), (-0.01, 0.01), (0.01, -0.01), (-0.01, -0.01)]:
        p = DiffPairParams(GM, RO, **kw, gm_mismatch_fraction=g, r_d_mismatch_fraction=r)
        assert design(p).cmrr_db == pytest.approx(same.cmrr_db, abs=1e-9)  # worst is the default
        assert design(p, polarity="best").cmrr_db == pytest.approx(opposite.cmrr_db, abs=1e-9)
    worst = design(DiffPairParams(GM, RO, **kw, gm_mismatch_fraction=-0.01, r_d_mismatch_fraction=-0.01))
    assert worst.evaluated.gm_mismatch_fraction * worst.evaluated.r_d_mismatch_fraction > 0
    # Active load: the g_m mismatch term adds to or cancels the matched term 1/(2 g_m R_SS).
    plus, minus = (design(DiffPairParams(GM, RO, load="active", r_tail_ohm=RSS, gm_mismatch_fraction=e),
                          polarity="given") for e in (0.01, -0.01))
    assert plus.cmrr_db == pytest.approx(86.021, abs=1e-3) and minus.cmrr_db == pytest.approx(72.179, abs=1e-3)
    assert design(plus.evaluated).cmrr_db == minus.cmrr_db
    assert design(minus.evaluated, polarity="best").cmrr_db == plus.cmrr_db
    with pytest.raises(ValueError, match="Did you mean 'worst'"):
        design(plus.evaluated, polarity="wrost")


def test_cmrr_mirror_loads_matched():
    # Active: by symmetry v_out equals the diode node, A_cm = g_m Z / D exactly, Z = 1/g_m || r_op.
    z = par(1 / GM, RO)
    d = 1 + 2 * GM * RSS + (z + 2 * RSS) / RO
    r = design(DiffPairParams(GM, RO, load="active", r_tail_ohm=RSS))
    assert r.a_cm_v_per_v == pytest.approx(GM * z / d, rel=1e-9)
    # Sedra & Smith / Razavi: A_cm ~ 1/(2 g_m R_SS) = 5e-3 and CMRR ~ g_m (r_o||r_o) 2 g_m R_SS = 80 dB;
    # they drop terms of order 1/(g_m r_o) and 1/(2 g_m R_SS) (1.5 % together, 2.5 % with Z's r_o):
    # 3 % and 0.25 dB.
    assert r.a_cm_v_per_v == pytest.approx(1 / (2 * GM * RSS), rel=0.03)
    assert r.cmrr_db == pytest.approx(80.0, abs=0.25)
    # Cascode mirror: two stacked diodes, A_cm ~ 1/(g_m R_SS), same order of neglected terms.
    c = design(DiffPairParams(GM, RO, load="cascode", r_tail_ohm=RSS))
    assert c.a_cm_v_per_v == pytest.approx(1 / (GM * RSS), rel=0.03)


@pytest.mark.parametrize("load", LOADS)
def test_ideal_tail_gm_mismatch_is_limited_by_r_o(load):
    # V_GS moves by ~v_cm/(g_m r_o) even with an ideal tail: CMRR ~ g_m r_o / eps = 1e4 (80 dB);
    # 0.1 dB covers the 1/(g_m r_o) corrections (ngspice cases r6/a6/c6: 80.086 dB).
    p = DiffPairParams(GM, RO, load=load, r_d_ohm=RD if load == "resistive" else None,
                       gm_mismatch_fraction=0.01)
    assert design(p).cmrr_db == pytest.approx(80.0, abs=0.1)


@pytest.mark.parametrize("case", ORACLE["small_signal"], ids=lambda c: c["case"])
def test_matches_ngspice_small_signal(case):
    # Same small-signal circuits solved by ngspice (tests/data/diffpair/README.md). The brief asks for 2 %;
    # both solve the same linear equations, so they agree to ngspice's 7 printed digits and its
    # interpolated f_3dB (2000 points/decade): 1e-5 relative holds with margin.
    r = design(DiffPairParams(**case["params"]), polarity="given")
    per_side = 0.5 if case["params"]["load"] == "resistive" else 1.0
    assert r.a_d_v_per_v == pytest.approx(case["a_d_v_per_v"], rel=1e-5)
    assert r.r_out_ohm == pytest.approx(per_side * case["z_out_port_ohm"], rel=1e-5)
    assert r.f_3db_hz == pytest.approx(case["f_3db_hz"], rel=1e-5)
    if r.a_cm_v_per_v == 0:  # matched resistive pair: ngspice's residue is rounding
        assert case["a_cm_v_per_v"] < 1e-12 * case["a_d_v_per_v"]
    else:
        assert r.a_cm_v_per_v == pytest.approx(case["a_cm_v_per_v"], rel=1e-5)
        assert r.cmrr_db == pytest.approx(db(case["a_d_v_per_v"] / case["a_cm_v_per_v"]), abs=1e-3)


def test_matches_ngspice_level1_length_sweep():
    sweep = ORACLE["length_sweep"]
    rows = sweep_design({**sweep["device"], "load": "active", "c_load_f": 1e-12}, "l_m",
                        [p["l_m"] for p in sweep["points"]])
    for row, spice in zip(rows, sweep["points"]):
        # Level 1 multiplies I_D by (1 + lambda V_DS) (V_DS = 0.3 V): g_m +0.3 %, r_o +0.6 % at 1 um,
        # less at longer L; 2 % is the brief's tolerance and holds with margin (0.9 % at worst).
        assert row["gm_s"] == pytest.approx(spice["gm_m1_s"], rel=0.02)
        assert 1 / row["ro_n_ohm"] == pytest.approx(spice["gds_m1_s"], rel=0.02)
        assert row["a_d_v_per_v"] == pytest.approx(spice["a_d_v_per_v"], rel=0.02)
        assert row["f_3db_hz"] == pytest.approx(spice["f_3db_hz"], rel=0.02)
    for (a, sa), (b, sb) in zip(zip(rows, sweep["points"]), zip(rows[1:], sweep["points"][1:])):
        # Trend per doubling of L: gain x2, bandwidth /2, in both; the ratios differ by the
        # change of lambda V_DS (<= 0.5 %).
        assert b["a_d_v_per_v"] / a["a_d_v_per_v"] == pytest.approx(sb["a_d_v_per_v"] / sa["a_d_v_per_v"], rel=0.01)
        assert a["f_3db_hz"] / b["f_3db_hz"] == pytest.approx(sa["f_3db_hz"] / sb["f_3db_hz"], rel=0.01)


def test_square_law_small_signal():
    ss = small_signal(DeviceParams(l_m=1e-6, **DEVICE))
    assert ss.v_ov_v == pytest.approx(0.2, rel=1e-12)  # sqrt(2 * 50 uA / (200 uA/V^2 * 12.5))
    assert ss.gm_s == pytest.approx(math.sqrt(2 * 200e-6 * 12.5 * 50e-6), rel=1e-12)
    assert ss.gm_s == pytest.approx(2 * 50e-6 / 0.2, rel=1e-12)
    assert ss.ro_ohm == pytest.approx(1 / (0.02 * 50e-6), rel=1e-12)
    via_vov = small_signal(DeviceParams(id_a=50e-6, l_m=3e-6, lambda0_per_v=0.02, l0_m=1e-6, v_ov_v=0.2))
    assert via_vov.gm_s == pytest.approx(ss.gm_s, rel=1e-12)
    assert via_vov.ro_ohm == pytest.approx(3 * ss.ro_ohm, rel=1e-12)  # lambda = lambda0 L0 / L


def test_doubling_length_at_fixed_current_and_aspect_ratio():
    # I_D and W/L fixed (W scales with L): V_ov and g_m unchanged, r_o doubles.
    one, two = (from_device(DeviceParams(l_m=l, **DEVICE), load="active") for l in (1e-6, 2e-6))
    assert two.gm_s == one.gm_s and two.ro_n_ohm == pytest.approx(2 * one.ro_n_ohm, rel=1e-12)
    a, b = design(one), design(two)
    # Active: A_d ~ g_m r_o / 2, so x2 and f_3dB / 2 up to the 1/(g_m r_o) = 0.2 % corrections.
    assert b.a_d_v_per_v / a.a_d_v_per_v == pytest.approx(2.0, rel=2e-3)
    assert a.f_3db_hz / b.f_3db_hz == pytest.approx(2.0, rel=2e-3)
    assert b.f_t_hz == a.f_t_hz  # g_m / (2 pi C_L) at fixed g_m and C_L
    assert b.gbw_hz == pytest.approx(a.gbw_hz, rel=2e-3)
    c1, c2 = (design(from_device(DeviceParams(l_m=l, **DEVICE), load="cascode")) for l in (1e-6, 2e-6))
    assert c2.a_d_v_per_v / c1.a_d_v_per_v == pytest.approx(4.0, rel=0.01)  # ~ g_m^2 r_o^2 / 2


def test_weak_inversion_warning_and_limit():
    assert U_T_V == pytest.approx(25.852e-3, rel=1e-4)  # kT/q at 300 K
    base = {"id_a": 1e-6, "l_m": 1e-6, "lambda0_per_v": 0.1, "l0_m": 1e-6, "n_slope": 1.4}
    with pytest.warns(FrontendWarning, match="weak inversion"):
        deep = small_signal(DeviceParams(**base, v_ov_v=0.05))
    # 2 I_D / V_ov = 40 uS exceeds I_D / (n U_T) = 27.6 uS: the weak-inversion limit applies.
    assert deep.gm_s == pytest.approx(1e-6 / (1.4 * U_T_V), rel=1e-12)
    assert deep.gm_s < deep.gm_square_law_s == pytest.approx(40e-6, rel=1e-12)
    with pytest.warns(FrontendWarning, match="upper bound"):
        moderate = small_signal(DeviceParams(**base, v_ov_v=0.09))
    assert moderate.gm_s == pytest.approx(2e-6 / 0.09, rel=1e-12)  # 22.2 uS < 27.6 uS: square law
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small_signal(DeviceParams(**base, v_ov_v=0.2))
    with pytest.warns(FrontendWarning):
        load_design({**base, "v_ov_v": 0.05, "load": "active"})


def test_device_params_errors():
    base = {"id_a": 1e-4, "l_m": 1e-6, "lambda0_per_v": 0.1, "l0_m": 1e-6}
    with pytest.raises(ValueError, match="exactly one"):
        DeviceParams(**base, w_over_l=10, mu_cox_a_per_v2=2e-4, v_ov_v=0.2)
    with pytest.raises(ValueError, match="exactly one"):
        DeviceParams(**base)
    with pytest.raises(ValueError, match="mu_cox_a_per_v2 is required"):
        DeviceParams(**base, w_over_l=10)
    with pytest.raises(ValueError, match="only with it"):
        DeviceParams(**base, v_ov_v=0.2, mu_cox_a_per_v2=2e-4)
    with pytest.raises(ValueError, match="n_slope"):
        DeviceParams(**base, v_ov_v=0.2, n_slope=0.5)
    with pytest.raises(ValueError, match="id_a"):
        DeviceParams(**{**base, "id_a": -1.0}, v_ov_v=0.2)


def test_load_design_sources_agree(tmp_path):
    table = {"gm_s": GM, "ro_n_ohm": RO, "load": "resistive", "r_d_ohm": RD, "r_tail_ohm": RSS,
             "r_d_mismatch_fraction": -0.01}
    path = tmp_path / "pair.toml"
    path.write_text('gm_s = 1e-3\nro_n_ohm = 1e5\nload = "resistive"\nr_d_ohm = 10000\n'
                    'r_tail_ohm = 1e5\nr_d_mismatch_fraction = -0.01\n')
    inline = "{gm_s = 1e-3, ro_n_ohm = 1e5, load = 'resistive', r_d_ohm = 1e4, r_tail_ohm = 1e5, " \
             "r_d_mismatch_fraction = -0.01}"
    expected = DiffPairParams(GM, RO, r_d_ohm=RD, r_tail_ohm=RSS, r_d_mismatch_fraction=-0.01)
    assert load_design(table) == load_design(path) == load_design(str(path)) == load_design(inline) == expected
    device = load_design({**DEVICE, "l_m": 2e-6, "load": "cascode"})
    assert device == from_device(DeviceParams(l_m=2e-6, **DEVICE), load="cascode")


@pytest.mark.parametrize("table, message", [
    ({"gm_s": GM, "ro_n_ohm": RO}, "r_d_ohm is required for load='resistive'"),
    ({"gm_s": GM, "ro_n_ohm": RO, "load": "active", "r_d_ohm": RD}, "only for it"),
    ({"gm_s": GM, "ro_n_ohm": RO, "id_a": 1e-4, "load": "active"}, "not both"),
    ({"gm": GM, "ro_n_ohm": RO, "load": "active"}, "unknown diff-pair key 'gm'. Did you mean 'gm_s'"),
    ({"gm_s": GM, "load": "active"}, "missing ro_n_ohm"),
    ({"id_a": 1e-4, "l_m": 1e-6, "v_ov_v": 0.2, "load": "active"}, "missing lambda0_per_v, l0_m"),
    ({"gm_s": "1m", "ro_n_ohm": RO, "load": "active"}, "gm_s must be a number"),
    ({"gm_s": GM, "ro_n_ohm": RO, "load": "cascade"}, "Did you mean 'cascode'"),
    ({"gm_s": GM, "ro_n_ohm": RO, "load": "resistive", "r_d_ohm": RD, "mirror_mismatch_fraction": 0.01},
     "mirror_mismatch_fraction applies"),
    ("{gm_s = 1e-3, ro_n_ohm", "not a valid TOML inline table"),
])
def test_load_design_errors_are_one_line(table, message):
    with pytest.raises(ValueError, match=message) as info:
        load_design(table)
    assert "\n" not in str(info.value)


def test_summarize_flat_dict():
    row = summarize(DiffPairParams(GM, RO, load="active", r_tail_ohm=RSS, gm_mismatch_fraction=0.01))
    for key in ("r_out_ohm", "a_d_v_per_v", "a_d_db", "a_cm_v_per_v", "cmrr_db", "f_3db_hz", "f_t_hz",
                "gbw_hz", "gm_s", "ro_n_ohm", "ro_p_ohm", "load", "polarity"):
        assert key in row
    assert all(isinstance(v, (float, str, type(None))) for v in row.values())
    assert row["a_d_db"] == pytest.approx(db(row["a_d_v_per_v"]), rel=1e-12)
    assert row["gm_mismatch_fraction"] == -0.01 and row["cmrr_db"] == pytest.approx(72.179, abs=1e-3)
    table = {"gm_s": GM, "ro_n_ohm": RO, "r_d_ohm": RD, "r_tail_ohm": RSS, "gm_mismatch_fraction": 0.01,
             "r_d_mismatch_fraction": 0.01, "mirror_mismatch_fraction": 0.01}
    side = summarize_loads(table)
    assert list(side) == list(LOADS)
    assert side["resistive"]["r_d_ohm"] == RD and side["active"]["r_d_ohm"] is None
    assert side["resistive"]["mirror_mismatch_fraction"] == 0 and side["cascode"]["r_d_mismatch_fraction"] == 0
    assert side["cascode"]["a_d_v_per_v"] > side["active"]["a_d_v_per_v"] > side["resistive"]["a_d_v_per_v"]
    with pytest.raises(ValueError, match="remove the 'load' key"):
        summarize_loads({**table, "load": "active"})


def test_sweep_design():
    rows = sweep_design({"gm_s": GM, "ro_n_ohm": RO, "load": "active", "gm_mismatch_fraction": 0.01},
                        "r_tail_ohm", [1e4, 1e5, 1e6])
    assert [r["r_tail_ohm"] for r in rows] == [1e4, 1e5, 1e6]
    assert rows[0]["cmrr_db"] < rows[1]["cmrr_db"] < rows[2]["cmrr_db"]
    lengths = sweep_design({**DEVICE, "load": "active"}, "l_m", [1e-6, 2e-6, 4e-6])
    assert [r["l_m"] for r in lengths] == [1e-6, 2e-6, 4e-6]
    gains = [r["a_d_v_per_v"] for r in lengths]
    assert gains[1] / gains[0] == pytest.approx(2, rel=2e-3) and gains[2] / gains[1] == pytest.approx(2, rel=2e-3)
    with pytest.raises(ValueError, match="Did you mean 'l_m'"):
        sweep_design({**DEVICE, "load": "active"}, "l_mm", [1e-6])


def test_to_inamp_params_keys_and_values():
    r = design(DiffPairParams(GM, RO, RO, load="active", r_tail_ohm=RSS))
    d = to_inamp_params(r)
    assert d == {"gain_v_per_v": r.a_d_v_per_v, "cmrr_db": r.cmrr_db, "bandwidth_hz": r.f_3db_hz}


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
    with pytest.raises(ValueError, match=r"gm_mismatch_fraction must be a signed fraction in \(-1, 1\)"):
        DiffPairParams(GM, RO, RO, r_d_ohm=1e3, gm_mismatch_fraction=1.0)  # 1 means 100 %, not 1 %
    with pytest.raises(ValueError, match="r_d_mismatch_fraction applies to load='resistive' only"):
        DiffPairParams(GM, RO, load="active", r_d_mismatch_fraction=0.01)
    assert DiffPairParams(GM, RO, r_d_ohm=1e3, gm_mismatch_fraction=-0.01).gm_mismatch_fraction == -0.01
    assert DiffPairParams(GM, RO, load="active").ro_p_ohm == RO  # ro_p_ohm defaults to ro_n_ohm


def test_designed_pair_parameterises_an_amplifier_stage():
    # The designer's result drives the behavioural amplifier: a 10 Hz differential tone is
    # amplified by A_d = 49.75 (~ g_m (r_on || r_op)) and a 60 Hz common-mode tone by A_d/CMRR
    # (the pole at f_3dB = 3.2 MHz is flat here: < 1e-6 relative).
    import numpy as np

    from acquire.evaluation.metrics import goertzel_amplitude_v_rms
    from acquire.stage import Chunk
    from frontend_models.inamp import InAmpParams, InstrumentationAmplifier

    r = design(DiffPairParams(GM, RO, RO, load="active", r_tail_ohm=RSS, gm_mismatch_fraction=0.01))
    amp = InstrumentationAmplifier(InAmpParams(**to_inamp_params(r)), 8000.0)
    t = np.arange(16000) / 8000.0
    w = 2 * np.pi * 60.0
    out = amp.process(Chunk(1e-3 * np.sin(2 * np.pi * 10.0 * t)[None], cm_v=np.sin(w * t),
                            cm_dvdt_v_per_s=w * np.cos(w * t)))
    y = out.diff_v[0, 8000:]
    gain = r.a_d_v_per_v
    assert goertzel_amplitude_v_rms(y, 8000.0, 10.0) == pytest.approx(gain * 1e-3 / np.sqrt(2), rel=1e-4)
    expected_cm = gain * 10 ** (-r.cmrr_db / 20) / np.sqrt(2)
    assert goertzel_amplitude_v_rms(y, 8000.0, 60.0) == pytest.approx(expected_cm, rel=1e-3)


def test_table_for_load_and_missing_file(tmp_path):
    from frontend_models.diffpair import read_table, table_for_load

    table = {"gm_s": GM, "ro_n_ohm": RO, "r_d_ohm": RD, "r_d_mismatch_fraction": 0.01,
             "mirror_mismatch_fraction": 0.02}
    assert table_for_load(table, "resistive") == {"gm_s": GM, "ro_n_ohm": RO, "r_d_ohm": RD,
                                                  "r_d_mismatch_fraction": 0.01, "load": "resistive"}
    assert table_for_load(table, "cascode") == {"gm_s": GM, "ro_n_ohm": RO, "mirror_mismatch_fraction": 0.02,
                                                "load": "cascode"}
    with pytest.raises(ValueError, match="Did you mean 'active'"):
        table_for_load(table, "activ")
    with pytest.raises(ValueError, match=r"cannot read the design file .*nope\.toml: No such file"):
        read_table(tmp_path / "nope.toml")


# --- the designed pair as the simulation's amplifier (frontend_models.presets.resolve_model) -----------

PAIR = {"load": "active", "gm_s": GM, "ro_n_ohm": RO, "r_tail_ohm": RSS, "gm_mismatch_fraction": 0.01}
GENERIC = 'kind = "inamp"\ndescription = "generic behavioural amplifier"\n' \
          '[amp]\ngain_v_per_v = 10.0\ncmrr_db = 100.0\nbandwidth_hz = 1e5\n'


def test_designed_preset_from_a_table_a_file_and_a_preset_name(tmp_path, monkeypatch):
    from frontend_models.inamp import InAmpParams
    from frontend_models.presets import MODEL_KEYS, resolve_model

    assert "design" in MODEL_KEYS
    worst = design(load_design(PAIR), polarity="worst")
    p = resolve_model({"design": PAIR})
    assert p.name == "design:active" and p.kind == "diffpair"
    assert p.amp == InAmpParams(**to_inamp_params(worst))  # everything else: InAmpParams' generic defaults
    assert p.amp.cmrr_db == worst.cmrr_db == pytest.approx(72.179, abs=1e-3)  # the worst case, not the best
    assert p.adc is None and p.post is None
    assert "designed differential pair (active load, worst-case mismatch signs)" in p.description
    assert "gm_mismatch_fraction=0.01" in p.description and "r_tail_ohm=100000" in p.description
    assert set(p.sources) == {"gain_v_per_v", "cmrr_db", "bandwidth_hz"}
    for name in ("noise_v_per_rthz", "z_cm", "output_swing_v", "offset_v", "bias_current_a"):
        assert p.assumptions[name].startswith("not given by the design: the generic InAmpParams default")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pair.toml").write_text("".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in PAIR.items()))
    for cfg, name in (({"design": "pair.toml"}, "design:pair.toml"),
                      ({"preset": "design:pair.toml"}, "design:pair.toml"),
                      ({"design": "{load = 'active', gm_s = 1e-3, ro_n_ohm = 1e5, r_tail_ohm = 1e5, "
                                  "gm_mismatch_fraction = 0.01}"}, "design:active")):
        q = resolve_model(cfg)
        assert (q.name, q.amp) == (name, p.amp)


@pytest.mark.parametrize("cfg, message", [
    ({"design": {"gm_s": GM, "ro_n_ohm": RO}}, "needs its load"),
    ({"design": {"load": "active", "gm_s": GM, "ro_n_ohm": RO}}, "infinite CMRR"),  # ideal tail, matched
    ({"design": {**PAIR, "gm": GM}}, "Did you mean 'gm_s'"),
    ({"design": "nope.toml"}, "cannot read the design file nope.toml"),
    ({"design": 5}, "must be a TOML file path or a table"),
    ({"design": PAIR, "preset": "ina128"}, "names its model once"),
])
def test_designed_preset_errors(cfg, message):
    from frontend_models.presets import resolve_model

    with pytest.raises(ValueError, match=message) as info:
        resolve_model(cfg)
    assert "\n" not in str(info.value)


def test_designed_stage_simulates_bit_for_bit_like_its_numbers_by_hand(tmp_path, monkeypatch):
    # Acceptance: [amplifier] design gives exactly the run that the design's gain, CMRR and
    # bandwidth give when typed in over a generic preset with the same (default) other parameters.
    import numpy as np

    import acquire

    monkeypatch.chdir(tmp_path)
    (tmp_path / "generic.toml").write_text(GENERIC)
    fields = to_inamp_params(design(load_design(PAIR), polarity="worst"))
    designed = acquire.simulate(config={"amplifier": {"design": PAIR}}, source__duration_s=5)
    by_hand = acquire.simulate(source__duration_s=5, sets=["amplifier.file=generic.toml",
                                                           *(f"amplifier.{k}={v!r}" for k, v in fields.items())])
    amp = lambda sim: sim.simulation.frontend.analog["amplifier"].params  # noqa: E731
    assert amp(designed) == amp(by_hand)
    for tap in ("acquired_v", "recovered_v"):
        a, b = getattr(designed.simulation.result, tap), getattr(by_hand.simulation.result, tap)
        assert a.shape == b.shape and a.size > 0 and np.array_equal(a, b)
    strip = lambda doc: {k: v for k, v in doc.items() if k != "provenance"}  # noqa: E731
    assert strip(designed.metrics) == strip(by_hand.metrics)
    assert designed.metrics["provenance"]["preset"] == "design:active"
    assert by_hand.metrics["provenance"]["preset"] == "generic"
    assert designed.metrics["nominal_gain_v_per_v"] == fields["gain_v_per_v"]
