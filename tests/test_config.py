"""Tests for the TOML configuration: defaults, merging, overrides, key checks, round trip."""

import tomllib

import pytest

from acquire.config import ConfigError, default_config, load_config, parse_value, to_toml


def test_round_trip_defaults():
    cfg = default_config()
    assert tomllib.loads(to_toml(cfg)) == cfg


def test_file_merges_over_defaults_and_replaces_digital(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[mains]\nfrequency_hz = 50\n[amplifier]\npreset = "ad620"\n'
                 '[[digital]]\nkind = "lowpass"\ncutoff_hz = 40.0\n')
    cfg = load_config(p)
    # no voltage given: the 50 Hz grid's nominal 230 V, not the 60 Hz default's 120 V (resolve_config fills it in)
    assert cfg["mains"] == {"frequency_hz": 50}
    from acquire.config import resolve_config

    assert resolve_config(p)["mains"] == {"frequency_hz": 50, "mains_v_rms": 230.0}
    assert cfg["amplifier"] == {"preset": "ad620"}
    assert cfg["digital"] == [{"kind": "lowpass", "cutoff_hz": 40.0}]
    assert cfg["run"]["fs_sim_hz"] == 8000.0


def test_overrides_parse_toml_literals():
    cfg = load_config(None, ["amplifier.cmrr_db=100", "electrodes.imbalance=iec",
                             "body.grounded=true", "digital.1.harmonics=[1, 2, 3]"])
    assert cfg["amplifier"]["cmrr_db"] == 100
    assert cfg["electrodes"]["imbalance"] == "iec"
    assert cfg["body"]["grounded"] is True
    assert cfg["digital"][1]["harmonics"] == [1, 2, 3]
    assert parse_value("1e-3") == 1e-3 and parse_value("ina128") == "ina128"


def test_preset_override_drops_old_amplifier_fields():
    cfg = load_config(None, ["amplifier.cmrr_db=90", "amplifier.preset=ad8232"])
    assert cfg["amplifier"] == {"preset": "ad8232"}


@pytest.mark.parametrize("item, match", [
    ("amplifier.cmrr=90", "unknown key amplifier.cmrr;.*Did you mean 'cmrr_db'"),
    ("mians.frequency_hz=50", "unknown config section 'mians'.*Did you mean 'mains'"),
    ("nodot", "section.key=value"),
    ("digital.9.q=3", "index 0..2"),
])
def test_bad_overrides(item, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [item])


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[mains\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_a_config_that_is_not_a_regular_file_is_refused_without_reading_it(tmp_path):
    import os

    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)  # read_text() would block until a writer came
    for path in (fifo, tmp_path, "/dev/null"):
        with pytest.raises(ConfigError, match=f"config {path} is not a regular file"):
            load_config(path)
