"""Strict configuration values: types are not coerced, magnitudes are physical; a fuzz over every key."""

from __future__ import annotations

import math
import re
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import acquire
from acquire._check import FrontendWarning
from acquire.api import validate_config
from acquire.config import DEFAULTS, OPTIONAL_KEYS


@pytest.mark.parametrize("keys, fragment", [
    ({"amplifier__cmrr_db": True}, "amplifier.cmrr_db must be a number; got True"),
    ({"run__seed": 1.5}, "run.seed must be an integer; got 1.5"),
    ({"source__channels": [True]}, "source.channels must be a list of channel names or indices"),
    ({"body__grounded": "yes"}, "body.grounded must be true or false; got 'yes'"),
    ({"mains__harmonic_ratios": "abc"}, "mains.harmonic_ratios must be a table"),
    ({"electrodes__imbalance": True}, "electrodes.imbalance must be a number or a string or a table"),
    ({"electrodes__imbalance": [1, 2]}, "electrodes.imbalance must be"),
    ({"source__channels": [[0]]}, "source.channels must be a list of channel names or indices"),
    ({"amplifier__gain_v_per_v": 1e-300}, "amplifier.gain_v_per_v=1e-300 is outside the physical range 0.001 to 1e+06"),
    ({"amplifier__gain_v_per_v": 1e300}, "outside the physical range"),
    ({"electrodes__imbalance": 1e300}, "electrodes.imbalance=1e+300 is outside the physical range 0 to 1e+09"),
    ({"mains__frequency_hz": math.nan}, "mains.frequency_hz must be a number, not NaN; got nan"),
    ({"source__start_s": math.nan}, "source.start_s must be a number, not NaN"),  # not "outside the range"
    ({"run__seed": -1000}, "run.seed must be an integer from 0 to 4294967295; got -1000"),
    ({"source__seed": 2**32}, "source.seed must be an integer from 0 to 4294967295; got 4294967296"),
    ({"source__channels": ["MLII", "V5", "MLII"]}, "source.channels lists 'MLII' twice"),
    ({"source__channels": [0, 0]}, "source.channels lists 0 twice"),
    ({"amplifier__cmrr_hf_point": [1000.0]}, "amplifier.cmrr_hf_point must be a pair of numbers"),
    ({"amplifier__input_cm_range_v": []}, "amplifier.input_cm_range_v must be a pair of numbers"),
    ({"post__aa_hz": -1.0}, "post.aa_hz=-1.0 is outside the physical range 0 to 1e+07"),
    ({"post__aa_order": 11}, "post.aa_order=11 is outside the physical range 1 to 10"),
    ({"post__ac_coupling_order": 0}, "post.ac_coupling_order=0 is outside the physical range 1 to 10"),
])
def test_wrong_types_and_absurd_magnitudes_are_refused(keys, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        acquire.load_config(**keys)


def test_right_types_pass():
    cfg = acquire.load_config(run__seed=2**32 - 1, source__seed=0, amplifier__cmrr_hf_point=[1e3, 80.0],
                              post__aa_hz=0.0, post__aa_order=10)  # the ends of the ranges; 0 Hz: no filter
    assert cfg["run"]["seed"] == 2**32 - 1 and cfg["post"]["aa_order"] == 10
    cfg = acquire.load_config(amplifier__cmrr_db=90, run__seed=3, source__channels=["MLII", 1],
                              body__grounded=True, electrodes__imbalance="iec", electrodes__offset_v=[0.1, -0.1])
    assert cfg["amplifier"]["cmrr_db"] == 90 and cfg["body"]["grounded"] is True


KEYS = sorted(f"{s}.{k}" for s in DEFAULTS if s != "digital" for k in set(DEFAULTS[s]) | OPTIONAL_KEYS[s])
VALUES = st.one_of(
    st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.one_of(st.integers(-5, 5), st.floats(-10, 10), st.text(max_size=3)), max_size=3),
    st.dictionaries(st.text(max_size=4), st.floats(-1, 1), max_size=2))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_fuzz_one_key_builds_or_names_the_problem(key, value):
    # Any value of any key either builds a front end or raises ValueError (the CLI's exit 2, one line);
    # never a TypeError, KeyError or another exception from deep inside the library. A path key naming
    # a missing file is a file-system error (OSError: the CLI's exit 1).
    section, name = key.split(".")
    path_key = key in ("amplifier.file", "amplifier.design", "source.record_dir")
    if path_key and isinstance(value, str):
        value = "/nonexistent/x.toml"
    try:
        with warnings.catch_warnings():  # a questionable but legal value warns (FrontendWarning); that is fine
            warnings.simplefilter("ignore", FrontendWarning)
            validate_config({section: {name: value}})
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
    except OSError:
        assert path_key


@pytest.mark.parametrize("key", ["electrodes.r_d_ohm", "amplifier.z_cm_c_f", "amplifier.dc_block_hz", "adc.vref_v"])
def test_a_vanishing_component_is_refused_by_name(key):
    # Hypothesis found these: the smallest normal float (2.2e-308) as a resistance, capacitance or
    # corner put a pole near 1e300 rad/s (an overflow deep in the divider), and adc.vref_v had lost its
    # range. Each is now one ValueError naming the key.
    section, name = key.split(".")
    with pytest.raises(ValueError, match=re.escape(key)):
        validate_config({section: {name: 2.2250738585072014e-308}})


@pytest.mark.parametrize("key", ["electrodes.r_d_ohm", "amplifier.z_cm_c_f", "amplifier.dc_block_hz"])
def test_zero_still_means_none(key):
    section, name = key.split(".")
    validate_config({section: {name: 0.0}})
