"""Tests for the datasheet presets: sources, facts.md numbers, gain tables, user files."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from acquire.analog.impedance import ParallelRC
from acquire.stage import Chunk
from frontend_models.inamp import InstrumentationAmplifier
from frontend_models.presets import (
    amp_params_for_gain,
    get_preset,
    load_user_preset,
    preset_names,
    preset_table,
)

FS_HZ = 8000.0
EXPECTED = {"ad620", "ad8220", "ad8221", "ad8232", "ad8422", "ads1292", "ads1298", "ina128", "ina333", "ina826"}


def test_all_presets_load_and_build_a_stage_without_warnings():
    assert set(preset_names()) == EXPECTED
    for name in preset_names():
        p = get_preset(name)
        assert p.name == name and p.kind in ("inamp", "hr_afe", "ecg_afe") and p.description
        InstrumentationAmplifier(p.amp, FS_HZ)  # warnings are errors in this suite


def test_every_numeric_field_has_a_source():
    for name in preset_names():
        p = get_preset(name)
        fields = [*p.amp_fields, *(p.adc or {}), *(p.post or {})]
        missing = [f for f in fields if not p.sources.get(f, "").strip()]
        assert not missing, (name, missing)


def test_kinds_carry_their_sections():
    for name in preset_names():
        p = get_preset(name)
        assert (p.adc is not None) == (p.kind == "ecg_afe"), name
        assert (p.post is not None) == (p.kind == "hr_afe"), name
        if p.kind == "ecg_afe":
            assert p.amp.gain_v_per_v == 1.0  # the PGA gain is applied once, by the ADC stage


def test_numbers_equal_facts_md():
    # facts.md section 3, typical unless noted.
    assert amp_params_for_gain(get_preset("ina128"), 100.0).cmrr_db == 125.0
    assert amp_params_for_gain(get_preset("ina128"), 1000.0).cmrr_db == 130.0
    assert get_preset("ina128").amp.z_cm == ParallelRC(1e11, 9e-12)
    assert get_preset("ina826").amp.z_cm == ParallelRC(10e9, 5e-12)
    assert get_preset("ina826").amp.z_diff == ParallelRC(20e9, 1e-12)
    assert get_preset("ads1298").amp.cmrr_db == 115.0
    assert get_preset("ads1292").amp.cmrr_db == 105.0
    assert get_preset("ad8232").amp.cmrr_db == 80.0
    assert get_preset("ad8232").amp.gain_v_per_v == 100.0
    assert amp_params_for_gain(get_preset("ad620"), 100.0).f_3db_hz == pytest.approx(120e3, rel=1e-12)
    assert get_preset("ad620").limits["cmrr_db_by_gain"] == "min"
    assert get_preset("ina333").amp.noise_corner_hz == 0.0  # zero-drift: no 1/f
    # INA826 G=1: 95 dB dc and 84 dB at 5 kHz (facts.md sections 3 and 4)
    ina826_g1 = amp_params_for_gain(get_preset("ina826"), 1.0)
    assert float(ina826_g1.cmrr_db_at(5000.0)) == pytest.approx(84.0, abs=0.01)
    assert ina826_g1.cmrr_db == 95.0
    # worked-examples.md: ADS1298, PGA 6, Vref 2.4 V, 24 bit, full scale +-Vref/PGA -> LSB 47.7 nV
    adc = get_preset("ads1298").adc
    lsb_v = 2 * adc["vref_v"] / adc["pga_gain_v_per_v"] / 2 ** adc["n_bits"]
    assert lsb_v == pytest.approx(47.7e-9, rel=1e-3, abs=0)
    assert isinstance(adc["n_bits"], int)


def test_unconfirmed_numbers_are_labelled():
    # facts.md marks these unconfirmed: they must appear under [assumptions].
    assert "bandwidth_hz_by_gain" in get_preset("ina333").assumptions
    assert "bandwidth_hz_by_gain" in get_preset("ina826").assumptions
    assert "bandwidth_hz_by_gain" in get_preset("ad620").assumptions
    assert "gain2_v_per_v" in get_preset("ad8232").assumptions


def test_gain_interpolation_and_output_stage_terms():
    ina128 = get_preset("ina128")
    # halfway in log10(gain) between G=10 (106 dB) and G=100 (125 dB)
    assert amp_params_for_gain(ina128, math.sqrt(1000.0)).cmrr_db == pytest.approx(115.5, rel=1e-12)
    # above the table, constant GBW: 200 kHz * 100 / 1000
    assert amp_params_for_gain(ina128, 1000.0).f_3db_hz == pytest.approx(20e3, rel=1e-12)
    # Vos = 10 + 100/G uV (INA128 datasheet form)
    assert amp_params_for_gain(ina128, 50.0).offset_v == pytest.approx(12e-6, rel=1e-12)
    # INA333 bandwidth: geometric mean of 150 kHz and 35 kHz at G = sqrt(10)
    bw = amp_params_for_gain(get_preset("ina333"), math.sqrt(10.0)).f_3db_hz
    assert bw == pytest.approx(math.sqrt(150e3 * 35e3), rel=1e-12)
    # INA826 total RTI noise sqrt(18^2 + (110/G)^2) nV/rtHz
    assert amp_params_for_gain(get_preset("ina826"), 1.0).noise_v_per_rthz == pytest.approx(
        math.hypot(18e-9, 110e-9), rel=1e-12)


def test_worked_example_cm_through_80_db_is_100_uv_rti():
    # worked-examples.md: 1 V rms common mode through CMRR 80 dB (AD8232 class) -> 100 uV rms RTI.
    params = dataclasses.replace(get_preset("ad8232").amp, noise_v_per_rthz=0.0)
    amp = InstrumentationAmplifier(params, FS_HZ)
    n = int(4 * FS_HZ)
    t = np.arange(n) / FS_HZ
    w = 2 * np.pi * 60.0
    chunk = Chunk(diff_v=np.zeros((1, n)), cm_v=math.sqrt(2) * np.sin(w * t),
                  cm_dvdt_v_per_s=math.sqrt(2) * w * np.cos(w * t))
    y = amp.process(chunk).diff_v[0, -int(FS_HZ):]  # last second: the 0.5 Hz dc block has settled
    rti_rms = np.sqrt(np.mean(y ** 2)) / params.gain_v_per_v
    # 1 %: the 0.5 Hz dc block and 100 kHz pole change the 60 Hz gain by < 1e-4.
    assert rti_rms == pytest.approx(100e-6, rel=0.01, abs=0)


def test_unknown_preset_suggests_and_lookup_is_case_insensitive():
    with pytest.raises(ValueError, match=r"unknown preset 'ad62'; choose from .*Did you mean 'ad620'\?"):
        get_preset("ad62")
    assert get_preset("INA128") is get_preset("ina128")


USER_TOML = """
name = "MyAmp"
kind = "inamp"
description = "a user's part"

[amp]
gain_v_per_v = 20.0
cmrr_db = 100.0
gbw_hz = 2.0e6
noise_v_per_rthz = 12.0e-9
input_cm_range_v = [-2.0, 3.0]
z_cm_r_ohm = 1.0e10
z_cm_c_f = 3.0e-12

[sources]
cmrr_db = "my datasheet p.2"
"""


def test_user_preset_loads(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text(USER_TOML)
    p = load_user_preset(path)
    assert p.name == "myamp" and p.kind == "inamp"
    assert p.amp.f_3db_hz == pytest.approx(1e5)
    assert p.amp.input_cm_range_v == (-2.0, 3.0)
    assert p.amp.z_cm == ParallelRC(1e10, 3e-12)
    assert p.sources["cmrr_db"] == "my datasheet p.2"


@pytest.mark.parametrize("old, new, match", [
    ("cmrr_db = 100.0", "cmrr_dB = 100.0", r"unknown key 'cmrr_dB' in \[amp\].*Did you mean 'cmrr_db'\?"),
    ("[sources]", "[sorces]", r"unknown key 'sorces'.*Did you mean 'sources'\?"),
    ('kind = "inamp"', 'kind = "inampp"', r"kind must be one of.*Did you mean 'inamp'\?"),
    ("gbw_hz = 2.0e6", "gbw_hz = 2.0e6\nbandwidth_hz = 1.0e5", "exactly one of bandwidth_hz or gbw_hz"),
    ("gain_v_per_v = 20.0", "gain_v_per_v = -20.0", "gain_v_per_v"),
    ("gain_v_per_v = 20.0", 'gain_v_per_v = "20"', r"\[amp\] gain_v_per_v must be a number"),
    ('cmrr_db = "my', 'cmrr_d = "my', r"unknown key 'cmrr_d' in \[sources\]"),
])
def test_user_preset_errors_name_the_field(tmp_path, old, new, match):
    path = tmp_path / "bad.toml"
    assert old in USER_TOML
    path.write_text(USER_TOML.replace(old, new))
    with pytest.raises(ValueError, match=match):
        load_user_preset(path)


def test_preset_table_key_figures():
    rows = {r["name"]: r for r in preset_table()}
    assert set(rows) == EXPECTED
    assert rows["ina128"]["cmrr_db_at_60_hz"] == pytest.approx(106.0, rel=1e-12)  # flat CMRR, G=10
    assert rows["ina128"]["gain_v_per_v"] == 10.0
    assert rows["ads1298"]["adc_noise_v_rms"] == pytest.approx(4e-6 / 6.6, rel=1e-3, abs=0)
    assert rows["ad620"]["adc_noise_v_rms"] is None
    assert "INA128 datasheet" in rows["ina128"]["cmrr_source"]


def test_tables_show_where_each_z_cm_comes_from():
    # The effective-CMRR ranking of parts rests mostly on Z_cm's capacitance, so every table says
    # whether it is a datasheet value: INA128's 1e11 Ohm || 9 pF is (datasheet p.3), AD620's is not.
    rows = {r["name"]: r for r in preset_table()}
    assert rows["ina128"]["z_cm_basis"] == "datasheet"
    assert (rows["ina128"]["z_cm_r_ohm"], rows["ina128"]["z_cm_c_f"]) == (1e11, 9e-12)
    assert rows["ad620"]["z_cm_basis"] == "R and C assumed"
    assert rows["ad8221"]["z_cm_basis"] == "C assumed"
